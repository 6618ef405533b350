"""The package version, in one place (``symasd.__version__``, generated modules' headers)."""

__version__ = "0.1.0"
