"""Which modules a student's code may use, and what a piece of student code uses.

One policy per assignment (``assignments/<hw>/assignment.toml`` [imports], copied by the build
into ``import_policy.json`` beside the template's tests and into the bundle). The same analysis
runs on both paths, so ``grader.check`` in Jupyter and the batch grader fail the same cases with
the same message:

- in the batch grader it reads the notebook's source text (trusted: it is data, analysed in the
  grader, never asked of the student's process), with the aliases its import statements bind;
- in Jupyter it reads the source of the student's functions and resolves the names they use
  through the functions' globals (what ``import torch`` or ``from numpy.linalg import lstsq``
  bound in the kernel).

What it finds, per top-level function (transitively through the notebook's other functions):
the dotted names of refused modules or functions it uses, dynamic code or imports it relies on
(``exec``, ``eval``, ``__import__``: the policy could not see what they use), and whether it
switches numerical warnings off (``np.errstate``, ``np.seterr``, ``warnings.filterwarnings``),
which the warning-free checks need to know. The sandbox also stops refused third-party packages
at the file system (see docs/security.md); this module is what turns them into messages.

NumPy and the standard library only: vendored into every student template.
"""

from __future__ import annotations

import ast
import functools
import inspect
import json
import textwrap
import types
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path

#: What every assignment allows: NumPy, the standard library's math-like modules, and what the
#: notebooks themselves import (otter for grader.check, matplotlib and IPython for plots).
DEFAULT_ALLOWED = (
    "numpy", "math", "cmath", "random", "statistics", "fractions", "decimal", "numbers",
    "itertools", "functools", "operator", "collections", "typing", "dataclasses", "enum",
    "copy", "heapq", "bisect", "abc", "string", "re", "time", "warnings", "__future__",
    "matplotlib", "otter", "IPython",
)

_AUTODIFF = ("an autodiff library, never allowed: it computes the gradients that are this "
             "course's exercise; compute them with NumPy")
#: Refused in every assignment, whatever its policy allows.
NEVER_ALLOWED = {
    "autograder": "the grader's own library (autograder.*), never allowed in your code",
    "torch": _AUTODIFF, "jax": _AUTODIFF, "jaxlib": _AUTODIFF, "tensorflow": _AUTODIFF,
    "autograd": _AUTODIFF, "keras": _AUTODIFF, "theano": _AUTODIFF, "mxnet": _AUTODIFF,
    "paddle": _AUTODIFF, "chainer": _AUTODIFF, "flax": _AUTODIFF, "optax": _AUTODIFF,
    "tinygrad": _AUTODIFF, "micrograd": _AUTODIFF,
}

#: Names whose use means the code builds or imports code the analysis cannot see.
DYNAMIC = {"exec", "eval", "compile", "__import__", "globals", "vars", "importlib"}

#: Calls that switch numerical warnings off (or turn them into something else).
SUPPRESSORS = (
    "numpy.errstate", "numpy.seterr", "numpy.seterrcall", "warnings.filterwarnings",
    "warnings.simplefilter", "warnings.catch_warnings", "warnings.resetwarnings",
)

POLICY_FILE = "import_policy.json"


@dataclass(frozen=True)
class ImportPolicy:
    """The modules an assignment allows and the single names it refuses."""

    assignment: str = "this assignment"
    allow: tuple[str, ...] = ()
    forbid: tuple[str, ...] = ()

    @functools.cached_property
    def allowed(self) -> tuple[str, ...]:
        """Top-level modules student code may import (the default plus the instructor's)."""
        names = dict.fromkeys((*DEFAULT_ALLOWED, *(a.split(".")[0] for a in self.allow)))
        return tuple(n for n in names if n not in NEVER_ALLOWED)

    def refused_name(self, dotted: str) -> str | None:
        """The name a refusal of ``dotted`` is reported under: the forbidden entry it falls
        under, or its top-level module (the same on both paths, however it was imported)."""
        top = dotted.split(".")[0]
        if top in NEVER_ALLOWED:
            return top
        for name in self.forbid:
            if dotted == name or dotted.startswith(name + "."):
                return name
        return top if top not in self.allowed else None

    def refusal(self, dotted: str) -> str | None:
        """Why ``dotted`` (a module, or a module's function) is refused; None when allowed."""
        top = dotted.split(".")[0]
        if top in NEVER_ALLOWED:
            return f"{top} is {NEVER_ALLOWED[top]}"
        for name in self.forbid:
            if dotted == name or dotted.startswith(name + "."):
                return (f"{self.assignment}'s import policy forbids {name}: the exercise is to "
                        "compute it yourself with NumPy")
        if top not in self.allowed:
            extra = "".join(f", {a}" for a in self.allow)
            return (f"{top} is not among the modules {self.assignment} allows (NumPy, the "
                    f"standard library's math-like modules{extra}; see {POLICY_FILE})")
        return None

    def to_dict(self) -> dict:
        return {"assignment": self.assignment, "allow": list(self.allow),
                "forbid": list(self.forbid)}

    @classmethod
    def from_dict(cls, data: dict) -> ImportPolicy:
        return cls(assignment=str(data.get("assignment") or "this assignment"),
                   allow=tuple(data.get("allow", ())), forbid=tuple(data.get("forbid", ())))


def load_policy(path: str | Path | None) -> ImportPolicy:
    """The policy stored at ``path`` (``import_policy.json``); the default when there is none."""
    if path is None or not Path(path).is_file():
        return ImportPolicy()
    return ImportPolicy.from_dict(json.loads(Path(path).read_text(encoding="utf-8")))


@dataclass
class FunctionUses:
    """What one function uses that matters to the policy."""

    refused: dict[str, str] = field(default_factory=dict)  # dotted name -> why
    dynamic: set[str] = field(default_factory=set)
    suppresses_warnings: bool = False


def problem_message(function: str, uses: FunctionUses) -> str | None:
    """The student-facing message for a function the policy refuses (None when it is fine)."""
    if uses.refused:
        dotted, why = sorted(uses.refused.items())[0]
        more = len(uses.refused) - 1
        extra = f" (and {more} more refused name{'s' if more > 1 else ''})" if more else ""
        return f"{function} uses {dotted}{extra}: {why}. The case is not run."
    if uses.dynamic:
        names = ", ".join(sorted(uses.dynamic))
        return (f"{function} uses {names}: code built or imported at run time is refused, since "
                "the import policy cannot see what it uses; the case is not run.")
    return None


# ------------------------------------------------------------------ analysis of source text

class _Scanner(ast.NodeVisitor):
    """Dotted names and plain names one piece of code uses, given a name -> dotted map."""

    def __init__(self, aliases: dict[str, str]):
        self.aliases = dict(aliases)
        self.dotted: set[str] = set()
        self.names: set[str] = set()
        self.imports: set[str] = set()

    def visit_Import(self, node):
        for alias in node.names:
            self.imports.add(alias.name)
            self.aliases[alias.asname or alias.name.split(".")[0]] = (
                alias.name if alias.asname else alias.name.split(".")[0])

    def visit_ImportFrom(self, node):
        if node.level or not node.module:
            return
        self.imports.add(node.module)
        for alias in node.names:
            full = f"{node.module}.{alias.name}"
            self.imports.add(full)
            self.aliases[alias.asname or alias.name] = full

    def visit_Attribute(self, node):
        chain, base = [], node
        while isinstance(base, ast.Attribute):
            chain.append(base.attr)
            base = base.value
        if isinstance(base, ast.Name):
            self.names.add(base.id)
            root = self.aliases.get(base.id)
            if root is not None:
                self.dotted.add(".".join([root, *reversed(chain)]))
        else:
            self.generic_visit(node)

    def visit_Name(self, node):
        self.names.add(node.id)
        if node.id in self.aliases:
            self.dotted.add(self.aliases[node.id])

    def visit_Call(self, node):
        # __import__("torch"), importlib.import_module("torch"): the string is the module
        func = node.func
        name = func.id if isinstance(func, ast.Name) else getattr(func, "attr", None)
        if name in ("__import__", "import_module") and node.args \
                and isinstance(node.args[0], ast.Constant) and isinstance(node.args[0].value, str):
            self.imports.add(node.args[0].value)
        self.generic_visit(node)


def _judge(scanner: _Scanner, policy: ImportPolicy, uses: FunctionUses) -> None:
    for dotted in sorted(scanner.imports | scanner.dotted):
        why = policy.refusal(dotted)
        if why is not None:
            uses.refused.setdefault(policy.refused_name(dotted), why)
        if any(dotted == s or dotted.startswith(s + ".") for s in SUPPRESSORS):
            uses.suppresses_warnings = True
    uses.dynamic |= scanner.names & DYNAMIC


def _top_level_definitions(tree: ast.Module) -> dict[str, ast.AST]:
    out: dict[str, ast.AST] = {}
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            out[node.name] = node
        elif isinstance(node, ast.Assign):
            for target in node.targets:
                if isinstance(target, ast.Name):
                    out[target.id] = node.value
    return out


@dataclass
class SourceReport:
    """The analysis of a whole notebook's source."""

    functions: dict[str, FunctionUses]
    module_refusals: dict[str, str]  # imports at the top level that the policy refuses

    def message_for(self, name: str) -> str | None:
        uses = self.functions.get(name)
        return problem_message(name, uses) if uses is not None else None


def analyze_source(sources: list[str], policy: ImportPolicy) -> SourceReport:
    """Analyse the code cells of a notebook (plain Python; magics already transformed).
    A cell that does not parse is skipped: running it fails anyway."""
    trees = []
    for text in sources:
        try:
            trees.append(ast.parse(text))
        except (SyntaxError, ValueError):
            continue
    return analyze_trees(trees, policy)


def analyze_trees(trees: list[ast.Module], policy: ImportPolicy) -> SourceReport:
    """:func:`analyze_source` of cells already parsed."""
    aliases: dict[str, str] = {}
    module_scan = _Scanner(aliases)
    definitions: dict[str, ast.AST] = {}
    for tree in trees:
        for node in tree.body:
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                module_scan.visit(node)
        definitions.update(_top_level_definitions(tree))
    aliases = module_scan.aliases
    module_refusals: dict[str, str] = {}
    for m in sorted(module_scan.imports):
        why = policy.refusal(m)
        if why is not None:
            module_refusals.setdefault(policy.refused_name(m), why)
    direct: dict[str, FunctionUses] = {}
    calls: dict[str, set[str]] = {}
    for name, node in definitions.items():
        scanner = _scan(node, {k: v for k, v in aliases.items() if k != name})
        uses = FunctionUses()
        _judge(scanner, policy, uses)
        direct[name] = uses
        calls[name] = (scanner.names & set(definitions)) - {name}
    return SourceReport(_close(direct, calls), module_refusals)


SCAN_CACHE_MAX = 512
_scans: OrderedDict[tuple, tuple[ast.AST, _Scanner]] = OrderedDict()


def _scan(node: ast.AST, aliases: dict[str, str]) -> _Scanner:
    """A scanner that has visited ``node`` with these aliases. Remembered for the very node
    object (the batch grader parses each distinct cell text once, so the template's functions
    and every unchanged cell are the same trees in every notebook of a class); the entry holds
    the node, so its id cannot stand for another one while remembered. Callers only read it."""
    key = (id(node), tuple(sorted(aliases.items())))
    hit = _scans.get(key)
    if hit is not None and hit[0] is node:
        _scans.move_to_end(key)
        return hit[1]
    scanner = _Scanner(aliases)
    scanner.visit(node)
    _scans[key] = (node, scanner)
    if len(_scans) > SCAN_CACHE_MAX:
        _scans.popitem(last=False)
    return scanner


def _close(direct: dict[str, FunctionUses], calls: dict[str, set[str]]) -> dict[str, FunctionUses]:
    """A function uses what the notebook's functions it calls use."""
    out = {}
    for name in direct:
        seen, todo, total = {name}, [name], FunctionUses()
        while todo:
            current = todo.pop()
            uses = direct[current]
            for dotted, why in uses.refused.items():
                total.refused.setdefault(dotted, why)
            total.dynamic |= uses.dynamic
            total.suppresses_warnings |= uses.suppresses_warnings
            for callee in calls.get(current, ()):
                if callee not in seen:
                    seen.add(callee)
                    todo.append(callee)
        out[name] = total
    return out


# ------------------------------------------------------------ analysis of live functions

def _resolve(value: object) -> str | None:
    """The dotted name a global of the student's kernel stands for (None: plain data)."""
    if isinstance(value, types.ModuleType):
        return value.__name__
    module = getattr(value, "__module__", None)
    name = getattr(value, "__name__", None)
    if isinstance(module, str) and module not in ("__main__", "builtins") and isinstance(name, str):
        return f"{module}.{name}"
    module = getattr(type(value), "__module__", None)  # an object made by a library (a tensor)
    if isinstance(module, str) and module.split(".")[0] in NEVER_ALLOWED:
        return module
    return None


def analyze_function(fn: object, policy: ImportPolicy, _seen: set | None = None) -> FunctionUses:
    """What a live function uses (Jupyter): its source, its globals, the functions it calls."""
    uses = FunctionUses()
    if not isinstance(fn, types.FunctionType):
        return uses
    seen = _seen if _seen is not None else set()
    if fn.__code__ in seen:
        return uses
    seen.add(fn.__code__)
    env = fn.__globals__
    aliases = {}
    for name in _code_names(fn.__code__):
        if name in env:
            value = env[name]
            if not isinstance(value, types.ModuleType) \
                    and getattr(value, "__module__", None) == fn.__module__:
                continue  # the notebook's (or module's) own function: followed below
            dotted = _resolve(value)
            if dotted is not None:
                aliases[name] = dotted
    try:
        tree = ast.parse(textwrap.dedent(inspect.getsource(fn)))
        scanner = _Scanner(aliases)
        scanner.visit(tree)
    except (OSError, TypeError, SyntaxError):  # no source: the names the code object holds
        scanner = _Scanner(aliases)
        names, attrs = _code_globals(fn.__code__)
        scanner.names = names
        # the attribute chains are lost: every root with every one or two attribute names
        roots = {aliases[n] for n in names if n in aliases}
        scanner.dotted = roots | {
            f"{root}.{a}" + (f".{b}" if b else "")
            for root in roots for a in attrs for b in (None, *attrs) if a != b}
    _judge(scanner, policy, uses)
    for name in scanner.names:
        callee = env.get(name)
        if isinstance(callee, types.FunctionType) and callee is not fn \
                and callee.__module__ == fn.__module__:
            inner = analyze_function(callee, policy, seen)
            for dotted, why in inner.refused.items():
                uses.refused.setdefault(dotted, why)
            uses.dynamic |= inner.dynamic
            uses.suppresses_warnings |= inner.suppresses_warnings
    return uses


def _code_globals(code: types.CodeType) -> tuple[set[str], set[str]]:
    """(global names loaded, attribute names) of a code object and the code nested in it."""
    import dis

    names, attrs = set(), set()
    for instruction in dis.get_instructions(code):
        if instruction.opname in ("LOAD_GLOBAL", "LOAD_NAME") and isinstance(instruction.argval, str):
            names.add(instruction.argval)
        elif instruction.opname in ("LOAD_ATTR", "LOAD_METHOD") and isinstance(instruction.argval, str):
            attrs.add(instruction.argval)
    for const in code.co_consts:
        if isinstance(const, types.CodeType):
            inner_names, inner_attrs = _code_globals(const)
            names |= inner_names
            attrs |= inner_attrs
    return names, attrs


def _code_names(code: types.CodeType) -> list[str]:
    names = list(code.co_names)
    for const in code.co_consts:
        if isinstance(const, types.CodeType):
            names.extend(_code_names(const))
    return names
