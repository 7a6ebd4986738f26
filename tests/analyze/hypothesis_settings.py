"""The hostile-input suite's settings, shared: ``tests/hostile/hostile_profile.py`` is the one knob."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parents[1] / "hostile"))

from hostile_profile import FUZZ

__all__ = ["FUZZ"]
