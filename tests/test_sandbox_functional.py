"""Sandbox: cells, magics, fake otter, names, proxies, callbacks, references, mutations."""

from __future__ import annotations

import os

import numpy as np
import pytest

from autograder.sandbox import (
    ForkServer,
    Limits,
    MissingName,
    ProtocolError,
    SandboxDied,
    StudentError,
)
from tests.proc_helpers import processes_of

LIMITS = Limits(run_wall_s=20, call_wall_s=10)


@pytest.fixture(scope="module")
def server():
    with ForkServer(LIMITS) as fs:
        yield fs
    assert fs._proc is None


def assert_all_gone(sub):
    assert processes_of(sub.uid, sub.pid) == []
    for cg in sub.cgroups:
        assert not os.path.exists(cg)
    assert not os.path.exists(sub.workdir)


STUDENT = '''
import numpy as np
import math, random, itertools, functools, collections, typing, dataclasses, copy, time, json, re

def identity(x):
    return x

def add(a, b=1):
    return a + b

def scale_in_place(theta, lr):
    theta *= lr
    return theta

def fit(X, y, *, steps=3):
    return {"w": X.T @ y, "steps": steps, "pair": (np.float64(1.5), np.int64(2))}

def descend(grad_fn, theta, steps, lr=0.1):
    for _ in range(steps):
        theta = theta - lr * grad_fn(theta)
    return theta

def twice(f, x):
    return f(f(x))

def shuffle_and_draw(X, rng):
    idx = rng.permutation(len(X))
    noise = rng.normal(size=3)
    k = rng.integers(0, 10)
    return X[idx], noise, k

def private_access(rng):
    return rng._bit_generator

def boom(x):
    raise ValueError(f"shapes {np.shape(x)} and (4,) not aligned")

def weird():
    class Foo:
        pass
    return Foo()

def object_array():
    return np.array([1, "a"], dtype=object)

def uses_global_fn(f, x):
    return f(x) + 1

def calls_back_with_object(f):
    return f(object())

counter = 0
'''


@pytest.fixture(scope="module")
def sub(server):
    with server.spawn([STUDENT]) as s:
        yield s
    assert_all_gone(s)


def test_cells_run_in_order_and_errors_are_recorded(server):
    cells = ["x = 1\nprint('first')", "y = undefined_name", "z = x + 1\nprint('z', z)",
             "raise SystemExit(3)", "w = 4"]
    with server.spawn(cells) as s:
        assert s.status == "ok"
        assert [c.ok for c in s.cells] == [True, False, True, False, True]
        assert s.cells[1].error == "NameError: name 'undefined_name' is not defined"
        assert "<code cell 2>" in s.cells[1].traceback
        assert s.cells[3].error.startswith("SystemExit")
        assert {"x", "z", "w"} <= s.names()
        assert "first" in s.output and "z 2" in s.output
        assert "NameError" in s.output
    assert_all_gone(s)


def test_syntax_error_cell_does_not_stop_the_run(server):
    with server.spawn(["def f(:\n  pass", "def g():\n    return 7"]) as s:
        assert not s.cells[0].ok and s.cells[0].error.startswith("SyntaxError")
        assert s.proxy("g")() == 7


def test_magics_shell_escapes_and_fake_otter_are_harmless(server):
    cells = [
        "import otter\ngrader = otter.Notebook('hw.ipynb', tests_dir='tests')",
        "%matplotlib inline\n%load_ext autoreload\n%autoreload 2",
        "!pip install torch\nfiles = !ls /",
        "%%time\ndef timed(x):\n    return x + 1",
        "%timeit -n 3 timed(1)",
        "%%bash\nrm -rf /",
        "import matplotlib.pyplot as plt\nfig, ax = plt.subplots()\nax.plot([1, 2])\n"
        "fig, (a1, a2) = plt.subplots(1, 2)\nplt.show()",
        "grader.check('q1')\ngrader.check_all()\ngrader.export()",
        "from matplotlib import pyplot\nimport matplotlib as mpl\nmpl.use('Agg')\n"
        "f2, axes = pyplot.subplots(2, 2)\naxes[1, 1].set_title('x')\nimport seaborn as sns\nsns.set()",
        "from tqdm import tqdm\ntotal = sum(i for i in tqdm(range(4)))",
        "import sys\ndef which_otter():\n    import otter\n    return otter.__version__",
    ]
    with server.spawn(cells) as s:
        assert [c.error for c in s.cells] == [None] * len(cells)
        assert s.proxy("timed")(1) == 2
        assert any("%matplotlib" in n for n in s.notes)
        assert any("shell" in n for n in s.notes)
        assert s.proxy("which_otter")() == "0.0-sandbox"


def test_stdlib_modules_import_lazily_and_npz_works(server):
    cells = ["import wave, mailbox, sched  # not pre-imported by the fork server",
             "import numpy as np\nnp.savez('a.npz', x=np.ones(3))\n"
             "def load():\n    return np.load('a.npz')['x']"]
    with server.spawn(cells) as s:
        assert [c.error for c in s.cells] == [None, None]
        np.testing.assert_array_equal(s.proxy("load")(), np.ones(3))


def test_zygote_never_imports_solutions_or_otter(server):
    mods = set(server.zygote_modules())
    assert "numpy" in mods and "IPython.core.inputtransformer2" in mods
    assert not any(m == "otter" or m.startswith("otter.") for m in mods)
    assert not any(m == "solutions" or m.startswith("solutions.") for m in mods)
    assert "autograder.sandbox.server" not in mods
    assert not any(m.startswith("autograder.checks") for m in mods)


def test_names_and_missing(sub):
    names = sub.names()
    assert {"identity", "add", "fit", "counter", "np"} <= names
    assert "get_ipython" not in names
    with pytest.raises(MissingName):
        sub.proxy("not_there")
    with pytest.raises(MissingName, match="not a function"):
        sub.proxy("counter")


@pytest.mark.parametrize("value", [
    None, True, 3, -2**65, 1.25, float("inf"), "text", complex(1, 2),
    np.array(2.5), np.zeros((0, 4)), np.asfortranarray(np.arange(6.0).reshape(2, 3)),
    np.arange(5, dtype=np.int64), np.array([True, False]), np.arange(3) * 1j,
    [1, (2.0, "x"), {"k": np.ones(2)}], {"a": {"b": (np.arange(2), None)}}, (), [],
])
def test_proxy_roundtrips_every_value_type(sub, value):
    got = sub.proxy("identity")(value)
    if isinstance(value, np.ndarray):
        assert type(got) is np.ndarray and got.dtype == value.dtype and got.shape == value.shape
        np.testing.assert_array_equal(got, value)
        assert got.flags.f_contiguous == value.flags.f_contiguous
    elif isinstance(value, float) or value is None or isinstance(value, (bool, int, str, complex)):
        assert got == value and type(got) is type(value)
    else:
        assert repr(got) == repr(value)


def test_kwargs_numpy_scalars_and_nested_results(sub):
    X = np.arange(6.0).reshape(3, 2)
    y = np.ones(3)
    out = sub.proxy("fit")(X, y, steps=7)
    np.testing.assert_array_equal(out["w"], X.T @ y)
    assert out["steps"] == 7
    assert out["pair"] == (1.5, 2) and type(out["pair"][0]) is float
    assert sub.proxy("add")(2, b=5) == 7


def test_mutation_reporting(sub):
    scale = sub.proxy("scale_in_place")
    theta = np.ones(3)
    got = scale(theta, 0.5)
    np.testing.assert_array_equal(got, np.full(3, 0.5))
    np.testing.assert_array_equal(theta, np.ones(3))  # the grader's copy is untouched
    assert scale.last_call_mutations == ("theta",)
    ident = sub.proxy("identity")
    ident(np.ones(2))
    assert ident.last_call_mutations == ()


def test_callbacks_and_nested_callbacks(sub):
    calls = []

    def grad_fn(theta):
        calls.append(theta.copy())
        return 2 * theta

    out = sub.proxy("descend")(grad_fn, np.array([1.0, -2.0]), 3, lr=0.25)
    np.testing.assert_allclose(out, np.array([1.0, -2.0]) * 0.5**3)
    assert len(calls) == 3

    twice = sub.proxy("twice")

    def outer(x):  # the grader's function calls back into the sandbox while serving
        return sub.proxy("add")(x, b=10)

    assert twice(outer, 1) == 21
    assert sub.proxy("uses_global_fn")(sub.proxy("add"), 1) == 3  # passed as its own global


def test_callback_errors_reach_the_student_code(sub):
    def bad(_):
        raise ValueError("grader-side failure")

    with pytest.raises(StudentError, match="CallbackError: ValueError: grader-side failure"):
        sub.proxy("twice")(bad, 1)
    with pytest.raises(StudentError, match="cannot pass this to the grader"):
        sub.proxy("calls_back_with_object")(lambda o: o)


def test_generator_travels_as_its_state_and_the_final_state_comes_back(sub):
    rng = np.random.default_rng(42)
    X = np.arange(10.0)
    Xs, noise, k = sub.proxy("shuffle_and_draw")(X, rng)
    ref = np.random.default_rng(42)
    np.testing.assert_array_equal(Xs, X[ref.permutation(10)])
    np.testing.assert_array_equal(noise, ref.normal(size=3))
    assert k == ref.integers(0, 10)
    assert rng.random() == ref.random()  # same state afterwards
    # the child's generator is its own copy: its internals are no handle to anything of ours
    with pytest.raises(ProtocolError, match="PCG64"):
        sub.proxy("private_access")(rng)


def test_student_errors(sub):
    with pytest.raises(StudentError) as info:
        sub.proxy("boom")(np.ones(3))
    assert str(info.value) == "ValueError: shapes (3,) and (4,) not aligned"
    assert "boom" in info.value.traceback and "<code cell 1>" in info.value.traceback
    with pytest.raises(StudentError, match="TypeError"):
        sub.proxy("add")(1, 2, 3)
    assert sub.alive  # errors leave the child usable


def test_non_plain_results_are_protocol_errors(sub):
    with pytest.raises(ProtocolError, match="Foo; return a NumPy array"):
        sub.proxy("weird")()
    with pytest.raises(ProtocolError, match="dtype object"):
        sub.proxy("object_array")()
    assert sub.proxy("add")(1) == 2


def test_dead_submission_raises_sandbox_died(server):
    with server.spawn(["import os\ndef f():\n    os._exit(3)\ndef g():\n    return 1"]) as s:
        with pytest.raises(SandboxDied, match="exited with code 3"):
            s.proxy("f")()
        with pytest.raises(SandboxDied):
            s.proxy("g")()
        assert not s.alive
    assert_all_gone(s)


def test_spawns_from_several_threads(server):
    from concurrent.futures import ThreadPoolExecutor

    def one(i):
        with server.spawn([f"def f(x):\n    return x + {i}"]) as s:
            return s.proxy("f")(np.ones(2))[0], s.uid

    with ThreadPoolExecutor(4) as ex:
        results = list(ex.map(one, range(8)))
    assert [r[0] for r in results] == [1.0 + i for i in range(8)]
    if server.protections["setuid"]:
        assert all(uid is not None and uid >= 60000 for _, uid in results)


def test_measure_overhead(server):
    from autograder.sandbox import measure_overhead

    r = measure_overhead(3, server=server)
    assert r["n"] == 3 and 0 < r["min_ms"] <= r["median_ms"] <= r["max_ms"]
    assert r["protections"] == server.protections


def test_fork_server_path_excludes_the_working_directory(tmp_path, monkeypatch):
    from autograder.sandbox.policy import zygote_path as _zygote_path

    (tmp_path / "json.py").write_text("raise SystemExit('imported a stray module')\n")
    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.syspath_prepend("")
    monkeypatch.delenv("PYTHONPATH", raising=False)
    path = _zygote_path()
    assert str(tmp_path) not in path and "" not in path
    assert os.path.isdir(os.path.join(path[0], "autograder", "sandbox"))


def test_string_hashing_is_reproducible(server):
    import subprocess
    import sys

    expected = subprocess.run([sys.executable, "-c", "print(hash('gradient'))"], text=True,
                              env={"PYTHONHASHSEED": "0"}, capture_output=True).stdout.strip()
    with server.spawn(["def h():\n    return hash('gradient')"]) as s:
        assert s.proxy("h")() == int(expected)
