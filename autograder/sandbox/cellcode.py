"""The notebook's cells as the sandbox runs them, prepared in the grader once per distinct cell.

Every submission's child used to run IPython's input transformer and ``compile`` on each of its
cells (4-6 ms of a submission's CPU for the four assignments), although most cells of a class
are the template's, the same text in every notebook. The grader now does both, remembers the
result per (cell number, source) and sends the child the transformed text (for its tracebacks)
and the code object (``marshal``, a grader-made frame); the child only executes it.

Nothing changes for the submission: the same transformer, the same file name ``<code cell N>``
and the same compiler flags as the child's own ``compile`` (which inherits ``child.py``'s
``from __future__ import annotations``). A cell the grader cannot prepare (too long, or the
transformer or the compiler raises) is sent as its source and handled by the child exactly as
before, so errors keep their messages. Data only goes from the grader to the child: nothing the
child sends is ever cached or reused for another submission.
"""

from __future__ import annotations
import __future__

import marshal
import threading
from collections import OrderedDict

import numpy as np

from . import codec

#: Cells longer than this are left to the child (a pathological cell costs its own sandbox).
MAX_CELL_CHARS = 20_000
#: A submission's cells are prepared here up to this many characters in all; the rest are left
#: to the child, within its own limits. Compiling is the submission's work done in the grader,
#: and some text compiles slowly into much code ("x = 0<0<0<...": 6 us and 26 bytes of code per
#: character): bounded per submission. The assignments' notebooks hold 10-30 kB of code.
MAX_PREPARED_CHARS = 200_000
CACHE_ENTRIES = 1024
#: The cache keeps at most this many bytes of texts and code (the least recently used go first).
CACHE_BYTES = 32 << 20
#: The flags of the child's ``compile`` call, which inherits child.py's future import.
COMPILE_FLAGS = __future__.annotations.compiler_flag

_lock = threading.Lock()
_cache: OrderedDict[tuple[int, str], tuple[str, bytes]] = OrderedDict()
_cache_bytes = 0
_transformer = None


def warm_up() -> None:
    """Import IPython's transformer and exercise its lazy paths now: a grading worker calls
    this before it gives up its privileges (afterwards it may not read new modules)."""
    prepared(1, "%matplotlib inline\nimport numpy as np\n")
    prepared(1, "!echo hi\nx = 1\n")
    prepared(1, "%%time\ny = 2\n")


def _transform(source: str) -> str:
    global _transformer
    if _transformer is None:
        from IPython.core.inputtransformer2 import TransformerManager

        _transformer = TransformerManager()
    return _transformer.transform_cell(source)


def prepared(number: int, source: str) -> tuple[str, bytes] | None:
    """(transformed text, marshalled code) of code cell ``number`` (1-based), or None when the
    child should prepare it itself."""
    if not isinstance(source, str) or len(source) > MAX_CELL_CHARS:
        return None
    key = (number, source)
    with _lock:
        hit = _cache.get(key)
        if hit is not None:
            _cache.move_to_end(key)
            return hit
    try:
        text = _transform(source)
        code = compile(text, f"<code cell {number}>", "exec", flags=COMPILE_FLAGS,
                       dont_inherit=True)
        entry = (text, marshal.dumps(code))
    except Exception:  # SyntaxError, the transformer's own errors: the child reports them
        return None
    global _cache_bytes
    size = _entry_bytes(key, entry)
    with _lock:
        if key not in _cache and size <= CACHE_BYTES:
            _cache[key] = entry
            _cache_bytes += size
            while len(_cache) > CACHE_ENTRIES or _cache_bytes > CACHE_BYTES:
                old_key, old_entry = _cache.popitem(last=False)
                _cache_bytes -= _entry_bytes(old_key, old_entry)
    return entry


def _entry_bytes(key: tuple[int, str], entry: tuple[str, bytes]) -> int:
    return len(key[1]) + len(entry[0]) + len(entry[1])


#: The code objects' bytes travel in the message's structure (the grader's marshal data, see
#: codec.pack_from_grader) up to this many in all; beyond, as uint8 frames. The structure
#: (limited to codec.MAX_GRADER_STRUCTURE_BYTES) then holds at most the notebook's sources,
#: MAX_PREPARED_CHARS of texts and these bytes.
INLINE_CODE_BYTES = 2 << 20


def run_message(cells: list[str], arrays: list) -> list:
    """The ``compiled`` field of the child's ``run`` message: per cell ``None`` or ``[text,
    code]``, the code object's bytes either themselves (``bytes``: no .npy frame to write and
    parse, about 30 us a cell) or, past INLINE_CODE_BYTES, the index of a uint8 frame appended
    to ``arrays``."""
    out: list = []
    inline = INLINE_CODE_BYTES
    chars = MAX_PREPARED_CHARS  # (the frames: MAX_PREPARED_CHARS of source make at most 5 MB)
    for index, source in enumerate(cells):
        chars -= len(source) if isinstance(source, str) else 0
        entry = prepared(index + 1, source) if chars >= 0 else None
        if entry is None:
            out.append(None)
            continue
        text, blob = entry
        if len(blob) <= inline:
            inline -= len(blob)
            out.append([text, blob])
            continue
        arrays.append(codec.npy_bytes(np.frombuffer(blob, dtype=np.uint8)))
        out.append([text, len(arrays) - 1])
    return out
