"""A package's names imported at first use (PEP 562), as SciPy's
``lazy_loader`` does: ``%load_ext`` then imports only the modules a session
needs from its start, not those only a magic's first call needs (await
chains, ``%tasks``' rows, the reading of ids, the tables)."""

from __future__ import annotations

import importlib
from collections.abc import Callable


def lazy_exports(package: str, where: dict[str, str]) -> tuple[Callable[[str], object], Callable[[], list[str]]]:
    """The ``__getattr__`` and ``__dir__`` of ``package``, which offers each
    name of ``where`` from the submodule named beside it."""
    namespace = importlib.import_module(package).__dict__

    def __getattr__(name: str) -> object:
        try:
            module = where[name]
        except KeyError:
            raise AttributeError(f"module {package!r} has no attribute {name!r}") from None
        value = getattr(importlib.import_module(f"{package}.{module}"), name)
        namespace[name] = value  # found once; later lookups never come here
        return value

    def __dir__() -> list[str]:
        return sorted({*namespace, *where})

    return __getattr__, __dir__
