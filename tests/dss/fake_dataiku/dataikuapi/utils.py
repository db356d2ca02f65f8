"""``dataikuapi.utils.DataikuException``: what the API client raises when DSS refuses a call.

https://developer.dataiku.com/latest/api-reference/python/client.html
"""


class DataikuException(Exception):
    """An error answered by the DSS backend (e.g. unauthenticated browser headers)."""
