"""The installed ddbuild version (single source for pyproject and the CLI)."""

__version__ = "0.1.0"


def get_library_version() -> str:
    """The installed ddbuild version (Data Designer's ``get_library_version`` gives its own)."""
    return __version__
