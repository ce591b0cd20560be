"""soc — detection, incident response and CISO reporting on Elasticsearch."""

__version__ = "0.1.0"
__all__ = ["__version__"]
