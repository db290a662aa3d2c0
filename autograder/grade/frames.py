"""The frames between the grader's main process and its grading workers: a little-endian u32
length, then that many bytes of JSON. Plain data only, never pickled, so a worker that went
wrong can send nothing but values (which the main process checks before storing)."""

from __future__ import annotations

import json
import os
import struct

_LEN = struct.Struct("<I")
MAX_FRAME = 256 << 20


def write_frame(fd: int, obj: object) -> None:
    data = json.dumps(obj, allow_nan=False).encode()
    view = memoryview(_LEN.pack(len(data)) + data)
    while view:
        n = os.write(fd, view)
        view = view[n:]


def read_exact(fd: int, n: int) -> bytes | None:
    chunks, got = [], 0
    while got < n:
        chunk = os.read(fd, n - got)
        if not chunk:
            return None
        chunks.append(chunk)
        got += len(chunk)
    return b"".join(chunks)


def read_frame(fd: int) -> object | None:
    head = read_exact(fd, _LEN.size)
    if head is None:
        return None
    (length,) = _LEN.unpack(head)
    if length > MAX_FRAME:
        raise ValueError(f"frame of {length} bytes")
    body = read_exact(fd, length)
    if body is None:
        return None
    return json.loads(body)


class FrameBuffer:
    """Splits a non-blocking pipe's bytes into frames."""

    def __init__(self) -> None:
        self.buf = bytearray()

    def feed(self, data: bytes) -> list[object]:
        self.buf += data
        out = []
        while len(self.buf) >= _LEN.size:
            (length,) = _LEN.unpack_from(self.buf)
            if length > MAX_FRAME:
                raise ValueError(f"frame of {length} bytes")
            if len(self.buf) < _LEN.size + length:
                break
            body = bytes(self.buf[_LEN.size : _LEN.size + length])
            del self.buf[: _LEN.size + length]
            out.append(json.loads(body))
        return out
