"""The package version, read by hatchling and by `upstreamkit --version`."""

__version__ = "0.1.0"
