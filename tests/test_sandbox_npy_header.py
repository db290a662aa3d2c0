"""The codec reads the .npy headers numpy writes with one regular expression instead of numpy's
``ast.literal_eval`` parser (codec._read_numpy_header). It must agree with numpy's parser on
every header numpy writes, and give every other header to numpy's parser, so that what numpy
refuses stays refused: the child is untrusted and writes these headers as it likes."""

from __future__ import annotations

import io
import struct

import numpy as np
import pytest
from numpy.lib import format as npformat

from autograder.sandbox import codec

DTYPES = ["<f8", "<f4", "<f2", "|u1", "|i1", "|b1", "<i8", "<i4", "<u2", "<u8", "<c16", "<c8",
          ">f8", ">i4", ">c16"]
SHAPES = [(), (0,), (1,), (5,), (3, 4), (4, 3), (1, 1, 1, 1), (2, 0, 3), (7, 1), (10**6,)]


def _header(dtype: str, shape: tuple, fortran: bool, version=(1, 0)) -> bytes:
    """The magic and header numpy writes for such an array (no payload)."""
    out = io.BytesIO()
    d = {"descr": np.dtype(dtype).str, "fortran_order": fortran, "shape": shape}
    if version == (1, 0):
        npformat.write_array_header_1_0(out, d)
    else:
        npformat.write_array_header_2_0(out, d)
    return out.getvalue()


def _numpys_reading(frame: bytes) -> tuple:
    bio = io.BytesIO(frame)
    version = npformat.read_magic(bio)
    read = npformat.read_array_header_1_0 if version == (1, 0) else npformat.read_array_header_2_0
    shape, fortran, dtype = read(bio)
    return shape, fortran, dtype, bio.tell()


@pytest.mark.parametrize("version", [(1, 0), (2, 0)])
def test_the_fast_path_reads_every_header_numpy_writes_as_numpy_does(version):
    seen = 0
    for dtype in DTYPES:
        for shape in SHAPES:
            for fortran in (False, True):
                frame = _header(dtype, shape, fortran, version)
                fast = codec._read_numpy_header(codec._header_key(frame))
                assert fast is not None, (dtype, shape, fortran)
                shape_, fortran_, dtype_, offset = fast
                want = _numpys_reading(frame)
                assert (shape_, fortran_, dtype_, offset) == want, (dtype, shape, fortran)
                assert type(shape_) is tuple and all(type(d) is int for d in shape_)
                seen += 1
    assert seen == len(DTYPES) * len(SHAPES) * 2


def test_arrays_read_through_the_fast_path_are_the_arrays_sent():
    rng = np.random.default_rng(3)
    for arr in (rng.normal(size=(3, 5)), np.asfortranarray(rng.normal(size=(4, 2))),
                rng.integers(0, 9, size=7).astype(np.int32), np.array(2.5), np.zeros((0, 4)),
                (rng.normal(size=6) > 0), rng.normal(size=3).astype(">f8"),
                rng.normal(size=(2, 2)) + 1j):
        frame = io.BytesIO()
        npformat.write_array(frame, arr)
        got = codec.parse_npy(frame.getvalue())
        assert got.dtype == arr.dtype and got.shape == arr.shape
        assert got.flags.f_contiguous == arr.flags.f_contiguous or arr.ndim < 2
        assert np.array_equal(got, arr)


def _with_header(text: bytes, payload: bytes = b"") -> bytes:
    """A version 1.0 frame whose header is ``text``, padded as numpy pads."""
    pad = -(10 + len(text) + 1) % 64
    header = text + b" " * pad + b"\n"
    return b"\x93NUMPY\x01\x00" + struct.pack("<H", len(header)) + header + payload


@pytest.mark.parametrize("text", [
    # what numpy's parser refuses must stay refused
    b"{'descr': '<f8', 'fortran_order': False, 'shape': (05,), }",     # a leading zero
    b"{'descr': '<f8', 'fortran_order': False, 'shape': (5), }",       # an int, not a tuple
    b"{'descr': '<f8', 'fortran_order': False, 'shape': (-1,), }",     # negative
    b"{'descr': '<f8', 'fortran_order': False, 'shape': (1, 2,, ), }",
    b"{'descr': '<f8', 'fortran_order': 0, 'shape': (5,), }",          # not a bool
    b"{'descr': '|O', 'fortran_order': False, 'shape': (5,), }",       # objects: pickle
    b"{'descr': '<f8', 'fortran_order': False, 'shape': (5,), 'x': 1, }",
    b"{'descr': '<f8', 'fortran_order': False, }",
    b"{'descr': '<f9', 'fortran_order': False, 'shape': (5,), }",      # no such dtype
    b"{'descr': '<U3', 'fortran_order': False, 'shape': (5,), }",      # not numeric
    b"{'descr': '<f8', 'fortran_order': False, 'shape': (99999999999999999999,), }",
    b"{'descr': '<f8', 'fortran_order': False, 'shape': (100000, 100000, 100000), }",
    # empty, but with a dimension numpy cannot make (its own ValueError, before: not a
    # codec error, so not a protocol failure of the child)
    b"{'descr': '<f8', 'fortran_order': False, 'shape': (0, 9999999999999999999), }",
    b"{'descr': '<f8', 'fortran_order': False, 'shape': (0, 99999999999999999999), }",
])
def test_headers_numpy_refuses_are_refused(text):
    frame = _with_header(text, b"\0" * 40)
    for _ in range(2):  # refused every time, never remembered
        with pytest.raises(codec.CodecError):
            codec.parse_npy(frame)


@pytest.mark.parametrize("text, shape", [
    # valid for numpy but not as numpy writes it: numpy's parser decides, with numpy's answer
    (b"{'shape': (2,), 'fortran_order': False, 'descr': '<f8', }", (2,)),
    (b"{'descr': '<f8', 'fortran_order': False, 'shape': (1, 2,), }", (1, 2)),
    (b"{'descr':'<f8','fortran_order':False,'shape':(2,)}", (2,)),
])
def test_other_valid_spellings_take_numpys_parser(text, shape):
    frame = _with_header(text, b"\0" * (8 * int(np.prod(shape))))
    assert codec._read_numpy_header(codec._header_key(frame)) is None
    got = codec.parse_npy(frame)
    assert got.shape == shape and got.dtype == np.float64


def test_a_spelling_numpy_does_not_write_is_left_to_numpy():
    # '<b1' is a bool for numpy, which writes it '|b1': the fast path does not guess
    frame = _with_header(b"{'descr': '<b1', 'fortran_order': False, 'shape': (3,), }",
                         b"\x01\x00\x01")
    assert codec._read_numpy_header(codec._header_key(frame)) is None
    assert codec.parse_npy(frame).tolist() == [True, False, True]


def test_the_payload_length_is_checked_after_the_fast_path():
    frame = _with_header(b"{'descr': '<f8', 'fortran_order': False, 'shape': (3, 7), }",
                         b"\0" * (8 * 21))
    assert codec.parse_npy(frame).shape == (3, 7)
    for bad in (frame[:-8], frame + b"\0" * 8):
        with pytest.raises(codec.CodecError, match="payload"):
            codec.parse_npy(bad)
