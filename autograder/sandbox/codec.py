"""Safe wire format between the grader and a sandboxed child. Never unpickles.

A message is ``MAGIC | u32 json_len | u32 n_arrays | json | (u64 len | .npy bytes) * n_arrays``.
The JSON object carries the structure; values inside it are encoded as:

- ``null``/``true``/``false``/ints/finite floats/strings: themselves; lists: JSON lists
- ``{"t": [...]}`` tuple, ``{"d": [[key, value], ...]}`` dict with str keys,
  ``{"c": [re, im]}`` complex, ``{"f": "nan" | "inf" | "-inf"}`` non-finite float,
  ``{"a": i}`` the i-th array frame of the message,
  ``{"cb": id}`` a function of the test (called back in the grader, with bounded arguments),
  ``{"g": name}`` a function of the submission itself,
  ``{"m": [offset, dtype, shape]}`` an array argument placed in shared memory (``arena``),
  ``{"rng": [bit_generator, state]}`` a NumPy Generator, sent as its state (plain ints),
  ``{"fn": [kind, data]}`` a gradient formula of the test, built by the child from its data.
  No tag ever names an object of the grader: nothing the child sends can reach one.

The grader's own messages to the child carry the structure as ``marshal`` data instead of JSON
(``MAGIC_FROM_GRADER``, :func:`pack_from_grader`): the same plain lists, dicts, strings and
numbers, about a tenth of the encoding cost. Only the child reads that form (its ``Reader`` is
made with ``from_grader=True``); everything the child sends, and so everything the grader
parses, is JSON: the grader never unmarshals (marshal data can hold code objects).

Arrays are raw ``.npy`` frames. :func:`parse_npy` validates magic, header (through numpy's
``ast.literal_eval``-based parser with ``max_header_size``), dtype kind (``biufc`` only, no
structured/object/sub-array dtypes), and ``shape * itemsize`` against the cap *and* against the
payload length before anything is allocated; then ``np.frombuffer(...).copy()``.
"""

from __future__ import annotations

import io
import json
import marshal
import math
import re
import select
import socket
import struct
import time
from collections.abc import Callable

import numpy as np
from numpy.lib import format as npformat

MAGIC = b"SBX1"
MAGIC_FROM_GRADER = b"SBG1"  # the grader's messages to the child: the structure is marshal data
_HEAD = struct.Struct("<4sII")
_ALEN = struct.Struct("<Q")

MAX_JSON_BYTES = 16 << 20
#: The structure of a message of the grader to the child (codec.pack_from_grader), which the
#: child alone reads: the run message carries the notebook's cells (a notebook file is at most
#: 20 MB, grade/inputs.py) with the texts and code the grader prepared (cellcode.run_message).
MAX_GRADER_STRUCTURE_BYTES = 64 << 20
MAX_ARRAYS = 100_000
MAX_MESSAGE_BYTES = 256 << 20  # total .npy bytes in one message
MAX_DEPTH = 64
MAX_NODES = 1_000_000
MAX_HEADER = 10_000
ARRAY_KINDS = "biufc"


class CodecError(Exception):
    """Malformed, oversized or non-plain data (becomes ``ProtocolError`` in the grader)."""


def _type_name(obj) -> str:
    return str(getattr(type(obj), "__name__", "object"))[:100]


def not_plain_message(obj) -> str:
    return (f"returned an object of type {_type_name(obj)}; return a NumPy array, a float, "
            f"or lists/tuples/dicts of these")


# ----------------------------------------------------------------------------- encoding


def plain_array(x) -> np.ndarray:
    """``x`` as a base-class ndarray of a plain numeric dtype, or raise CodecError."""
    arr = np.asarray(x)
    if type(arr) is not np.ndarray:
        arr = arr.view(np.ndarray)
    dt = arr.dtype
    if dt.kind not in ARRAY_KINDS or dt.fields is not None or dt.subdtype is not None:
        raise CodecError(f"returned an array of dtype {dt!s}; only bool, int, float and complex "
                         f"arrays can be graded")
    return arr


_HEADER_CACHE_MAX = 1024
_npy_headers: dict = {}   # (dtype.str, fortran_order, shape) -> the .npy header numpy writes
_parsed_headers: dict = {}  # the bytes of a .npy header -> its checked parse (see _parse_header)


def npy_bytes(arr: np.ndarray) -> bytes:
    """``arr`` (a :func:`plain_array`) as the bytes ``numpy.lib.format.write_array`` writes.

    The header is a function of (descr, fortran order, shape) only, so it is computed by numpy
    once per such key and reused; the data are ``arr.tobytes`` in the order the header states.
    """
    c_order = arr.flags.c_contiguous
    fortran = not c_order and arr.flags.f_contiguous
    key = (arr.dtype.str, fortran, arr.shape)
    header = _npy_headers.get(key)
    if header is None or arr.dtype.fields is not None or arr.dtype.metadata is not None:
        header = _numpy_header(*key) \
            if arr.dtype.fields is None and arr.dtype.metadata is None else None
        if header is None:
            bio = io.BytesIO()
            npformat.write_array(bio, arr, allow_pickle=False)
            return bio.getvalue()
        if len(_npy_headers) >= _HEADER_CACHE_MAX:
            _npy_headers.clear()
        _npy_headers[key] = header
    return header + arr.tobytes(order="F" if fortran else "C")


def _numpy_header(descr: str, fortran: bool, shape: tuple) -> bytes | None:
    """The format 1.0 header ``npformat.write_array`` writes for a plain dtype (``descr`` its
    ``dtype.str``), written here: numpy's writer costs 30-50 us, paid in every fresh sandbox
    for each shape its answers carry (a list of mini-batches is one frame per batch). The same
    steps as numpy's ``_write_array_header`` and ``_wrap_header``: the dict's repr with sorted
    keys, room for the growth axis to grow, padding to a multiple of 64 bytes, a newline.
    None when the header does not fit format 1.0 (numpy then writes it)."""
    text = f"{{'descr': {descr!r}, 'fortran_order': {fortran!r}, 'shape': {shape!r}, }}"
    if shape:
        text += " " * (npformat.GROWTH_AXIS_MAX_DIGITS - len(repr(shape[-1 if fortran else 0])))
    raw = text.encode("latin1")
    length = len(raw) + 1
    length += npformat.ARRAY_ALIGN - ((npformat.MAGIC_LEN + 2 + length) % npformat.ARRAY_ALIGN)
    if length > 0xFFFF:
        return None
    return (npformat.MAGIC_PREFIX + b"\x01\x00" + length.to_bytes(2, "little") + raw
            + b" " * (length - len(raw) - 1) + b"\n")


def encode(value, arrays: list, on_other: Callable | None = None, _depth: int = 0,
           on_array: Callable | None = None):
    """Encode ``value`` into a JSON-able structure, appending .npy frames to ``arrays``.

    ``on_other(obj)`` is called for anything that is not plain data and must return a JSON tag
    or raise CodecError; without it such objects raise CodecError. ``on_array(arr)`` may place a
    plain array elsewhere (shared memory) and return its tag, or return None for a frame.
    """
    if _depth > MAX_DEPTH:
        raise CodecError(f"value nested deeper than {MAX_DEPTH} levels")
    # exact builtin types first (most of the nodes of every message); a subclass takes the
    # general path below, which converts it to its base type
    kind = type(value)
    if kind is float:
        if math.isfinite(value):
            return value
    elif kind is int or kind is str:
        return value
    elif kind is list:  # (a copy: converting an element may run code that changes the list)
        return [encode(v, arrays, on_other, _depth + 1, on_array) for v in list(value)]
    elif kind is np.ndarray:
        return _encode_array(value, arrays, on_other, on_array)
    elif kind is tuple:
        return {"t": [encode(v, arrays, on_other, _depth + 1, on_array) for v in value]}
    elif kind is dict:
        return _encode_dict(value, arrays, on_other, _depth, on_array)
    if value is None or isinstance(value, bool):
        return None if value is None else bool(value)
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        f = float(value)
        if math.isfinite(f):
            return f
        return {"f": "nan" if math.isnan(f) else ("inf" if f > 0 else "-inf")}
    if isinstance(value, str):
        return str(value)
    if isinstance(value, complex):
        c = complex(value)
        return {"c": [encode(c.real, arrays), encode(c.imag, arrays)]}
    if isinstance(value, np.generic):
        if value.dtype.kind in ARRAY_KINDS and value.dtype.fields is None:
            return encode(value.item(), arrays, on_other, _depth, on_array)
        if on_other is not None:
            return on_other(value)
        raise CodecError(not_plain_message(value))
    if isinstance(value, np.ndarray):
        return _encode_array(value, arrays, on_other, on_array)
    if isinstance(value, (list, tuple)):
        items = [encode(v, arrays, on_other, _depth + 1, on_array) for v in list(value)]
        return {"t": items} if isinstance(value, tuple) else items
    if isinstance(value, dict):
        return _encode_dict(value, arrays, on_other, _depth, on_array)
    if on_other is not None:
        return on_other(value)
    raise CodecError(not_plain_message(value))


def _encode_array(value, arrays: list, on_other, on_array):
    try:
        arr = plain_array(value)
    except CodecError:
        if on_other is not None:
            return on_other(value)
        raise
    if on_array is not None:
        tag = on_array(arr)
        if tag is not None:
            return tag
    if len(arrays) >= MAX_ARRAYS:
        raise CodecError("too many arrays in one value")
    arrays.append(npy_bytes(arr))
    return {"a": len(arrays) - 1}


def _encode_dict(value, arrays: list, on_other, _depth: int, on_array):
    out = []
    for k, v in list(value.items()):
        if not isinstance(k, str):
            raise CodecError(f"dict keys must be str, got {_type_name(k)}")
        out.append([str(k), encode(v, arrays, on_other, _depth + 1, on_array)])
    return {"d": out}


# ----------------------------------------------------------------------------- decoding


def parse_npy(data, max_bytes: int = MAX_MESSAGE_BYTES) -> np.ndarray:
    """Parse one untrusted .npy frame without pickle and without trusting its sizes."""
    key = _header_key(data)
    known = _parsed_headers.get(key) if key is not None else None
    if known is None:
        known = _parse_header(data, key)
    shape, order, dtype, count, nbytes, offset = known
    if nbytes > max_bytes:
        raise CodecError(f"array too large ({nbytes} bytes > {max_bytes})")
    if len(data) - offset != nbytes:
        raise CodecError(f"array payload is {len(data) - offset} bytes, header says {nbytes}")
    if count == 0:
        return np.empty(shape, dtype=dtype, order=order)
    flat = np.frombuffer(data, dtype=dtype, count=count, offset=offset)
    return flat.reshape(shape, order=order).copy(order="K")


# The header numpy itself writes (``npformat.write_array``) for a plain dtype, whole: the dict
# with its three keys in numpy's order, then the padding spaces and the newline. Read by this
# expression instead of numpy's parser (``ast.literal_eval``: about 30 us, and in a fresh
# sandbox several hundred, for every shape not seen before, e.g. each precompiled cell's code);
# any other header, however valid, goes to numpy's parser as before.
_DIM = rb"(?:0|[1-9][0-9]{0,18})"  # as Python writes an int: no leading zero
_NUMPY_HEADER = re.compile(rb"\{'descr': '([<>|][biufc][0-9]{1,2})', "
                           rb"'fortran_order': (False|True), "
                           rb"'shape': \((|" + _DIM + rb",|" + _DIM + rb"(?:, " + _DIM
                           + rb")+)\), \} *\n")
_DESCRS: dict = {}  # descr bytes -> np.dtype, for the fast path


def _read_numpy_header(key: bytes | None) -> tuple | None:
    """``(shape, fortran, dtype, offset)`` of a header numpy wrote (``key``: the frame up to
    its header's end, see _header_key), or None (then numpy's parser decides)."""
    if key is None:
        return None
    start = 10 if key[6] == 1 else 12
    found = _NUMPY_HEADER.fullmatch(key, start)
    if found is None:
        return None
    descr, fortran, dims = found.groups()
    dtype = _DESCRS.get(descr)
    if dtype is None:
        dtype = np.dtype(descr.decode("ascii"))
        if dtype.str != descr.decode("ascii"):
            return None  # a spelling numpy would not write (e.g. '<b1'): numpy's parser decides
        if len(_DESCRS) < 64:
            _DESCRS[descr] = dtype
    shape = tuple(int(d) for d in dims.split(b",") if d.strip())
    return shape, fortran == b"True", dtype, len(key)


def _parse_header(data, key: bytes | None) -> tuple:
    """``(shape, order, dtype, count, nbytes, offset)`` of a frame's header, checked: the
    dtype a plain numeric one, the shape non-negative ints whose product stays below the
    largest message. A pure function of the header's bytes, so the result is remembered for
    headers seen again (the length check against the frame is parse_npy's, every time)."""
    try:
        fast = _read_numpy_header(key)
    except (TypeError, ValueError):
        fast = None
    if fast is not None:
        shape, fortran, dtype, offset = fast
    else:
        bio = io.BytesIO(data)
        try:
            version = npformat.read_magic(bio)
            if version == (1, 0):
                shape, fortran, dtype = npformat.read_array_header_1_0(
                    bio, max_header_size=MAX_HEADER)
            elif version == (2, 0):
                shape, fortran, dtype = npformat.read_array_header_2_0(
                    bio, max_header_size=MAX_HEADER)
            else:
                raise CodecError(f"unsupported .npy version {version}")
        except CodecError:
            raise
        except Exception as exc:  # ValueError, SyntaxError, ... from the header parser
            raise CodecError(f"malformed array header: {type(exc).__name__}: "
                             f"{str(exc)[:200]}") from None
        offset = bio.tell()
    if (dtype.kind not in ARRAY_KINDS or dtype.fields is not None or dtype.subdtype is not None
            or dtype.hasobject):
        raise CodecError(f"array dtype {dtype!s} is not allowed (bool, int, float, complex only)")
    if not isinstance(shape, tuple) or len(shape) > 64:
        raise CodecError("malformed array shape")
    count = 1
    span = 1  # the product of the non-zero dimensions: bounded even in an empty array, where
    # numpy would raise its own ValueError making it (not a codec error)
    for dim in shape:
        if type(dim) is not int or dim < 0:
            raise CodecError("malformed array shape")
        count *= dim
        span *= dim or 1
        if count > MAX_MESSAGE_BYTES or span > MAX_MESSAGE_BYTES:
            raise CodecError("array too large")
    known = (shape, "F" if fortran else "C", dtype, count, count * dtype.itemsize, offset)
    if key is not None and len(key) == offset:
        if len(_parsed_headers) >= _HEADER_CACHE_MAX:
            _parsed_headers.clear()
        _parsed_headers[key] = known
    return known


_HEADER_KEY_MAX = 512  # longer headers (rare: many dimensions) are parsed every time


def _header_key(data) -> bytes | None:
    """The magic, version, length field and header of a .npy frame (``None`` when the frame is
    too short for its own length field or the header is too long to cache)."""
    if len(data) < 10 or bytes(data[:6]) != npformat.MAGIC_PREFIX:
        return None
    if data[6] == 1 and data[7] == 0:
        end = 10 + int.from_bytes(data[8:10], "little")
    elif data[6] == 2 and data[7] == 0:
        if len(data) < 12:
            return None
        end = 12 + int.from_bytes(data[8:12], "little")
    else:
        return None
    if end > _HEADER_KEY_MAX or end > len(data):
        return None
    return bytes(data[:end])


def _reject_constant(name):
    raise CodecError(f"non-standard JSON constant {name}")


# what json.loads(s, parse_constant=...) / json.dumps(obj, separators=..., allow_nan=False)
# build on every call, built once
_DECODER = json.JSONDecoder(parse_constant=_reject_constant)
_ENCODER = json.JSONEncoder(separators=(",", ":"), allow_nan=False)


def loads_json(raw: bytes):
    if len(raw) > MAX_JSON_BYTES:
        raise CodecError("message structure too large")
    try:
        return _DECODER.decode(raw.decode("utf-8"))
    except CodecError:
        raise
    except (ValueError, RecursionError, UnicodeDecodeError) as exc:
        raise CodecError(f"malformed message: {type(exc).__name__}") from None


_SPECIAL = {"nan": math.nan, "inf": math.inf, "-inf": -math.inf}


def decode(node, arrays: list, on_handle: Callable | None = None, _depth: int = 0,
           _budget: list | None = None):
    """Inverse of :func:`encode`; ``arrays`` are already-parsed ndarrays.

    Tags ``cb``/``g``/``m``/``rng`` are passed to ``on_handle(tag, value)``; without it they are
    a CodecError. Each array frame may be used once only.
    """
    if _budget is None:
        _budget = [MAX_NODES, set()]
    _budget[0] -= 1
    if _budget[0] < 0:
        raise CodecError("value has too many elements")
    if _depth > MAX_DEPTH:
        raise CodecError(f"value nested deeper than {MAX_DEPTH} levels")
    # (what json gives: exact types, the usual ones first)
    kind = type(node)
    if kind is str or kind is float or kind is int:
        return node
    if kind is list:
        return [decode(v, arrays, on_handle, _depth + 1, _budget) for v in node]
    if node is None or isinstance(node, (bool, int, float, str)):
        return node
    if isinstance(node, list):
        return [decode(v, arrays, on_handle, _depth + 1, _budget) for v in node]
    if isinstance(node, dict) and len(node) == 1:
        (tag, val), = node.items()
        if tag == "a" and type(val) is int:
            if not 0 <= val < len(arrays) or val in _budget[1]:
                raise CodecError("bad array reference")
            _budget[1].add(val)
            return arrays[val]
        if tag == "t" and isinstance(val, list):
            return tuple(decode(v, arrays, on_handle, _depth + 1, _budget) for v in val)
        if tag == "d" and isinstance(val, list):
            out = {}
            for pair in val:
                if not (isinstance(pair, list) and len(pair) == 2 and isinstance(pair[0], str)):
                    raise CodecError("malformed dict entry")
                out[pair[0]] = decode(pair[1], arrays, on_handle, _depth + 1, _budget)
            return out
        if tag == "c" and isinstance(val, list) and len(val) == 2:
            re_, im_ = (decode(v, arrays, None, _depth + 1, _budget) for v in val)
            if not all(isinstance(p, (int, float)) and not isinstance(p, bool) for p in (re_, im_)):
                raise CodecError("malformed complex")
            return complex(re_, im_)
        if tag == "f" and val in _SPECIAL:
            return _SPECIAL[val]
        if tag in ("cb", "g", "m", "rng", "fn") and on_handle is not None:
            return on_handle(tag, val)
    raise CodecError("malformed value")


# ----------------------------------------------------------------------------- framing


def pack(header: dict, arrays: list) -> bytes:
    return _frame(MAGIC, _ENCODER.encode(header).encode("utf-8"), arrays)


def pack_from_grader(header: dict, arrays: list) -> bytes:
    """:func:`pack` for a message of the grader to the child: the structure as marshal data
    (plain lists, dicts, strings, bytes and numbers), up to MAX_GRADER_STRUCTURE_BYTES."""
    return _frame(MAGIC_FROM_GRADER, marshal.dumps(header), arrays, MAX_GRADER_STRUCTURE_BYTES)


def _frame(magic: bytes, raw: bytes, arrays: list, limit: int = MAX_JSON_BYTES) -> bytes:
    if len(raw) > limit:
        raise CodecError(f"message structure too large ({len(raw)} bytes)")
    total = sum(len(a) for a in arrays)
    if total > MAX_MESSAGE_BYTES:
        raise CodecError(f"value too large ({total} bytes of arrays > {MAX_MESSAGE_BYTES})")
    parts = [_HEAD.pack(magic, len(raw), len(arrays)), raw]
    for a in arrays:
        parts.append(_ALEN.pack(len(a)))
        parts.append(a)
    return b"".join(parts)


def loads_from_grader(raw) -> dict:
    """The structure of a :func:`pack_from_grader` message (read by the child only)."""
    try:
        return marshal.loads(raw)
    except (ValueError, EOFError, TypeError) as exc:
        raise CodecError(f"malformed message: {type(exc).__name__}") from None


def send_msg(sock: socket.socket, header: dict, arrays: list = ()) -> None:
    sock.sendall(pack(header, list(arrays)))


class Deadline(Exception):
    """recv_msg ran past its deadline."""


class Closed(Exception):
    """The peer closed the connection."""


_DONTWAIT = getattr(socket, "MSG_DONTWAIT", 0)


def _recv_exact(sock, n: int, deadline: float | None, poll: Callable | None,
                watch: dict | None = None):
    buf = bytearray(n)
    view = memoryview(buf)
    got = 0
    waiting = deadline is not None or poll is not None or bool(watch)
    last_poll = time.monotonic()
    # (a socket with a time-out would wait in recv_into even with MSG_DONTWAIT)
    fast = waiting and bool(_DONTWAIT) and not sock.gettimeout()
    while got < n:
        if fast:
            # the peer usually sends a whole message at once: take what is there without a
            # select() first, and wait (below) only when nothing is
            if deadline is not None and time.monotonic() >= deadline:
                raise Deadline()
            try:
                k = sock.recv_into(view[got:], n - got, _DONTWAIT)
            except (ConnectionResetError, BrokenPipeError):
                k = 0
            except (BlockingIOError, InterruptedError):
                k = -1
            if k == 0:
                raise Closed()
            if k > 0:
                got += k
                if poll is not None and time.monotonic() - last_poll >= 0.25:
                    last_poll = time.monotonic()  # (a trickling peer is polled too)
                    poll()
                continue
        while waiting:
            now = time.monotonic()
            if deadline is not None and now >= deadline:
                raise Deadline()
            wait = 0.25 if deadline is None else min(0.25, deadline - now)
            fds = [sock, *watch] if watch else [sock]
            r, _, _ = select.select(fds, [], [], wait)
            for fd in r:
                if fd is not sock and watch and fd in watch and watch[fd]() is False:
                    del watch[fd]  # the callback reports end of file
            # every 0.25 s whether or not bytes arrived (see Reader._fill)
            if poll is not None and time.monotonic() - last_poll >= 0.25:
                last_poll = time.monotonic()
                poll()
            if sock in r:
                break
        try:
            k = sock.recv_into(view[got:], n - got)
        except (ConnectionResetError, BrokenPipeError):
            k = 0
        except (BlockingIOError, InterruptedError):
            continue
        if k == 0:
            raise Closed()
        got += k
    return buf


def recv_msg(sock, *, deadline: float | None = None, poll: Callable | None = None,
             max_bytes: int = MAX_MESSAGE_BYTES, watch: dict | None = None):
    """Read one message: returns ``(header_dict, [ndarray, ...])``.

    Raises Closed on EOF, Deadline past ``deadline`` (``time.monotonic()``), CodecError on any
    malformed or oversized content. ``poll()`` is called about every 0.25 s while waiting;
    ``watch`` maps other file descriptors to callbacks run whenever they are readable.
    """
    head = _recv_exact(sock, _HEAD.size, deadline, poll, watch)
    magic, jlen, narr = _HEAD.unpack(bytes(head))
    if magic != MAGIC:
        raise CodecError("bad message magic")
    if jlen > MAX_JSON_BYTES:
        raise CodecError("message structure too large")
    if narr > MAX_ARRAYS:
        raise CodecError("too many arrays in one message")
    header = loads_json(bytes(_recv_exact(sock, jlen, deadline, poll, watch)))
    if not isinstance(header, dict):
        raise CodecError("malformed message")
    arrays = []
    total = 0
    for _ in range(narr):
        (alen,) = _ALEN.unpack(bytes(_recv_exact(sock, _ALEN.size, deadline, poll, watch)))
        total += alen
        if total > max_bytes:
            raise CodecError(f"value too large (more than {max_bytes} bytes of arrays)")
        arrays.append(parse_npy(_recv_exact(sock, alen, deadline, poll, watch), max_bytes))
    return header, arrays


def warm_up() -> None:
    """Exercise every code path once so a forked child pays no lazy-import costs."""
    arrays: list = []
    value = {"x": np.arange(3.0), "y": (1, 2.5, None, "s", True, complex(1, 2), math.nan),
             "z": [np.zeros((2, 2), order="F"), np.float32(1), np.int64(2), np.ones(0)]}
    tree = encode(value, arrays)
    raw = pack({"v": tree}, arrays)
    a, b = socket.socketpair()
    try:
        a.sendall(raw)
        header, arrs = recv_msg(b, deadline=time.monotonic() + 5)
        decode(header["v"], arrs)
    finally:
        a.close()
        b.close()
