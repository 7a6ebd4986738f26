"""Fixtures shared by every test directory. Being here also puts tests/ on sys.path (pytest's default
``prepend`` import mode), so modules of every directory can import the shared helpers (browser_support)."""

from __future__ import annotations

from pathlib import Path

import pytest

from browser_support import Chromium


@pytest.fixture
def chromium(tmp_path: Path) -> Chromium:
    """Headless Chromium (Debian's ``chromium``), with its profiles in this test's tmp_path."""
    return Chromium(tmp_path)
