"""Find reference code, hidden tests and hidden expected values in a student template."""

from __future__ import annotations

import ast
import inspect
import json
import re
import textwrap
import types
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from autograder.release.values import value_differences
from autograder.testfiles import Question, load_questions

#: A line shorter than this (whitespace removed) is too common to count as distinctive.
MIN_LINE_CHARS = 28
#: Hidden arrays smaller than this may match a public one by coincidence (0.0, True, [1, 0]).
MIN_ARRAY_SIZE = 4
#: The vendored checks library inside a template.
VENDORED = "autograder/"


@dataclass(frozen=True)
class Leak:
    kind: str  # "solution code" | "hidden test" | "hidden expected"
    where: str  # file in the template (or "expected/qN.npz")
    what: str

    def __str__(self) -> str:
        return f"{self.kind} in {self.where}: {self.what}"


def _squash(text: str) -> str:
    return re.sub(r"\s+", "", text)


def template_texts(template: Path) -> dict[str, str]:
    """The text a student can read in each file: notebook cell sources, other text files whole."""
    texts = {}
    for path in sorted(template.rglob("*")):
        if not path.is_file() or {"__pycache__", ".venv"} & set(path.relative_to(template).parts):
            continue
        rel = path.relative_to(template).as_posix()
        if path.suffix == ".ipynb":
            nb = json.loads(path.read_text(encoding="utf-8"))
            texts[rel] = "\n".join(
                "".join(cell["source"]) if isinstance(cell["source"], list) else cell["source"]
                for cell in nb["cells"]
            )
        elif path.suffix in (".py", ".md", ".txt", ".json", ".cfg", ".toml", ""):
            texts[rel] = path.read_text(encoding="utf-8", errors="replace")
    return texts


def _body_without_docstring(func: types.FunctionType) -> tuple[str, list[str]]:
    source = textwrap.dedent(inspect.getsource(func))
    node = ast.parse(source).body[0]
    assert isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))
    body = node.body
    if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant) and (
        isinstance(body[0].value.value, str)
    ):
        body = body[1:]
    if not body:
        return "", []
    lines = source.splitlines()[body[0].lineno - 1 : body[-1].end_lineno]
    code_lines = [
        line.strip() for line in lines if line.strip() and not line.strip().startswith("#")
    ]
    return "\n".join(lines), code_lines


def solution_functions(module: types.ModuleType) -> dict[str, types.FunctionType]:
    return {
        name: value
        for name, value in vars(module).items()
        if isinstance(value, types.FunctionType) and value.__module__ == module.__name__
    }


#: Lines every NumPy function starts with (coercing an argument) say nothing about a solution.
BOILERPLATE = re.compile(
    r"^(?P<name>\w+)\s*=\s*(np|numpy)\.(asarray|array|asanyarray|atleast_[123]d)\("
    r"\s*(?P=name)\s*(,[^()]*(\([^()]*\))?[^()]*)?\)$"
)


def distinctive_lines(lines: list[str], exclude: set[str] = frozenset()) -> list[str]:
    """Lines long and specific enough that finding one elsewhere means it was copied."""
    return [
        line
        for line in lines
        if len(_squash(line)) >= MIN_LINE_CHARS
        and _squash(line) not in exclude
        and not BOILERPLATE.match(line.strip())
    ]


def _hidden_case_sources(question: Question) -> Iterator[tuple[str, str, str]]:
    """(case name, function name, source) of each hidden case."""
    for case in question.hidden_cases:
        yield case.name, case.func.__name__, textwrap.dedent(inspect.getsource(case.func))


def _leaves(value: Any) -> Iterator[np.ndarray]:
    if isinstance(value, dict):
        for item in value.values():
            yield from _leaves(item)
    elif isinstance(value, (list, tuple)):
        for item in value:
            yield from _leaves(item)
    else:
        yield np.asarray(value)


def find_leaks(
    template: Path,
    *,
    solutions: types.ModuleType,
    questions: list[Question],
    expected: Mapping[str, Mapping[str, Any]],
    hidden_only_keys: Mapping[str, set[str]],
    recorded_by: Mapping[tuple[str, str], str] | None = None,
) -> list[Leak]:
    """Everything hidden that can be found in ``template`` (empty when nothing leaks).

    ``questions`` are the full test files (hidden cases included), ``expected`` every recorded
    value (question -> key -> value), ``hidden_only_keys`` the keys only hidden cases use,
    ``recorded_by`` the case that recorded each (question, key): a leak names the case to fix.
    """
    from autograder.checks import load_expected

    texts = template_texts(template)
    squashed = {rel: _squash(text) for rel, text in texts.items()}
    leaks: list[Leak] = []

    def search(kind: str, needle: str, what: str, lines_too: bool = False) -> None:
        squashed_needle = _squash(needle)
        for rel, haystack in squashed.items():
            if lines_too and rel.startswith(VENDORED):
                # The vendored checks are public library code full of generic NumPy idioms
                # (``rng = np.random.default_rng(seed)``): only whole bodies count there.
                continue
            if squashed_needle and squashed_needle in haystack:
                leaks.append(Leak(kind, rel, what))

    # 1. Reference code: each function's body, and each distinctive line of it.
    for name, func in sorted(solution_functions(solutions).items()):
        body, lines = _body_without_docstring(func)
        if body.strip():
            search("solution code", body, f"the body of solutions `{name}`")
        for line in distinctive_lines(lines):
            search("solution code", line, f"line of solutions `{name}`: {line!r}", lines_too=True)

    # 2. Hidden cases: their names, and the lines only they contain (a line that also occurs
    #    in a public case, even as part of a longer line, is public already).
    public_sources = []
    public_funcs = set()
    for question in questions:
        for case in question.public_cases:
            public_funcs.add(case.func.__name__)
            public_sources.append(inspect.getsource(case.func))
    public_blob = _squash("\n".join(public_sources))
    for question in questions:
        for case_name, func_name, source in _hidden_case_sources(question):
            if func_name not in public_funcs:
                search("hidden test", func_name, f"{question.name} hidden case {func_name}")
            if case_name != func_name and not case_name.startswith(f"{question.name} - "):
                search("hidden test", case_name, f"{question.name} hidden case name {case_name!r}")
            lines = [
                line.strip()
                for line in source.splitlines()[1:]
                if line.strip() and not line.strip().startswith(("import ", "from ", "#"))
            ]
            for line in distinctive_lines(lines):
                if _squash(line) not in public_blob:
                    search("hidden test", line, f"{question.name} {func_name} line {line!r}")

    # The student's test files, loaded as otter loads them, hold public cases only.
    if (template / "tests").is_dir():
        for question in load_questions(template / "tests"):
            for case in question.hidden_cases:
                leaks.append(Leak("hidden test", f"tests/{question.path.name}", case.name))

    # 3. Hidden expected values: keys in the public npz, equal arrays, raw bytes anywhere.
    public_leaves: list[tuple[str, str, np.ndarray]] = []  # (npz file, key, array)
    for npz in sorted((template / "expected").glob("*.npz")):
        public = load_expected(npz)
        question = npz.stem
        for key in sorted(set(public) & set(hidden_only_keys.get(question, ()))):
            leaks.append(Leak("hidden expected", f"expected/{npz.name}", f"hidden key {key!r}"))
        for public_key, value in public.items():
            public_leaves.extend((npz.name, public_key, leaf) for leaf in _leaves(value))
    raw_files = {
        path.relative_to(template).as_posix(): path.read_bytes()
        for path in sorted(template.rglob("*"))
        if path.is_file() and not {"__pycache__", ".venv"} & set(path.relative_to(template).parts)
    }
    for question, keys in sorted(hidden_only_keys.items()):
        for key in sorted(keys):
            for leaf in _leaves(expected[question][key]):
                if leaf.size < MIN_ARRAY_SIZE or leaf.dtype.kind not in "biufc":
                    continue
                for npz_name, public_key, other in public_leaves:
                    # equal, or equal up to rounding (recorded on another CPU); the public key
                    # names the case that recorded it
                    if other.shape == leaf.shape and (
                        np.array_equal(other, leaf) or not value_differences(other, leaf)
                    ):
                        case = (recorded_by or {}).get((Path(npz_name).stem, public_key))
                        leaks.append(Leak(
                            "hidden expected", f"expected/{npz_name}",
                            f"public key {public_key!r}"
                            + (f" (recorded by case {case!r})" if case else "")
                            + f" equals hidden {question} {key!r}",
                        ))
                        break
                raw = np.ascontiguousarray(leaf).tobytes()
                if len(raw) >= 32:
                    for rel, data in raw_files.items():
                        if raw in data:
                            leaks.append(
                                Leak("hidden expected", rel, f"bytes of {question} {key!r}")
                            )
    # each leaf of a leaked tuple finds the same public key: say it once
    return list(dict.fromkeys(leaks))
