"""Record expected values from the reference, one case at a time, and write them out."""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np

from autograder.release.sources import BuildError
from autograder.runner import run_case
from autograder.testfiles import Question

EXPECTED_ENV = "AUTOGRADER_EXPECTED_DIR"


@dataclass
class Recorded:
    """Expected values per question, and which keys public and hidden cases asked for."""

    values: dict[str, dict[str, Any]] = field(default_factory=dict)  # question -> key -> value
    public_keys: dict[str, set[str]] = field(default_factory=dict)
    hidden_keys: dict[str, set[str]] = field(default_factory=dict)
    keys_by_case: dict[tuple[str, str], tuple[tuple[str, str], ...]] = field(default_factory=dict)

    def public_values(self) -> dict[str, dict[str, Any]]:
        return {
            question: {key: values[key] for key in sorted(self.public_keys.get(question, ()))}
            for question, values in self.values.items()
            if self.public_keys.get(question)
        }

    def hidden_only_keys(self) -> dict[str, set[str]]:
        return {
            question: keys - self.public_keys.get(question, set())
            for question, keys in self.hidden_keys.items()
        }


def reference_namespace(module: ModuleType) -> dict[str, Any]:
    return {name: value for name, value in vars(module).items() if not name.startswith("__")}


@contextmanager
def expected_dir_unset() -> Iterator[None]:
    """Replay from ``<tests>/../expected`` whatever the caller's environment says."""
    saved = os.environ.pop(EXPECTED_ENV, None)
    try:
        yield
    finally:
        if saved is not None:
            os.environ[EXPECTED_ENV] = saved


def _same_value(a: Any, b: Any) -> bool:
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_same_value(a[k], b[k]) for k in a)
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        return type(a) is type(b) and len(a) == len(b) and all(map(_same_value, a, b))
    try:
        return bool(np.array_equal(np.asarray(a), np.asarray(b), equal_nan=True))
    except TypeError:
        return bool(np.array_equal(np.asarray(a), np.asarray(b)))


def record_expected(questions: list[Question], solutions: ModuleType, *, hw: str) -> Recorded:
    """Run every case alone in record mode against the reference.

    Raises ``BuildError`` naming the case when the reference does not pass its own test, or when
    two cases record different values under one key.
    """
    from autograder.checks import recording

    namespace = reference_namespace(solutions)
    recorded = Recorded()
    failures = []
    for question in questions:
        for case in question.cases:
            with recording(solutions) as store:
                result = run_case(question, case, namespace)
                stored = dict(store)
            if not result.passed:
                failures.append(
                    f"{hw} {question.name} case {case.name!r}: the reference does not pass its "
                    f"own test:\n{result.message}"
                )
                continue
            keys = []
            for (q_name, key), value in stored.items():
                values = recorded.values.setdefault(q_name, {})
                if key in values and not _same_value(values[key], value):
                    failures.append(
                        f"{hw} {q_name}: key {key!r} recorded twice with different values "
                        f"(case {case.name!r}); use a different key for different inputs"
                    )
                values[key] = value
                bucket = recorded.hidden_keys if case.hidden else recorded.public_keys
                bucket.setdefault(q_name, set()).add(key)
                keys.append((q_name, key))
            recorded.keys_by_case[(question.name, case.name)] = tuple(keys)
    if failures:
        raise BuildError("\n\n".join(failures))
    if questions:
        record_known_mistakes(questions, namespace, recorded,
                              questions[0].path.parent.parent / "mutants")
    return recorded


def _mistake_words(mutant) -> str:
    """``<stub> gives when it <first docstring line>`` (what the student reads after "your
    result is what")."""
    import ast

    doc = ast.get_docstring(ast.parse(mutant.path.read_text(encoding="utf-8"))) or ""
    first = doc.strip().splitlines()[0].strip() if doc.strip() else mutant.name
    first = first[0].lower() + first[1:] if first else first
    stub = mutant.name.split("__", 1)[0]
    return f"{stub} returns when it {first.rstrip('.')} (check: {mutant.message})"


def _all_finite(value: Any) -> bool:
    if isinstance(value, dict):
        return all(_all_finite(v) for v in value.values())
    if isinstance(value, (list, tuple)):
        return all(_all_finite(v) for v in value)
    if isinstance(value, (bool, int, str)) or value is None:
        return True
    arr = np.asarray(value)
    return arr.dtype.kind not in "fc" or bool(np.isfinite(arr).all())


def record_known_mistakes(questions: list[Question], namespace: Mapping[str, Any],
                          recorded: Recorded, mutants_dir: Path) -> int:
    """Record what each mutant returns under the expected-value keys of the questions it fails.

    Trusted instructor code, run in the build process. A key's mistake is stored as
    ``mistake:<key>:<mutant>`` in the same bucket (public or hidden) as the key itself, so hidden
    cases' mistakes never reach the template. Returns how many values were stored.
    """
    from autograder.checks import recording
    from autograder.checks.mistakes import mistake_key
    from autograder.release.mutants import load_mutant, mutant_files, mutant_namespace

    by_name = {q.name: q for q in questions}
    stored_count = 0
    for path in mutant_files(mutants_dir):
        mutant = load_mutant(path)
        overlay = mutant_namespace(dict(namespace), mutant)
        why = _mistake_words(mutant)
        for q_name in mutant.fails:
            question = by_name.get(q_name)
            if question is None:
                continue
            for case in question.cases:
                with recording(overlay) as store:
                    try:
                        run_case(question, case, overlay)
                    except Exception:  # noqa: BLE001 - a mutant may break anything; keep its values
                        pass
                    stored = dict(store)
                for (qn, key), value in stored.items():
                    values = recorded.values.get(qn, {})
                    if key not in values or _same_value(values[key], value) \
                            or not _all_finite(value):
                        continue  # a NaN/inf is reported as such; its place is CPU-dependent
                    slot = mistake_key(key, mutant.name)
                    values[slot] = {"value": value, "why": why}
                    public = key in recorded.public_keys.get(qn, set())
                    bucket = recorded.public_keys if public else recorded.hidden_keys
                    bucket.setdefault(qn, set()).add(slot)
                    stored_count += 1
    return stored_count


def write_expected(directory: Path, values: Mapping[str, Mapping[str, Any]]) -> list[Path]:
    """One ``<question>.npz`` per question (via ``autograder.checks.save_expected``)."""
    from autograder.checks import save_expected

    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for question in sorted(values):
        path = directory / f"{question}.npz"
        save_expected(path, dict(values[question]))
        written.append(path)
    return written


def replay_failures(
    questions: list[Question], namespace: Mapping[str, Any], *, include_hidden: bool
) -> list[str]:
    """Cases that fail on ``namespace`` in replay mode (empty when all pass)."""
    failures = []
    with expected_dir_unset():
        for question in questions:
            for case in question.cases:
                if case.hidden and not include_hidden:
                    continue
                result = run_case(question, case, namespace)
                if not result.passed:
                    failures.append(f"{question.name} case {case.name!r}:\n{result.message}")
    return failures
