"""Identical and near-identical submissions of one assignment, with the template's code removed.

Two measures, both on what a student wrote rather than on what every student received:

- **identical**: the same *own stub code*. Each top-level function or class a submission
  defines (the last definition of a name wins, as when the notebook runs) is reduced to
  ``ast.dump`` of its tree with docstrings dropped, so comments, blank lines, quoting and
  formatting do not matter; definitions whose dump equals the template's (an untouched stub)
  are left out. Two submissions are identical when what is left is the same and not empty:
  blank templates (nothing left) are never identical to each other.
- **near-identical**: copydetect's token fingerprints (pygments tokens, names folded to one
  letter, so renaming variables and reformatting change nothing; k-grams of ``NOISE``
  characters, winnowed) of the student's own code: every top-level statement that is not
  the template's own statement, with the template's fingerprints removed as boilerplate.
  The similarity of a pair is copydetect's: the share of a submission's fingerprinted code
  that the other also has, taken for the *smaller* of the two shares, so that one short
  partial answer that happens to match part of a full one does not flag the full one.

Submissions with less own code than ``min_own_chars`` filtered characters (about tokens) are
not flagged: a one-line ``return np.hstack(...)`` is what honest students write alike.

copydetect's own boilerplate removal (``get_document_fingerprints``) calls
``np.intersect1d(..., assume_unique=True)`` on a winnowed list that repeats hashes, which can
drop fingerprints of the student's code that occur twice; the boilerplate is therefore taken
out here with a set difference, and the coverage recomputed with copydetect's function.
"""

from __future__ import annotations

import ast
import hashlib
import io
from collections import Counter, defaultdict
from dataclasses import dataclass
from pathlib import Path

#: k-gram length in filtered characters (copydetect's noise threshold); 25 is its default.
NOISE = 25
#: Matches at least this long are always found (copydetect's guarantee threshold).
GUARANTEE = 30
#: A pair is near-identical from this similarity up (smaller of the two shares).
DEFAULT_THRESHOLD = 0.8
#: Own code shorter than this (filtered characters: names count one) is never flagged.
MIN_OWN_CHARS = 60
#: What of a submission is compared at most (characters): a student controls the size of
#: the code, and copydetect keeps one hash per character (8 bytes each, plus the k-gram).
#: These assignments' templates hold ~4,000; larger cells are compared as text, cut here.
MAX_CODE_CHARS = 50_000

_DEFS = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)


@dataclass
class _Own:
    """What one submission (or the template) wrote, in the forms the two measures need."""

    defs: dict[str, str]  # name -> normalized dump of its last definition
    statements: list[str]  # normalized source of every top-level statement
    unparsed: list[str]  # cells that do not parse, as text


def _strip_docstrings(tree: ast.AST) -> ast.AST:
    for node in ast.walk(tree):
        if isinstance(node, (*_DEFS, ast.Module)) and node.body:
            first = node.body[0]
            if (isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant)
                    and isinstance(first.value.value, str)):
                node.body = node.body[1:] or [ast.Pass()]
    return tree


def _parse_cell(cell: str) -> ast.Module | None:
    # Jupyter magics and shell escapes are not Python; a student's `%matplotlib inline` must
    # not turn the whole cell into unparsed text.
    lines = [line for line in cell.splitlines() if not line.lstrip().startswith(("%", "!"))]
    try:
        return ast.parse("\n".join(lines))
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return None


def _cell_parts(cell: str) -> tuple[list[str], list[tuple[str, str]]] | None:
    """(normalized statements, (name, dump) of its definitions) of one cell; None if it does
    not parse (or is too large or too deeply nested to be worth the parser's time)."""
    if len(cell) > MAX_CODE_CHARS:
        return None
    tree = _parse_cell(cell)
    if tree is None:
        return None
    statements, defs = [], []
    try:
        for stmt in _strip_docstrings(tree).body:
            statements.append(ast.unparse(stmt))
            if isinstance(stmt, _DEFS):
                defs.append((stmt.name, ast.dump(stmt, annotate_fields=False)))
    except (ValueError, RecursionError, MemoryError):
        return None
    return statements, defs


def _own_parts(cells: list[str], cache: dict | None = None) -> _Own:
    """``cache``: cell text -> ``_cell_parts``, shared across a class (most cells are the
    template's, or copies of each other's, and parse once)."""
    cache = {} if cache is None else cache
    own = _Own({}, [], [])
    for cell in cells:
        if not cell.strip():
            continue
        if cell not in cache:
            cache[cell] = _cell_parts(cell)
        parts = cache[cell]
        if parts is None:
            own.unparsed.append(cell)
            continue
        own.statements.extend(parts[0])
        own.defs.update(parts[1])  # in order: the last definition of a name wins
    return own


def _fingerprint(code: str):
    from copydetect.detector import CodeFingerprint

    code = code[:MAX_CODE_CHARS]
    return CodeFingerprint("submission.py", NOISE, GUARANTEE - NOISE + 1, filter=True,
                           language="python", fp=io.StringIO(code))


def _without(fingerprint, boilerplate: set):
    """The fingerprint with the template's hashes removed, its coverage recomputed."""
    from copydetect.utils import get_token_coverage

    fingerprint.hashes = fingerprint.hashes - boilerplate
    fingerprint.hash_idx = {h: i for h, i in fingerprint.hash_idx.items() if h not in boilerplate}
    fingerprint.token_coverage = get_token_coverage(
        fingerprint.hash_idx, fingerprint.k, len(fingerprint.filtered_code))
    return fingerprint


def _identity_key(own: _Own, template: _Own) -> str | None:
    mine = sorted((name, dump) for name, dump in own.defs.items()
                  if template.defs.get(name) != dump)
    if not mine:
        return None
    return hashlib.sha256(repr(mine).encode()).hexdigest()


def _own_code(own: _Own, template: _Own) -> str:
    template_statements = Counter(template.statements)
    kept = []
    for statement in own.statements:
        if template_statements[statement] > 0:
            template_statements[statement] -= 1  # the template's own copy of it
            continue
        kept.append(statement)
    return "\n".join(kept + own.unparsed)


def _similarity(first, second) -> float:
    """copydetect's own pairwise measure (``compare_files``), the smaller of its two shares:
    the oracle ``_PairScorer`` is tested against."""
    from copydetect.detector import compare_files

    if not first.hashes & second.hashes:
        return 0.0
    _, (share_1, share_2), _ = compare_files(first, second)
    return float(min(share_1, share_2))


class _PairScorer:
    """``_similarity`` for every pair of a class, fast enough for a few hundred submissions.

    ``compare_files`` costs about half a millisecond a pair (Python loops over the shared
    hashes), 10 s for the 19,900 pairs of 200 submissions. Two steps instead:

    1. a bound for all pairs at once: a shared fingerprint position covers at most ``NOISE``
       characters, so a share is at most ``NOISE * shared positions / coverage``; the shared
       positions of every pair are one matrix product over the hashes that occur in two or
       more submissions. Pairs whose bound is below the threshold are not looked at again.
    2. the exact share of the others, computed as ``compare_files`` does (the covered length
       of the copied slices ``get_copied_slices`` builds: every shared position covers up to
       the next one, at most ``NOISE`` characters) with numpy over sorted arrays.
    """

    def __init__(self, fingerprints: list):
        import numpy as np

        self.np = np
        self.coverage = np.array([float(f.token_coverage) for f in fingerprints])
        self.keys, self.position_hashes, self.positions = [], [], []
        counts: Counter = Counter()
        for fingerprint in fingerprints:
            pairs = sorted((int(i), h) for h, idx in fingerprint.hash_idx.items() for i in idx)
            self.positions.append(np.array([i for i, _ in pairs], dtype=np.int64))
            self.position_hashes.append(np.array([h for _, h in pairs], dtype=np.int64))
            self.keys.append(np.array(sorted(fingerprint.hash_idx), dtype=np.int64))
            counts.update(fingerprint.hash_idx.keys())
        column = {h: c for c, h in enumerate(h for h, n in counts.items() if n > 1)}
        weights = np.zeros((len(fingerprints), max(len(column), 1)), dtype=np.float64)
        for row, fingerprint in enumerate(fingerprints):
            for h, idx in fingerprint.hash_idx.items():
                if h in column:
                    weights[row, column[h]] = len(idx)
        shared_positions = weights @ (weights > 0).T  # [a, b]: positions of a whose hash b has
        self.bound = np.minimum(NOISE * shared_positions / self.coverage[:, None], 1.0)

    def candidates(self, threshold: float) -> list[tuple[int, int]]:
        both = self.np.minimum(self.bound, self.bound.T)
        rows, cols = self.np.nonzero(self.np.triu(both >= max(threshold, 1e-12), k=1))
        return list(zip(rows.tolist(), cols.tolist()))

    def _share(self, a: int, b: int) -> float:
        np = self.np
        keys, hashes = self.keys[b], self.position_hashes[a]
        if not len(keys):
            return 0.0
        found = keys[np.minimum(np.searchsorted(keys, hashes), len(keys) - 1)] == hashes
        copied = self.positions[a][found]
        if not len(copied):
            return 0.0
        covered = NOISE + int(np.minimum(np.diff(copied), NOISE).sum())
        return covered / self.coverage[a]

    def similarity(self, a: int, b: int) -> float:
        return float(min(self._share(a, b), self._share(b, a)))


def find_similar(submissions: list[tuple[str, list[str]]], template_cells: list[str], *,
                 threshold: float = DEFAULT_THRESHOLD,
                 min_own_chars: int = MIN_OWN_CHARS) -> dict:
    """Identical groups, near-identical pairs and a flag per flagged submission.

    ``submissions``: (id, code cells) pairs; ``template_cells``: the code cells students
    received. Returns ``{"identical": [[sid, ...], ...], "near": [{"a", "b", "similarity"}],
    "flags": {sid: "identical to X" | "similar to X (93%)"}}``; a pair already in an identical
    group is not listed again as near, and each flag names the closest other submission.
    """
    cache: dict = {}
    template = _own_parts(template_cells, cache)
    boilerplate = set(_fingerprint("\n".join(template.statements + template.unparsed)).hashes)

    groups: dict[str, list[str]] = defaultdict(list)
    fingerprints, prints = {}, {}
    for sid, cells in submissions:
        own = _own_parts(cells, cache)
        code = _own_code(own, template)
        if code not in prints:  # copies, the case this is for, are fingerprinted once
            prints[code] = _without(_fingerprint(code), boilerplate)
        fingerprint = prints[code]
        if fingerprint.token_coverage < min_own_chars:
            continue  # blank or nearly: nothing of the student's own to compare
        fingerprints[sid] = fingerprint
        key = _identity_key(own, template)
        if key is not None:
            groups[key].append(sid)
    identical = sorted(sorted(group) for group in groups.values() if len(group) > 1)
    group_of = {sid: tuple(group) for group in identical for sid in group}

    near = []
    ids = sorted(fingerprints)
    scorer = _PairScorer([fingerprints[sid] for sid in ids])
    for a, b in scorer.candidates(threshold):
        first, second = ids[a], ids[b]
        if first in group_of and group_of.get(second) == group_of[first]:
            continue
        value = scorer.similarity(a, b)
        if value > 0 and value >= threshold:
            near.append({"a": first, "b": second, "similarity": round(value, 4)})
    near.sort(key=lambda pair: (-pair["similarity"], pair["a"], pair["b"]))
    return {"identical": identical, "near": near, "flags": _flags(identical, near)}


def _flags(identical: list[list[str]], near: list[dict]) -> dict[str, str]:
    flags = {}
    for group in identical:
        for sid in group:
            others = [other for other in group if other != sid]
            more = f" and {len(others) - 1} more" if len(others) > 1 else ""
            flags[sid] = f"identical to {others[0]}{more}"
    for pair in near:  # sorted by similarity: the first pair naming a submission is its closest
        for sid, other in ((pair["a"], pair["b"]), (pair["b"], pair["a"])):
            if sid not in flags:
                flags[sid] = f"similar to {other} ({round(100 * pair['similarity'])}%)"
    return dict(sorted(flags.items()))


# --------------------------------------------------------------------------------------------
# Reading a graded class


def template_notebook(bundle_dir: str | Path, assignment: str) -> Path | None:
    """The student template notebook of a bundle.

    A bundle (``build/<hw>/``) holds tests and expected values but not the notebook students
    received; that is ``student_template/<hw>/<hw>.ipynb`` of the checkout the bundle was built
    in (``build/<hw>/`` sits in ``<repository>/build/``), else of this package's checkout.
    """
    from autograder.release.bundles import default_repo_root

    bundle_dir = Path(bundle_dir).resolve()
    for root in (bundle_dir.parent.parent, default_repo_root()):
        candidate = Path(root) / "student_template" / assignment / f"{assignment}.ipynb"
        if candidate.is_file():
            return candidate
    return None


def load_class_code(out_dir_or_store, bundle) -> tuple[list[tuple[str, list[str]]], list[str]]:
    """The code cells of every stored submission and of the template, for ``find_similar``.

    ``out_dir_or_store``: an output folder (its ``results.sqlite``) or an open ``Store``;
    ``bundle``: a ``grade.bundle.Bundle``. Each submission is read again from its store row's
    ``source`` with ``inputs.load_cells`` (same caps, same zip checks, nothing executed); a
    submission whose file is gone or unreadable is left out. Returns (submissions, template
    cells); the template cells are empty when the template notebook cannot be found.
    """
    from autograder.grade.inputs import (
        KINDS,
        SubmissionInputError,
        _folder_notebook,
        load_cells,
        notebook_cells,
    )
    from autograder.grade.store import Store

    own_store = not isinstance(out_dir_or_store, Store)
    store = Store(Path(out_dir_or_store) / "results.sqlite") if own_store else out_dir_or_store
    try:
        rows = store.submissions()
    finally:
        if own_store:
            store.close()
    submissions = []
    for row in rows:
        path = Path(row["source"])
        if not row["source"] or not path.exists():
            continue
        kind = row["kind"] or KINDS.get(path.suffix.lower(), "notebook")
        file = path
        if kind == "folder":
            file = _folder_notebook(path, bundle.assignment) or path
        task = {"id": row["id"], "kind": kind, "path": str(path), "file": str(file),
                "content_hash": row["content_hash"]}
        try:
            cells, _ = load_cells(task, bundle.assignment)
        except (SubmissionInputError, OSError):
            continue
        submissions.append((row["id"], cells))
    notebook = template_notebook(bundle.dir, bundle.assignment)
    template_cells: list[str] = []
    if notebook is not None:
        try:
            template_cells, _ = notebook_cells(notebook.read_bytes(), notebook.name)
        except (SubmissionInputError, OSError):
            template_cells = []
    return submissions, template_cells
