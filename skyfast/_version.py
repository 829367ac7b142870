"""The single source of skyfast's version (read by setup via pyproject)."""

__version__ = "0.1.0"
