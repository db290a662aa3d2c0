"""Attacks on three speed changes, written as a student who read them would try them.

1. The fork server's rehearsal (``sandbox/rehearsal.py``): a grading served to itself before it
   forks, so that sandboxes start with warm code. Nothing of it may be left for a sandbox to use
   (objects, sockets, shared memory, the CPU limit), and a child that tampers with what it
   warmed (code, caches, module globals) changes only its own process.
2. The codec's fast path for numpy's own .npy header form (``codec._read_numpy_header``), used by
   the grader on every array a child sends: what it reads must be what numpy reads, what numpy
   refuses stays refused, only ``CodecError`` ever escapes, and the grader's header caches hold
   nothing but numpy's readings whatever a child sends.
3. Cells' code objects as ``bytes`` in the run message's structure (``cellcode.run_message``,
   ``child._precompiled``): a child receives its own cells' code only, ill-typed entries are
   never run, and a notebook the frames could carry is still sent.

Two of these attacks broke a protection when they were written; both are fixed (the comments
marked "FOUND" say what they found and what holds now).
"""

from __future__ import annotations

import io
import os
import stat
import struct
import textwrap

import numpy as np
import pytest
from numpy.lib import format as npformat

from autograder.sandbox import ForkServer, Limits, cellcode, child, codec
from autograder.sandbox.arena import ARENA_BYTES
from autograder.sandbox.errors import ProtocolError, SandboxError, StudentError

LIMITS = Limits(run_wall_s=10, run_cpu_s=5, call_wall_s=3, call_cpu_s=1.5, memory_mb=512,
                nproc=16, fsize_mb=1, nfiles=32, output_bytes=64 << 10)
HONEST = ["import numpy as np\n\ndef f(x):\n    return x * 2.0\n",
          "def g(n):\n    return [n, 1 / n]\n"]


@pytest.fixture(scope="module")
def server():
    with ForkServer(LIMITS) as fs:
        assert fs.rehearsal == "ok"
        yield fs


def _value(sub, name):
    kind, value = sub.read_global(name)
    assert kind == "value", (name, kind, value)
    return value


def _honest_check(server) -> None:
    """A fresh, honest submission on the same fork server gets exactly the honest outcomes."""
    with server.spawn(HONEST) as sub:
        assert all(c.ok for c in sub.cells) and sub.notes == [], (sub.cells, sub.notes)
        for x in (np.arange(12.0).reshape(3, 4), np.asfortranarray(np.arange(6.0).reshape(2, 3)),
                  np.arange(5, dtype=np.int32), np.zeros((0, 3)),
                  np.arange(4.0).astype(">f8"), np.array([1 + 2j, 3j])):
            got = sub.proxy("f")(x)
            assert got.dtype == (x * 2.0).dtype and got.shape == x.shape
            assert np.array_equal(got, x * 2.0)
        with pytest.raises(StudentError) as err:
            sub.proxy("g")(0)
        # its own cell's line, from its own linecache entry, in its own file name
        assert "<code cell 2>" in err.value.traceback and "1 / n" in err.value.traceback


def _replace_serve_call(body: str) -> str:
    """Cell source: f and a Session.serve_call replaced by ``body`` (self, msg, arrs)."""
    return HONEST[0] + textwrap.dedent('''
        import sys
        child = sys.modules["autograder.sandbox.child"]
        codec = child.codec
        def serve_call(self, msg, arrs):
        ''') + textwrap.indent(textwrap.dedent(body), "    ") + \
        "\nchild.Session.serve_call = serve_call\n"


def _frame(text: bytes, payload: bytes = b"", version: int = 1, end: bytes = b"\n") -> bytes:
    """A .npy frame whose header is ``text``, padded as numpy pads, ending with ``end``."""
    pre = 10 if version == 1 else 12
    header = text + b" " * (-(pre + len(text) + len(end)) % 64) + end
    size = struct.pack("<H" if version == 1 else "<I", len(header))
    return b"\x93NUMPY" + bytes([version, 0]) + size + header + payload


def _numpys_array(frame: bytes):
    """What numpy reads from ``frame`` (None when numpy refuses it)."""
    try:
        return npformat.read_array(io.BytesIO(frame), allow_pickle=False)
    except Exception:
        return None


def _numpys_header(key: bytes) -> tuple:
    bio = io.BytesIO(key)
    version = npformat.read_magic(bio)
    read = npformat.read_array_header_1_0 if version == (1, 0) else npformat.read_array_header_2_0
    shape, fortran, dtype = read(bio, max_header_size=codec.MAX_HEADER)
    return shape, fortran, dtype, bio.tell()


# ------------------------------------------------------------------ 1. the rehearsal's leftovers

POISON_WARM_STATE = """
import linecache, re, sys
import numpy as np
D = sys.modules["autograder.sandbox.codec"]
C = sys.modules["autograder.sandbox.child"]
K = sys.modules["autograder.sandbox.cellcode"]
R = sys.modules["autograder.sandbox.rehearsal"]
# the warmed (quickened) functions' code replaced in place, the fast path made to accept and
# misread everything, the header caches, the precompiled-code path, the rehearsal's own data
def misread(key):
    return (), False, np.dtype("i1"), 0
D._read_numpy_header.__code__ = misread.__code__
D._NUMPY_HEADER = re.compile(rb"(?s).*")
for k in list(D._parsed_headers):
    D._parsed_headers[k] = ((), "C", np.dtype("i1"), 1, 1, len(k))
D._DESCRS.update({k: np.dtype("i1") for k in list(D._DESCRS)})
D._npy_headers.clear()
def first_cell_only(compiled, i, arrs, fname):
    return "x = 0\\n", compile("f = g = None", fname, "exec")
C._precompiled.__code__ = first_cell_only.__code__
K._cache.clear()
K.INLINE_CODE_BYTES = -1
R.CELLS[:] = ["raise SystemExit"]
for n in range(1, 5):
    linecache.cache[f"<code cell {n}>"] = (9, None, ["HACKED\\n"] * 9, f"<code cell {n}>")
"""


def test_tampering_with_the_warm_state_reaches_no_other_submission(server):
    with server.spawn([POISON_WARM_STATE, HONEST[0]]) as first:
        assert first.cells[0].ok, first.cells
    _honest_check(server)
    _honest_check(server)


LEFTOVERS = r"""
import gc, mmap, os, resource, socket, stat, sys, types
gc.unfreeze()  # (the fork server froze what it had: look at that too)
gc.collect()
C = sys.modules["autograder.sandbox.child"]
objs = gc.get_objects()
SESSIONS = sum(1 for o in objs if isinstance(o, C.Session))
MAPS = [o.size() for o in objs if isinstance(o, mmap.mmap) and not o.closed]
REHEARSED = sorted(o.__name__ for o in objs if isinstance(o, types.FunctionType)
                   and o.__code__.co_filename.startswith("<code cell")
                   and o.__globals__ is not globals())
NAMESPACES = sum(1 for o in objs if isinstance(o, dict) and o.get("label") == "rehearsal")
LIVE_SOCKETS = []
for o in objs:
    if isinstance(o, socket.socket) and o.fileno() >= 0:
        try:
            if stat.S_ISSOCK(os.fstat(o.fileno()).st_mode):
                LIVE_SOCKETS.append(o.fileno())
        except OSError:
            pass
FDS = {}
for fd in range(1024):
    try:
        FDS[str(fd)] = stat.S_IFMT(os.fstat(fd).st_mode)
    except OSError:
        pass
CPU = list(resource.getrlimit(resource.RLIMIT_CPU))
try:
    resource.setrlimit(resource.RLIMIT_CPU, (CPU[1], CPU[1] + 10**9))
    RAISED = True
except (ValueError, OSError):
    RAISED = False
"""


def test_a_sandbox_finds_no_object_socket_mapping_or_limit_of_the_rehearsal(server):
    with server.spawn([LEFTOVERS]) as sub:
        assert sub.cells[0].ok, sub.cells
        assert _value(sub, "SESSIONS") == 1  # its own
        assert _value(sub, "MAPS") == [ARENA_BYTES]  # its own arena only
        assert _value(sub, "REHEARSED") == [] and _value(sub, "NAMESPACES") == 0
        assert _value(sub, "LIVE_SOCKETS") == [child.SOCK_FD]
        fds = {int(k): v for k, v in _value(sub, "FDS").items()}
        assert [fd for fd, kind in fds.items() if kind == stat.S_IFSOCK] == [child.SOCK_FD]
        assert max(fds) <= child.SOCK_FD + 2  # stdio, the socket, the arena (mmap's own dup)
        soft, hard = _value(sub, "CPU")
        assert soft == int(np.ceil(LIMITS.run_cpu_s))
        assert hard == soft + int(np.ceil(LIMITS.call_cpu_s)) * child.CPU_LIFETIME_FACTOR + 5
        assert _value(sub, "RAISED") is False
        # seen from outside (we are root): one arena mapped in the sandbox, its own
        with open(f"/proc/{sub.pid}/maps") as f:
            arenas = {line.split()[4] for line in f if "autograder-arena" in line}
        assert len(arenas) == 1


def test_the_fork_server_keeps_no_socket_memfd_or_mapping_of_the_rehearsal(server):
    pid = server.zygote_pid
    links = [os.readlink(f"/proc/{pid}/fd/{fd}") for fd in os.listdir(f"/proc/{pid}/fd")]
    assert sum(link.startswith("socket:") for link in links) == 1, links  # its control socket
    assert not any("memfd" in link for link in links), links
    with open(f"/proc/{pid}/maps") as f:
        assert not [line for line in f if "memfd" in line or "autograder-arena" in line]


# ------------------------------------------------------------------ 2. the .npy header fast path

_F8 = b"{'descr': '<f8', 'fortran_order': False, 'shape': (2,), }"
_TWO = np.array([1.5, -2.0]).tobytes()
CRAFTED = [
    # (frame, True: the codec reads exactly numpy's array / False: the codec refuses it)
    (_frame(_F8, _TWO), True),
    (_frame(_F8, _TWO, version=2), True),
    (_frame(_F8, _TWO, end=b"\r\n"), True),                            # not the regex's form
    (_frame(_F8, _TWO, end=b"\n\n"), True),
    (_frame(_F8 + b"  x", _TWO), False),                               # garbage in the header
    (_frame(_F8 + b"\x00", _TWO), False),
    (_frame(_F8 + b"\xa0", _TWO), False),                              # a latin-1 byte
    (_frame(_F8.replace(b"'<f8'", b"'\\x3cf8'"), _TWO), True),         # an escape for '<'
    (_frame(_F8.replace(b"'<f8'", b"'<f8\\x00'"), _TWO), False),
    (_frame(_F8.replace(b"'<f8'", b"'>f8'"), np.array([1.5, -2.0]).astype(">f8").tobytes()),
     True),
    (_frame(_F8.replace(b"'<f8'", b"'|f8'"), _TWO), True),             # numpy: '<f8'
    (_frame(_F8.replace(b"'<f8'", b"'<f16'"), b"\0" * 32), True),      # long double
    (_frame(_F8.replace(b"'<f8'", b"'<c32'"), b"\0" * 64), True),
    (_frame(_F8.replace(b"'<f8'", b"'<u1'"), b"\1\2"), True),          # numpy writes '|u1'
    (_frame(_F8.replace(b"'<f8'", b"'>u1'"), b"\1\2"), True),
    (_frame(_F8.replace(b"'<f8'", b"'<b1'"), b"\1\0"), True),
    (_frame(_F8.replace(b"'<f8'", b"'<f3'"), _TWO), False),            # the regex's, no dtype
    (_frame(_F8.replace(b"'<f8'", b"'|V8'"), _TWO), False),            # void: refused
    (_frame(_F8.replace(b"'<f8'", b"'<M8'"), _TWO), False),            # datetime: refused
    (_frame(_F8.replace(b"(2,)", b"(+2,)"), _TWO), True),
    (_frame(_F8.replace(b"(2,)", b"(0x2,)"), _TWO), True),
    (_frame(_F8.replace(b"(2,)", b"(2 ,)"), _TWO), True),
    (_frame(_F8.replace(b"(2,)", b"(True, 2)"), _TWO), False),         # bool dims: refused
    (_frame(_F8.replace(b"(2,)", b"(2.0,)"), _TWO), False),
    (_frame(_F8.replace(b"(2,)", b"(" + b"1, " * 63 + b"2)"), _TWO), True),   # 64 dims
    (_frame(_F8.replace(b"(2,)", b"(" + b"1, " * 64 + b"2)"), _TWO), False),  # 65
    (_frame(_F8.replace(b"(2,)", b"(9999999999999999999,)"), b""), False),
    (_frame(_F8.replace(b"(2,)", b"(0, 268435457)"), b""), False),
    (_frame(_F8.replace(b"False", b"True").replace(b"(2,)", b"()"), _TWO[:8]), True),
    (_frame(_F8.replace(b"False", b"True").replace(b"(2,)", b"(2, 3)"),
            np.arange(6.0).tobytes()), True),                          # column-major
    (_frame(b"{'descr': '<i8', 'descr': '<f8', 'fortran_order': False, 'shape': (2,), }",
            _TWO), True),                                              # the last key counts
    (_frame(_F8)[:-2], False),                                         # header cut short
    (b"\x93NUMPY\x03\x00" + _frame(_F8, _TWO)[8:], False),             # version 3.0
]


@pytest.mark.parametrize("frame, accepted", CRAFTED, ids=range(len(CRAFTED)))
def test_a_crafted_header_is_read_as_numpy_reads_it_or_refused(frame, accepted):
    want = _numpys_array(frame)
    for _ in range(2):  # the second time from the header cache, if it was cached
        try:
            got = codec.parse_npy(frame)
        except codec.CodecError:
            got = None  # (any other exception escapes and fails the test)
        if not accepted:
            assert got is None  # refused: by numpy, or by the codec's stricter checks
            continue
        assert want is not None and got is not None
        assert got.dtype.str == want.dtype.str and got.shape == want.shape
        assert np.array_equal(got, want)


# FOUND by this review: 22bfe76 bounded each dimension, not their product, so an empty array
# with three dimensions of 2**28 passed every check (its count stays 0) and numpy's own
# ValueError ("array is too big") escaped parse_npy, on the fast path and numpy's alike; in the
# grader the submission ended as "died" instead of "protocol". Now the product of the non-zero
# dimensions is bounded too (codec._parse_header).
HUGE_EMPTY = [b"{'descr': '<f8', 'fortran_order': False, 'shape': (0, 268435456, 268435456, "
              b"268435456), }",
              b"{'shape': (1, 0, 268435456, 268435456, 268435456), 'descr': '<f8', "
              b"'fortran_order': True}"]


@pytest.mark.parametrize("text", HUGE_EMPTY, ids=["fast path", "numpy's parser"])
def test_an_empty_array_with_several_huge_dimensions_is_a_codec_error(text):
    for _ in range(2):
        with pytest.raises(codec.CodecError):
            codec.parse_npy(_frame(text))


def test_an_answer_with_several_huge_empty_dimensions_is_a_protocol_failure(server):
    # (see above) end to end: a protocol failure, not numpy's ValueError reaching the test
    body = f'''
        raw = b'{{"op": "return", "value": {{"a": 0}}, "rng": [], "warnings": []}}'
        frame = {_frame(HUGE_EMPTY[0])!r}
        self.sock.sendall(codec._HEAD.pack(codec.MAGIC, len(raw), 1) + raw
                          + codec._ALEN.pack(len(frame)) + frame)
    '''
    with server.spawn([_replace_serve_call(body)]) as sub:
        with pytest.raises(ProtocolError):
            sub.proxy("f")(np.zeros(2))
        assert not sub.alive and sub.status == "protocol"
    _honest_check(server)


MAKE_FRAMES = """
def make_frames():
    import io
    import numpy as np
    from numpy.lib import format as F
    descrs = ["<f8", "<f4", "<f2", "|u1", "|i1", "|b1", "<i8", "<i4", "<u2", ">f8", ">i4",
              "<c16", "<f16", "<b1", "<u1", "|f8"]  # (the last three: not numpy's spelling)
    frames = []
    for k in range(1, 1200):  # more distinct headers than the grader's cache holds
        shape = (0, k) if k % 5 else ((k % 7, 2) if k % 2 else (0,) * (k % 60))
        d = {"descr": descrs[k % len(descrs)], "fortran_order": k % 3 == 0, "shape": shape}
        out = io.BytesIO()
        (F.write_array_header_2_0 if k % 4 == 0 else F.write_array_header_1_0)(out, d)
        head = out.getvalue()
        if k % 11 == 0:  # another spelling of the same header: numpy's parser reads it
            head = head.replace(b"{'descr'", b"{ 'descr'")[:-2] + b"\\n"
        size = int(np.prod(shape)) * np.dtype(d["descr"]).itemsize
        frames.append(head + bytes(range(size % 256)) + bytes(size - size % 256))
    return frames
"""
FLOOD = MAKE_FRAMES + """
frames = make_frames()
raw = ('{"op": "return", "value": [' + ",".join('{"a": %d}' % i for i in range(len(frames)))
       + '], "rng": [], "warnings": []}').encode()
self.sock.sendall(codec._HEAD.pack(codec.MAGIC, len(raw), len(frames)) + raw + b"".join(
    codec._ALEN.pack(len(f)) + f for f in frames))
"""


def test_a_flood_of_crafted_headers_leaves_only_numpys_readings_in_the_graders_caches(server):
    # a child answering with 1,199 arrays under distinct headers (some not in numpy's form,
    # some version 2.0): each read as numpy reads it; afterwards every header the grader
    # remembers maps to numpy's own reading of it, and the next submission is read right
    scope: dict = {}
    exec(MAKE_FRAMES, scope)
    wants = [_numpys_array(frame) for frame in scope["make_frames"]()]
    with server.spawn([_replace_serve_call(FLOOD)]) as sub:
        got = sub.proxy("f")(np.zeros(2))
    assert len(got) == len(wants) == 1199
    for a, want in zip(got, wants):
        assert type(a) is np.ndarray and a.dtype.str == want.dtype.str
        assert a.shape == want.shape and a.tobytes(order="A") == want.tobytes(order="A")
        assert a.flags.f_contiguous == want.flags.f_contiguous
    for key, (shape, order, dtype, count, nbytes, offset) in list(codec._parsed_headers.items()):
        assert (shape, order == "F", dtype, offset) == _numpys_header(key), key
        assert dtype.str == _numpys_header(key)[2].str
        assert count == int(np.prod(shape)) and nbytes == count * dtype.itemsize
    for descr, dtype in list(codec._DESCRS.items()):
        assert dtype.str == descr.decode() and dtype == np.dtype(descr.decode())
    _honest_check(server)


# ------------------------------------------------------------------ 3. code objects in the message

SPY = """
import marshal, sys, types
frame = sys._getframe(1)  # Session.run_cells, which holds the run message it was given
assert frame.f_code.co_name == "run_cells"
compiled, arrs, cells = (frame.f_locals[k] for k in ("compiled", "arrs", "cells"))
def strings(code):
    for c in code.co_consts:
        if isinstance(c, str):
            yield c
        elif isinstance(c, types.CodeType):
            yield from strings(c)
SEEN = [len(compiled), len(arrs), len(cells)]
for entry in compiled:
    blob = entry[1] if type(entry[1]) is bytes else arrs[entry[1]].tobytes()
    code = marshal.loads(blob)
    SEEN += [entry[0], code.co_filename, *strings(code)]
"""


def test_a_child_receives_the_code_of_its_own_cells_only(server):
    first = ["SECRET = 'the first submission: 7f3a-secret'\n", "def answer():\n    return 42\n"]
    with server.spawn(first) as sub:
        assert _value(sub, "SECRET").startswith("the first")
    # same cell numbers, other texts: the grader's cache must not hand over the first's code
    with server.spawn(["SECRET = 'mine'\n", SPY]) as sub:
        assert all(c.ok for c in sub.cells), sub.cells
        assert _value(sub, "SECRET") == "mine"
        seen = _value(sub, "SEEN")
        assert seen[:3] == [2, 0, 2]
        assert not any("7f3a" in str(s) or "answer" == s for s in seen)
        assert "<code cell 1>" in seen and "<code cell 2>" in seen


def _code(number: int, source: str = "x = 1\n") -> bytes:
    return cellcode.prepared(number, source)[1]


@pytest.mark.parametrize("entry, arrs", [
    (["x = 1\n", bytearray(_code(1))], []),                 # not exactly bytes
    (["x = 1\n", memoryview(_code(1))], []),
    (["x = 1\n", True], [np.frombuffer(_code(1), np.uint8)]),  # a bool is not an index
    (["x = 1\n", -1], [np.frombuffer(_code(1), np.uint8)]),
    (["x = 1\n", 1], [np.frombuffer(_code(1), np.uint8)]),  # past the frames
    (["x = 1\n", _code(2)], []),                            # another cell's code
    (["x = 1\n", __import__("marshal").dumps("x = 1")], []),  # marshal data, not code
    ([b"x = 1\n", _code(1)], []),
    (("x = 1\n", _code(1)), []),
    (["x = 1\n", _code(1), "extra"], []),
])
def test_an_ill_typed_compiled_entry_is_never_run(entry, arrs):
    assert child._precompiled([entry], 0, arrs, "<code cell 1>") is None
    text, code = child._precompiled([["x = 1\n", _code(1)]], 0, [], "<code cell 1>")
    assert code.co_filename == "<code cell 1>"  # (the well-formed entry, for contrast)


# FOUND by this review (made reachable at a smaller size by the inline code; the root was
# older): the run message's structure was limited to codec.MAX_JSON_BYTES (16 MB), so a notebook
# file of 16-20 MB (one large cell), or 14 MB plus 2 MB of inline code, could not be sent:
# Submission._run raised ProtocolError (a SandboxError) out of ForkServer.spawn, which
# Grader._spawn takes for a lost fork server (the worker exits, the executor retries, then
# records grader_fault). Now the grader's own structures may hold MAX_GRADER_STRUCTURE_BYTES
# (64 MB: a 20 MB notebook's sources, MAX_PREPARED_CHARS of texts, INLINE_CODE_BYTES of code).
def test_inline_code_never_makes_a_sendable_notebook_unsendable(server):
    chain = "x = 0" + "<0" * 9990 + "\n"  # 20 kB of source, 0.5 MB of code
    cells = [chain] * 4 + ["#" + "a" * (codec.MAX_JSON_BYTES - 1_000_000) + "\n"]
    with pytest.MonkeyPatch.context() as m:  # the frames form: this notebook's message fits
        m.setattr(cellcode, "INLINE_CODE_BYTES", 0)
        arrays: list = []
        compiled = cellcode.run_message(cells, arrays)
        codec.pack_from_grader({"op": "run", "cells": cells, "compiled": compiled}, arrays)
    try:
        with server.spawn(cells) as sub:
            assert [c.ok for c in sub.cells] == [True] * 5, sub.cells
    except SandboxError as exc:
        pytest.fail(f"the grader could not send this notebook: {exc}")
    _honest_check(server)
