"""The single source of the package version (read by ``pyproject.toml`` and :data:`attnverify.__version__`)."""

__version__ = "0.2.0"
