"""Shared memory for the array arguments of a call: how the grader sees in-place changes itself.

The grader creates one sealed ``memfd`` per submission (``GraderArena``) and hands it to the
child at spawn. For each call, the grader copies the array arguments into the arena and sends
only their places (``{"m": [offset, dtype, shape, order]}``); the child's function receives NumPy arrays
that *are* that memory (``ChildArena.view``). After the call the grader compares the arena with
its own private copies of the arguments: "the function modified its input" is then a fact the
grader observed, not something the child reported (and could forge by patching its own code).

The memfd is sealed against growing and shrinking, so the child cannot resize it (a SIGBUS in
the grader) or make it consume more than its fixed size. It is mapped in the child before the
address-space limit is set, so it does not eat into the student's memory allowance.
"""

from __future__ import annotations

import fcntl
import mmap
import os

import numpy as np

ARENA_BYTES = 256 << 20  # as large as the arrays of one message may be (codec.MAX_MESSAGE_BYTES)
ALIGN = 64
#: The arena's last ALIGN bytes: the number of the cell the child is running (1-based, int64),
#: so that the cells do not each cost a message (and a wake-up of the grader) to say where a
#: process that died was. What the child writes there is no more trusted than its messages:
#: it only chooses which of its own cells the grader leaves out of a new attempt.
PROGRESS = ALIGN


class GraderArena:
    """The grader's side: place arrays, then tell which placed arrays changed."""

    def __init__(self, size: int = ARENA_BYTES):
        self.size = size
        self.fd = os.memfd_create("autograder-arena", os.MFD_CLOEXEC | os.MFD_ALLOW_SEALING)
        try:
            os.ftruncate(self.fd, size)
            fcntl.fcntl(self.fd, fcntl.F_ADD_SEALS,
                        fcntl.F_SEAL_SHRINK | fcntl.F_SEAL_GROW | fcntl.F_SEAL_SEAL)
            self.map = mmap.mmap(self.fd, size, mmap.MAP_SHARED, mmap.PROT_READ | mmap.PROT_WRITE)
        except BaseException:
            os.close(self.fd)
            raise
        self._next = 0
        self._used = 0  # high-water mark of this call's placements (pages to release after)
        #: The most array bytes one request can place (the rest of the arena is the cell mark).
        self.capacity = size - PROGRESS

    def start_call(self) -> None:
        self._next = 0

    def place(self, arr: np.ndarray) -> tuple[dict, tuple] | None:
        """Copy ``arr`` (a plain-dtype array) into the arena: its tag and what to compare later,
        or None when it does not fit (the caller then sends it by copy, unobserved)."""
        n = arr.nbytes
        off = self._next
        if off + n > self.size - PROGRESS:
            return None
        # a Fortran-ordered argument stays Fortran-ordered (ascontiguousarray would also make a
        # 0-d array 1-d)
        order = "F" if arr.flags.f_contiguous and not arr.flags.c_contiguous else "C"
        original = arr.tobytes(order=order)
        self.map[off:off + n] = original
        self._next = off + ((n + ALIGN - 1) // ALIGN) * ALIGN
        self._used = max(self._used, self._next)
        tag = {"m": [off, arr.dtype.str, list(arr.shape), order]}
        return tag, (off, n, original)

    def cell_running(self) -> int:
        """The cell number the child last marked as started (0 if none; unvalidated)."""
        at = self.size - PROGRESS
        return int.from_bytes(self.map[at:at + 8], "little", signed=True)

    def changed(self, placement: tuple) -> bool:
        off, n, original = placement
        return self.map[off:off + n] != original

    def release_pages(self) -> None:
        """Give the pages of large calls back (MADV_REMOVE punches them out of the memfd)."""
        if self._used > (16 << 20) and hasattr(mmap, "MADV_REMOVE"):
            try:
                self.map.madvise(mmap.MADV_REMOVE, 0, (self._used // mmap.PAGESIZE) * mmap.PAGESIZE)
            except OSError:
                pass
            self._used = 0

    def close(self) -> None:
        try:
            self.map.close()
        except (BufferError, ValueError):
            pass
        try:
            os.close(self.fd)
        except OSError:
            pass


_DTYPES: dict = {}  # descr -> a numeric dtype already checked (ChildArena.view)


class ChildArena:
    """The child's side: map the arena once, hand out arrays that live in it."""

    def __init__(self, fd: int):
        size = os.fstat(fd).st_size
        self.map = mmap.mmap(fd, size, mmap.MAP_SHARED, mmap.PROT_READ | mmap.PROT_WRITE)
        self.size = size
        os.close(fd)

    def mark_cell(self, number: int) -> None:
        at = self.size - PROGRESS
        self.map[at:at + 8] = int(number).to_bytes(8, "little", signed=True)

    def view(self, val) -> np.ndarray:
        if not (isinstance(val, list) and len(val) == 4 and type(val[0]) is int
                and isinstance(val[1], str) and isinstance(val[2], list) and val[3] in "CF"):
            raise ValueError("malformed shared array")
        off, descr, shape, order = val
        dtype = _DTYPES.get(descr)
        if dtype is None:
            dtype = np.dtype(descr)
            if dtype.kind not in "biufc" or dtype.fields is not None:
                raise ValueError("shared array of a non-numeric dtype")
            if len(_DTYPES) < 64:  # (a few per submission: float64, int64, bool...)
                _DTYPES[descr] = dtype
        count = 1
        for d in shape:
            if type(d) is not int or d < 0:
                raise ValueError("malformed shared array shape")
            count *= d
        if off < 0 or off + count * dtype.itemsize > self.size - PROGRESS:
            raise ValueError("shared array outside the arena")
        return np.ndarray(tuple(shape), dtype=dtype, buffer=self.map, offset=off, order=order)
