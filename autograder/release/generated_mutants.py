"""Mutants generated from the reference solutions, one small change to one stub each.

The operators are cosmic-ray's (``cosmic_ray.operators``: binary and comparison operator swaps,
unary sign flips, numbers off by one, boolean and loop mutations), applied to parso trees with
its ``MutationVisitor``. What cosmic-ray has no operator for, and that the course's typical bugs
need, is added here as operators of the same interface (``cosmic_ray.operators.operator``):
``@`` replaced by ``*``, constants off by a factor, dropped terms, a missing ``1/n`` (a dropped
divisor, ``mean`` -> ``sum``), swapped arguments and a transposed result.

Only the stub functions are mutated (the functions the tests ask for); each mutant is the whole
reference module with one function changed, so it grades like a submission. Mutant ids are
``<stub>:<operator>:<hash of the mutated function>``: stable when other code changes, new when
the function itself changes (so an equivalence judgement is made again).
"""

from __future__ import annotations

import ast
import difflib
import hashlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

import parso
from cosmic_ray.ast import ast_nodes
from cosmic_ray.mutating import MutationVisitor
from cosmic_ray.operators import (
    binary_operator_replacement,
    boolean_replacer,
    comparison_operator_replacement,
    number_replacer,
    unary_operator_replacement,
    zero_iteration_for_loop,
)
from cosmic_ray.operators.operator import Example, Operator
from parso.python.tree import Name, Number

#: Arithmetic operators swapped among themselves (bit operators on floats only raise TypeError:
#: such mutants are killed by any call and say nothing about the tests).
_ARITHMETIC = {"+", "-", "*", "/", "**"}


def _leaf(code: str, like) -> Name:
    """A leaf printing ``code`` in place of ``like`` (only ``get_code`` is used afterwards)."""
    return Name(code, like.start_pos, prefix=like.get_first_leaf().prefix)


def _code(node) -> str:
    return node.get_code(include_prefix=False)


class ReplaceMatMulWithMul(Operator):
    """``A @ B`` -> ``A * B`` (an elementwise product where a matrix product belongs)."""

    def mutation_positions(self, node):
        if node.type == "operator" and node.value == "@" and node.parent.type == "term":
            yield (node.start_pos, node.end_pos)

    def mutate(self, node, index):
        node.value = "*"
        return node

    @classmethod
    def examples(cls):
        return (Example("x = a @ b", "x = a * b"),)


class ScaleNumber(Operator):
    """A constant off by a factor: doubled, or halved (floats) / floor-halved (ints >= 2)."""

    @staticmethod
    def _variants(node) -> list[str]:
        try:
            value = ast.literal_eval(node.value)
        except (ValueError, SyntaxError):
            return []
        if isinstance(value, complex) or value == 0:
            return []
        if isinstance(value, int):
            return [str(value * 2)] + ([str(value // 2)] if value >= 2 else [])
        return [repr(value * 2), repr(value / 2)]

    def mutation_positions(self, node):
        if isinstance(node, Number):
            for _ in self._variants(node):
                yield (node.start_pos, node.end_pos)

    def mutate(self, node, index):
        return Number(self._variants(node)[index], node.start_pos, prefix=node.prefix)

    @classmethod
    def examples(cls):
        return (Example("x = 0.5", "x = 1.0"), Example("x = 4", "x = 2", occurrence=1))


def _drop_operand(node, index):
    """``node`` (``a op b op c``) without its ``index``-th operator and the operand after it."""
    children = list(node.children)
    i = 2 * index + 1
    kept = children[:i] + children[i + 2 :]
    if len(kept) == 1:
        return _leaf(_code(kept[0]), node)
    node.children = kept
    return node


class DropTerm(Operator):
    """A dropped term or factor: ``a + b - c`` -> ``a + b``, ``2.0 * x`` -> ``2.0`` ..."""

    OPS = {"+", "-", "*"}

    def _positions(self, node) -> list[int]:
        if node.type not in ("arith_expr", "term"):
            return []
        ops = node.children[1::2]
        return [i for i, op in enumerate(ops) if op.value in self.OPS]

    def mutation_positions(self, node):
        for _ in self._positions(node):
            yield (node.start_pos, node.end_pos)

    def mutate(self, node, index):
        return _drop_operand(node, self._positions(node)[index])

    @classmethod
    def examples(cls):
        return (Example("x = a + b", "x = a"), Example("x = a * b - c", "x = a * b", occurrence=1))


class DropDivisor(DropTerm):
    """A missing ``1/n``: ``x / n`` -> ``x`` (also ``1 / (1 - b**t)`` style corrections)."""

    OPS = {"/"}

    @classmethod
    def examples(cls):
        return (Example("x = s / n", "x = s"),)


class MeanToSum(Operator):
    """A missing ``1/n`` by name: ``np.mean(...)`` / ``x.mean(...)`` -> ``sum``."""

    def mutation_positions(self, node):
        if isinstance(node, Name) and node.value == "mean" and node.parent.type == "trailer":
            yield (node.start_pos, node.end_pos)

    def mutate(self, node, index):
        node.value = "sum"
        return node

    @classmethod
    def examples(cls):
        return (Example("x = np.mean(a)", "x = np.sum(a)"),)


def _items(node) -> list:
    """The elements of an argument list, a list/tuple display or a returned tuple."""
    if node.type == "arglist" and node.parent.type == "trailer":
        return [c for c in node.children[::2] if c.type != "argument" and c.type != "star_expr"]
    if node.type in ("testlist_comp", "testlist_star_expr") and not any(
        c.type in ("comp_for", "sync_comp_for") for c in node.children
    ):
        return [c for c in node.children[::2] if c.type != "star_expr"]
    return []


class SwapArguments(Operator):
    """Two neighbouring positional arguments (or elements of a tuple or list) swapped."""

    def _pairs(self, node) -> list[tuple]:
        items = _items(node)
        return [(a, b) for a, b in zip(items, items[1:]) if _code(a) != _code(b)]

    def mutation_positions(self, node):
        for _ in self._pairs(node):
            yield (node.start_pos, node.end_pos)

    def mutate(self, node, index):
        a, b = self._pairs(node)[index]
        children = list(node.children)
        i, j = children.index(a), children.index(b)
        children[i], children[j] = _leaf(_code(b), a), _leaf(_code(a), b)
        node.children = children
        return node

    @classmethod
    def examples(cls):
        return (Example("f(a, b)", "f(b, a)"), Example("return x, y", "return y, x"))


#: Results that are obviously not arrays: transposing them changes nothing worth a mutant.
_SCALAR_CALLS = ("float(", "int(", "len(", "bool(", "str(")


class TransposeResult(Operator):
    """A returned array transposed: ``return A`` -> ``return np.transpose(A)`` (each element of a
    returned tuple in turn)."""

    @staticmethod
    def _targets(node) -> list:
        if node.type != "return_stmt" or len(node.children) < 2:
            return []
        value = node.children[1]
        items = value.children[::2] if value.type == "testlist_star_expr" else [value]
        return [
            item
            for item in items
            if not isinstance(item, Number)
            and not _code(item).startswith(_SCALAR_CALLS)
            and item.type not in ("comparison", "not_test", "star_expr")
        ]

    def mutation_positions(self, node):
        for _ in self._targets(node):
            yield (node.start_pos, node.end_pos)

    def mutate(self, node, index):
        target = self._targets(node)[index]
        parent = target.parent
        children = list(parent.children)
        children[children.index(target)] = _leaf(f"np.transpose({_code(target)})", target)
        parent.children = children
        return node

    @classmethod
    def examples(cls):
        return (Example("return a @ b", "return np.transpose(a @ b)"),)


@dataclass(frozen=True)
class OperatorSpec:
    name: str
    category: str
    operator: Operator


def _library_operators() -> Iterator[OperatorSpec]:
    for cls in binary_operator_replacement.operators():
        # e.g. ReplaceBinaryOperator_Add_Sub: a mutation from one arithmetic operator to another
        sample = cls.examples()[0]
        if {sample.pre_mutation_code.split()[1], sample.post_mutation_code.split()[1]} <= _ARITHMETIC:
            yield OperatorSpec(cls.__name__, "arithmetic operator", cls())
    for cls in comparison_operator_replacement.operators():
        yield OperatorSpec(cls.__name__, "comparison", cls())
    for cls in unary_operator_replacement.operators():
        if cls.__name__ in ("ReplaceUnaryOperator_USub_UAdd", "ReplaceUnaryOperator_Delete_USub"):
            yield OperatorSpec(cls.__name__, "sign flip", cls())
    yield OperatorSpec("NumberReplacer", "constant off by one", number_replacer.NumberReplacer())
    for cls in (
        boolean_replacer.ReplaceTrueWithFalse,
        boolean_replacer.ReplaceFalseWithTrue,
        boolean_replacer.ReplaceAndWithOr,
        boolean_replacer.ReplaceOrWithAnd,
    ):
        yield OperatorSpec(cls.__name__, "boolean", cls())
    yield OperatorSpec(
        "ZeroIterationForLoop", "loop never runs", zero_iteration_for_loop.ZeroIterationForLoop()
    )


def operator_specs() -> list[OperatorSpec]:
    """cosmic-ray's operators that apply to numerical code, then the additions of this module."""
    return [
        *_library_operators(),
        OperatorSpec("ReplaceMatMulWithMul", "arithmetic operator", ReplaceMatMulWithMul()),
        OperatorSpec("ScaleNumber", "constant off by a factor", ScaleNumber()),
        OperatorSpec("DropTerm", "dropped term", DropTerm()),
        OperatorSpec("DropDivisor", "missing 1/n", DropDivisor()),
        OperatorSpec("MeanToSum", "missing 1/n", MeanToSum()),
        OperatorSpec("SwapArguments", "swapped arguments", SwapArguments()),
        OperatorSpec("TransposeResult", "transposed result", TransposeResult()),
    ]


#: The order in which categories take turns when a stub's mutants are chosen.
CATEGORY_ORDER = (
    "arithmetic operator",
    "sign flip",
    "dropped term",
    "missing 1/n",
    "constant off by a factor",
    "swapped arguments",
    "transposed result",
    "constant off by one",
    "comparison",
    "boolean",
    "loop never runs",
)


@dataclass(frozen=True)
class GeneratedMutant:
    id: str
    stub: str
    operator: str
    category: str
    diff: str
    source: str  # the whole reference module with the stub mutated

    @property
    def file_stem(self) -> str:
        return "gen-" + self.id.replace(":", "-")


def _function_spans(source: str, names: Iterable[str]) -> dict[str, tuple[int, int]]:
    """Line span (0-based start, end exclusive) of each named top-level function's ``def``."""
    wanted = set(names)
    spans = {}
    for node in ast.parse(source).body:
        if isinstance(node, ast.FunctionDef) and node.name in wanted:
            start = min([node.lineno, *(d.lineno for d in node.decorator_list)]) - 1
            spans[node.name] = (start, node.end_lineno)
    return spans


def _docstring_free(code: str) -> str:
    """The function without its docstring: what a mutant's identity depends on."""
    tree = ast.parse(code)
    body = tree.body[0].body
    if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
        tree.body[0].body = body[1:] or [ast.Pass()]
    return ast.unparse(tree)


def _candidates(stub: str, function_code: str) -> list[list[tuple[OperatorSpec, int]]]:
    """(operator, occurrence) pairs of one function, one queue per category (in
    ``CATEGORY_ORDER``), each in a fixed order that is not the source order, so that the first
    few of a queue are spread over the function."""
    nodes = list(ast_nodes(parso.parse(function_code)))  # counting positions changes nothing
    by_category: dict[str, list[tuple[OperatorSpec, int]]] = {}
    for spec in operator_specs():
        count = sum(1 for n in nodes for _ in spec.operator.mutation_positions(n))
        by_category.setdefault(spec.category, []).extend((spec, i) for i in range(count))
    return [
        sorted(
            by_category[c],
            key=lambda pair: hashlib.sha1(f"{stub}:{pair[0].name}:{pair[1]}".encode()).hexdigest(),
        )
        for c in CATEGORY_ORDER
        if c in by_category
    ]


def stub_mutants(stub: str, function_code: str, limit: int) -> list[tuple[OperatorSpec, str]]:
    """Up to ``limit`` (operator, mutated function source) of one function, categories taking
    turns; each compiles and differs from the original and from the others once docstrings and
    formatting are set aside."""
    seen = {_docstring_free(function_code)}
    queues = _candidates(stub, function_code)
    out: list[tuple[OperatorSpec, str]] = []
    while len(out) < limit and any(queues):
        for queue in queues:
            while queue and len(out) < limit:
                spec, occurrence = queue.pop(0)
                mutated = MutationVisitor.mutate_code(function_code, spec.operator, occurrence)
                if mutated is None:
                    continue
                try:
                    key = _docstring_free(mutated)
                except SyntaxError:
                    continue
                if key not in seen:
                    seen.add(key)
                    out.append((spec, mutated))
                    break
    return out


def generate_mutants(source: str, stubs: Iterable[str], per_stub: int) -> list[GeneratedMutant]:
    """Up to ``per_stub`` mutants of each stub in ``source``, categories taking turns.

    Deterministic: the same source gives the same mutants in the same order (stubs in file
    order, round-robin over the stubs so that a partial run covers every stub)."""
    lines = source.splitlines(keepends=True)
    spans = _function_spans(source, stubs)
    per: list[list[GeneratedMutant]] = []
    for stub, (start, end) in sorted(spans.items(), key=lambda item: item[1]):
        code = "".join(lines[start:end])
        chosen = stub_mutants(stub, code, per_stub)
        mutants = []
        for spec, mutated in chosen:
            digest = hashlib.sha1(_docstring_free(mutated).encode()).hexdigest()[:8]
            diff = "".join(
                difflib.unified_diff(
                    code.splitlines(keepends=True),
                    mutated.splitlines(keepends=True),
                    fromfile=f"reference {stub}",
                    tofile=f"mutant {stub}",
                    n=1,
                )
            )
            whole = "".join(lines[:start]) + mutated + "".join(lines[end:])
            mutants.append(
                GeneratedMutant(
                    id=f"{stub}:{spec.name}:{digest}",
                    stub=stub,
                    operator=spec.name,
                    category=spec.category,
                    diff=diff,
                    source=whole,
                )
            )
        per.append(mutants)
    ordered = []
    for i in range(max((len(m) for m in per), default=0)):
        ordered += [mutants[i] for mutants in per if i < len(mutants)]
    return ordered
