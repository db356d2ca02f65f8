"""Backend of the tabular labeling webapp: DSS injects the Flask ``app``."""

from assisted_labeling.dku import setup_webapp

setup_webapp(app)  # noqa: F821 - `app` is defined by DSS before this code runs
