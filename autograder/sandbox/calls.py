"""The call protocol, grader side: where data crosses the trust boundary.

A test calls a student's function through a :class:`Proxy`. The arguments cross as plain data
only (numbers, strings, NumPy arrays, lists/tuples/dicts of these), plus exactly three kinds of
tag, none of which names an object of the grader (four with the formula below):

- a **function** of the test (``grad_fn``, ``f``) becomes ``{"cb": n}``: when the student calls
  it, the child asks the grader to call it with plain arguments. Those arguments are bounded by
  what the test passed in this call (array shapes, element counts, int64 range): a callback can
  cost the grader about what the test meant it to cost, not what the student wants. Time spent
  in callbacks counts against the call's CPU budget; a refused or failed-for-memory callback
  fails the call (and so the case), nothing more;
- a **NumPy Generator** becomes ``{"rng": [bit generator name, state, n]}``: the child draws from
  a Generator of its own built from that state, and sends the final state back, which the
  grader adopts after checking that it is a valid state of the same kind. Draws therefore come
  from the test's stream and ``gen.bit_generator.state`` comparisons keep working;
- a **proxy of the same submission** becomes ``{"g": name}`` (the child's own function);
- a test function carrying a known gradient formula's ``spec`` (``checks.problems``'
  ``quadratic_gradient``, ``least_squares_gradient``, the problems' ``grad``) becomes
  ``{"fn": [kind, data]}``: the child builds the same formula over that data
  (``sandbox/loops.py``) and calls it locally, so evaluating it costs the child, not a round trip.

Anything else (any other object) is a test-authoring error: a ``ProtocolError`` naming the type,
never a handle. Nothing the child sends is ever used to look up an attribute or a method.

Array arguments travel through the submission's shared-memory arena (``arena``): after the call
the grader compares that memory with its own copies, so ``last_call_mutations`` is what the
grader saw, not what the child says.
"""

from __future__ import annotations

import time

import numpy as np

from . import codec
from .errors import (
    CallTimeout,
    MissingName,
    ProtocolError,
    SandboxDied,
    SandboxError,
    StudentError,
)
from .loops import GRADIENTS

MAX_CALLBACK_STR = 1000
MAX_LABELS = 1000  # names one labels request may ask for (the child's own bound, child.py)
INT64 = 1 << 63
MAX_STATE_INT_BITS = 256
CALLBACK_ELEMENT_FACTOR = 4   # a callback's arguments may hold this many times the elements
CALLBACK_ELEMENT_FLOOR = 64   # ... of the call's own array arguments, and at least this many


class Proxy:
    """A plain callable standing for a student global; see docs/architecture.md."""

    #: Array arguments cross as copies (shared memory or frames): the test's own arrays never
    #: change, and what the child did to its copies is in ``last_call_mutations``
    #: (``checks.assert_no_mutation`` reads this and skips copying and comparing them again).
    copies_arguments = True

    def __init__(self, sub, name: str):
        self._sub = sub
        self.name = name
        self.__name__ = name
        self.__qualname__ = name
        #: Labels of array arguments the grader saw changed in shared memory by the last call.
        self.last_call_mutations: tuple[str, ...] = ()
        #: Labels of array arguments too large for the arena (sent by copy, not observed).
        self.last_call_unverified: tuple[str, ...] = ()
        #: (category, message) of the numerical warnings the last call raised, as the child
        #: reported them (the student's own process: it speaks only about its own result).
        self.last_call_warnings: tuple[tuple[str, str], ...] = ()
        #: Set by the grader from its analysis of the notebook's source: the function switches
        #: numerical warnings off (np.errstate, np.seterr, warnings filters).
        self.suppresses_warnings = False

    def __call__(self, *args, **kwargs):
        return self._sub._call(self, args, kwargs)

    @property
    def batch_group(self):
        """Proxies with the same group can be called together (``checks.call_each``)."""
        return self._sub

    def call_batch(self, entries, budget=None):
        """Several independent calls ``[(proxy, args, kwargs), ...]`` of this submission in
        one request (``sandbox/batch.py``), or None when they cannot be (the caller then calls
        one by one). ``budget``: ``(deadline, why)`` after which no further call may start."""
        return self._sub._batch(entries, budget)

    def run_loop(self, step, theta, grad_fn, steps, state):
        """``run_steps`` of a ``StepCall`` of this function, run inside the sandbox (plain
        data back: see ``loop_requests.perform_loop``)."""
        return self._sub._loop(self, step, theta, grad_fn, steps, state)

    def loop_entry(self, step, theta, grad_fn, steps, state):
        """The same loop as an entry of ``call_batch`` (with the calls of the same request)."""
        from .loop_requests import LoopEntry

        return LoopEntry(self, step, theta, grad_fn, steps, state)

    def __repr__(self) -> str:
        return f"<sandboxed {self.name}>"


def _is_test_function(obj) -> bool:
    return callable(obj) and not isinstance(obj, type)


def _formula(obj):
    """``(kind, data)`` of a test function that carries a known formula's ``spec`` (see
    ``checks.problems.quadratic_gradient``), else None (the function is a callback)."""
    spec = getattr(obj, "spec", None) if _is_test_function(obj) else None
    if (isinstance(spec, tuple) and len(spec) == 2 and spec[0] in GRADIENTS
            and isinstance(spec[1], dict)):
        return spec
    return None


class CallArguments:
    """One call's arguments, encoded: what the child gets and what the grader keeps."""

    def __init__(self, sub, arena, arrays: list):
        self.sub = sub
        self.arena = arena
        self.arrays = arrays  # the message's frames (generator states travel as frames too)
        self.refused: str | None = None
        self.callbacks: dict[int, object] = {}
        self.generators: list[tuple[int, np.random.Generator]] = []
        self.placements: list[tuple[object, tuple]] = []
        self.unverified: list[object] = []
        #: An array did not fit the arena after the arrays placed before it in this request,
        #: though it would alone (batch.py then makes this call in a request of its own).
        self.crowded = False
        self.shapes: set[tuple] = {()}
        self.max_elements = 0
        self.arity = 0  # how the call was made: what the child's parameter names bind to
        self.keywords: list[str] = []
        self._where: object = None

    # -- encoding
    def encode(self, args: tuple, kwargs: dict, *, first: bool = True) -> tuple:
        """``first=False``: a later call of the same request (a batch) places its arrays after
        the earlier ones' instead of over them."""
        arrays = self.arrays
        self.arity, self.keywords = len(args), [str(k) for k in kwargs]
        if self.arena is not None and first:
            self.arena.start_call()
        try:
            tree_args = []
            for i, value in enumerate(args):
                self._where = i
                tree_args.append(codec.encode(value, arrays, self._on_other, 0, self._on_array))
            pairs = []
            for key, value in kwargs.items():
                self._where = str(key)
                pairs.append([str(key),
                              codec.encode(value, arrays, self._on_other, 0, self._on_array)])
        except codec.CodecError as exc:
            raise ProtocolError(f"cannot send the arguments to the submission: {exc}") from None
        return tree_args, {"d": pairs}

    def _on_array(self, arr: np.ndarray):
        self.shapes.add(tuple(arr.shape))
        self.max_elements += int(arr.size)
        placed = self.arena.place(arr) if self.arena is not None else None
        if placed is None:
            self.unverified.append(self._where)
            if self.arena is not None and arr.nbytes <= self.arena.capacity:
                self.crowded = True
            return None
        tag, placement = placed
        self.placements.append((self._where, placement))
        return tag

    def _on_other(self, obj):
        if isinstance(obj, Proxy) and obj._sub is self.sub:
            return {"g": obj.name}
        if isinstance(obj, np.random.Generator):
            handle = next((h for h, g in self.generators if g is obj), None)
            if handle is None:
                handle = len(self.generators) + 1
                self.generators.append((handle, obj))
            state = obj.bit_generator.state
            return {"rng": [type(obj.bit_generator).__name__,
                            codec.encode(state, self.arrays), handle]}
        formula = _formula(obj)
        if formula is not None:
            # a known gradient formula (``spec``) crosses as its data: the child computes it
            # with the same expression, no round trip per evaluation. Nothing it returns is
            # trusted more for that: the student's results are judged as before
            kind, data = formula
            return {"fn": [kind, codec.encode(data, self.arrays)]}
        if _is_test_function(obj):
            handle = len(self.callbacks) + 1
            self.callbacks[handle] = obj
            return {"cb": handle}
        raise codec.CodecError(
            f"a test passed an object of type {type(obj).__name__}: only plain data (numbers, "
            f"strings, NumPy arrays, lists/tuples/dicts of these), functions and NumPy "
            f"Generators can be passed to a student's function")

    # -- after the call
    def changed(self) -> list:
        """Where the arguments the child changed in shared memory are (observed now)."""
        return [where for where, placement in self.placements if self.arena.changed(placement)]

    def needs_labels(self, changed: list) -> bool:
        """Whether a positional argument must be named (keywords name themselves)."""
        return any(isinstance(w, int) for w in (*changed, *self.unverified))

    @staticmethod
    def named(wheres: list, labels) -> tuple[str, ...]:
        return tuple(dict.fromkeys(_label(where, labels) for where in wheres))

    def unverified_labels(self, labels) -> tuple[str, ...]:
        return self.named(self.unverified, labels)

    def adopt_states(self, states, arrs) -> None:
        """Move each test Generator to the state the child's copy ended in (validated)."""
        if not isinstance(states, list) or len(states) != len(self.generators):
            raise ProtocolError("the submission sent back malformed generator states")
        for (_, gen), node in zip(self.generators, states):
            try:
                new = codec.decode(node, arrs)
            except codec.CodecError as exc:
                raise ProtocolError(f"malformed generator state: {exc}") from None
            adopt_state(gen, new)

    # -- callbacks
    def check_callback_arguments(self, args: list, kwargs: dict) -> str | None:
        """Why these callback arguments are refused, or None when they are within bounds."""
        budget = [max(CALLBACK_ELEMENT_FLOOR, CALLBACK_ELEMENT_FACTOR * self.max_elements)]
        allowed = sorted(self.shapes, key=len)

        def walk(value, depth=0) -> str | None:
            if depth > 8:
                return "arguments nested too deeply"
            if value is None or isinstance(value, (bool, float, complex)):
                budget[0] -= 1
            elif isinstance(value, int):
                if not -INT64 <= value < INT64:
                    return "an integer outside the int64 range"
                budget[0] -= 1
            elif isinstance(value, str):
                if len(value) > MAX_CALLBACK_STR:
                    return f"a string of {len(value)} characters"
                budget[0] -= 1
            elif isinstance(value, np.ndarray):
                if value.ndim and tuple(value.shape) not in self.shapes:
                    shown = ", ".join(str(s) for s in allowed if s) or "none"
                    return (f"an array of shape {tuple(value.shape)}; the arrays this test passed "
                            f"have shapes {shown}")
                budget[0] -= int(value.size)
            elif isinstance(value, (list, tuple)):
                for v in value:
                    why = walk(v, depth + 1)
                    if why:
                        return why
            elif isinstance(value, dict):
                for v in value.values():
                    why = walk(v, depth + 1)
                    if why:
                        return why
            else:
                return f"a {type(value).__name__}"
            if budget[0] < 0:
                return "more values than the arrays this test passed hold"
            return None

        return walk(list(args)) or walk(list(kwargs.values()))


def _label(where, labels) -> str:
    if isinstance(where, int):
        name = labels[where] if isinstance(labels, list) and where < len(labels) else None
        if isinstance(name, str) and name.isidentifier() and len(name) <= 50:
            return name
        return f"arg{where}"
    return str(where)


def _same_structure(old, new) -> bool:
    if isinstance(old, dict):
        return (isinstance(new, dict) and set(old) == set(new)
                and all(_same_structure(old[k], new[k]) for k in old))
    if isinstance(old, bool) or old is None or isinstance(old, (str, float)):
        return type(new) is type(old) and (not isinstance(old, str) or new == old)
    if isinstance(old, int):
        return type(new) is int and 0 <= new and new.bit_length() <= MAX_STATE_INT_BITS
    if isinstance(old, np.ndarray):
        return (isinstance(new, np.ndarray) and new.shape == old.shape
                and new.dtype == old.dtype)
    return False


def _state_invariant_problem(kind: str, state: dict) -> str | None:
    """What numpy's own state setter does not check but its C code relies on: a state that
    breaks these would make the grader read past a buffer or draw constants forever."""
    inner = state.get("state")
    if "has_uint32" in state and state["has_uint32"] not in (0, 1):
        return "has_uint32 must be 0 or 1"
    if "uinteger" in state and not 0 <= state["uinteger"] < (1 << 32):
        return "uinteger out of range"
    if kind == "MT19937":
        pos, key = inner.get("pos"), inner.get("key")
        if not (type(pos) is int and 0 <= pos <= 624):
            return "MT19937 position out of range"
        if not (isinstance(key, np.ndarray) and key.shape == (624,)) or \
                (int(key[0]) & 0x80000000 == 0 and not key[1:].any()):
            return "degenerate MT19937 key"
    if kind in ("PCG64", "PCG64DXSM") and not inner.get("inc", 0) & 1:
        return "PCG increment must be odd"
    if kind == "Philox" and not 0 <= state.get("buffer_pos", 0) <= 4:
        return "Philox buffer position out of range"
    return None


_SCRATCH: dict = {}  # bit generator class -> an instance of it used only to validate states


def _scratch_bit_generator(kind):
    """An instance of ``kind`` that exists only to run numpy's validation of a state on it (its
    state setter), made once per class: a new one per call seeded itself from the OS's entropy,
    about 50 us of every generator a call passed (its state is overwritten at once anyway)."""
    scratch = _SCRATCH.get(kind)
    if scratch is None:
        scratch = _SCRATCH[kind] = kind(0)
    return scratch


def adopt_state(gen: np.random.Generator, new) -> None:
    """Set ``gen``'s bit generator to ``new`` if it is a valid state of the same kind."""
    bit_generator = gen.bit_generator
    if not _same_structure(bit_generator.state, new):
        raise ProtocolError("the submission sent back a generator state of another shape")
    why = _state_invariant_problem(type(bit_generator).__name__, new)
    if why:
        raise ProtocolError(f"the submission sent back an invalid generator state: {why}")
    try:
        _scratch_bit_generator(type(bit_generator)).state = new  # numpy's own validation
    except Exception as exc:
        raise ProtocolError(f"the submission sent back an invalid generator state: {exc}") \
            from None
    bit_generator.state = new


def serve_callback(sub, call: CallArguments, msg: dict, arrs: list, deadline: float,
                   spent: list) -> None:
    """Run one callback the child asked for, within the call's bounds; reply to the child.

    ``spent`` accumulates the grader's CPU seconds spent in callbacks of this call; a refusal is
    remembered in ``call.refused`` and fails the call once the child has answered.
    """
    hid = msg.get("id")
    fn = call.callbacks.get(hid) if type(hid) is int else None
    try:
        args = codec.decode(msg.get("args"), arrs)
        kwargs = codec.decode(msg.get("kwargs"), arrs)
        if not isinstance(args, list) or not isinstance(kwargs, dict):
            raise codec.CodecError("malformed callback")
    except codec.CodecError as exc:
        sub._kill("protocol", f"the submission sent a malformed callback: {exc}")
        raise ProtocolError(sub.reason) from None
    if fn is None:
        why = "it asked for a function this test did not pass"
    elif call.refused:
        why = "an earlier call of it was refused"
    else:
        why = call.check_callback_arguments(args, kwargs)
    if why:
        call.refused = call.refused or (
            f"the submission called the test's function with {why}: refused")
        reply, reply_arrays = {"op": "cb_error", "error": call.refused[:500]}, []
    else:
        started = time.thread_time()
        try:
            result = fn(*args, **kwargs)
            reply_arrays: list = []
            reply = {"op": "cb_result", "value": codec.encode(result, reply_arrays)}
        except MemoryError:
            call.refused = ("the test's function ran out of memory on the arguments the "
                            "submission passed")
            reply, reply_arrays = {"op": "cb_error", "error": call.refused}, []
        except SandboxError:
            raise
        except Exception as exc:
            reply = {"op": "cb_error", "error": f"{type(exc).__name__}: {exc}"[:500]}
            reply_arrays = []
        finally:
            spent[0] += time.thread_time() - started
    if spent[0] > float(sub.limits.call_cpu_s) or time.monotonic() > deadline:
        sub._kill("timeout", "the call exceeded its time limit in the test's functions "
                             f"({spent[0]:.1f} s of the grader's CPU)")
        raise CallTimeout(sub.reason)
    sub._send(reply, reply_arrays, deadline)


def perform_call(sub, proxy: Proxy, args: tuple, kwargs: dict):
    """Send one call to the child, serve its callbacks, return its plain result."""
    _reset(proxy)
    if not sub._alive:
        raise SandboxDied(sub._death_message())
    arrays: list = []
    call = CallArguments(sub, sub.arena, arrays)
    tree_args, tree_kwargs = call.encode(args, kwargs)
    header = {"op": "call", "name": proxy.name, "args": tree_args, "kwargs": tree_kwargs}
    msg, arrs = _converse(sub, proxy, call, header, arrays, "return", 1)
    try:
        value = codec.decode(msg.get("value"), arrs)
    except codec.CodecError as exc:
        raise ProtocolError(f"{proxy.name} returned malformed data: {exc}") from None
    if call.generators:
        call.adopt_states(msg.get("rng"), arrs)
    return value


def _reset(proxy: Proxy) -> None:
    proxy.last_call_mutations = ()
    proxy.last_call_unverified = ()
    proxy.last_call_warnings = ()


def _converse(sub, proxy: Proxy, call: CallArguments, header: dict, arrays: list, result_op: str,
              calls: int):
    """Send a request, serve its callbacks until the child settles; ``(msg, arrays)`` of a
    ``result_op`` answer, the matching SandboxError otherwise. Its limits are those of
    ``calls`` calls."""
    deadline = time.monotonic() + float(sub.limits.call_wall_s) * calls
    cpu_start = sub._cpu_mark()
    spent = [0.0]
    budget = (cpu_start, float(sub.limits.call_cpu_s) * calls)
    sub._send(header, arrays, deadline)
    what = f"the call to {proxy.name}"
    settled = False  # the child finished the call and waits for the next request
    try:
        while True:
            # the child's CPU budget shrinks by what the grader spent in its callbacks
            msg, arrs = sub._recv(deadline, (budget[0] - spent[0], budget[1]), what,
                                  sub.limits.call_wall_s * calls)
            op = msg.get("op")
            if op == "callback":
                serve_callback(sub, call, msg, arrs, deadline, spent)
                continue
            settled = op in (result_op, "raise", "protocol_error", "missing")
            if settled and op != "missing":
                if call.arena is not None:  # (a loop's arguments are not observed)
                    changed = call.changed()
                    # the names only word the message: asked for when a result will be judged
                    labels = ask_labels(sub, proxy.name, call) \
                        if op == result_op and call.needs_labels(changed) else None
                    proxy.last_call_mutations = call.named(changed, labels)
                    proxy.last_call_unverified = call.unverified_labels(labels)
                proxy.last_call_warnings = _warnings(msg.get("warnings"))
            if settled and call.refused:
                raise ProtocolError(call.refused)
            if op == result_op:
                return msg, arrs
            raise_for_answer(sub, proxy.name, op, msg)
    finally:
        if sub.arena is not None:
            sub.arena.release_pages()
        if not settled and sub._alive:
            # interrupted mid-call (e.g. KeyboardInterrupt in a callback): the child is in the
            # middle of a conversation; it cannot be reused safely
            sub._kill("died", f"{what} was interrupted by the grader")


def ask_labels(sub, name: str, call: CallArguments) -> list | None:
    """The child's parameter names for the arguments of this call of ``name`` (see
    ``child.Session.serve_labels``), asked only when one of its arguments changed or crossed
    unobserved: they name it in the message, nothing else. None when they cannot be had (the
    arguments are then called arg0, arg1...); an answer of another kind kills the submission,
    as for any request."""
    if not sub._alive:
        return None
    try:
        # (at most as many names as the child sends: the arguments past them are argN)
        msg, _ = sub._ask({"op": "labels", "name": name, "arity": min(call.arity, MAX_LABELS),
                           "keywords": call.keywords[:MAX_LABELS]},
                          f"naming the arguments of {name}", 1, "labels")
    except SandboxError:
        return None
    labels = msg.get("labels")
    return labels if isinstance(labels, list) else None


def raise_for_answer(sub, name: str, op, msg: dict):
    """The SandboxError an answer other than a result stands for (the student's exception, a
    refused result, a missing function); anything unexpected kills the submission."""
    if op == "raise":
        raise StudentError(_text(msg.get("error"), 500), _text(msg.get("tb"), 2000))
    if op == "protocol_error":
        raise ProtocolError(f"{name} {_text(msg.get('error'), 500)}")
    if op == "missing":
        raise MissingName(f"the submission does not define {name!r}")
    sub._kill("protocol", f"the submission sent an unexpected message {str(op)[:50]!r}")
    raise ProtocolError(sub.reason)


def _warnings(value) -> tuple[tuple[str, str], ...]:
    """The child's warning list as (category, message) strings; anything else is dropped."""
    if not isinstance(value, list):
        return ()
    out = []
    for item in value[:20]:
        if isinstance(item, list) and len(item) == 2 and all(isinstance(t, str) for t in item):
            out.append((_text(item[0], 100), _text(item[1], 300)))
    return tuple(out)


def _text(value, n: int) -> str:
    s = value if isinstance(value, str) else ""
    return s if len(s) <= n else s[: n - 16] + " ... (truncated)"


def authoring_problem(args: tuple, kwargs: dict) -> str | None:
    """Why a test's arguments could not cross the boundary (None when they can): for
    ``verify``, which runs the reference in-process and must still report a test that passes
    an object the batch grader would refuse."""
    try:
        CallArguments(None, None, []).encode(args, kwargs)
    except ProtocolError as exc:
        return str(exc)
    return None
