"""Fake of the ``dataikuapi`` package: only what the fake ``dataiku`` needs.

https://developer.dataiku.com/latest/api-reference/python/client.html
"""
