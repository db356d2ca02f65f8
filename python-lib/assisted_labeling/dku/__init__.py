"""The DSS adapter: the only package of the library that imports ``dataiku``.

- :mod:`.settings` validates the webapp settings (4.x names kept);
- :mod:`.auth` identifies the DSS user behind a browser request and gives a role;
- :mod:`.datasets` reads and writes DSS datasets in the plugin's shapes;
- :mod:`.sync` mirrors the local store to the labels and metadata datasets (append-only
  outbox, occasional compaction, restore on a new machine);
- :mod:`.webapp` builds it all for a webapp backend (:func:`setup_webapp`).
"""

from __future__ import annotations

from typing import Any


def setup_webapp(app: Any, raw_config: Any = None, **options: Any) -> Any:
    """Register the labeling API on DSS's Flask ``app`` (see :mod:`.webapp`)."""
    from .webapp import setup_webapp as _setup

    return _setup(app, raw_config, **options)


__all__ = ["setup_webapp"]
