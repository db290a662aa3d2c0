"""A rehearsal of a grading's requests, served once by the fork server to itself before it
forks its first sandbox, so that every sandbox starts with the request code already warm.

Why: a sandbox starts as a copy of the fork server. CPython 3.11 rewrites a function's bytecode
in place as it warms up (on its 9th run it is "quickened", then its instructions specialise to
the types they meet), so code the fork server never ran is warmed up again in every sandbox:
CPU time, and writes to pages shared with the fork server, each of which copies the page.
Measured before this module (one call ``f(x, y)`` of two 20-element arrays, 30 fresh sandboxes,
the child's CPU): the first call 660 us and 132 page copies, calls 2 to 8 about 120 us, from the
9th on about 100 us. With it: the first call 500 us and 111 page copies, the next ones about
100 us from the 2nd on. The rehearsal costs the fork server about 40 ms at start-up.

So the fork server plays both ends of a grading once, over a socket pair in its own process:
the grader's end builds its messages with the grader's own encoders (``CallArguments``, the
arena, ``codec.pack_from_grader``), and the child's end is the sandbox's own ``Session``
(``child.py``): the run message with precompiled cells (``cellcode``), calls with arrays in
shared memory and keywords, a call with a NumPy Generator, calls given a test function that
crosses as its formula, NumPy's common functions, a call that raises, a labels and a globals
request, step loops with each gradient formula and one with a state, and a batch mixing calls
and a loop. Every answer is read back and its kind checked, so a rehearsal that went
down an error path instead says so (``rehearse`` raises; the fork server reports it and starts
anyway, only slower).

Nothing of it outlives the rehearsal but warmed code and the codec's caches: the namespace,
the sockets, the arena and the cells' ``linecache`` entries are dropped before the fork server
forks. The functions rehearsed are written here: no student code, no test, no expected value,
and the fork server's CPU limit, which ``Session._arm_cpu`` moves, is put back as it was.
"""

from __future__ import annotations

import linecache
import os
import resource
import socket
import time

import numpy as np

from . import cellcode, child, codec
from .arena import ChildArena, GraderArena
from .calls import CallArguments
from .loop_requests import encode_plan_of
from .reader import Reader

#: More than the 8 runs after which CPython 3.11 quickens a code object, and enough for the
#: specialised instructions to settle.
ROUNDS = 12
ARENA_BYTES = 1 << 20

CELLS = [
    "import numpy as np\n\n"
    "def step(theta, grad, lr=0.1):\n"
    "    return theta - lr * grad\n",
    "def pair(x, y):\n"
    "    return 2.0 * x + y, float(np.sum(x))\n",
    "def batches(n, b, rng):\n"
    "    order = rng.permutation(n)\n"
    "    return [order[i:i + b] for i in range(0, n, b)]\n",
    "def moments(theta, grad, state, t, lr=0.01):\n"
    "    m, v = state\n"
    "    m = 0.9 * m + 0.1 * grad\n"
    "    v = 0.999 * v + 0.001 * grad ** 2\n"
    "    m_hat, v_hat = m / (1 - 0.9 ** t), v / (1 - 0.999 ** t)\n"
    "    return theta - lr * m_hat / (np.sqrt(v_hat) + 1e-8), (m, v)\n",
    "def num_grad(f, x, h=1e-5):\n"
    "    g = np.zeros_like(x)\n"
    "    for i in range(x.size):\n"
    "        e = np.zeros_like(x)\n"
    "        e.flat[i] = h\n"
    "        g.flat[i] = (f(x + e) - f(x - e)) / (2 * h)\n"
    "    return g\n",
    "def summary(x, y):\n"
    "    z = np.clip(np.maximum(x, 0.0), -5.0, 5.0) + np.where(y > 0, np.exp(-y), np.log1p(y * y))\n"
    "    w = np.stack([x, y]).T @ np.ones(2)\n"
    "    return (float(np.mean(z)), np.sum(np.outer(x, y), axis=0), float(np.linalg.norm(w)),\n"
    "            bool(np.allclose(x, x)), np.concatenate([x, y]).reshape(2, -1).mean(axis=1))\n",
    "def broken(x):\n"
    "    return x.no_such_attribute\n",
    "total = 3\nweights = np.ones(3)\nlabel = 'rehearsal'\n",
]


class RehearsalError(RuntimeError):
    """The rehearsal got an answer of another kind than a sandbox gives (a bug of ours)."""


class _Stage:
    """Both ends of one rehearsal: the grader's socket and arena, the child's session."""

    def __init__(self, grader_sock: socket.socket, child_sock: socket.socket,
                 arena: GraderArena):
        self.grader_sock = grader_sock
        self.arena = arena
        self.answers = Reader(grader_sock)
        # (a call's CPU budget of ~30 years: Session._arm_cpu, rehearsed too, sets our soft
        # RLIMIT_CPU that far ahead; rehearse() puts the limit back as it was)
        self.session = child.Session(child_sock, {"call_cpu_s": 1e9},
                                     ChildArena(os.dup(arena.fd)),
                                     namespace={"__name__": "__main__"})

    def ask(self, header: dict, arrays: list, want: list[str]) -> None:
        """Send one request as the grader does, serve it as a sandbox does, and read its
        answers back, their kinds checked against ``want``."""
        self.grader_sock.sendall(codec.pack_from_grader(header, arrays))
        msg, arrs = self.session.reader.recv_msg()  # (not Session.recv: it exits on EOF)
        if header["op"] == "run":
            self.session.run_cells(msg["cells"], msg.get("compiled"), arrs, msg.get("globals"))
        else:
            self.session.dispatch(msg, arrs)
        for kind in want:
            answer, answer_arrays = self.answers.recv_msg(deadline=time.monotonic() + 5.0)
            if answer.get("op") != kind:
                raise RehearsalError(f"{header['op']}: expected {kind!r}, got "
                                     f"{str(answer)[:300]}")
            codec.decode(answer.get("value"), answer_arrays)

    def call(self, name: str, args: tuple, kwargs: dict, want: str = "return") -> None:
        arrays: list = []
        tree_args, tree_kwargs = CallArguments(None, self.arena, arrays).encode(args, kwargs)
        self.ask({"op": "call", "name": name, "args": tree_args, "kwargs": tree_kwargs},
                 arrays, [want])


def _formula_function(kind: str, data: dict):
    """A test function that crosses as its formula's data (``calls._formula``); never called
    here: the child computes the formula itself."""

    def formula(v):
        raise AssertionError("the rehearsal's formulas are computed by the child")

    formula.spec = (kind, data)
    return formula


def _loop(name: str, arrays: list, theta, steps, args, returns, grad, state=None,
          kwargs=()) -> dict:
    """A loop of ``name`` as the grader sends it (``loop_requests.encode_plan_of``)."""
    plan = encode_plan_of(CallArguments(None, None, arrays), theta, steps, state, args,
                          [list(pair) for pair in kwargs], returns, grad)
    return {"name": name, "plan": plan}


def _round(stage: _Stage, rng: np.random.Generator) -> None:
    theta, grad = rng.normal(size=4), rng.normal(size=4)
    x, y = rng.normal(size=20), rng.normal(size=20)
    arrays: list = []
    compiled = cellcode.run_message(CELLS, arrays)
    stage.ask({"op": "run", "cells": CELLS, "compiled": compiled,
               "globals": ["total", "weights", "label"]}, arrays, ["started", "ready"])
    stage.call("step", (theta, grad), {"lr": 0.5})
    stage.call("pair", (x, y), {})
    stage.call("batches", (7, 3, np.random.default_rng(1)), {})
    stage.call("summary", (x, y), {})
    stage.call("num_grad", (_formula_function("sines_and_squares", {
        "c": x[:5], "w": y[:5], "caller": "num_grad"}), x[5:10]), {})
    stage.call("num_grad", (_formula_function("cubes", {"a": x[:3], "caller": "num_grad"}),
                            y[:3]), {})
    stage.call("broken", (x,), {}, want="raise")
    stage.ask({"op": "labels", "name": "step", "arity": 2, "keywords": ["lr"]}, [], ["labels"])
    stage.ask({"op": "globals", "names": ["total", "weights", "pair"]}, [], ["globals"])
    a = np.diag(rng.uniform(0.5, 2.0, size=4))
    quadratic = ["quadratic", {"A": a, "x_star": np.ones(4)}]
    arrays = []
    plain = _loop("step", arrays, theta, 15, [["s", "theta"], ["s", "grad"]], "theta",
                  quadratic, kwargs=[("lr", ["v", 0.3])])
    stage.ask({"op": "loop", **plain}, arrays, ["loop"])
    features = rng.normal(size=(6, 2))
    for formula in (["rosenbrock", {"a": 1.0, "b": 100.0}],
                    ["linear_regression", {"X": features, "y": features @ np.ones(2)}],
                    ["least_squares", {"X": features, "Y": features @ np.ones(2)}]):
        arrays = []
        loop = _loop("step", arrays, np.zeros(2), 5, [["s", "theta"], ["s", "grad"]], "theta",
                     formula, kwargs=[("lr", ["v", 1e-3])])
        stage.ask({"op": "loop", **loop}, arrays, ["loop"])
    arrays = []
    stage.arena.start_call()
    entries = []
    for args in ((theta, grad), (x[:4], y[:4])):
        tree_args, tree_kwargs = CallArguments(None, stage.arena, arrays).encode(args, {},
                                                                               first=False)
        entries.append({"name": "step", "args": tree_args, "kwargs": tree_kwargs})
    entries.append(_loop("moments", arrays, theta, 10,
                         [["s", "theta"], ["s", "grad"], ["s", "state"], ["s", "step"]],
                         ["theta", "state"], quadratic, state=(np.zeros(4), np.zeros(4))))
    stage.ask({"op": "calls", "calls": entries}, arrays, ["return", "return", "loop"])


def rehearse(rounds: int = ROUNDS) -> None:
    """Serve ``rounds`` rehearsal gradings to ourselves (see the module's docstring)."""
    cpu_limit = resource.getrlimit(resource.RLIMIT_CPU)
    cell_files = [f"<code cell {number}>" for number in range(1, len(CELLS) + 1)]
    cached = {name: linecache.cache[name] for name in cell_files if name in linecache.cache}
    grader_sock, child_sock = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    arena = GraderArena(ARENA_BYTES)
    stage = None
    try:
        stage = _Stage(grader_sock, child_sock, arena)
        rng = np.random.default_rng(0)
        for _ in range(rounds):
            _round(stage, rng)
    finally:
        resource.setrlimit(resource.RLIMIT_CPU, cpu_limit)
        if stage is not None:
            stage.session.arena.map.close()
        arena.close()
        grader_sock.close()
        child_sock.close()
        for name in cell_files:  # (the cells' sources, as they were before)
            linecache.cache.pop(name, None)
        linecache.cache.update(cached)
