"""Ranking (placeholder until the rules engine lands): no causes."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from upstreamkit.diagnose.model import Cause


def rank(facts: Mapping[str, Any]) -> list[Cause]:
    """The causes the facts support, most likely first."""
    del facts
    return []
