"""Scenario files: built-ins load, timelines resolve, and every mistake is one clear line."""

from __future__ import annotations

from pathlib import Path

import pytest

from upstreamkit.simulator import ScenarioError, builtin_scenarios, load_scenario, parse_scenario

REQUIRED = {
    "healthy", "expired-token", "invalid-key", "rate-limited", "outage", "flapping", "gateway-timeout", "slow",
    "reset", "tls-expired", "tls-mismatch", "tls-untrusted", "payload-too-large", "payload-field", "body-600",
    "status-600", "incident", "outage-3s", "outage-3s-retry-after",
}  # fmt: skip


def test_every_required_builtin_exists_and_loads() -> None:
    assert set(builtin_scenarios()) >= REQUIRED
    for name in builtin_scenarios():
        scenario = load_scenario(name)
        assert scenario.name == name
        assert scenario.description


def test_incident_goes_healthy_outage_partial_healthy() -> None:
    incident = load_scenario("incident")
    names = [incident.phase_at(t).name for t in (0, 3.1, 6.1, 9.1, 100)]  # type: ignore[union-attr]
    assert names == ["healthy", "outage", "partial-recovery", "recovered", "recovered"]
    assert incident.phase_at(0.31, time_scale=0.1).name == "outage"  # type: ignore[union-attr]


@pytest.mark.parametrize(("name", "retry_after"), [("outage-3s", None), ("outage-3s-retry-after", 1.0)])
def test_outage_3s_is_healthy_outage_recovered(name: str, retry_after: float | None) -> None:
    scenario = load_scenario(name)
    moments = (0, 2.9, 3.1, 5.9, 6.1, 12.0, 1000)
    names = [scenario.phase_at(t).name for t in moments]  # type: ignore[union-attr]
    assert names == ["healthy", "healthy", "outage", "outage", "recovered", "recovered", "recovered"]
    assert [scenario.phase_at(t / 10, time_scale=0.1).name for t in moments] == names  # type: ignore[union-attr]
    assert [scenario.phase_at(t * 2, time_scale=2).name for t in moments] == names  # type: ignore[union-attr]
    outage = scenario.phase_at(4)
    assert outage is not None
    route = outage.route_for("/v1/items")
    assert route is not None
    assert route.failure_probability() == 1.0
    (fault,) = route.faults
    assert fault.kind == "outage"
    assert fault.status == 503
    assert fault.retry_after == retry_after
    for healthy in (scenario.phase_at(1), scenario.phase_at(7)):
        assert healthy is not None
        assert healthy.route_for("/v1/items") is None


def test_gaps_are_healthy_and_loops_repeat() -> None:
    scenario = parse_scenario(
        """
        name = "gappy"
        loop = true
        [[phases]]
        name = "a"
        start = 1
        end = 2
        """
    )
    assert scenario.phase_at(0.5) is None
    assert scenario.phase_at(1.5).name == "a"  # type: ignore[union-attr]
    assert scenario.phase_at(3.5).name == "a"  # type: ignore[union-attr]


def _error(text: str, source: str = "bad.toml") -> str:
    with pytest.raises(ScenarioError) as caught:
        parse_scenario(text, source_name=source)
    message = str(caught.value)
    assert "\n" not in message
    assert message.startswith(source + ": ")
    return message


def test_typo_in_a_phase_key_names_file_phase_and_valid_keys() -> None:
    message = _error('[[phases]]\nname = "warmup"\nstrat = 0\n')
    assert "phase 'warmup' (phases[0])" in message
    assert "unknown key 'strat'" in message
    assert "valid keys: description, end, incident, name, routes, start, status" in message


def test_typo_in_a_fault_option_lists_that_fault_kind_options() -> None:
    message = _error('[[phases]]\nname = "p"\n[phases.routes."/v1/*"]\nfaults = [{kind = "hang", p = 1, dealy = 2}]\n')
    assert "unknown key 'dealy'" in message
    assert "valid keys: at, kind, p, processed" in message


def test_unknown_fault_kind_lists_the_kinds() -> None:
    message = _error('[[phases]]\nname = "p"\n[phases.routes."/v1/*"]\nfaults = [{kind = "hnag"}]\n')
    assert "phase 'p'" in message
    assert "unknown fault kind 'hnag'" in message
    assert "hang" in message
    assert "status_600" in message


def test_probabilities_over_one() -> None:
    message = _error(
        '[[phases]]\nname = "p"\n[phases.routes."/v1/*"]\n'
        'faults = [{kind = "outage", p = 0.7}, {kind = "reset", p = 0.5}]\n'
    )
    assert "phase 'p'" in message
    assert "sum to 1.2" in message


def test_end_before_start() -> None:
    message = _error('[[phases]]\nname = "backwards"\nstart = 5\nend = 2\n')
    assert "phase 'backwards'" in message
    assert "end (2) must be greater than start (5)" in message


def test_overlapping_phases() -> None:
    message = _error('[[phases]]\nname = "a"\nstart = 0\nend = 5\n[[phases]]\nname = "b"\nstart = 3\n')
    assert "phase 'a' (0..5) overlaps phase 'b'" in message


def test_open_ended_phase_before_another() -> None:
    message = _error('[[phases]]\nname = "a"\n[[phases]]\nname = "b"\nstart = 3\n')
    assert "overlaps" in message


def test_bad_values_name_the_field() -> None:
    assert "faults[0](close).p: Input should be less than or equal to 1" in _error(
        '[[phases]]\nname = "p"\n[phases.routes."*"]\nfaults = [{kind = "close", p = 2}]\n'
    )
    assert "faults[0](outage).status: Input should be 502 or 503" in _error(
        '[[phases]]\nname = "p"\n[phases.routes."*"]\nfaults = [{kind = "outage", status = 500}]\n'
    )
    assert "unknown key 'colour'" in _error('colour = "red"\n[[phases]]\nname = "p"\n')
    assert "phases" in _error('name = "nothing"\n')


def test_invalid_toml() -> None:
    assert "invalid TOML" in _error("[[phases]\n")


def test_unknown_name_lists_valid_names_and_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ScenarioError, match="unknown scenario 'nope'; valid names: body-600, "):
        load_scenario("nope")
    with pytest.raises(ScenarioError, match="cannot read scenario file"):
        load_scenario(tmp_path / "missing.toml")


def test_file_name_is_the_default_scenario_name(tmp_path: Path) -> None:
    path = tmp_path / "mine.toml"
    path.write_text('[[phases]]\nname = "p"\n')
    assert load_scenario(path).name == "mine"
    assert load_scenario(str(path)).name == "mine"


def test_route_globs_first_match_wins() -> None:
    scenario = parse_scenario(
        """
        name = "globs"
        [[phases]]
        name = "p"
        [phases.routes."/v1/payments"]
        max_body_bytes = 10
        [phases.routes."/v1/*"]
        max_body_bytes = 20
        """
    )
    phase = scenario.phases[0]
    assert phase.route_for("/v1/payments").max_body_bytes == 10  # type: ignore[union-attr]
    assert phase.route_for("/v1/other").max_body_bytes == 20  # type: ignore[union-attr]
    assert phase.route_for("/health") is None
