"""Per-upstream state (breaker, retry budget, rate limiter): in memory by default, shared through Redis
(:class:`upstreamkit.state.redis.RedisStateStore`, the ``redis`` extra) by many processes."""
