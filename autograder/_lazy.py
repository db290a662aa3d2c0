"""Names of a package loaded on first use (PEP 562 ``__getattr__``).

``autograder.grade`` and ``autograder.release`` re-export names of heavy submodules (the batch
driver and rich; the build, nbformat and otter). A grading worker or ``autograder grade`` needs
one light submodule only, and must not pay for the rest at import.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable
from typing import Any


def lazy_names(package: str, where: dict[str, str]) -> tuple[Callable[[str], Any],
                                                              Callable[[], list[str]]]:
    """The package's ``__getattr__`` and ``__dir__``: ``name`` comes from ``package.<where[name]>``, imported
    and then kept in the package's namespace (looked up through ``sys.modules``: a submodule
    such as ``autograder.grade.globals`` shadows module-level names like ``globals``)."""

    def __getattr__(name: str) -> Any:
        module = where.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(f"{package}.{module}"), name)
        setattr(sys.modules[package], name, value)
        return value

    def __dir__() -> list[str]:
        return sorted(set(vars(sys.modules[package])) | set(where))

    return __getattr__, __dir__
