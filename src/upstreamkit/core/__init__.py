"""The pure core: classification, header knowledge, backoff, redaction.

Nothing here does I/O, sleeps or reads the clock; time and randomness are passed in. ``tests/test_layers.py``
enforces that this package imports no I/O library and none of upstreamkit's outer parts.
"""
