"""The simulated upstream's status page, in the Atlassian Statuspage v2 JSON format.

``/api/v2/status.json`` gives ``{"page": {...}, "status": {"indicator", "description"}}``;
``/api/v2/summary.json`` adds ``components``, ``incidents`` (unresolved) and ``scheduled_maintenances``.
Both reflect the scenario phase in force. A phase may set its indicator (``status = "major"``); otherwise
it is derived from the worst route's failure probability: none (0), minor (< 0.25, or only slowness),
major (< 0.75), critical (the rest). Each route glob of the scenario is one component.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from upstreamkit.simulator.scenario import Phase, RouteSpec, Scenario, StatusIndicator

__all__ = ["component_status", "phase_indicator", "status_document", "summary_document"]

_DESCRIPTIONS: dict[str, str] = {
    "none": "All Systems Operational",
    "minor": "Partially Degraded Service",
    "major": "Partial System Outage",
    "critical": "Major System Outage",
}
_PAGE_ID = "upsksim0001"


def _iso(timestamp: float) -> str:
    return dt.datetime.fromtimestamp(timestamp, dt.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _route_indicator(route: RouteSpec) -> StatusIndicator:
    failing = route.failure_probability()
    if failing <= 0:
        return "minor" if route.degraded() else "none"
    if failing < 0.25:
        return "minor"
    if failing < 0.75:
        return "major"
    return "critical"


_ORDER: tuple[StatusIndicator, ...] = ("none", "minor", "major", "critical")


def phase_indicator(phase: Phase | None) -> StatusIndicator:
    """The page's indicator for a phase (None: between phases, all operational)."""
    if phase is None:
        return "none"
    if phase.status is not None:
        return phase.status
    worst: StatusIndicator = "none"
    for route in phase.routes.values():
        indicator = _route_indicator(route)
        if _ORDER.index(indicator) > _ORDER.index(worst):
            worst = indicator
    return worst


def component_status(route: RouteSpec | None) -> str:
    """A Statuspage component status for a route's spec in the current phase."""
    indicator = "none" if route is None else _route_indicator(route)
    return {
        "none": "operational",
        "minor": "degraded_performance",
        "major": "partial_outage",
        "critical": "major_outage",
    }[indicator]


def _page(base_url: str, now: float) -> dict[str, Any]:
    return {
        "id": _PAGE_ID,
        "name": "upstreamkit simulator",
        "url": base_url,
        "time_zone": "Etc/UTC",
        "updated_at": _iso(now),
    }


def status_document(scenario: Scenario, phase: Phase | None, *, base_url: str, now: float) -> dict[str, Any]:
    """The body of ``/api/v2/status.json``."""
    indicator = phase_indicator(phase)
    description = (phase.description if phase and phase.description else None) or _DESCRIPTIONS[indicator]
    del scenario
    return {"page": _page(base_url, now), "status": {"indicator": indicator, "description": description}}


def summary_document(
    scenario: Scenario, phase: Phase | None, *, base_url: str, now: float, phase_started: float
) -> dict[str, Any]:
    """The body of ``/api/v2/summary.json``: status, one component per route glob, unresolved incidents."""
    document = status_document(scenario, phase, base_url=base_url, now=now)
    globs: list[str] = []
    for each in scenario.phases:
        globs.extend(glob for glob in each.routes if glob not in globs)
    components = []
    for position, glob in enumerate(globs or ["/v1/*"]):
        route = phase.routes.get(glob) if phase is not None else None
        components.append(
            {
                "id": f"cmp{position:04d}",
                "name": f"API {glob}",
                "status": component_status(route),
                "created_at": _iso(phase_started),
                "updated_at": _iso(now),
                "position": position + 1,
                "description": f"requests matching {glob}",
                "showcase": True,
                "group_id": None,
                "page_id": _PAGE_ID,
                "group": False,
                "only_show_if_degraded": False,
            }
        )
    incidents = []
    indicator = document["status"]["indicator"]
    if phase is not None and indicator != "none":
        name = phase.incident or f"{scenario.name}: {phase.name}"
        body = phase.description or f"We are investigating elevated errors ({phase.name})."
        incidents.append(
            {
                "id": f"inc-{scenario.name}-{phase.name}",
                "name": name,
                "status": "investigating",
                "impact": indicator,
                "created_at": _iso(phase_started),
                "updated_at": _iso(now),
                "monitoring_at": None,
                "resolved_at": None,
                "shortlink": f"{base_url}/incidents/{phase.name}",
                "page_id": _PAGE_ID,
                "incident_updates": [
                    {
                        "id": f"upd-{phase.name}-1",
                        "status": "investigating",
                        "body": body,
                        "created_at": _iso(phase_started),
                        "display_at": _iso(phase_started),
                    }
                ],
                "components": [c for c in components if c["status"] != "operational"],
            }
        )
    document["components"] = components
    document["incidents"] = incidents
    document["scheduled_maintenances"] = []
    return document
