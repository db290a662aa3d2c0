"""Expected values recorded from the reference solutions: ``Reference``, ``recording``, files.

Replay (the default)::

    ref = Reference("q1")
    ref.call("design_small", "design_matrix", X)     # value stored under "design_small"
    ref.compute("opt", lambda ns: ns.normal_equation(XD, y))

looks the key up in ``expected/q1.npz``, searched in this order: ``$AUTOGRADER_EXPECTED_DIR``,
``<dir of the file that constructed the Reference>/../expected``, ``./expected``. The file is
read lazily on the first lookup; every lookup returns a fresh copy, so a test cannot corrupt
the cached values. A missing file or key raises :class:`MissingExpectedValue`.

Record (build time)::

    with recording(solutions_module) as store:
        run_test_case(...)        # call/compute evaluate on the namespace, on deep copies of
                                  # the arguments, and store values in store[(question, key)]

The recording context lives in a ``contextvars.ContextVar``: nothing global leaks between
threads, tasks or test runs.

File format (``save_expected`` / ``load_expected``): an ``.npz`` (a zip of ``.npy`` members)
with one array per leaf (``leaf_0``, ``leaf_1``, ...) and ``__structure__``, a JSON text
describing the nesting (dicts, lists, tuples) and the Python type of each leaf (float, int,
bool, None, str, ndarray). Read and written with ``allow_pickle=False``; the zip members carry a
fixed timestamp so the same values give the same bytes.
"""

from __future__ import annotations

import contextlib
import contextvars
import copy
import io
import json
import os
import sys
import zipfile
from pathlib import Path

import numpy as np

from . import mistakes as _mistakes
from ._safe import type_name

__all__ = [
    "MissingExpectedValue",
    "Reference",
    "load_expected",
    "recording",
    "save_expected",
]

_STRUCTURE = "__structure__"
_FORMAT_VERSION = 1


class MissingExpectedValue(LookupError):
    """An expected value is not in the expected-values file (or the file does not exist)."""


class _Recorder:
    def __init__(self, namespace):
        self.namespace = namespace
        self.store: dict = {}


_RECORDING: contextvars.ContextVar[_Recorder | None] = contextvars.ContextVar(
    "autograder_checks_recording", default=None)


@contextlib.contextmanager
def recording(namespace):
    """Record mode: ``Reference.call``/``compute`` evaluate on ``namespace`` inside the block.

    Yields the dict ``store`` that fills with ``(question, key) -> value``. ``namespace`` is any
    object whose attributes are the reference stubs (a module, a ``SimpleNamespace``); a dict is
    accepted too.
    """
    rec = _Recorder(namespace)
    token = _RECORDING.set(rec)
    try:
        yield rec.store
    finally:
        _RECORDING.reset(token)


def _caller_file(depth: int) -> str | None:
    try:
        frame = sys._getframe(depth + 1)
    except ValueError:
        return None
    name = frame.f_code.co_filename
    if not name or name.startswith("<"):
        return None
    return name


class _CopyingNamespace:
    """The recording namespace as ``compute`` sees it: attribute access (also over a dict),
    and every callable attribute deep-copies its arguments, so a reference function that
    modifies its input cannot corrupt the test's data."""

    def __init__(self, namespace):
        self._ns = namespace

    def __getattr__(self, item):
        if isinstance(self._ns, dict):
            try:
                value = self._ns[item]
            except KeyError:
                raise AttributeError(item) from None
        else:
            value = getattr(self._ns, item)
        if not callable(value) or isinstance(value, type):
            return value

        def call_on_copies(*args, **kwargs):
            return value(*copy.deepcopy(args), **copy.deepcopy(kwargs))

        call_on_copies.__name__ = getattr(value, "__name__", item)
        call_on_copies.__doc__ = getattr(value, "__doc__", None)
        return call_on_copies


class Reference:
    """Expected values of one question (see the module docstring).

    ``Reference(question)`` remembers the file it was constructed in (the test file), to find
    ``<that dir>/../expected``; pass ``test_file=`` to override.
    """

    def __init__(self, question: str, *, test_file: str | os.PathLike | None = None):
        if not isinstance(question, str) or not question:
            raise ValueError("question must be a non-empty string such as 'q1'")
        self.question = question
        source = str(test_file) if test_file is not None else _caller_file(1)
        self._test_file = _resolved(source) if source else None
        self._values: dict | None = None
        self._mistakes: dict = {}  # key -> [(value, why), ...] of the loaded values
        self._path: Path | None = None

    # ---- lookup paths

    def candidate_paths(self) -> list[Path]:
        """Where ``expected/<question>.npz`` is searched, in order."""
        fname = f"{self.question}.npz"
        out = []
        env = os.environ.get("AUTOGRADER_EXPECTED_DIR")
        if env:
            out.append(Path(env) / fname)
        if self._test_file:
            out.append(Path(self._test_file).parent.parent / "expected" / fname)  # resolved
        out.append(Path.cwd() / "expected" / fname)
        return out

    def _hw_name(self) -> str:
        if self._test_file:
            return Path(self._test_file).parent.parent.name
        return "<hw>"

    def _load(self) -> dict:
        if self._values is None:
            for path in self.candidate_paths():
                if path.is_file():
                    self._values, self._mistakes = _load_cached(path)
                    self._path = path
                    break
            else:
                tried = ", ".join(str(p) for p in self.candidate_paths())
                raise MissingExpectedValue(
                    f"no expected values for {self.question} (looked for {tried}); "
                    f"run `autograder build {self._hw_name()}`")
        return self._values

    def _lookup(self, key: str):
        values = self._load()
        if key not in values:
            raise MissingExpectedValue(
                f"no expected value {key!r} for {self.question} in {self._path}; "
                f"run `autograder build {self._hw_name()}` (the test or the build is out of date)")
        value = copy.deepcopy(values[key])
        # the known mistakes' values for this key, so a failed comparison can name the mistake
        _mistakes.remember(value, self._mistakes.get(key, []))
        return value

    # ---- public

    def call(self, key: str, stub_name: str, *args, **kwargs):
        """The reference stub ``stub_name``'s output on these inputs (recorded under ``key``)."""
        rec = _RECORDING.get()
        if rec is None:
            return self._lookup(key)
        fn = getattr(_CopyingNamespace(rec.namespace), stub_name)
        value = fn(*args, **kwargs)
        return self._record(rec, key, value)

    def compute(self, key: str, fn):
        """``fn(solutions_namespace)``: any value derived from the reference (recorded under ``key``).

        In record mode the namespace's functions receive deep copies of their arguments.
        """
        rec = _RECORDING.get()
        if rec is None:
            return self._lookup(key)
        return self._record(rec, key, fn(_CopyingNamespace(rec.namespace)))

    def _record(self, rec: _Recorder, key: str, value):
        if not isinstance(key, str) or not key:
            raise ValueError(f"key must be a non-empty string, got {key!r}")
        value = _normalise(value, f"{self.question}/{key}")
        slot = (self.question, key)
        if slot in rec.store and not _same(rec.store[slot], value):
            raise ValueError(f"expected-value key {key!r} of {self.question} was recorded twice "
                             "with different values; give each input its own key")
        rec.store[slot] = value
        return copy.deepcopy(value)


# --------------------------------------------------------------------------------------
# values: normalisation and comparison


def _normalise(value, where: str):
    """A private copy of a storable value; TypeError naming ``where`` for anything else."""
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        return float(value)
    if isinstance(value, np.ndarray):
        arr = np.array(np.ndarray.view(value, np.ndarray), copy=True)
        if arr.dtype.kind not in "biufcUS":
            raise TypeError(f"{where}: cannot store an array of dtype {arr.dtype}")
        return arr
    if isinstance(value, tuple):
        return tuple(_normalise(v, f"{where}[{i}]") for i, v in enumerate(value))
    if isinstance(value, list):
        return [_normalise(v, f"{where}[{i}]") for i, v in enumerate(value)]
    if isinstance(value, dict):
        out = {}
        for k, v in value.items():
            if not isinstance(k, (str, int)) or isinstance(k, bool):
                raise TypeError(f"{where}: dict keys must be str or int, got {type_name(k)}")
            out[k] = _normalise(v, f"{where}[{k!r}]")
        return out
    raise TypeError(f"{where}: cannot store a value of type {type_name(value)} "
                    "(floats, ints, bools, arrays and tuples/lists/dicts of them)")


def _same(a, b) -> bool:
    if type(a) is not type(b):
        return False
    if isinstance(a, np.ndarray):
        return a.shape == b.shape and a.dtype == b.dtype and bool(
            np.array_equal(a, b, equal_nan=a.dtype.kind in "fc"))
    if isinstance(a, (list, tuple)):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b))
    if isinstance(a, dict):
        return list(a) == list(b) and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, float):
        return a == b or (a != a and b != b)
    return a == b


# --------------------------------------------------------------------------------------
# files


def _encode(value, leaves: list):
    if value is None:
        return {"t": "none"}
    if isinstance(value, str):
        return {"t": "str", "v": value}
    if isinstance(value, bool):
        leaves.append(np.array(value))
        return {"t": "bool", "leaf": len(leaves) - 1}
    if isinstance(value, int):
        leaves.append(np.array(value, dtype=np.int64))
        return {"t": "int", "leaf": len(leaves) - 1}
    if isinstance(value, float):
        leaves.append(np.array(value, dtype=np.float64))
        return {"t": "float", "leaf": len(leaves) - 1}
    if isinstance(value, np.ndarray):
        leaves.append(value)
        return {"t": "ndarray", "leaf": len(leaves) - 1}
    if isinstance(value, (tuple, list)):
        return {"t": type(value).__name__, "items": [_encode(v, leaves) for v in value]}
    if isinstance(value, dict):
        return {"t": "dict", "items": [[k, _encode(v, leaves)] for k, v in value.items()]}
    raise TypeError(f"cannot store {type_name(value)}")


def _decode(node, arrays):
    t = node["t"]
    if t == "none":
        return None
    if t == "str":
        return node["v"]
    if t in ("bool", "int", "float", "ndarray"):
        arr = arrays[f"leaf_{node['leaf']}"]
        if t == "ndarray":
            return arr
        return {"bool": bool, "int": int, "float": float}[t](arr.item())
    if t == "list":
        return [_decode(n, arrays) for n in node["items"]]
    if t == "tuple":
        return tuple(_decode(n, arrays) for n in node["items"])
    if t == "dict":
        return {k: _decode(n, arrays) for k, n in node["items"]}
    raise ValueError(f"unknown node type {t!r} in the structure entry")


def save_expected(path, mapping) -> None:
    """Write ``{key: value}`` to ``path`` (an ``.npz``), one array per leaf plus the structure.

    Values are normalised as in record mode (NumPy scalars become Python numbers). Written
    atomically (a temporary file, then a rename) and deterministically (fixed zip timestamps,
    sorted keys).
    """
    path = Path(path)
    entries = {}
    leaves: list = []
    for key in sorted(mapping):
        if not isinstance(key, str):
            raise TypeError(f"keys must be strings, got {key!r}")
        entries[key] = _encode(_normalise(mapping[key], key), leaves)
    structure = json.dumps({"version": _FORMAT_VERSION, "entries": entries}, sort_keys=True)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        members = [(_STRUCTURE, np.array(structure))]
        members += [(f"leaf_{i}", leaf) for i, leaf in enumerate(leaves)]
        for member, arr in members:
            buf = io.BytesIO()
            np.lib.format.write_array(buf, np.array(arr, order="C", copy=True), allow_pickle=False)
            info = zipfile.ZipInfo(member + ".npy", date_time=(1980, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            zf.writestr(info, buf.getvalue())
    os.replace(tmp, path)


# Tests build a Reference inside each case, so a batch grader would re-read the same .npz for
# every case of every submission (about 20 ms per hw4 submission). Values are cached per file
# identity (path, size, mtime), so a rebuilt file is read again; ``_lookup`` hands out deep copies,
# so no test can change a cached value.
_CACHE_LIMIT = 64
_cache: dict[tuple[str, int, int], tuple[dict, dict]] = {}


def _resolved(source: str) -> str:
    """``Path(source).resolve()``, remembered: every case builds a Reference, and resolving the
    same test file's path again (an lstat per component) cost more than the lookup itself."""
    found = _resolved_paths.get(source)
    if found is None:
        if len(_resolved_paths) >= _CACHE_LIMIT:
            _resolved_paths.pop(next(iter(_resolved_paths)))
        found = _resolved_paths[source] = str(Path(source).resolve())
    return found


_resolved_paths: dict[str, str] = {}


def _load_cached(path: Path) -> tuple[dict, dict]:
    """The file's values and the index of their known mistakes (see mistakes.index)."""
    # the stat is the staleness check (a rebuilt file has another size or mtime); the name is
    # resolved once per path
    stat = path.stat()
    ident = (_resolved(str(path)), stat.st_size, stat.st_mtime_ns)
    entry = _cache.get(ident)
    if entry is None:
        values = load_expected(path)
        entry = (values, _mistakes.index(values))
        if len(_cache) >= _CACHE_LIMIT:
            _cache.pop(next(iter(_cache)))
        _cache[ident] = entry
    return entry


def load_expected(path) -> dict:
    """Read a file written by :func:`save_expected`; returns ``{key: value}``."""
    with np.load(path, allow_pickle=False) as data:
        arrays = {name: data[name] for name in data.files}
    if _STRUCTURE not in arrays:
        raise ValueError(f"{path} is not an expected-values file (no {_STRUCTURE} entry)")
    structure = json.loads(str(arrays[_STRUCTURE].reshape(-1)[0]))
    if structure.get("version") != _FORMAT_VERSION:
        raise ValueError(f"{path}: unsupported format version {structure.get('version')!r}")
    return {key: _decode(node, arrays) for key, node in structure["entries"].items()}
