"""The report pages' pictures: attachments (``checks.attachments``) and score histograms drawn
with matplotlib into PNG data URIs.

Only drawing happens here: every number comes from the attachment, computed by the check when
the case ran. ``matplotlib.figure.Figure`` is used directly (its canvas is Agg when saving a PNG),
never ``pyplot``: no global figure registry to leak into or to clean up, and no GUI backend is
ever chosen. PNGs are written without a timestamp, so the same data gives the same bytes.
"""

from __future__ import annotations

import base64
import io
import math

import numpy as np
from matplotlib.colors import LogNorm
from matplotlib.figure import Figure
from matplotlib.ticker import (
    FuncFormatter,
    LogLocator,
    MaxNLocator,
    NullFormatter,
    NullLocator,
)

REFERENCE_COLOUR = "#1f77b4"
STUDENT_COLOUR = "#d62728"
BAND_COLOUR = "#9ecae1"
DPI = 100


def data_uri(fig: Figure) -> str:
    """The figure as a ``data:image/png;base64,...`` URI (no metadata: stable bytes)."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=DPI, metadata={"Software": None})
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def _floats(values) -> np.ndarray:
    """A list of floats/None (JSON) as a float array with NaN for None."""
    return np.array([np.nan if v is None else float(v) for v in values], dtype=np.float64)


def _grid(rows) -> np.ndarray:
    """Nested lists of floats/None (or one number) as a 2-D float array: a number is 1x1, a
    vector one row, higher dimensions (first axis, rest)."""
    array = np.array(_none_to_nan(rows), dtype=np.float64)
    if array.ndim == 0:
        return array.reshape(1, 1)
    if array.ndim == 1:
        return array.reshape(1, -1)
    return array.reshape(array.shape[0], -1)


def _none_to_nan(value):
    if isinstance(value, list):
        return [_none_to_nan(v) for v in value]
    return np.nan if value is None else value


# -- curves ------------------------------------------------------------------------------------

def curve(att: dict) -> str:
    """A student's curve against the reference's (when there is one) on a log y axis: the
    reference's tolerance band ``reference*(1±rtol)±atol`` shaded, the threshold ``tol`` as a
    horizontal line, the first diverging step as a vertical line."""
    got = _floats(att.get("got") or [])
    got_x = np.asarray(att.get("got_steps") or range(len(got)), dtype=np.float64)
    expected = att.get("expected")
    ref = _floats(expected) if expected is not None else None
    ref_x = (np.asarray(att.get("expected_steps") or range(len(ref)), dtype=np.float64)
             if ref is not None else None)
    rtol, atol = float(att.get("rtol") or 0.0), float(att.get("atol") or 0.0)
    tol, first = att.get("tol"), att.get("first_diverging")

    fig = Figure(figsize=(7.0, 3.6))
    ax = fig.add_subplot()
    shown = [got] + ([ref] if ref is not None else []) + ([np.array([tol])] if tol else [])
    scale = _choose_log_scale(ax, np.concatenate(shown) if shown else np.array([]))
    if ref is not None:
        if rtol > 0 or atol > 0:
            width = rtol * np.abs(ref) + atol
            lower, upper = ref - width, ref + width
            if scale == "log":  # the band's lower edge may reach 0: keep it on the axis
                floor = _smallest_positive(np.concatenate([ref, got])) / 10
                lower = np.maximum(lower, floor)
            ax.fill_between(ref_x, lower, upper, color=BAND_COLOUR, alpha=0.6, linewidth=0,
                            label=f"reference ± tolerance (rtol={rtol:g}, atol={atol:g})")
        ax.plot(ref_x, ref, color=REFERENCE_COLOUR, linewidth=1.6, label="reference")
    ax.plot(got_x, got, color=STUDENT_COLOUR, linewidth=1.4,
            linestyle="--" if ref is not None else "-", label="your code")
    if tol:
        ax.axhline(float(tol), color="#2ca02c", linewidth=1.2, linestyle=":",
                   label=f"threshold tol={float(tol):g}")
    if first is not None:
        ax.axvline(float(first), color="#555", linewidth=1.0, linestyle="-.",
                   label=f"first diverging step: {int(first)}")
        at = np.flatnonzero(got_x == float(first))
        if at.size and math.isfinite(got[at[0]]) and (scale != "log" or got[at[0]] > 0):
            ax.plot([float(first)], [got[at[0]]], marker="o", color=STUDENT_COLOUR, markersize=6)
    missing = int(np.count_nonzero(~np.isfinite(got)))
    xlabel = "step"
    if missing:
        xlabel += f"   ({missing} non-finite value{'s' if missing > 1 else ''} of your code not drawn)"
    ax.set_xlabel(xlabel)
    ax.set_ylabel(str(att.get("ylabel") or "value") + ("" if scale == "log" else f" ({scale} scale)"))
    ax.set_title(str(att.get("title") or ""), fontsize=10)
    ax.grid(True, which="major", alpha=0.3)
    ax.legend(fontsize=8, loc="upper right")
    fig.subplots_adjust(left=0.11, right=0.97, top=0.92, bottom=0.15)
    return data_uri(fig)


def _smallest_positive(values: np.ndarray) -> float:
    positive = values[np.isfinite(values) & (values > 0)]
    return float(positive.min()) if positive.size else 1e-12


def _choose_log_scale(ax, values: np.ndarray) -> str:
    """Log scale when every finite value is positive, symmetric log when some are not (a loss
    minus f* can touch 0 or dip below by rounding), linear when nothing is finite."""
    finite = values[np.isfinite(values)]
    if finite.size == 0:
        return "linear"
    if np.all(finite > 0):
        ax.set_yscale("log")
        _plain_log_labels(ax.yaxis)
        decades = np.log10(finite.max() / finite.min())
        if decades < 1:  # decades alone would label one tick, or none
            ax.yaxis.set_major_locator(MaxNLocator(nbins=5))
        elif decades < 2:
            ax.yaxis.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
        return "log"
    ax.set_yscale("symlog", linthresh=_smallest_positive(np.abs(finite)))
    _plain_log_labels(ax.yaxis)
    return "symmetric log"


def _plain_log_labels(axis) -> None:
    """Decades labelled "0.001", "1e-05" in plain text: matplotlib's default mathtext labels
    ("10^-5") cost most of a picture's drawing time, and a class has hundreds of pictures."""
    axis.set_major_formatter(FuncFormatter(lambda value, _pos: f"{value:g}"))
    axis.set_minor_locator(NullLocator())  # (minor ticks: most of the rest of that time)
    axis.set_minor_formatter(NullFormatter())


# -- error maps --------------------------------------------------------------------------------

def heatmap(att: dict) -> str:
    """The per-entry relative error as a heat map (log colours), the colour bar marked at rtol;
    grey entries are not checked or not finite."""
    rel = _grid(att.get("rel_error") or [[]])
    rtol = float(att.get("rtol") or 0.0)
    finite = rel[np.isfinite(rel)]
    positive = finite[finite > 0]
    vmax = max(float(positive.max()) if positive.size else 1.0, rtol * 10 if rtol else 1.0)
    vmin = min(float(positive.min()) if positive.size else vmax / 1e3, rtol / 10 if rtol else vmax)
    vmin = min(vmin, vmax / 10)
    rows, cols = rel.shape
    fig = Figure(figsize=(7.0, 1.6 + min(4.0, 0.35 * rows) if rows < 4 else 4.6))
    ax = fig.add_subplot()
    image = ax.imshow(np.clip(rel, vmin, None), norm=LogNorm(vmin=vmin, vmax=vmax), cmap=_cmap(),
                      aspect="auto", interpolation="nearest")
    bar = fig.colorbar(image, ax=ax, fraction=0.05, pad=0.03)
    _plain_log_labels(bar.ax.yaxis)
    bar.set_label("relative error" + ("  (black line: rtol)" if rtol > 0 else ""))
    if rtol > 0:
        bar.ax.axhline(rtol, color="black", linewidth=2.5)
    over = int(np.count_nonzero(finite > rtol)) if rtol > 0 else int(np.count_nonzero(finite))
    unknown = int(np.count_nonzero(~np.isfinite(rel)))
    title = str(att.get("title") or "relative error per entry")
    detail = f"{over} of {rel.size} entries above rtol={rtol:g}" + (
        f", {unknown} grey (not checked or non-finite)" if unknown else "")
    ax.set_title(f"{title}\n{detail}", fontsize=9)
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel("column" if rows > 1 else "entry")
    if rows > 1:
        ax.set_ylabel("row")
    else:
        ax.set_yticks([])
    fig.subplots_adjust(left=0.09, right=0.84, top=0.85, bottom=0.14)
    return data_uri(fig)


def _cmap():
    from matplotlib import colormaps

    return colormaps["viridis"].with_extremes(bad="#bbbbbb")


# -- arrays ------------------------------------------------------------------------------------

def arrays(att: dict) -> str:
    """Expected and got as two heat-map panels on one colour scale; entries that mismatch are
    marked with a red dot on the got panel."""
    got, expected = _grid(att.get("got")), _grid(att.get("expected"))
    both = np.concatenate([got.ravel(), expected.ravel()])
    finite = both[np.isfinite(both)]
    vmin, vmax = (float(finite.min()), float(finite.max())) if finite.size else (0.0, 1.0)
    if vmin == vmax:
        vmin, vmax = vmin - 1.0, vmax + 1.0
    fig = Figure(figsize=(9.0, 3.8))
    axes = fig.subplots(1, 2)
    image = None
    for ax, values, label in ((axes[0], expected, "expected"), (axes[1], got, "your result")):
        image = ax.imshow(values, vmin=vmin, vmax=vmax, cmap=_cmap(), aspect="auto",
                          interpolation="nearest")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.yaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_title(f"{label} {tuple(values.shape)}", fontsize=9)
    mismatch = att.get("mismatch")
    if mismatch is not None:
        mask = _grid(mismatch).astype(bool)
        if mask.shape == got.shape:
            rows, cols = np.nonzero(mask)
            axes[1].scatter(cols, rows, s=10, c="red", marker="o", label="differs")
            if rows.size:
                axes[1].legend(fontsize=8, loc="upper right")
    fig.colorbar(image, ax=axes, shrink=0.9)
    fig.suptitle(str(att.get("title") or ""), fontsize=10)
    return data_uri(fig)


# -- histograms (summary page) -----------------------------------------------------------------

def histogram(scores: list[float], max_score: float, title: str) -> str:
    """Scores of the class on one question (or the total), one bar per score band."""
    fig = Figure(figsize=(4.2, 2.8))
    ax = fig.add_subplot()
    values = np.asarray(scores, dtype=np.float64)
    top = max(float(max_score), float(values.max()) if values.size else 0.0, 1.0)
    distinct = np.unique(values)
    if distinct.size and distinct.size <= 12 and np.allclose(distinct, np.round(distinct * 2) / 2):
        # few scores on a half-point grid (the usual case): one bar per score
        edges = np.arange(-0.25, top + 0.5, 0.5)
    else:
        edges = np.linspace(0.0, top, 11)
    ax.hist(values, bins=edges, color=REFERENCE_COLOUR, edgecolor="white")
    ax.set_xlim(-0.5, top + 0.5)
    ax.set_xlabel(f"score (out of {max_score:g})")
    ax.set_ylabel("submissions")
    ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    if distinct.size and np.all(distinct == np.round(distinct)):
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_title(title, fontsize=10)
    fig.subplots_adjust(left=0.16, right=0.96, top=0.88, bottom=0.19)
    return data_uri(fig)
