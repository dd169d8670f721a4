"""regauth: a token authentication server for Docker/OCI registries."""

__version__ = "0.1.0"
