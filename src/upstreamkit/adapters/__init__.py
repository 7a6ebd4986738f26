"""Adapters: where upstreamkit meets an HTTP library (httpx) or any callable (the retry decorator)."""
