"""HTTP layer: the JSON API blueprint, authentication, and the standalone app."""

from .api import create_api_blueprint, install_error_handlers

__all__ = ["create_api_blueprint", "install_error_handlers"]
