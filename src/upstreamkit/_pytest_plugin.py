"""pytest plugin (registered through the ``pytest11`` entry point): the ``fake_clock`` fixture."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from upstreamkit.testing import FakeClock, testing


@pytest.fixture
def fake_clock() -> Iterator[FakeClock]:
    """upstreamkit's clock replaced by a :class:`FakeClock` for one test: no real sleep, waits recorded."""
    with testing() as clock:
        yield clock
