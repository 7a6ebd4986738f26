"""Payload isolation, the pure part: a JSON body's leaf fields, a body keeping only some, and delta debugging.

:func:`ddmin` is Zeller and Hildebrandt's minimizing delta debugging ("Simplifying and Isolating
Failure-Inducing Input", IEEE TSE 2002): split the failing set of fields into n parts; keep a part that still
fails alone, else a complement that still fails (drop that part), else split finer. It returns a 1-minimal set:
removing any single field of it makes the failure go away. Written here (about 40 lines) because the
maintained Python implementations are tied to test-case reducers for files and processes, not to a callback
over a list under a request budget.

Array elements are removed like object members, so a body keeping ``items.2`` alone sends it as the array's
first element: servers validate elements by content far more often than by position.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

__all__ = ["Isolation", "Path", "ddmin", "dotted", "keep_only", "leaves", "worst_case_tests"]

Path = tuple[str | int, ...]
"""Where a leaf sits: object keys and array indexes from the root."""


def dotted(path: Path) -> str:
    """``("customer", "email")`` → ``"customer.email"``; ``("items", 0, "sku")`` → ``"items.0.sku"``."""
    return ".".join(str(part) for part in path) or "(root)"


def leaves(document: Any, prefix: Path = ()) -> list[Path]:
    """Every leaf of a decoded JSON document: scalars, and empty objects or arrays, in document order."""
    if isinstance(document, Mapping) and document:
        return [path for key, value in document.items() for path in leaves(value, (*prefix, str(key)))]
    if isinstance(document, list) and document:
        return [path for index, value in enumerate(document) for path in leaves(value, (*prefix, index))]
    return [prefix]


def keep_only(document: Any, keep: set[Path], prefix: Path = ()) -> Any:
    """A copy of ``document`` holding only the leaves in ``keep`` and the objects and arrays around them.

    Containers left without a kept leaf are dropped, except the root, which stays (empty) so that the body
    keeps its type.
    """
    if isinstance(document, Mapping) and document:
        kept_object = {}
        for key, value in document.items():
            path = (*prefix, str(key))
            if any(leaf[: len(path)] == path for leaf in keep):
                kept_object[str(key)] = keep_only(value, keep, path)
        return kept_object
    if isinstance(document, list) and document:
        kept_list = []
        for index, value in enumerate(document):
            path = (*prefix, index)
            if any(leaf[: len(path)] == path for leaf in keep):
                kept_list.append(keep_only(value, keep, path))
        return kept_list
    return document


@dataclass(frozen=True, slots=True)
class Isolation:
    """The smallest failing set found, how many tests it took, and whether the budget cut the search short."""

    found: list[Path]
    tests: int
    complete: bool


class _BudgetSpentError(Exception):
    """Raised inside :func:`ddmin` when the next test would exceed the budget."""


def worst_case_tests(count: int) -> int:
    """An upper bound on the tests :func:`ddmin` runs for ``count`` items (Zeller: n² + 3n), plus the empty set."""
    return 1 + count * count + 3 * count


def _split(items: Sequence[Path], parts: int) -> list[list[Path]]:
    size, extra = divmod(len(items), parts)
    chunks, start = [], 0
    for index in range(parts):
        end = start + size + (1 if index < extra else 0)
        chunks.append(list(items[start:end]))
        start = end
    return [chunk for chunk in chunks if chunk]


def ddmin(items: Sequence[Path], still_fails: Callable[[list[Path]], bool], max_tests: int) -> Isolation:
    """A 1-minimal subset of ``items`` for which ``still_fails`` holds, with at most ``max_tests`` calls.

    ``items`` as a whole is assumed to fail (it is the request that failed). The empty set is tried first:
    when it fails too, no field is to blame and the result is empty. When the budget runs out, the smallest
    failing set found so far is returned with ``complete`` False.
    """
    seen: dict[tuple[Path, ...], bool] = {}
    tests = 0

    def test(subset: list[Path]) -> bool:
        nonlocal tests
        key = tuple(subset)
        if key not in seen:
            if tests >= max_tests:
                raise _BudgetSpentError
            tests += 1
            seen[key] = still_fails(subset)
        return seen[key]

    current = list(items)
    try:
        if test([]):
            return Isolation([], tests, complete=True)
        parts = 2
        while len(current) >= 2:
            chunks = _split(current, min(parts, len(current)))
            smaller = next((chunk for chunk in chunks if test(chunk)), None)
            if smaller is not None:
                current, parts = smaller, 2
                continue
            if len(chunks) > 2:
                complements = ([item for item in current if item not in chunk] for chunk in chunks)
                smaller = next((rest for rest in complements if test(rest)), None)
                if smaller is not None:
                    current, parts = smaller, max(parts - 1, 2)
                    continue
            if parts >= len(current):
                break
            parts = min(len(current), parts * 2)
    except _BudgetSpentError:
        return Isolation(current, tests, complete=False)
    return Isolation(current, tests, complete=True)
