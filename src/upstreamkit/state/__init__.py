"""Per-upstream state (breaker, retry budget, rate limiter): in memory by default."""
