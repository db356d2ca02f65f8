"""ML-assisted Labeling: the core shared by the DSS plugin and the standalone tool."""

__version__ = "5.0.0"
