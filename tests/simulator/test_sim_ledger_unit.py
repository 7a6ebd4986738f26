"""The ledger: bounded, counts duplicates by logical request, resets."""

from __future__ import annotations

from upstreamkit.simulator import Ledger


def test_bound_keeps_counting() -> None:
    ledger = Ledger(maxlen=3)
    for index in range(5):
        ledger.record(time=float(index), method="GET", path="/v1/x", request_id=f"r{index % 2}")
    assert len(ledger) == 3
    assert [entry.seq for entry in ledger.entries()] == [3, 4, 5]
    assert ledger.stats()["requests"] == 5
    assert ledger.attempts_by_request_id() == {"r0": 2, "r1": 1}
    assert [entry.seq for entry in ledger.entries(since=4)] == [5]
    assert [entry.seq for entry in ledger.entries(limit=1)] == [5]


def test_duplicates_by_idempotency_key_then_request_id() -> None:
    ledger = Ledger()
    ledger.record(time=0, method="POST", path="/v1/payments", idempotency_key="k", side_effect_applied=True)
    second = ledger.record(time=1, method="POST", path="/v1/payments", idempotency_key="k", side_effect_applied=True)
    ledger.record(time=2, method="POST", path="/v1/payments", request_id="r", side_effect_applied=True)
    third = ledger.record(time=3, method="POST", path="/v1/payments", request_id="r", side_effect_applied=True)
    anonymous = ledger.record(time=4, method="POST", path="/v1/payments", side_effect_applied=True)
    assert second.duplicate_side_effect
    assert third.duplicate_side_effect
    assert not anonymous.duplicate_side_effect
    stats = ledger.stats()
    assert stats["side_effects_applied"] == 5
    assert stats["duplicate_side_effects"] == 2
    ledger.reset()
    assert ledger.stats()["requests"] == 0
    assert len(ledger) == 0
    assert ledger.record(time=5, method="POST", path="/", idempotency_key="k", side_effect_applied=True).seq == 1


def test_entries_are_json_ready() -> None:
    entry = Ledger().record(time=1.5, method="GET", path="/v1/x", fault="reset", status=None, phase="p")
    assert entry.as_dict()["fault"] == "reset"
    assert entry.as_dict()["status"] is None
