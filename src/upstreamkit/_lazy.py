"""A package's public names, each imported on first use (PEP 562 module ``__getattr__`` and ``__dir__``).

Importing a package runs its ``__init__``: when that imports every public name, whoever needs one submodule
pays for all of them (``upstreamkit analyze`` for the whole HTTP client). A package using this module keeps
its ``__all__``, repeats its imports under ``if TYPE_CHECKING:`` for type checkers and IDEs, and at run time
imports a name's module when the name is first read; ``from package import name`` works as before.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterable, Mapping
from typing import Any

__all__ = ["lazy_exports"]


def lazy_exports(
    namespace: dict[str, Any], modules: Mapping[str, Iterable[str | tuple[str, str]]]
) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """The ``__getattr__`` and ``__dir__`` of the package whose ``globals()`` is ``namespace``.

    ``modules`` maps a module's full name to the public names it defines; a pair ``(public, name)`` exports
    the module's ``name`` as ``public`` (``from module import name as public``)."""
    package = namespace["__name__"]
    where: dict[str, tuple[str, str]] = {}
    for module, names in modules.items():
        for entry in names:
            public, attribute = (entry, entry) if isinstance(entry, str) else entry
            where[public] = (module, attribute)

    def __getattr__(name: str) -> Any:  # noqa: N807 - the PEP 562 hook, assigned in the package
        if name not in where:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        module, attribute = where[name]
        value = getattr(importlib.import_module(module), attribute)
        namespace[name] = value  # later reads are plain attribute reads
        return value

    def __dir__() -> list[str]:  # noqa: N807 - the PEP 562 hook
        return sorted({*namespace, *where})

    return __getattr__, __dir__
