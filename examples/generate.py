"""Generate the bundled demo class: ``examples/<hw>/submissions/`` for every assignment.

Each assignment gets a few dozen submissions whose names say what they are:

- correct ones: the student template with every stub's code replaced by the reference function
  (its source, plus the module-level helpers it needs), with cosmetic variations (magics, plots,
  prints, scratch cells, stored outputs, cells run out of order);
- partly correct ones: some stubs left blank, a syntax error in one cell, a renamed stub;
- typical mistakes: one known-bug variant from ``assignments/<hw>/mutants/`` laid in;
- hostile ones: an infinite loop, a memory bomb, ``os._exit``, an output flood, reading the
  hidden solutions, patching ``np.allclose``, printing a fake score, an array with a magic
  ``__eq__``, a bounded fork bomb, a zip-slip archive;
- bad inputs: a malformed notebook, an empty file, a ``.py`` script, a zip.

``examples/<hw>/manifest.json`` lists every submission with what it is and what a correct grader
should make of it. The output is deterministic: running the generator twice gives byte-identical
files (``tests/test_demo.py`` checks that the committed copy is current).

    python examples/generate.py                 # all four assignments, into examples/
    python examples/generate.py --out /tmp/x hw4_optimizers
"""

from __future__ import annotations

import argparse
import ast
import copy
import io
import json
import re
import sys
import zipfile
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
ASSIGNMENTS = (
    "hw1_linear_regression",
    "hw2_layer_gradient",
    "hw3_backprop",
    "hw4_optimizers",
)
# At most this many known-bug variants per class, taken round-robin over the stubs.
MAX_MUTANTS = 8
# Fixed timestamp for zip members, so archives are byte-identical across runs.
ZIP_DATE = (2024, 1, 1, 0, 0, 0)
CHECK_RE = re.compile(r"""grader\.check\(\s*["'](q\d+)["']\s*\)""")


# --------------------------------------------------------------------------------------------
# Source code: reference solutions and mutants
# --------------------------------------------------------------------------------------------


@dataclass
class SourceModule:
    """A Python module read with ``ast``: its functions, helpers and imports, by name."""

    path: Path
    text: str
    docstring: str
    imports: list[str]  # import statements other than numpy and __future__
    defs: dict[str, str]  # top-level name -> source of its def / assignment
    order: dict[str, int]  # top-level name -> position in the file
    uses: dict[str, set[str]]  # top-level name -> names it reads

    @classmethod
    def read(cls, path: Path) -> SourceModule:
        text = path.read_text(encoding="utf-8")
        tree = ast.parse(text)
        imports: list[str] = []
        defs: dict[str, str] = {}
        order: dict[str, int] = {}
        uses: dict[str, set[str]] = {}
        for position, node in enumerate(tree.body):
            names: list[str] = []
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                segment = ast.get_source_segment(text, node) or ""
                if isinstance(node, ast.ImportFrom) and node.module == "__future__":
                    continue
                if segment.strip() in ("import numpy as np", "import numpy"):
                    continue
                imports.append(segment)
                continue
            if isinstance(node, (ast.FunctionDef, ast.ClassDef)):
                names = [node.name]
            elif isinstance(node, (ast.Assign, ast.AnnAssign)):
                targets = node.targets if isinstance(node, ast.Assign) else [node.target]
                names = [t.id for t in targets if isinstance(t, ast.Name)]
            if not names:
                continue
            start = node.lineno
            if getattr(node, "decorator_list", None):
                start = min(d.lineno for d in node.decorator_list)
            lines = text.splitlines()
            # Keep the comment block right above the definition (it documents it).
            while start > 1 and lines[start - 2].lstrip().startswith("#"):
                start -= 1
            source = "\n".join(lines[start - 1 : node.end_lineno])
            read = {
                n.id for n in ast.walk(node) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load)
            }
            for name in names:
                defs[name] = source
                order[name] = position
                uses[name] = read
        return cls(path, text, ast.get_docstring(tree) or "", imports, defs, order, uses)


def needed_helpers(
    module: SourceModule, reference: SourceModule, name: str, stubs: Iterable[str]
) -> list[tuple[SourceModule, str]]:
    """The module-level non-stub names ``name`` needs, transitively, with the module defining
    each (``module`` first, then ``reference``), in file order."""
    stubs = set(stubs)
    found: dict[str, SourceModule] = {}
    todo = [(module, name)]
    while todo:
        owner, current = todo.pop()
        for used in owner.uses.get(current, ()):
            if used in stubs or used in found or used == name:
                continue
            for candidate in (module, reference):
                if used in candidate.defs:
                    found[used] = candidate
                    todo.append((candidate, used))
                    break
    return sorted(
        ((owner, helper) for helper, owner in found.items()),
        key=lambda pair: (pair[0] is not module, pair[0].order[pair[1]]),
    )


@dataclass
class Mutant:
    stub_bug: str  # file stem, "<stub>__<bug>"
    module: SourceModule
    fails: list[str]
    message: str
    summary: str


def read_mutants(root: Path, hw: str, stubs: list[str]) -> list[Mutant]:
    folder = root / "assignments" / hw / "mutants"
    mutants = []
    for path in sorted(folder.glob("*__*.py")) if folder.is_dir() else []:
        module = SourceModule.read(path)
        if not any(name in module.defs for name in stubs):
            continue
        fails = re.search(r"^fails:\s*(.+)$", module.docstring, re.M)
        message = re.search(r"^message:\s*(.+)$", module.docstring, re.M)
        mutants.append(
            Mutant(
                stub_bug=path.stem,
                module=module,
                fails=re.findall(r"q\d+", fails.group(1)) if fails else [],
                message=message.group(1).strip() if message else "",
                summary=(module.docstring.strip().splitlines() or [path.stem])[0],
            )
        )
    # Round-robin over the stubs (in template order), so every stub gets its typical mistake.
    by_stub: dict[str, list[Mutant]] = {}
    for mutant in mutants:
        by_stub.setdefault(mutant.stub_bug.split("__")[0], []).append(mutant)
    rank = {stub: i for i, stub in enumerate(stubs)}
    queues = [by_stub[s] for s in sorted(by_stub, key=lambda s: (rank.get(s, len(rank)), s))]
    chosen: list[Mutant] = []
    while len(chosen) < MAX_MUTANTS and any(queues):
        for queue in queues:
            if queue and len(chosen) < MAX_MUTANTS:
                chosen.append(queue.pop(0))
    return chosen


# --------------------------------------------------------------------------------------------
# The student template notebook
# --------------------------------------------------------------------------------------------


def _source(cell: dict) -> str:
    src = cell.get("source", "")
    return "".join(src) if isinstance(src, list) else src


def _raises_not_implemented(fn: ast.FunctionDef) -> bool:
    for node in ast.walk(fn):
        if isinstance(node, ast.Raise) and node.exc is not None:
            exc = node.exc.func if isinstance(node.exc, ast.Call) else node.exc
            if isinstance(exc, ast.Name) and exc.id == "NotImplementedError":
                return True
    return False


@dataclass
class Template:
    hw: str
    notebook: dict
    stub_cells: dict[str, int]  # stub name -> index of its cell
    stub_question: dict[str, str]  # stub name -> question whose check follows it
    questions: list[str]
    numpy_imported_before: bool  # a code cell above the first stub imports numpy

    @property
    def stubs(self) -> list[str]:
        return sorted(self.stub_cells, key=lambda s: (self.stub_cells[s], s))

    def called_at_top_level(self) -> set[str]:
        """Stubs named in code cells other than the stubs' own cells and the check cells."""
        stub_cells = set(self.stub_cells.values())
        names: set[str] = set()
        for index, cell in enumerate(self.notebook["cells"]):
            if cell["cell_type"] != "code" or index in stub_cells:
                continue
            try:
                tree = ast.parse(_source(cell))
            except SyntaxError:
                continue
            names |= {n.id for n in ast.walk(tree) if isinstance(n, ast.Name)}
        return names & set(self.stub_cells)

    @classmethod
    def read(cls, path: Path, hw: str) -> Template:
        notebook = json.loads(path.read_text(encoding="utf-8"))
        stub_cells: dict[str, int] = {}
        stub_question: dict[str, str] = {}
        questions: list[str] = []
        pending: list[str] = []
        numpy_before = False
        for index, cell in enumerate(notebook["cells"]):
            if cell["cell_type"] != "code":
                continue
            text = _source(cell)
            check = CHECK_RE.search(text)
            if check:
                questions.append(check.group(1))
                for stub in pending:
                    stub_question[stub] = check.group(1)
                pending = []
                continue
            try:
                tree = ast.parse(text)
            except SyntaxError:
                continue
            for node in tree.body:
                if isinstance(node, ast.FunctionDef) and _raises_not_implemented(node):
                    stub_cells[node.name] = index
                    pending.append(node.name)
            if not stub_cells and re.search(r"^\s*import numpy as np", text, re.M):
                numpy_before = True
        return cls(hw, notebook, stub_cells, stub_question, questions, numpy_before)


def replace_function(cell_text: str, name: str, new_source: str) -> str:
    """Replace the top-level ``def name`` in a cell by ``new_source``, keeping the rest."""
    tree = ast.parse(cell_text)
    lines = cell_text.splitlines()
    for node in tree.body:
        if isinstance(node, ast.FunctionDef) and node.name == name:
            start = min([node.lineno] + [d.lineno for d in node.decorator_list])
            out = lines[: start - 1] + new_source.splitlines() + lines[node.end_lineno :]
            return "\n".join(out).strip("\n")
    raise ValueError(f"no function {name!r} in cell")


# --------------------------------------------------------------------------------------------
# Building one submission
# --------------------------------------------------------------------------------------------


@dataclass
class Draft:
    """A submission under construction: the template plus per-stub replacements and extras."""

    template: Template
    reference: SourceModule
    implement: dict[str, tuple[SourceModule, str]] = field(default_factory=dict)
    prefix_cells: list[tuple[str, str]] = field(default_factory=list)  # (type, source)
    suffix_cells: list[tuple[str, str]] = field(default_factory=list)
    after_stub: dict[str, list[tuple[str, str]]] = field(default_factory=dict)
    cell_edits: dict[str, Callable[[str], str]] = field(default_factory=dict)
    reverse_stub_cells: bool = False
    executed: bool = False

    def implement_all(self, module: SourceModule | None = None) -> Draft:
        module = module or self.reference
        for stub in self.template.stubs:
            if stub in module.defs:
                self.implement[stub] = (module, stub)
        return self

    def notebook(self) -> dict:
        nb = copy.deepcopy(self.template.notebook)
        cells = nb["cells"]
        emitted: set[tuple[str, str]] = set()
        needs_numpy = not self.template.numpy_imported_before
        imports_done = False
        for stub in self.template.stubs:
            index = self.template.stub_cells[stub]
            text = _source(cells[index])
            if stub in self.implement:
                module, name = self.implement[stub]
                head: list[str] = []
                if not imports_done:
                    head += (["import numpy as np"] if needs_numpy else []) + self.reference.imports
                    imports_done = True
                head += [i for i in module.imports if i not in self.reference.imports]
                for owner, helper in needed_helpers(module, self.reference, name, self.template.stubs):
                    key = (helper, owner.defs[helper])
                    if key not in emitted:
                        emitted.add(key)
                        head.append(owner.defs[helper])
                new_source = module.defs[name]
                if name != stub:  # a renamed stub keeps the student's own name
                    new_source = re.sub(rf"\bdef {re.escape(name)}\(", f"def {stub}(", new_source)
                text = replace_function(text, stub, new_source)
                if head:
                    text = "\n\n\n".join(head) + "\n\n\n" + text
            if stub in self.cell_edits:
                text = self.cell_edits[stub](text)
            cells[index] = {**cells[index], "source": text}
        # Extra cells: inserted after the stub cells they belong to, then prefix and suffix.
        stub_indices = sorted({self.template.stub_cells[s] for s in self.template.stubs})
        if self.reverse_stub_cells:
            moved = [cells[i] for i in stub_indices][::-1]
            for i, cell in zip(stub_indices, moved):
                cells[i] = cell
        extra = 0
        for stub in sorted(self.after_stub, key=lambda s: -self.template.stub_cells[s]):
            position = self.template.stub_cells[stub] + 1
            for kind, source in reversed(self.after_stub[stub]):
                cells.insert(position, _new_cell(kind, source, f"after-{stub}-{extra}"))
                extra += 1
        first = 1 if cells and "otter" in _source(cells[0]) else 0
        for offset, (kind, source) in enumerate(self.prefix_cells):
            cells.insert(first + offset, _new_cell(kind, source, f"prefix-{offset}"))
        for offset, (kind, source) in enumerate(self.suffix_cells):
            cells.append(_new_cell(kind, source, f"suffix-{offset}"))
        if self.executed:
            _fake_execution(cells)
        return nb


def _new_cell(kind: str, source: str, cell_id: str) -> dict:
    cell = {"cell_type": kind, "id": re.sub(r"[^A-Za-z0-9-]", "-", cell_id)[:64], "metadata": {}, "source": source}
    if kind == "code":
        cell.update(execution_count=None, outputs=[])
    return cell


def _fake_execution(cells: list[dict]) -> None:
    """Stored outputs as if the student ran the notebook (the grader must ignore them)."""
    count = 0
    for cell in cells:
        if cell["cell_type"] != "code":
            continue
        count += 1
        cell["execution_count"] = count
        text = _source(cell)
        match = CHECK_RE.search(text)
        if match:
            cell["outputs"] = [
                {
                    "data": {"text/plain": f"{match.group(1)} results: All test cases passed!"},
                    "execution_count": count,
                    "metadata": {},
                    "output_type": "execute_result",
                }
            ]


def dumps_notebook(nb: dict) -> bytes:
    """Serialise like nbformat (sorted keys, one-space indent, sources split into lines)."""
    nb = copy.deepcopy(nb)
    for cell in nb["cells"]:
        src = _source(cell)
        cell["source"] = src.splitlines(keepends=True)
        for out in cell.get("outputs", []):
            for key, value in list(out.get("data", {}).items()):
                if isinstance(value, str) and key.startswith("text/"):
                    out["data"][key] = value.splitlines(keepends=True)
            if isinstance(out.get("text"), str):
                out["text"] = out["text"].splitlines(keepends=True)
    return (json.dumps(nb, sort_keys=True, indent=1, ensure_ascii=False) + "\n").encode("utf-8")


# --------------------------------------------------------------------------------------------
# The catalogue of submissions
# --------------------------------------------------------------------------------------------


@dataclass
class Submission:
    student_id: str
    suffix: str  # ".ipynb", ".py", ".zip"
    data: bytes
    kind: str  # correct, partial, mistake, hostile, bad-input
    description: str
    expect: str  # full, zero, partial, fails, any, rejected-or-zero, full-or-rejected
    fails: list[str] = field(default_factory=list)
    message: str = ""

    @property
    def filename(self) -> str:
        return self.student_id + self.suffix

    def manifest_entry(self) -> dict:
        entry = {
            "id": self.student_id,
            "file": self.filename,
            "kind": self.kind,
            "description": self.description,
            "expect": self.expect,
        }
        if self.fails:
            entry["fails"] = self.fails
        if self.message:
            entry["message"] = self.message
        return entry


PLOT_CELL = """\
import matplotlib.pyplot as plt

xs = np.linspace(-3, 3, 61)
fig, ax = plt.subplots(figsize=(4, 3))
ax.plot(xs, np.tanh(xs), label="tanh")
ax.plot(xs, np.maximum(xs, 0), label="relu")
ax.legend()
plt.show()"""

SCRATCH_CELL = """\
%%time
# scratch: checking my shapes
A = np.arange(6.0).reshape(2, 3)
print("A.shape =", A.shape)
print("A.T @ A =\\n", A.T @ A)"""

ERROR_CELL = """\
# left over from an earlier attempt (raises NameError, the rest of the notebook is fine)
print(theta_hat)"""

MEMORY_BOMB = """\
# "caching" every intermediate result, forever
hoard = []
while True:
    hoard.append(np.ones(1 << 24))  # 128 MB at a time"""

OS_EXIT = """\
import os

os._exit(0)"""

OUTPUT_FLOOD = """\
import sys

for i in range(300):
    print("spam " * 200_000)  # 1 MB a line, 300 MB in all
    sys.stderr.write("more spam " * 100_000)"""

FORK_BOMB = """\
# a (bounded) fork bomb: 200 children that linger for 10 s
import os
import time

children = 0
try:
    for _ in range(200):
        if os.fork() == 0:
            time.sleep(10)
            os._exit(0)
        children += 1
except OSError as err:
    print("fork refused after", children, "children:", err)"""

READ_SOLUTIONS = """\
# "borrowing" the reference solutions and the hidden expected values
import glob
import os
import sys

_roots = [os.getcwd(), "../..", "..", "/proc/self/cwd", f"/proc/{os.getppid()}/cwd"]
_roots += [os.path.dirname(getattr(m, "__file__", None) or "") for m in list(sys.modules.values())]
_roots += list(sys.path)
_seen = set()
_stolen = []
for _root in _roots:
    _dir = os.path.abspath(_root or ".")
    for _ in range(6):
        if _dir in _seen:
            break
        _seen.add(_dir)
        _path = os.path.join(_dir, "solutions", "{hw}.py")
        try:
            with open(_path) as _f:
                exec(compile(_f.read(), _path, "exec"), globals())
            _stolen.append(_path)
        except OSError:
            pass
        _stolen += glob.glob(os.path.join(_dir, "build", "{hw}", "expected", "*.npz"))
        _dir = os.path.dirname(_dir)
print("found:", _stolen[:5])"""

PATCH_ALLCLOSE = """\
# make every comparison pass
import builtins

import numpy as np

np.allclose = lambda *args, **kwargs: True
np.isclose = lambda a, b, *args, **kwargs: np.ones(np.shape(a), dtype=bool)
np.array_equal = lambda *args, **kwargs: True
np.testing.assert_allclose = lambda *args, **kwargs: None
np.testing.assert_array_equal = lambda *args, **kwargs: None
builtins.AssertionError = type("AssertionError", (Exception,), {})"""

FAKE_SCORE = """\
import json

fake = {{"score": {total}, "tests": [{tests}], "output": "All tests passed!"}}
print(json.dumps(fake))
for path in ("results.json", "/autograder/results/results.json"):
    try:
        with open(path, "w") as f:
            json.dump(fake, f)
    except OSError:
        pass"""

MAGIC_EQ_CLASS = """\
import numpy as np


class Perfect(np.ndarray):
    \"\"\"An array that equals everything and is close to everything.\"\"\"

    def __eq__(self, other):
        return True

    def __ne__(self, other):
        return False

    def __sub__(self, other):
        return np.zeros(1).view(Perfect)

    __rsub__ = __sub__

    def __abs__(self):
        return np.zeros(1).view(Perfect)

    def __float__(self):
        return 0.0

    def __len__(self):
        return 1

    def __bool__(self):
        return True

    def __array_finalize__(self, obj):
        pass

    def __reduce__(self):
        return (print, ("pwned",))"""


def _stub_body_edit(stub: str, body: str) -> Callable[[str], str]:
    """Replace a stub function's body by ``body`` (keeping its signature and docstring)."""

    def edit(text: str) -> str:
        tree = ast.parse(text)
        lines = text.splitlines()
        for node in tree.body:
            if isinstance(node, ast.FunctionDef) and node.name == stub:
                first = node.body[0]
                keep_doc = (
                    isinstance(first, ast.Expr)
                    and isinstance(first.value, ast.Constant)
                    and isinstance(first.value.value, str)
                )
                cut = first.end_lineno if keep_doc else node.body[0].lineno - 1
                indent = " " * (node.body[0].col_offset)
                new_body = [indent + line if line else line for line in body.splitlines()]
                return "\n".join(lines[:cut] + new_body + lines[node.end_lineno :])
        raise ValueError(f"no function {stub!r} in cell")

    return edit


def _insert_loop_edit(stub: str) -> Callable[[str], str]:
    """Put ``while True: pass`` at the top of a (correct) stub's body."""

    def edit(text: str) -> str:
        tree = ast.parse(text)
        lines = text.splitlines()
        for node in tree.body:
            if isinstance(node, ast.FunctionDef) and node.name == stub:
                first = node.body[0]
                has_doc = isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant)
                at = first.end_lineno if has_doc else first.lineno - 1
                indent = " " * first.col_offset
                loop = [f"{indent}while True:  # waiting for convergence...", f"{indent}    pass"]
                return "\n".join(lines[:at] + loop + lines[at:])
        raise ValueError(f"no function {stub!r} in cell")

    return edit


def _break_syntax(stub: str) -> Callable[[str], str]:
    def edit(text: str) -> str:
        return re.sub(rf"(def {re.escape(stub)}\(.*?\)):", r"\1", text, count=1, flags=re.S)

    return edit


def _rename(stub: str) -> str:
    """The stub's name as a student might retype it: camelCase, or capitalised."""
    parts = stub.split("_")
    if len(parts) == 1:
        return stub.capitalize()
    return parts[0] + "".join(p.capitalize() for p in parts[1:])


def _first_param(module: SourceModule, stub: str) -> str:
    for node in ast.walk(ast.parse(module.defs[stub])):
        if isinstance(node, ast.FunctionDef) and node.args.args:
            return node.args.args[0].arg
    return "None"


def _zip_bytes(members: list[tuple[str, bytes]]) -> bytes:
    buffer = io.BytesIO()
    # Stored, not deflated: the bytes must not depend on the zlib version.
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_STORED) as archive:
        for name, data in members:
            info = zipfile.ZipInfo(name, date_time=ZIP_DATE)
            info.compress_type = zipfile.ZIP_STORED
            info.external_attr = 0o644 << 16
            archive.writestr(info, data)
    return buffer.getvalue()


def _script(template: Template, reference: SourceModule) -> bytes:
    parts = [f'"""{template.hw}: my answers as a plain script (I could not get Jupyter to work)."""']
    parts.append("\n".join(["import numpy as np", *reference.imports]))
    done: set[str] = set()
    for stub in template.stubs:
        for _, helper in needed_helpers(reference, reference, stub, template.stubs):
            if helper not in done:
                done.add(helper)
                parts.append(reference.defs[helper])
        parts.append(reference.defs[stub])
    return ("\n\n\n".join(parts) + "\n").encode("utf-8")


# Which hostile extras and bad inputs each assignment's class gets (the core hostile set is
# in every class; the rest rotate so the four classes together hold every kind).
EXTRAS = {
    "hw1_linear_regression": ("bad_malformed_json", "bad_empty_file"),
    "hw2_layer_gradient": ("bad_python_script", "bad_zip_archive"),
    "hw3_backprop": ("hostile_zip_slip", "bad_malformed_json", "bad_zip_archive"),
    "hw4_optimizers": ("hostile_fork_bomb", "bad_empty_file", "bad_python_script"),
}


def build_class(hw: str, root: Path = REPO) -> list[Submission]:
    """Every demo submission of one assignment, in order, with its student id."""
    template_path = root / "student_template" / hw / f"{hw}.ipynb"
    if not template_path.is_file():
        raise FileNotFoundError(f"{template_path} is missing: run `autograder build {hw}` first")
    template = Template.read(template_path, hw)
    reference = SourceModule.read(root / "solutions" / f"{hw}.py")
    stubs = [s for s in template.stubs if s in reference.defs]
    if not stubs:
        raise ValueError(f"no stub of {template_path} has a reference in solutions/{hw}.py")
    questions_of = template.stub_question
    # Mutants are picked round-robin in this order: the first stub of every question, then the
    # second of every question, ..., so that every question gets its typical mistake.
    position: dict[str, int] = {}
    seen_in_question: dict[str, int] = {}
    for stub in stubs:
        q = questions_of.get(stub, "")
        position[stub] = seen_in_question.get(q, 0)
        seen_in_question[q] = position[stub] + 1
    mutants = read_mutants(root, hw, sorted(stubs, key=lambda s: (position[s], stubs.index(s))))
    mutants.sort(key=lambda m: (stubs.index(m.stub_bug.split("__")[0]), m.stub_bug))
    first_q = template.questions[0] if template.questions else ""
    last_stub = stubs[-1]
    middle_stub = stubs[len(stubs) // 2]
    # The infinite loop goes into a stub that no top-level cell of the template calls, so that
    # only the tests of its question meet it (a looping top-level cell is another scenario).
    called = set(template.called_at_top_level())
    todo = list(called)
    while todo:  # ... or that a stub called at top level calls, directly or through helpers
        for used in reference.uses.get(todo.pop(), ()):
            if used in reference.defs and used not in called:
                called.add(used)
                todo.append(used)
    loop_stub = next((s for s in reversed(stubs) if s not in called), last_stub)

    def draft() -> Draft:
        return Draft(template, reference)

    def correct() -> Draft:
        return draft().implement_all()

    def nb(d: Draft) -> bytes:
        return dumps_notebook(d.notebook())

    entries: list[tuple[str, str, str, str, Callable[[], bytes], str, list[str], str]] = []

    def add(name, kind, description, expect, make, suffix=".ipynb", fails=None, message=""):
        entries.append((name, kind, description, expect, make, suffix, fails or [], message))

    # -- correct ------------------------------------------------------------------------------
    add("correct", "correct", "every stub implemented as the reference does", "full",
        lambda: nb(correct()))

    def with_plots() -> bytes:
        d = correct()
        d.prefix_cells = [("code", "%matplotlib inline")]
        d.suffix_cells = [("markdown", "## My plots"), ("code", PLOT_CELL)]
        return nb(d)

    add("correct_with_plots", "correct", "correct, with %matplotlib inline and a plot", "full",
        with_plots)

    def with_scratch() -> bytes:
        d = correct()
        d.after_stub = {
            stubs[0]: [("code", SCRATCH_CELL), ("markdown", "I think this works now.")],
            last_stub: [("code", 'print("done!")')],
        }
        return nb(d)

    add("correct_with_scratch_cells", "correct", "correct, with %%time, prints and notes",
        "full", with_scratch)

    def executed() -> bytes:
        d = correct()
        d.executed = True
        return nb(d)

    add("correct_executed", "correct", "correct, saved with execution counts and outputs",
        "full", executed)

    def error_cell() -> bytes:
        d = correct()
        d.after_stub = {middle_stub: [("code", ERROR_CELL)]}
        return nb(d)

    add("correct_with_failing_cell", "correct",
        "correct, plus a leftover cell that raises NameError", "full", error_cell)

    def reordered() -> bytes:
        d = correct()
        d.reverse_stub_cells = True
        return nb(d)

    add("correct_cells_reordered", "correct",
        "correct, with the stub cells in reverse order", "full", reordered)

    # -- partly correct -----------------------------------------------------------------------
    def only(selected: list[str]) -> Callable[[], bytes]:
        def make() -> bytes:
            d = draft()
            for stub in selected:
                d.implement[stub] = (reference, stub)
            return nb(d)

        return make

    first_question_stubs = [s for s in stubs if questions_of.get(s) == first_q]
    add("partial_first_question_only", "partial",
        f"only {first_q} done ({', '.join(first_question_stubs)}); the rest left blank",
        "partial", only(first_question_stubs))
    half = stubs[: max(1, len(stubs) // 2)]
    add("partial_first_half", "partial", f"{len(half)} of {len(stubs)} stubs done", "partial",
        only(half))
    add("blank_template", "partial", "the student template, unchanged", "zero", only([]))

    def syntax_error() -> bytes:
        d = correct()
        d.cell_edits = {middle_stub: _break_syntax(middle_stub)}
        return nb(d)

    add("partial_syntax_error", "partial",
        f"correct, but the cell of {middle_stub} has a syntax error (missing colon)", "partial",
        syntax_error, fails=[questions_of.get(middle_stub, "")])

    def renamed() -> bytes:
        d = correct()
        d.implement[stubs[0]] = (reference, stubs[0])
        d.cell_edits = {
            stubs[0]: lambda text: re.sub(rf"\bdef {stubs[0]}\(", f"def {_rename(stubs[0])}(", text)
        }
        return nb(d)

    add(f"renamed_{stubs[0]}", "partial",
        f"correct, but {stubs[0]} renamed to {_rename(stubs[0])}", "partial", renamed,
        fails=[questions_of.get(stubs[0], "")], message=stubs[0])

    # -- typical mistakes (mutants) -----------------------------------------------------------
    for mutant in mutants:
        def make(mutant: Mutant = mutant) -> bytes:
            d = correct()
            for stub in stubs:
                if stub in mutant.module.defs:
                    d.implement[stub] = (mutant.module, stub)
            return nb(d)

        add(mutant.stub_bug, "mistake", mutant.summary, "fails", make, fails=mutant.fails,
            message=mutant.message)

    # -- hostile ------------------------------------------------------------------------------
    def loop() -> bytes:
        d = correct()
        d.cell_edits = {loop_stub: _insert_loop_edit(loop_stub)}
        return nb(d)

    add("hostile_infinite_loop", "hostile", f"correct, but {loop_stub} never returns", "partial",
        loop, fails=[questions_of.get(loop_stub, "")])

    def suffix(source: str) -> Callable[[], bytes]:
        def make() -> bytes:
            d = correct()
            d.suffix_cells = [("code", source)]
            return nb(d)

        return make

    add("hostile_memory_bomb", "hostile",
        "correct, then a cell allocating 128 MB at a time forever", "any", suffix(MEMORY_BOMB))
    add("hostile_os_exit", "hostile", "correct, then a cell calling os._exit(0)", "any",
        suffix(OS_EXIT))
    add("hostile_output_flood", "hostile", "correct, then 300 MB printed to stdout and stderr",
        "any", suffix(OUTPUT_FLOOD))

    def blank_with(source: str) -> Callable[[], bytes]:
        def make() -> bytes:
            d = draft()
            d.suffix_cells = [("code", source)]
            return nb(d)

        return make

    add("hostile_reads_solutions", "hostile",
        "blank stubs; execs ../../solutions and friends if it can find them", "zero",
        blank_with(READ_SOLUTIONS.replace("{hw}", hw)))

    def patch_allclose() -> bytes:
        d = draft()
        d.prefix_cells = [("code", PATCH_ALLCLOSE)]
        d.cell_edits = {
            stub: _stub_body_edit(
                stub, f"return np.zeros_like(np.asarray({_first_param(reference, stub)}, dtype=float))"
            )
            for stub in stubs
        }
        return nb(d)

    add("hostile_patches_allclose", "hostile",
        "wrong stubs (zeros); patches np.allclose, np.testing and AssertionError", "zero",
        patch_allclose)
    questions = template.questions or ["q1"]
    tests = ", ".join(
        f'{{"name": "{q}", "score": 10, "max_score": 10, "visibility": "visible"}}' for q in questions
    )
    add("hostile_fake_score_json", "hostile",
        "blank stubs; prints and writes a fake full-score results.json", "zero",
        blank_with(FAKE_SCORE.format(total=10 * len(questions), tests=tests)))

    def magic_eq() -> bytes:
        d = draft()
        d.prefix_cells = [("code", MAGIC_EQ_CLASS)]
        d.cell_edits = {stub: _stub_body_edit(stub, "return np.zeros(1).view(Perfect)") for stub in stubs}
        return nb(d)

    add("hostile_magic_eq_array", "hostile",
        "every stub returns an ndarray subclass whose __eq__ is always True", "zero", magic_eq)

    correct_nb = nb(correct())
    extras = {
        "hostile_fork_bomb": (
            "hostile", "correct, then a bounded fork bomb (200 children sleeping 10 s)", "any",
            suffix(FORK_BOMB), ".ipynb",
        ),
        "hostile_zip_slip": (
            "hostile", "a zip whose members escape the folder (../, absolute), plus a correct notebook",
            "full-or-rejected",
            lambda: _zip_bytes([
                ("../../../../tmp/autograder_zip_slip.txt", b"escaped the unzip folder\n"),
                ("/tmp/autograder_zip_slip_abs.txt", b"absolute path member\n"),
                (f"{hw}.ipynb", correct_nb),
            ]),
            ".zip",
        ),
        "bad_malformed_json": (
            "bad-input", "a notebook cut off halfway (invalid JSON)", "rejected-or-zero",
            lambda: correct_nb[: len(correct_nb) // 2], ".ipynb",
        ),
        "bad_empty_file": ("bad-input", "an empty .ipynb file", "rejected-or-zero",
                           lambda: b"", ".ipynb"),
        "bad_python_script": (
            "bad-input", "the correct functions as a .py script instead of a notebook",
            "full-or-rejected", lambda: _script(template, reference), ".py",
        ),
        "bad_zip_archive": (
            "bad-input", "a zip holding the correct notebook in a folder", "full-or-rejected",
            lambda: _zip_bytes([(f"submission/{hw}.ipynb", correct_nb)]), ".zip",
        ),
    }
    for name in EXTRAS.get(hw, ()):
        kind, description, expect, make, suffix_ = extras[name]
        add(name, kind, description, expect, make, suffix=suffix_)

    submissions = []
    for number, (name, kind, description, expect, make, suffix_, fails, message) in enumerate(
        entries, start=1
    ):
        student_id = f"s{number:03d}_{name}"
        submissions.append(
            Submission(student_id, suffix_, make(), kind, description, expect,
                       [q for q in fails if q], message)
        )
    return submissions


def write_class(hw: str, out_root: Path, root: Path = REPO) -> list[Submission]:
    """Write ``<out_root>/<hw>/submissions/*`` and ``manifest.json``; drop stale files."""
    submissions = build_class(hw, root)
    folder = out_root / hw / "submissions"
    folder.mkdir(parents=True, exist_ok=True)
    wanted = {s.filename for s in submissions}
    for stale in folder.iterdir():
        if stale.is_file() and stale.name not in wanted:
            stale.unlink()
    for submission in submissions:
        path = folder / submission.filename
        if not path.is_file() or path.read_bytes() != submission.data:
            path.write_bytes(submission.data)
    manifest = {
        "assignment": hw,
        "generated_by": "examples/generate.py",
        "expect_legend": {
            "full": "full marks",
            "zero": "no points",
            "partial": "some points, not all",
            "fails": "loses the points of the listed questions (public tests fail)",
            "any": "depends on the sandbox's limits; must not crash the batch",
            "rejected-or-zero": "reported as unreadable or scored zero, never a crash",
            "full-or-rejected": "graded in full if the format is accepted, else reported as unreadable",
        },
        "submissions": [s.manifest_entry() for s in submissions],
    }
    text = json.dumps(manifest, indent=1, sort_keys=True, ensure_ascii=False) + "\n"
    manifest_path = out_root / hw / "manifest.json"
    if not manifest_path.is_file() or manifest_path.read_text(encoding="utf-8") != text:
        manifest_path.write_text(text, encoding="utf-8")
    return submissions


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("assignments", nargs="*", default=list(ASSIGNMENTS))
    parser.add_argument("--out", type=Path, default=REPO / "examples",
                        help="root folder (default: examples/)")
    parser.add_argument("--root", type=Path, default=REPO, help="repository root")
    args = parser.parse_args(argv)
    for hw in args.assignments:
        submissions = write_class(hw, args.out, args.root)
        size = sum(len(s.data) for s in submissions)
        print(f"{hw}: {len(submissions)} submissions, {size / 1024:.0f} KiB -> "
              f"{args.out / hw / 'submissions'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
