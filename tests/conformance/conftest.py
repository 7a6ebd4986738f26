"""The conformance suite's fixtures (defined in :mod:`conformance_support`)."""

from __future__ import annotations

from conformance_support import gateway, upstreams

__all__ = ["gateway", "upstreams"]
