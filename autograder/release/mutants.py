"""Known-bug variants (``assignments/<hw>/mutants/<stub>__<bug>.py``) and their namespaces."""

from __future__ import annotations

import ast
import re
import types
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from autograder.release.sources import BuildError


@dataclass(frozen=True)
class Mutant:
    path: Path
    fails: tuple[str, ...]
    message: str
    functions: dict[str, Any]

    @property
    def name(self) -> str:
        return self.path.stem


def mutant_files(mutants_dir: Path) -> list[Path]:
    if not mutants_dir.is_dir():
        return []
    return sorted(p for p in mutants_dir.glob("*.py") if not p.name.startswith("_"))


def _docstring_field(docstring: str, field: str, path: Path) -> str:
    match = re.search(rf"^\s*{field}\s*:\s*(.+?)\s*$", docstring, re.MULTILINE | re.IGNORECASE)
    if match is None:
        raise BuildError(f"{path}: the docstring has no `{field}:` line")
    return match.group(1)


def load_mutant(path: Path) -> Mutant:
    """Parse the docstring (``fails:``, ``message:``) and execute the module's definitions."""
    text = path.read_text(encoding="utf-8")
    docstring = ast.get_docstring(ast.parse(text, filename=str(path))) or ""
    fails = tuple(q for q in re.split(r"[,\s]+", _docstring_field(docstring, "fails", path)) if q)
    message = _docstring_field(docstring, "message", path)
    module = types.ModuleType(f"mutant_{path.stem}")
    module.__file__ = str(path)
    exec(compile(text, str(path), "exec"), module.__dict__)
    functions = {
        name: value
        for name, value in vars(module).items()
        if isinstance(value, types.FunctionType) and value.__code__.co_filename == str(path)
    }
    if not functions:
        raise BuildError(f"{path}: defines no function")
    return Mutant(path=path, fails=fails, message=message, functions=functions)


def mutant_namespace(reference: dict[str, Any], mutant: Mutant) -> dict[str, Any]:
    """The reference namespace with the mutant's functions laid over it."""
    unknown = sorted(set(mutant.functions) - set(reference))
    stubs = [name for name in mutant.functions if name in reference]
    if not stubs:
        raise BuildError(
            f"{mutant.path}: none of its functions {unknown} is a stub of the reference"
        )
    return {**reference, **mutant.functions}
