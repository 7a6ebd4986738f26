"""Fault values: defaults that decide side effects, latency draws, 600 bodies, expected kinds."""

from __future__ import annotations

import json
import random

import pytest
from pydantic import TypeAdapter

from upstreamkit.errors import ErrorKind
from upstreamkit.simulator import Fault, FaultKind, expected_kind
from upstreamkit.simulator.faults import LatencyFault, body_600

_ADAPTER: TypeAdapter[Fault] = TypeAdapter(Fault)


def _fault(**data: object) -> Fault:
    return _ADAPTER.validate_python(data)


def test_every_kind_parses_with_defaults() -> None:
    for kind in FaultKind:
        data: dict[str, object] = {"kind": kind.value}
        if kind is FaultKind.STATUS:
            data["status"] = 418
        assert _fault(**data).kind == kind.value


@pytest.mark.parametrize(
    ("data", "processed"),
    [
        ({"kind": "outage"}, False),
        ({"kind": "reset"}, False),
        ({"kind": "reset", "at": "body"}, True),
        ({"kind": "gateway_timeout"}, True),
        ({"kind": "truncate"}, True),
        ({"kind": "status", "status": 201}, True),
        ({"kind": "status", "status": 500}, False),
        ({"kind": "outage", "processed": True}, True),
    ],
)
def test_which_faults_apply_the_side_effect(data: dict[str, object], processed: bool) -> None:
    assert _fault(**data).applies_side_effect() is processed


@pytest.mark.parametrize("distribution", ["fixed", "uniform", "exponential", "lognormal"])
def test_latency_draws_are_bounded_and_repeat(distribution: str) -> None:
    fault = LatencyFault(distribution=distribution, delay=0.1, high=0.3, cap=0.5)  # type: ignore[arg-type]
    first = [fault.sample(random.Random(4)) for _ in range(3)]
    draws = [fault.sample(random.Random(seed)) for seed in range(200)]
    assert first == [fault.sample(random.Random(4)) for _ in range(3)]
    assert all(0.0 <= value <= 0.5 for value in draws)


def test_600_bodies_and_expected_kinds() -> None:
    for shape in ("code", "nested", "status", "errorCode", "message"):
        assert json.loads(body_600(shape))  # type: ignore[arg-type]
    assert expected_kind(_fault(kind="status_600")) is ErrorKind.UPSTREAM_600
    assert expected_kind(_fault(kind="auth_invalid", status=403)) is ErrorKind.AUTH_FORBIDDEN
    assert expected_kind(_fault(kind="truncate")) is ErrorKind.HTTP_RESPONSE_INCOMPLETE
    assert expected_kind(_fault(kind="latency")) is None
