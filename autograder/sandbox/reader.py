"""Buffered reading of codec messages: one ``recv`` per message instead of two per part.

:func:`codec.recv_msg` reads exactly the bytes of each part (header, structure, every array's
length and bytes): about ``3 + 2 * arrays`` system calls per message, which is most of a small
proxy call's cost on a virtual machine. A :class:`Reader` belongs to one socket for its whole
life and reads whatever has arrived (up to ``CHUNK`` bytes at a time, a large array straight
into its place), so a message that arrived whole costs one call. The limits are the codec's,
checked on the lengths before anything is allocated; the parts are parsed by the codec's own
functions.
"""

from __future__ import annotations

import select
import time
from collections.abc import Callable

from . import codec

CHUNK = 1 << 16


class Reader:
    """Reads codec messages from one socket, keeping what arrives beyond a message."""

    def __init__(self, sock, *, from_grader: bool = False):
        self.sock = sock
        # the child's reader of the grader's messages: the grader's marshal form is accepted
        # (codec.pack_from_grader); the grader's reader accepts JSON only
        self.from_grader = from_grader
        self.buf = bytearray(CHUNK)
        self.start = 0  # unread bytes are buf[start:end]
        self.end = 0
        # when poll() last ran: kept across messages, so that a peer sending a stream of bytes
        # (an answer trickling in, or message after message) is polled as often as a silent one
        self.last_poll = time.monotonic()

    def _room(self, need: int) -> None:
        """Make buf[start:] able to hold ``need`` bytes."""
        if self.start == self.end:
            self.start = self.end = 0
        if len(self.buf) - self.start >= need:
            return
        have = self.end - self.start
        if need <= len(self.buf) and self.start:
            self.buf[:have] = self.buf[self.start:self.end]
        else:
            grown = bytearray(max(need, CHUNK))
            grown[:have] = self.buf[self.start:self.end]
            self.buf = grown
        self.start, self.end = 0, have

    def _fill(self, need: int, deadline: float | None, poll: Callable | None,
              watch: dict | None) -> None:
        """Read until ``need`` unread bytes are buffered."""
        if self.end - self.start >= need:
            return
        self._room(need)
        view = memoryview(self.buf)
        waiting = deadline is not None or poll is not None or bool(watch)
        while self.end - self.start < need:
            if waiting:
                # wait first: the peer is usually still computing its answer
                while True:
                    now = time.monotonic()
                    if deadline is not None and now >= deadline:
                        raise codec.Deadline()
                    wait = 0.25 if deadline is None else min(0.25, deadline - now)
                    fds = [self.sock, *watch] if watch else [self.sock]
                    r, _, _ = select.select(fds, [], [], wait)
                    for fd in r:
                        if fd is not self.sock and watch and fd in watch and watch[fd]() is False:
                            del watch[fd]  # the callback reports end of file
                    # polled every 0.25 s whether or not bytes arrived: a peer that keeps the
                    # socket readable (a byte at a time) must not keep its CPU time unchecked
                    if poll is not None and time.monotonic() - self.last_poll >= 0.25:
                        self.last_poll = time.monotonic()
                        poll()
                    if self.sock in r:
                        break
            try:
                k = self.sock.recv_into(view[self.end:], len(self.buf) - self.end)
            except (ConnectionResetError, BrokenPipeError):
                k = 0
            except (BlockingIOError, InterruptedError):
                continue
            if k == 0:
                raise codec.Closed()
            self.end += k

    def _take(self, n: int) -> memoryview:
        out = memoryview(self.buf)[self.start:self.start + n]
        self.start += n
        return out

    def recv_msg(self, *, deadline: float | None = None, poll: Callable | None = None,
                 max_bytes: int = codec.MAX_MESSAGE_BYTES, watch: dict | None = None):
        """As :func:`codec.recv_msg`: ``(header_dict, [ndarray, ...])``, with the same errors."""
        # (each part is read from the buffer in place when it is there already, the usual case
        # once the head has arrived; _fill only when it is not)
        head = codec._HEAD.size
        if self.end - self.start < head:
            self._fill(head, deadline, poll, watch)
        magic, jlen, narr = codec._HEAD.unpack_from(self.buf, self.start)
        self.start += head
        marshalled = magic == codec.MAGIC_FROM_GRADER and self.from_grader
        if magic != codec.MAGIC and not marshalled:
            raise codec.CodecError("bad message magic")
        if jlen > (codec.MAX_GRADER_STRUCTURE_BYTES if marshalled else codec.MAX_JSON_BYTES):
            raise codec.CodecError("message structure too large")
        if narr > codec.MAX_ARRAYS:
            raise codec.CodecError("too many arrays in one message")
        if self.end - self.start < jlen:
            self._fill(jlen, deadline, poll, watch)
        raw = self._take(jlen)
        header = codec.loads_from_grader(raw) if marshalled else codec.loads_json(bytes(raw))
        if not isinstance(header, dict):
            raise codec.CodecError("malformed message")
        arrays = []
        total = 0
        alen_size = codec._ALEN.size
        for _ in range(narr):
            if self.end - self.start < alen_size:
                self._fill(alen_size, deadline, poll, watch)
            (alen,) = codec._ALEN.unpack_from(self.buf, self.start)
            self.start += alen_size
            total += alen
            if total > max_bytes:
                raise codec.CodecError(f"value too large (more than {max_bytes} bytes of arrays)")
            if self.end - self.start < alen:
                self._fill(alen, deadline, poll, watch)
            arrays.append(codec.parse_npy(self._take(alen), max_bytes))  # (parse copies)
        if self.start == self.end:
            self.start = self.end = 0
        self._shrink()
        return header, arrays

    def _shrink(self) -> None:
        """After a large message, give its buffer back (a later small one needs no more)."""
        if len(self.buf) > 4 * CHUNK and self.end - self.start <= CHUNK:
            rest = self.buf[self.start:self.end]
            self.buf = bytearray(CHUNK)
            self.buf[:len(rest)] = rest
            self.start, self.end = 0, len(rest)
