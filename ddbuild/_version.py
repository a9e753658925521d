"""The installed ddbuild version (single source for pyproject and the CLI)."""

__version__ = "0.1.0"
