"""The hostile-input suite's one knob: how many examples each property test draws.

``make test`` runs the quick profile (a few hundred examples per property). The deep profile is for a
dedicated run, its figures kept in bench/RESULTS.md::

    UPSTREAMKIT_FUZZ_EXAMPLES=100000 .venv/bin/pytest tests/hostile -p no:randomly

Every property here states a totality promise: the function returns, or raises the project's own documented
input error, for any input up to the documented size.
"""

from __future__ import annotations

import os

from hypothesis import HealthCheck, settings

EXAMPLES = int(os.environ.get("UPSTREAMKIT_FUZZ_EXAMPLES", "300"))
"""Examples per property: 300 by default, ``UPSTREAMKIT_FUZZ_EXAMPLES`` for the deep profile."""

FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    derandomize=EXAMPLES <= 300,  # the quick profile is the same on every run: a failure reproduces
)
"""The settings every hostile-input property test uses."""
