"""Run a WSGI app on a production server: gunicorn on POSIX, waitress elsewhere."""

from __future__ import annotations

import logging
from typing import Any, Callable

log = logging.getLogger(__name__)


def serve(app_factory: Callable[[], Any], *, host: str, port: int, workers: int = 2,
          threads: int = 4) -> None:
    """Serve the app built by ``app_factory`` until interrupted.

    Gunicorn preloads the app (items are imported once, in the master), then forks
    ``workers`` processes of ``threads`` threads; the SQLite store is safe across them.
    """
    try:
        from gunicorn.app.base import BaseApplication
    except ImportError:  # pragma: no cover - Windows
        from waitress import serve as waitress_serve

        waitress_serve(app_factory(), host=host, port=port, threads=workers * threads)
        return

    class _Server(BaseApplication):  # type: ignore[misc]
        def load_config(self) -> None:
            settings = {
                "bind": f"[{host}]:{port}" if ":" in host else f"{host}:{port}",
                "workers": workers,
                "threads": threads,
                "worker_class": "gthread",
                "preload_app": True,
                "accesslog": None,
                "errorlog": "-",
                "loglevel": "warning",
                "timeout": 120,
                "graceful_timeout": 10,
                "keepalive": 5,
            }
            for key, value in settings.items():
                self.cfg.set(key, value)

        def load(self) -> Any:
            return app_factory()

    _Server().run()
