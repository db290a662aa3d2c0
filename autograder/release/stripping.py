"""Remove hidden cases from a test file's source, keeping everything else verbatim."""

from __future__ import annotations

import ast

from autograder.release.sources import BuildError


def _is_test_case_decorator(node: ast.expr) -> bool:
    target = node.func if isinstance(node, ast.Call) else node
    if isinstance(target, ast.Name):
        return target.id == "test_case"
    if isinstance(target, ast.Attribute):
        return target.attr == "test_case"
    return False


def _hidden_flag(decorator: ast.expr, where: str) -> bool:
    if not isinstance(decorator, ast.Call):
        return False
    for keyword in decorator.keywords:
        if keyword.arg == "hidden":
            if isinstance(keyword.value, ast.Constant) and isinstance(keyword.value.value, bool):
                return keyword.value.value
            raise BuildError(f"{where}: `hidden=` must be the literal True or False")
    if len(decorator.args) >= 3:
        raise BuildError(f"{where}: pass `hidden` to @test_case by keyword")
    return False


def hidden_case_functions(source: str, *, filename: str = "<test file>") -> list[ast.FunctionDef]:
    """The top-level ``@test_case(..., hidden=True)`` functions of a test file."""
    tree = ast.parse(source, filename=filename)
    hidden = []
    for node in tree.body:
        if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            continue
        for decorator in node.decorator_list:
            if _is_test_case_decorator(decorator) and _hidden_flag(
                decorator, f"{filename}:{node.lineno}"
            ):
                hidden.append(node)
                break
    return hidden


def strip_hidden_cases(source: str, *, public_points: float | None = None,
                       filename: str = "<test file>") -> str:
    """The test file without its hidden cases.

    Each hidden function is cut from its first decorator line (or the comment block right above
    it) to its last line, together with the blank lines that follow it. When the file sets a module-level ``points = <total>``, the
    total is replaced by ``public_points`` so otter resolves every public case to the same points
    as in the full file.
    """
    tree = ast.parse(source, filename=filename)
    lines = source.splitlines(keepends=True)
    drop: set[int] = set()  # 0-based line indices
    for node in hidden_case_functions(source, filename=filename):
        start = min([node.lineno] + [d.lineno for d in node.decorator_list]) - 1
        while start > 0 and lines[start - 1].lstrip().startswith("#"):
            start -= 1  # a comment block right above a hidden case describes it: it goes too
        end = node.end_lineno  # exclusive, 0-based
        while end < len(lines) and not lines[end].strip():
            end += 1
        drop.update(range(start, end))

    replacements: dict[int, str] = {}
    if public_points is not None:
        for node in tree.body:
            if (
                isinstance(node, ast.Assign)
                and len(node.targets) == 1
                and isinstance(node.targets[0], ast.Name)
                and node.targets[0].id == "points"
            ):
                if not isinstance(node.value, ast.Constant):
                    raise BuildError(
                        f"{filename}: `points` must be a number (give per-case points in "
                        "@test_case, not a list)"
                    )
                if node.lineno != node.end_lineno:
                    raise BuildError(f"{filename}: keep `points = ...` on one line")
                line = lines[node.lineno - 1]
                value = repr(int(public_points)) if float(public_points).is_integer() else repr(
                    float(public_points)
                )
                start, end = node.value.col_offset, node.value.end_col_offset
                replacements[node.lineno - 1] = line[:start] + value + line[end:]

    out = [replacements.get(i, line) for i, line in enumerate(lines) if i not in drop]
    text = "".join(out).rstrip("\n") + "\n"
    ast.parse(text, filename=filename)  # still valid Python
    return text
