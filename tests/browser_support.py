"""Headless Chromium (Debian's ``chromium``) for the tests of the HTML pages: a screenshot, or the DOM after the
page's scripts ran, each from one short run with a fresh profile in the test's tmp_path.

Also: a reader of the dumped DOM (every element with its attributes and text) and a PNG check that needs no
imaging library (the file decodes, has the size asked for, and is not one flat colour).
"""

from __future__ import annotations

import os
import shutil
import signal
import struct
import subprocess
import zlib
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path

import pytest

__all__ = ["Chromium", "Element", "PngInfo", "elements", "in_chart", "read_png", "save_artifact"]

WINDOW = (1280, 900)
_RUN_TIMEOUT = 60.0
# Without the background-networking flags Chromium tries Google's hosts, which this closed network refuses.
_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
    "--no-proxy-server",
    "--hide-scrollbars",
)


class Chromium:
    """One headless browser binary; each call is one process with its own profile directory."""

    def __init__(self, tmp_path: Path) -> None:
        binary = shutil.which("chromium") or shutil.which("chromium-browser")
        if binary is None:
            pytest.fail("chromium is not installed: apt-get install chromium (Debian package 'chromium')")
        self.binary = binary
        self._tmp = tmp_path
        self.runs = 0

    def _run(self, *args: str) -> str:
        self.runs += 1
        profile = self._tmp / f"chromium-profile-{self.runs}"
        command = [self.binary, *_FLAGS, f"--user-data-dir={profile}", *args]
        # Its own session, so a run that hangs is stopped with every process it started (by our child's pid).
        process = subprocess.Popen(
            command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True
        )
        try:
            out, err = process.communicate(timeout=_RUN_TIMEOUT)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.communicate()
            pytest.fail(f"chromium did not finish within {_RUN_TIMEOUT:g} s: {' '.join(args)}")
        if process.returncode != 0:
            pytest.fail(f"chromium exited {process.returncode}: {err[-2000:]}")
        return out

    def dump_dom(self, url: str, *, budget_ms: int = 3000) -> str:
        """The DOM after the page's scripts had ``budget_ms`` of virtual time (network waits included)."""
        return self._run(f"--virtual-time-budget={budget_ms}", "--dump-dom", url)

    def screenshot(self, url: str, path: Path, *, budget_ms: int = 3000) -> Path:
        """A PNG of the page at 1280x900 after ``budget_ms`` of virtual time."""
        self._run(
            f"--virtual-time-budget={budget_ms}",
            f"--window-size={WINDOW[0]},{WINDOW[1]}",
            "--run-all-compositor-stages-before-draw",  # else a tile may still be unpainted in the picture
            f"--screenshot={path}",
            url,
        )
        if not path.exists():
            pytest.fail(f"chromium wrote no screenshot at {path}")
        return path


@dataclass
class Element:
    """One element of a dumped DOM."""

    tag: str
    attrs: dict[str, str]
    text: str = ""
    classes: set[str] = field(default_factory=set)


class _Collector(HTMLParser):
    _VOID = frozenset({"meta", "link", "br", "img", "input", "hr", "col", "source", "wbr", "area", "base"})

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.found: list[Element] = []
        self._open: list[Element] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = {name: value or "" for name, value in attrs}
        element = Element(tag, values, classes=set(values.get("class", "").split()))
        self.found.append(element)
        if tag not in self._VOID:
            self._open.append(element)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = {name: value or "" for name, value in attrs}
        self.found.append(Element(tag, values, classes=set(values.get("class", "").split())))

    def handle_endtag(self, tag: str) -> None:
        for index in range(len(self._open) - 1, -1, -1):
            if self._open[index].tag == tag:
                del self._open[index:]
                return

    def handle_data(self, data: str) -> None:
        for element in self._open:
            element.text += data


def elements(dom: str) -> list[Element]:
    """Every element of ``dom`` in document order, with its attributes and all the text inside it."""
    collector = _Collector()
    collector.feed(dom)
    collector.close()
    return collector.found


def in_chart(found: list[Element], name: str) -> list[Element]:
    """The ``<svg data-chart=name>`` that charts.js drew and the elements inside it (up to the next svg)."""
    inside, out = False, []
    for element in found:
        if element.tag == "svg":
            inside = element.attrs.get("data-chart") == name
        if inside:
            out.append(element)
    return out


@dataclass(frozen=True)
class PngInfo:
    """What :func:`read_png` found."""

    width: int
    height: int
    distinct_rows: int
    """Distinct filtered scanlines: a one-colour image has a handful whatever its filters, a page hundreds."""


def read_png(path: Path) -> PngInfo:
    """Decode ``path`` far enough to check it: signature, IHDR, every chunk's CRC, the image data's length."""
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    offset, idat, header = 8, b"", b""
    while offset < len(data):
        (length,) = struct.unpack(">I", data[offset : offset + 4])
        kind = data[offset + 4 : offset + 8]
        body = data[offset + 8 : offset + 8 + length]
        (crc,) = struct.unpack(">I", data[offset + 8 + length : offset + 12 + length])
        assert zlib.crc32(kind + body) == crc, f"bad CRC in chunk {kind!r}"
        if kind == b"IHDR":
            header = body
        elif kind == b"IDAT":
            idat += body
        offset += 12 + length
        if kind == b"IEND":
            break
    width, height, depth, colour = struct.unpack(">IIBB", header[:10])
    channels = {0: 1, 2: 3, 3: 1, 4: 2, 6: 4}[colour]
    stride = 1 + (width * channels * depth + 7) // 8
    raw = zlib.decompress(idat)
    assert len(raw) == stride * height, "image data does not match the header's size"
    rows = {raw[start : start + stride] for start in range(0, len(raw), stride)}
    return PngInfo(width, height, len(rows))


def save_artifact(path: Path) -> None:
    """Copy ``path`` into ``$UPSTREAMKIT_ARTIFACTS`` when it is set (CI keeps the screenshots)."""
    target = os.environ.get("UPSTREAMKIT_ARTIFACTS")
    if target:
        Path(target).mkdir(parents=True, exist_ok=True)
        shutil.copy2(path, Path(target) / path.name)
