"""The standalone Flask application: the API plus the same UI files DSS serves."""

from __future__ import annotations

from pathlib import Path

from flask import Flask, Response, abort, send_from_directory

from ..project import LabelingProject
from .api import MAX_BODY_BYTES, create_api_blueprint, install_error_handlers, install_json
from .auth import Authenticator, StoreAuthenticator

PLUGIN_ID = "ml-assisted-labeling"


def plugin_root() -> Path:
    """The folder holding plugin.json, resource/ and webapps/."""
    return Path(__file__).resolve().parents[3]


def page_html(kind: str, title: str) -> str:
    """The standalone page: a minimal shell around the webapp's own body.html."""
    body = (plugin_root() / "webapps" / f"{kind}-labeling" / "body.html").read_text("utf-8")
    from html import escape

    return (
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
        "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
        f"<title>{escape(title)}</title></head>\n<body>\n{body}\n</body></html>\n"
    )


def create_app(project: LabelingProject, *, auth: Authenticator | None = None,
               local_mode: bool = True, test_config: dict | None = None,
               behind_proxy: bool = False) -> Flask:
    """The standalone server's app: /api, the UI page and /plugins/<id>/resource/.

    ``behind_proxy``: one reverse proxy forwards the requests; its ``X-Forwarded-For``,
    ``-Proto`` and ``-Host`` headers are believed, so that the sign-in brake counts the
    clients' addresses, not the proxy's, and cookies are marked Secure under HTTPS.

    No ``SECRET_KEY``: logins are sessions kept in the store (see ``StoreAuthenticator``)
    and Flask's signed-cookie session is not used, so there is no signing key to keep
    secret, nor to lose with a copy of the store.
    """
    app = Flask(__name__)
    # "/api//annotations" would get an HTML redirect, which a client may follow as a GET
    # or without its body: a JSON 404 says what is wrong.
    app.url_map.merge_slashes = False
    if behind_proxy:
        from werkzeug.middleware.proxy_fix import ProxyFix

        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=1, x_proto=1, x_host=1)  # type: ignore[method-assign]
    app.config.update(MAX_CONTENT_LENGTH=MAX_BODY_BYTES)
    install_json(app)
    if test_config:
        app.config.update(test_config)
    auth = auth or StoreAuthenticator(project.store, local_mode=local_mode)
    app.register_blueprint(create_api_blueprint(project, auth), url_prefix="/api")
    install_error_handlers(app)
    resource_dir = plugin_root() / "resource"
    html = page_html(project.config.kind, project.config.title)

    @app.get("/")
    def index():
        return Response(html, mimetype="text/html")

    @app.get("/favicon.ico")
    def favicon():
        return Response(status=204)  # browsers ask for it; a 404 would log an error

    @app.get(f"/plugins/{PLUGIN_ID}/resource/<path:filename>")
    def resource(filename: str):
        if not resource_dir.is_dir():
            abort(404)
        return send_from_directory(resource_dir, filename, max_age=60)

    @app.after_request
    def security_headers(response: Response) -> Response:
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("X-Frame-Options", "DENY")
        response.headers.setdefault("Referrer-Policy", "no-referrer")
        response.headers.setdefault(
            "Content-Security-Policy",
            "default-src 'self'; img-src 'self' data: blob:; media-src 'self' blob:; "
            "style-src 'self' 'unsafe-inline'; object-src 'none'; frame-ancestors 'none'",
        )
        return response

    return app
