"""The sandbox's wire codec: round trips and hostile frames (no processes involved)."""

from __future__ import annotations

import io
import socket
import struct

import numpy as np
import pytest

from autograder.sandbox import codec


def roundtrip(value):
    arrays: list = []
    tree = codec.encode(value, arrays)
    a, b = socket.socketpair()
    try:
        codec.send_msg(a, {"v": tree}, arrays)
        header, arrs = codec.recv_msg(b, deadline=None)
    finally:
        a.close()
        b.close()
    return codec.decode(header["v"], arrs)


def npy(arr) -> bytes:
    bio = io.BytesIO()
    np.save(bio, arr, allow_pickle=True)
    return bio.getvalue()


def test_plain_values_roundtrip():
    value = {"none": None, "b": True, "i": -3, "big": 2**70, "f": 1.5, "nan": float("nan"),
             "inf": float("-inf"), "s": "héllo", "c": complex(1, -2),
             "t": (1, [2, (3,)], {"k": []}), "l": [], "d": {}}
    got = roundtrip(value)
    assert got["t"] == (1, [2, (3,)], {"k": []})
    assert isinstance(got["t"], tuple) and isinstance(got["t"][1][1], tuple)
    assert got["big"] == 2**70 and got["c"] == complex(1, -2) and got["s"] == "héllo"
    assert np.isnan(got["nan"]) and got["inf"] == float("-inf")
    assert got["none"] is None and got["b"] is True


@pytest.mark.parametrize("arr", [
    np.arange(12.0).reshape(3, 4),
    np.asfortranarray(np.arange(12.0).reshape(3, 4)),
    np.array(3.5),
    np.zeros((0, 3)),
    np.arange(5, dtype=np.int32),
    np.array([True, False]),
    np.array([1 + 2j, 3j]),
    np.arange(10.0)[::2],
    np.arange(6, dtype=">f8"),
    np.ones((2, 3), dtype=np.float32),
])
def test_arrays_roundtrip(arr):
    got = roundtrip(arr)
    assert type(got) is np.ndarray
    assert got.dtype == arr.dtype and got.shape == arr.shape
    np.testing.assert_array_equal(got, arr)
    if arr.ndim == 2 and arr.flags.f_contiguous and not arr.flags.c_contiguous:
        assert got.flags.f_contiguous


def test_numpy_scalars_become_python_scalars():
    got = roundtrip([np.float64(1.5), np.int64(3), np.bool_(True), np.float32(2.0)])
    assert got == [1.5, 3, True, 2.0]
    assert [type(v) for v in got] == [float, int, bool, float]


def test_subclass_arrives_plain():
    class Weird(np.ndarray):
        def __eq__(self, other):
            return True

    got = roundtrip(np.arange(3.0).view(Weird))
    assert type(got) is np.ndarray
    assert not np.array_equal(got, np.zeros(3))


@pytest.mark.parametrize("bad", [
    np.array([object()], dtype=object),
    np.array(["a", "b"]),
    np.zeros(2, dtype=[("a", "f8"), ("b", "i4")]),
    np.array([np.datetime64("2020-01-01")]),
])
def test_non_plain_arrays_refused(bad):
    with pytest.raises(codec.CodecError):
        codec.encode(bad, [])


def test_non_plain_objects_refused_with_a_helpful_message():
    class Foo:
        pass

    with pytest.raises(codec.CodecError, match="Foo; return a NumPy array"):
        codec.encode({"x": [Foo()]}, [])
    with pytest.raises(codec.CodecError, match="keys must be str"):
        codec.encode({1: 2}, [])


def test_parse_npy_refuses_object_arrays_without_unpickling(tmp_path):
    marker = tmp_path / "pwned"

    class Evil:
        def __reduce__(self):
            import os
            return (os.system, (f"touch {marker}",))

    data = npy(np.array([Evil()], dtype=object))
    with pytest.raises(codec.CodecError, match="not allowed"):
        codec.parse_npy(data)
    assert not marker.exists()


def _raw_npy(header: str, payload: bytes = b"") -> bytes:
    h = header.encode("latin1")
    pad = 64 - (10 + len(h) + 1) % 64
    h = h + b" " * pad + b"\n"
    return b"\x93NUMPY\x01\x00" + struct.pack("<H", len(h)) + h + payload


def test_parse_npy_checks_sizes_before_allocating():
    huge = _raw_npy("{'descr': '<f8', 'fortran_order': False, 'shape': (1000000000000, 1000), }", b"x" * 8)
    with pytest.raises(codec.CodecError, match="too large"):
        codec.parse_npy(huge)
    short = _raw_npy("{'descr': '<f8', 'fortran_order': False, 'shape': (4,), }", b"x" * 8)
    with pytest.raises(codec.CodecError, match="payload"):
        codec.parse_npy(short)
    code = _raw_npy("{'descr': __import__('os').system('id'), 'fortran_order': False, 'shape': (1,), }")
    with pytest.raises(codec.CodecError, match="malformed"):
        codec.parse_npy(code)
    neg = _raw_npy("{'descr': '<f8', 'fortran_order': False, 'shape': (-1,), }")
    with pytest.raises(codec.CodecError):
        codec.parse_npy(neg)
    with pytest.raises(codec.CodecError):
        codec.parse_npy(b"not an npy at all")


def test_oversized_frames_are_refused_before_reading():
    a, b = socket.socketpair()
    try:
        a.sendall(struct.pack("<4sII", codec.MAGIC, codec.MAX_JSON_BYTES + 1, 0))
        with pytest.raises(codec.CodecError, match="too large"):
            codec.recv_msg(b, deadline=None)
    finally:
        a.close()
        b.close()
    a, b = socket.socketpair()
    try:
        raw = b'{"v":{"a":0}}'
        a.sendall(struct.pack("<4sII", codec.MAGIC, len(raw), 1) + raw
                  + struct.pack("<Q", codec.MAX_MESSAGE_BYTES + 1))
        with pytest.raises(codec.CodecError, match="too large"):
            codec.recv_msg(b, deadline=None)
    finally:
        a.close()
        b.close()


def test_malformed_structures_are_refused():
    with pytest.raises(codec.CodecError):
        codec.decode({"a": 0}, [])  # no such frame
    arr = [np.zeros(2)]
    with pytest.raises(codec.CodecError):
        codec.decode([{"a": 0}, {"a": 0}], arr)  # a frame used twice
    with pytest.raises(codec.CodecError):
        codec.decode({"cb": 1}, [])  # handles are not accepted by the grader
    deep: object = 1
    for _ in range(200):
        deep = [deep]
    with pytest.raises(codec.CodecError, match="deeper"):
        codec.decode(deep, [])
    with pytest.raises(codec.CodecError):
        codec.loads_json(b"[" * 100000 + b"]" * 100000)
    with pytest.raises(codec.CodecError):
        codec.loads_json(b'{"x": NaN}')
