"""The globals a test case asks for, taken from the student's sandboxed process.

otter passes a test any global of the notebook; here each crosses the trust boundary as what it
is allowed to be:

- a function (or a callable instance): a sandbox proxy (calls run in the child, see ``autograder.sandbox.calls``);
- a value (numbers, strings, numeric arrays, lists, tuples, dicts): a plain-data copy decoded by
  the sandbox codec, with its size and depth limits; the student's object never leaves the child;
- a module the assignment's import policy allows and the grader offers (numpy, math...): the
  grader's own module of that name, never the child's;
- a name the notebook does not define: absent, so the runner passes ``None`` (as otter does);
- anything else (a class, an instance, a generator, a module not allowed, a value too large):
  ``Unavailable`` naming the global and why, which fails the cases that ask for it.

The values are read once, after the cells ran and before the first case, as otter reads the
notebook's final global environment.
"""

from __future__ import annotations

import importlib
from typing import Any

from autograder.runner import Unavailable

#: Modules a test may receive as a global (the grader's own copy), if the policy allows them.
GRADER_MODULES = frozenset({
    "numpy", "math", "cmath", "statistics", "fractions", "decimal", "random", "itertools",
    "functools", "operator", "collections",
})


def grader_module(dotted: str, policy: Any) -> Any:
    """The grader's module ``dotted`` when a test may be given it, else an explanation (str)."""
    parts = dotted.split(".")
    if not dotted or not all(p.isidentifier() for p in parts):
        return f"a module with the name {dotted[:80]!r}, which is no module name"
    refusal = policy.refusal(dotted) if policy is not None else None
    if refusal is not None:
        return f"the module {dotted} is refused: {refusal}"
    if parts[0] not in GRADER_MODULES:
        return (f"the module {dotted}: only these modules are given to tests: "
                + ", ".join(sorted(GRADER_MODULES)))
    try:
        return importlib.import_module(dotted)
    except ImportError:
        return f"the module {dotted}, which the grader does not have"


def read_globals(submission: Any, names: list[str], policy: Any, make_proxy: Any) -> dict:
    """``name -> proxy | plain value | grader module | Unavailable`` for the ``names`` the
    submission defines (undefined names are left out). ``make_proxy(name)`` wraps a function."""
    from autograder.sandbox import SandboxError

    namespace: dict[str, Any] = {}
    if not submission.alive:
        return namespace
    defined = set(submission.names())
    wanted = [name for name in names if name in defined]
    # asked even for a name the child listed as callable: a class is callable too, and only a
    # function (or a callable instance) is given to a test as a proxy. All in one round trip;
    # one by one when that fails, so that a failure names its global
    failed: SandboxError | None = None
    try:
        answers = submission.read_globals(wanted)
    except SandboxError as error:
        answers, failed = {}, error
    for name in wanted:
        if name in answers:
            kind, payload = answers[name]
        elif failed is not None and not submission.alive:
            namespace[name] = Unavailable(name, f"reading the globals failed: {failed}")
            break
        else:
            try:
                kind, payload = submission.read_global(name)
            except SandboxError as error:
                namespace[name] = Unavailable(name, f"reading it failed: {error}")
                if not submission.alive:
                    break
                continue
        if kind == "value":
            namespace[name] = payload
        elif kind == "module":
            module = grader_module(str(payload), policy)
            namespace[name] = (module if not isinstance(module, str)
                               else Unavailable(name, f"it is {module}"))
        elif kind == "refused":
            namespace[name] = Unavailable(
                name, f"only plain data (numbers, strings, numeric arrays, lists, tuples, dicts) "
                      f"crosses from the submission: {payload}")
        elif kind == "callable":
            try:
                namespace[name] = make_proxy(name)
            except SandboxError as error:
                namespace[name] = Unavailable(name, str(error))
        # "undefined": left out, as a name the notebook never defined
    return namespace
