"""The sandbox's fast paths give exactly what the plain paths gave.

Cached .npy headers (both directions), the reused JSON encoder/decoder, the non-blocking
receive, the parameter names read from a function's code and the round-trip figure of the benchmark.
"""

from __future__ import annotations

import io
import socket
import struct
import threading
import warnings

import numpy as np
import pytest

from autograder.sandbox import ForkServer, Limits, codec


def _numpy_npy(arr) -> bytes:
    bio = io.BytesIO()
    np.lib.format.write_array(bio, arr, allow_pickle=False)
    return bio.getvalue()


def _arrays():
    rng = np.random.default_rng(0)
    a = rng.normal(size=(5, 3))
    yield a
    yield np.asfortranarray(a)
    yield a[:, ::2]                      # neither C nor F contiguous
    yield a.T[::2]                       # neither either
    yield np.asfortranarray(rng.normal(size=(3, 4, 2)))
    yield np.float64(2.5) * np.ones(())  # 0-d
    yield np.ones((0, 3))
    yield np.ones((3, 0), order="F")
    yield np.arange(10, dtype=np.int32)
    yield np.arange(10, dtype=">i4")     # big-endian
    yield np.array([True, False])
    yield (rng.normal(size=4) + 1j).astype(np.complex64)
    yield np.arange(6, dtype=np.uint8).reshape(2, 3)
    yield np.ones((1,) * 30)


@pytest.mark.parametrize("arr", list(_arrays()), ids=lambda a: f"{a.dtype}{a.shape}")
def test_npy_bytes_equal_numpys_output_every_time(arr):
    want = _numpy_npy(arr)
    for _ in range(3):  # the first call fills the header cache, the next ones use it
        assert codec.npy_bytes(arr) == want
    got = codec.parse_npy(want)
    for _ in range(2):
        again = codec.parse_npy(want)
        assert again.dtype == got.dtype and again.shape == got.shape
        assert again.tobytes() == got.tobytes()
        assert again.flags.f_contiguous == got.flags.f_contiguous
    assert np.array_equal(got, arr)


def test_same_shape_different_layout_or_dtype_never_share_a_header():
    a = np.arange(6.0).reshape(2, 3)
    for arr in (a, np.asfortranarray(a), a.astype(">f8"), a.astype(np.float32), a.reshape(3, 2)):
        assert codec.npy_bytes(arr) == _numpy_npy(arr)
        assert np.array_equal(codec.parse_npy(codec.npy_bytes(arr)), arr)


def test_dtype_with_metadata_takes_numpys_path():
    dt = np.dtype(np.float64, metadata={"unit": "m"})
    arr = np.zeros(3, dtype=dt)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert codec.npy_bytes(arr) == _numpy_npy(arr)


def test_cached_header_still_checks_the_payload_length():
    frame = _numpy_npy(np.arange(4.0))
    codec.parse_npy(frame)  # now cached
    for bad in (frame[:-8], frame + b"\0" * 8, frame[:-1]):
        with pytest.raises(codec.CodecError, match="payload"):
            codec.parse_npy(bad)
    assert np.array_equal(codec.parse_npy(frame), np.arange(4.0))


def test_malformed_headers_are_rejected_every_time():
    good = _numpy_npy(np.arange(3.0))
    header_len = struct.unpack("<H", good[8:10])[0]
    obj = good[:10] + good[10:10 + header_len].replace(b"<f8", b"|O ") + good[10 + header_len:]
    short_len = good[:8] + struct.pack("<H", 5) + good[10:]
    for bad in (obj, short_len, b"\x93NUMPY\x01\x00", b"\x93NUMPY\x03\x00" + good[8:]):
        for _ in range(2):
            with pytest.raises(codec.CodecError):
                codec.parse_npy(bad)


def test_header_cache_is_bounded():
    for n in range(codec._HEADER_CACHE_MAX + 50):
        arr = np.zeros((1, n % 7, n))
        assert np.array_equal(codec.parse_npy(codec.npy_bytes(arr)), arr)
    assert len(codec._npy_headers) <= codec._HEADER_CACHE_MAX
    assert len(codec._parsed_headers) <= codec._HEADER_CACHE_MAX


def test_pack_rejects_nan_and_loads_rejects_constants_as_before():
    with pytest.raises(ValueError):
        codec.pack({"x": float("nan")}, [])
    for raw in (b'{"x": NaN}', b'{"x": Infinity}', b"\xef\xbb\xbf{}", b"{", b"[1, 2"):
        with pytest.raises(codec.CodecError):
            codec.loads_json(raw)
    assert codec.loads_json(b'{"a": [1, 2.5, "s", null, true]}') == {"a": [1, 2.5, "s", None, True]}


def test_recv_msg_with_a_deadline_reads_messages_sent_in_pieces():
    arrays: list = []
    tree = codec.encode({"x": np.arange(2000.0), "y": [1, 2]}, arrays)
    raw = codec.pack({"v": tree}, arrays)
    a, b = socket.socketpair()
    try:
        def trickle():
            for i in range(0, len(raw), 1000):
                a.sendall(raw[i:i + 1000])

        t = threading.Thread(target=trickle)
        t.start()
        import time

        header, arrs = codec.recv_msg(b, deadline=time.monotonic() + 30, watch={})
        t.join()
        got = codec.decode(header["v"], arrs)
        assert np.array_equal(got["x"], np.arange(2000.0)) and got["y"] == [1, 2]
        a.close()
        with pytest.raises(codec.Closed):
            codec.recv_msg(b, deadline=time.monotonic() + 30)
    finally:
        a.close()
        b.close()


def test_recv_msg_deadline_still_applies():
    import time

    a, b = socket.socketpair()
    try:
        a.sendall(codec._HEAD.pack(codec.MAGIC, 10, 0) + b"{")  # an incomplete message
        with pytest.raises(codec.Deadline):
            codec.recv_msg(b, deadline=time.monotonic() + 0.2)
    finally:
        a.close()
        b.close()


CELLS = ["""
import numpy as np

def f(x):
    return 2 * x

def grow(theta, lr):
    theta += lr
    return theta

def other(alpha, beta):
    alpha += 1
    return alpha

def rename():
    grow.__code__ = other.__code__

def both(a, b):
    a += 1
    b += 1

def star(*xs):
    xs[1][...] += 1
"""]


@pytest.fixture(scope="module")
def server():
    with ForkServer(Limits(run_wall_s=20, call_wall_s=10)) as fs:
        yield fs


def test_mutation_labels_follow_a_changed_function(server):
    with server.spawn(CELLS) as sub:
        grow = sub.proxy("grow")
        for _ in range(2):  # the same names every time
            grow(np.zeros(3), 1.0)
            assert grow.last_call_mutations == ("theta",)
        sub.proxy("rename")()
        grow(np.zeros(3), 1.0)
        assert grow.last_call_mutations == ("alpha",)
        f = sub.proxy("f")
        assert np.array_equal(f(np.ones((5, 3))), 2 * np.ones((5, 3)))
        assert f.last_call_mutations == ()


def test_labels_follow_each_arity_and_keywords_of_a_call(server):
    # each form of call (number of arguments, keywords) is named as it binds, in any order,
    # however often it repeats
    z = np.zeros(3)
    with server.spawn(CELLS) as sub:
        both, star, grow = sub.proxy("both"), sub.proxy("star"), sub.proxy("grow")
        for _ in range(2):
            both(z, z.copy())
            assert both.last_call_mutations == ("a", "b")
            both(z, b=z.copy())
            assert both.last_call_mutations == ("a", "b")
            both(b=z, a=z.copy())
            assert set(both.last_call_mutations) == {"a", "b"}
            star(z, z.copy())
            assert star.last_call_mutations == ("arg1",)  # *xs: no name of its own
            star(z, z.copy(), z.copy())
            assert star.last_call_mutations == ("arg1",)
            grow(z, lr=1.0)
            assert grow.last_call_mutations == ("theta",)


def test_many_small_calls_in_a_row(server):
    x = np.random.default_rng(1).normal(size=(5, 3))
    with server.spawn(CELLS) as sub:
        f = sub.proxy("f")
        for i in range(300):
            y = f(x + i)
            assert np.array_equal(y, 2 * (x + i))


def test_measure_overhead_reports_the_round_trip(server):
    from autograder.sandbox import measure_overhead

    r = measure_overhead(2, server=server, round_trips=20)
    assert r["round_trips"] == 20
    assert 0 < r["round_trip_median_ms"] <= r["round_trip_p90_ms"]
    r = measure_overhead(2, server=server, round_trips=0)
    assert r["round_trip_median_ms"] is None


def test_headers_written_here_equal_numpys_for_every_plain_dtype_shape_and_order():
    """codec._numpy_header (no numpy writer on a header-cache miss) against numpy's own."""
    rng = np.random.default_rng(1)
    dtypes = ["?", "i1", "u1", "<i2", ">i2", "<i4", ">u4", "<i8", ">i8", "<f2", "<f4", ">f4",
              "<f8", ">f8", "<c8", ">c16", "<u8"]
    shapes = [(), (0,), (1,), (7,), (3, 0), (0, 5), (2, 3), (4, 1, 5), (10**6,), (1,) * 32]
    for descr in dtypes:
        for shape in shapes:
            base = np.zeros(shape, dtype=descr) if np.prod(shape) < 10**5 else None
            if base is None:
                continue
            layouts = [base, np.asfortranarray(base)]
            if base.ndim == 2 and base.shape[1] > 1:
                layouts.append(base[:, ::2])
            for arr in layouts:
                codec._npy_headers.clear()
                assert codec.npy_bytes(arr) == _numpy_npy(arr), (descr, shape)
    for _ in range(200):  # random shapes, with dimensions of every number of digits
        ndim = int(rng.integers(1, 6))
        shape = tuple(int(rng.integers(0, 3)) if rng.random() < 0.7
                      else int(10 ** rng.integers(1, 18)) for _ in range(ndim))
        for fortran in (False, True):
            header = codec._numpy_header("<f8", fortran, shape)
            bio = io.BytesIO()
            np.lib.format.write_array_header_1_0(
                bio, {"descr": "<f8", "fortran_order": fortran, "shape": shape})
            assert header == bio.getvalue(), shape
