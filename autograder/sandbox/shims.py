"""Stand-ins installed in the child: ``get_ipython()``, a fake ``otter``, stub ``matplotlib``/``tqdm``.

Child-side only; imports nothing but the standard library (and numpy for ``subplots``).
"""

from __future__ import annotations

import sys
import types

import numpy as np

NOTES: list[str] = []


def note(text: str) -> None:
    if len(NOTES) < 100 and text not in NOTES:
        NOTES.append(text)


class Anything:
    """Accepts any attribute access, call, indexing, context manager; does nothing."""

    def __init__(self, name: str = "stub"):
        object.__setattr__(self, "_name", name)

    def __getattr__(self, name):
        if name.startswith("__") and name.endswith("__"):
            raise AttributeError(name)
        return Anything(f"{self._name}.{name}")

    def __setattr__(self, name, value):
        pass

    def __call__(self, *args, **kwargs):
        return Anything(f"{self._name}()")

    def __getitem__(self, key):
        return Anything(f"{self._name}[]")

    def __setitem__(self, key, value):
        pass

    def __iter__(self):
        return iter(())

    def __len__(self):
        return 0

    def __bool__(self):
        return True

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False

    def __repr__(self):
        return f"<{self._name}>"


def _subplots(nrows=1, ncols=1, *args, squeeze=True, **kwargs):
    fig = Anything("Figure")
    if nrows == 1 and ncols == 1 and squeeze:
        return fig, Anything("Axes")
    axes = np.empty((nrows, ncols), dtype=object)
    for i in range(nrows):
        for j in range(ncols):
            axes[i, j] = Anything("Axes")
    if squeeze:
        axes = axes.reshape(-1) if (nrows == 1 or ncols == 1) else axes
    return fig, axes


class _StubModule(types.ModuleType):
    SUBMODULES = ("pyplot", "pylab", "cm", "colors", "animation", "patches", "ticker")

    def __getattr__(self, name):
        if name.startswith("__") and name.endswith("__"):
            raise AttributeError(name)
        if name in self.SUBMODULES:  # "from matplotlib import pyplot as plt"
            import importlib

            return importlib.import_module(f"{self.__name__}.{name}")
        return Anything(f"{self.__name__}.{name}")


class _StubFinder:
    """Meta-path finder that serves stub modules for ``matplotlib`` and ``seaborn``."""

    ROOTS = ("matplotlib", "seaborn", "mpl_toolkits")

    @classmethod
    def find_spec(cls, fullname, path=None, target=None):
        if fullname.split(".")[0] not in cls.ROOTS:
            return None
        import importlib.machinery
        return importlib.machinery.ModuleSpec(fullname, cls, is_package=True)

    @staticmethod
    def create_module(spec):
        mod = _StubModule(spec.name)
        mod.__path__ = []
        if spec.name.endswith(("pyplot", "pylab")):
            mod.subplots = _subplots
        note(f"{spec.name.split('.')[0]} is replaced by a stub in the grader: plots are not drawn")
        return mod

    @staticmethod
    def exec_module(module):
        pass


class _OtterCheck:
    def __repr__(self):
        return "(checks are not run inside the grader)"

    _repr_html_ = __repr__


class FakeNotebook:
    """``otter.Notebook`` stand-in: every method is a harmless no-op."""

    def __init__(self, *args, **kwargs):
        pass

    def check(self, *args, **kwargs):
        return _OtterCheck()

    def check_all(self, *args, **kwargs):
        return _OtterCheck()

    def export(self, *args, **kwargs):
        return None

    def __getattr__(self, name):
        if name.startswith("_"):
            raise AttributeError(name)
        return lambda *a, **k: None


def fake_otter() -> types.ModuleType:
    mod = types.ModuleType("otter")
    mod.__path__ = []  # "import otter.x" then fails cleanly instead of finding the real one
    mod.Notebook = FakeNotebook
    mod.__version__ = "0.0-sandbox"
    return mod


def fake_tqdm() -> types.ModuleType:
    mod = types.ModuleType("tqdm")
    mod.__path__ = []

    def tqdm(iterable=None, *args, **kwargs):
        return iterable if iterable is not None else Anything("tqdm")

    def trange(*args, **kwargs):
        return range(*args)

    mod.tqdm = tqdm
    mod.trange = trange
    auto = types.ModuleType("tqdm.auto")
    auto.tqdm, auto.trange = tqdm, trange
    mod.auto = auto
    return mod


class ShellShim:
    """What ``get_ipython()`` returns: magics and shell escapes are no-ops (with a note),
    except ``%time``/``%timeit``/``%%time``/``%%timeit``/``%%capture``, which run their code once."""

    RUN_BODY = ("time", "timeit", "capture", "prun")

    def __init__(self, namespace: dict):
        self._ns = namespace
        self.user_ns = namespace

    def run_line_magic(self, name, line, *args, **kwargs):
        if name in self.RUN_BODY and line.strip():
            exec(compile(_strip_options(line), "<magic>", "exec"), self._ns)
            return None
        note(f"%{name} is ignored by the grader")
        return None

    def run_cell_magic(self, name, line, cell, *args, **kwargs):
        if name in self.RUN_BODY:
            exec(compile(cell, "<cell magic>", "exec"), self._ns)
            return None
        note(f"%%{name} cells are not run by the grader")
        return None

    def system(self, cmd, *args, **kwargs):
        note("shell commands (!...) are not run by the grader")
        return None

    def getoutput(self, cmd, *args, **kwargs):
        note("shell commands (!...) are not run by the grader")
        return []

    def magic(self, line, *args, **kwargs):
        note("magics are ignored by the grader")
        return None

    def __getattr__(self, name):
        if name.startswith("_"):
            raise AttributeError(name)
        return lambda *a, **k: None


def _strip_options(line: str) -> str:
    """``%timeit -n 10 -r 3 f(x)`` -> ``f(x)``."""
    parts = line.strip().split()
    out = []
    skip = False
    for i, p in enumerate(parts):
        if skip:
            skip = False
            continue
        if p.startswith("-") and not out:
            skip = p in ("-n", "-r", "-p", "-o") and i + 1 < len(parts)
            continue
        out = parts[i:]
        break
    return " ".join(out)


def display(*objs, **kwargs):
    for o in objs:
        print(repr(o))


def install(namespace: dict) -> None:
    """Install the shims into ``sys.modules`` and the submission's global namespace."""
    sys.modules["otter"] = fake_otter()
    if "tqdm" not in sys.modules:
        sys.modules["tqdm"] = fake_tqdm()
        sys.modules["tqdm.auto"] = sys.modules["tqdm"].auto
    if "matplotlib" not in sys.modules:
        sys.meta_path.insert(0, _StubFinder)
    shell = ShellShim(namespace)
    namespace["get_ipython"] = lambda: shell
    namespace.setdefault("display", display)
