"""The feedback pages and the class summary, read as HTML (no browser: tests/test_pages_browser.py).

A tiny class graded for real (tests/fixtures/pages_class.py) plus one stored result carrying
attachments of every kind. Expected scores come from the tiny assignment's tests (q1 and q2 worth
3 each: a public case of 1 point, a hidden one of 2); expected messages from its assert texts.
"""

from __future__ import annotations

import base64
import html
import shutil
import struct
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote

import pytest

from autograder.grade.store import Store
from autograder.report import plots
from autograder.report.feedback_page import MAX_PAGE_OUTPUT, bounded_output, feedback_html
from autograder.report.html_page import CONTENT_SECURITY_POLICY
from autograder.report.pages import feedback_file_name, write_pages
from tests.fixtures.pages_class import (
    HIDDEN_SECRET_MESSAGE,
    HIDDEN_SECRET_VALUE,
    IMG_PAYLOAD,
    JS_PAYLOAD,
    NAME_IMG,
    NAME_JS,
    NOTEBOOKS,
    PICTURES_ID,
    SCRIPT_PAYLOAD,
    curve_attachment,
    shared_graded_class,
    tiny_manifest,
)

SIMILARITY = {"identical": [["correct", NAME_JS]],
              "near": [{"a": NAME_IMG, "b": "partial", "similarity": 0.97}]}
# the tiny assignment's hidden q2 case fails on ADD_ROWS_WRONG with this text (its assert)
HIDDEN_Q2_TEXT = "shape (5,), expected (4,)"
PUBLIC_Q2_TEXT = "shape (2,), expected (3,): add the rows, not the columns"


class Page(HTMLParser):
    """Tags with their attributes, the text, and the <img> sources of one page."""

    def __init__(self, text: str):
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict]] = []
        self.text_parts: list[str] = []
        self.feed(text)

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))

    def handle_data(self, data):
        self.text_parts.append(data)

    @property
    def text(self) -> str:
        """The text, a space between elements, runs of white space as one space."""
        return " ".join(" ".join(self.text_parts).split())

    def all(self, tag: str) -> list[dict]:
        return [attrs for name, attrs in self.tags if name == tag]


def png_size(uri: str) -> tuple[int, int]:
    assert uri.startswith("data:image/png;base64,")
    data = base64.b64decode(uri.split(",", 1)[1], validate=True)
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and data[12:16] == b"IHDR"
    return struct.unpack(">II", data[16:24])


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    out = tmp_path_factory.mktemp("pages") / "out"
    shutil.copytree(shared_graded_class(tmp_path_factory), out)
    return out


@pytest.fixture(scope="module")
def written(graded):
    with Store(graded / "results.sqlite") as store:
        return write_pages(graded, store, tiny_manifest(), similarity=SIMILARITY, elapsed_s=12.5)


def _page(written, sid) -> str:
    return written["feedback"][sid].read_text(encoding="utf-8")


# -- content -----------------------------------------------------------------------------------

def test_one_page_per_submission_with_safe_names(graded, written):
    ids = set(NOTEBOOKS) | {PICTURES_ID}
    assert set(written["feedback"]) == ids
    files = sorted(p.name for p in (graded / "feedback").iterdir())
    assert files == sorted(feedback_file_name(sid) for sid in ids)
    for name in files:
        assert "<" not in name and "'" not in name and ":" not in name and "/" not in name
    assert not list(graded.rglob("*.tmp"))


def test_scores_per_question_and_case(written):
    page = Page(_page(written, "partial"))
    assert "Total: 3 / 6" in page.text
    assert "q1: 3 / 3" in page.text and "q2: 0 / 3" in page.text
    assert PUBLIC_Q2_TEXT in page.text  # the failed public case's message
    assert page.text.count("failed") >= 2 and page.text.count("passed") >= 2
    full = Page(_page(written, "correct"))
    assert "Total: 6 / 6" in full.text and "status: graded" in full.text


def test_page_names_the_file_not_the_instructors_folder(graded, written):
    text = _page(written, "partial")
    assert "graded from partial.ipynb" in Page(text).text
    assert str(graded.parent) not in text


def test_status_in_words_and_the_grader_message(written):
    page = Page(_page(written, PICTURES_ID))
    assert "graded; code cell 4 dropped: memory limit" in page.text
    assert "graded again without that cell" in page.text


def test_page_has_csp_and_no_script(written):
    for path in written["feedback"].values():
        page = Page(path.read_text(encoding="utf-8"))
        metas = [m for m in page.all("meta") if m.get("http-equiv") == "Content-Security-Policy"]
        assert [m["content"] for m in metas] == [CONTENT_SECURITY_POLICY]
        assert not page.all("script") and not page.all("iframe") and not page.all("link")
    assert "default-src 'none'" in CONTENT_SECURITY_POLICY
    assert "img-src data:" in CONTENT_SECURITY_POLICY and "script-src" not in CONTENT_SECURITY_POLICY


# -- hidden cases ------------------------------------------------------------------------------

def _render(graded: Path, sid: str, visibility: str) -> str:
    with Store(graded / "results.sqlite") as store:
        sub = next(s for s in store.submissions() if s["id"] == sid)
        return feedback_html(sub, store.questions(sid), store.cases(sid),
                             hidden_visibility=visibility)


@pytest.mark.parametrize("visibility", ["hidden", "after_due_date", None])
def test_hidden_cases_show_name_points_and_outcome_only(graded, written, visibility):
    # None: the tiny assignment's own (default) visibility, as write_pages wrote the pages
    if visibility is None:
        text, partial_text = _page(written, PICTURES_ID), _page(written, "partial")
    else:
        text, partial_text = (_render(graded, PICTURES_ID, visibility),
                              _render(graded, "partial", visibility))
    page = Page(text)
    assert "hidden trajectory" in page.text and "(0 / 1 points, hidden test)" in page.text
    for secret in ("HIDDEN-SECRET-MESSAGE", "0.7071067811865476", "31415.9", "secret"):
        assert secret not in text, secret
    assert str(HIDDEN_SECRET_VALUE) not in text
    # the real hidden case of the tiny assignment: its assert message stays out too
    assert HIDDEN_Q2_TEXT not in partial_text and PUBLIC_Q2_TEXT in html.unescape(partial_text)


def test_visible_hidden_cases_show_everything(graded):
    text = _render(graded, PICTURES_ID, "visible")
    assert HIDDEN_SECRET_MESSAGE in html.unescape(text)
    assert "31415.9" in text  # the hidden case's arrays table
    assert HIDDEN_Q2_TEXT in html.unescape(_render(graded, "partial", "visible"))


# -- attachments -------------------------------------------------------------------------------

def test_attachments_drawn_as_images(written):
    page = Page(_page(written, PICTURES_ID))
    images = page.all("img")
    # curve, convergence curve, heat map, large arrays panels; small arrays are a table and the
    # hidden case's picture is withheld
    assert len(images) == 4
    alts = [img["alt"] for img in images]
    assert any(a.startswith("curve: sgd on the quadratic bowl") for a in alts)
    assert any(a.startswith("curve: adam converges") for a in alts)
    assert any(a.startswith("relative error per entry") for a in alts)
    assert any(a.startswith("expected and your result: hidden_layer(X)") for a in alts)
    for img in images:
        width, height = png_size(img["src"])
        assert width >= 300 and height >= 100
    bad = [attrs for attrs in page.all("td") if "bad" in attrs.get("class", "")]
    assert len(bad) == 1  # w[1, 1] = 4.25 against 4.0: the one mismatching entry
    assert "4.25" in page.text
    # a passed case's pictures are folded away, a failed case's are not
    assert len(page.all("details")) == 1


def test_pictures_are_deterministic_bytes():
    assert plots.curve(curve_attachment()) == plots.curve(curve_attachment())


@pytest.mark.parametrize("attachment", [
    {"kind": "curve", "title": "all non-finite", "ylabel": "loss", "got": [None, None],
     "expected": None, "rtol": 0.0, "atol": 0.0, "first_diverging": 0, "tol": None},
    {"kind": "curve", "title": "touches zero", "ylabel": "loss - f*", "got": [1.0, 0.0, -1e-17],
     "expected": [1.0, 0.0, 0.0], "rtol": 1e-6, "atol": 0.0, "first_diverging": None, "tol": 1e-8},
    {"kind": "curve", "title": "thinned", "ylabel": "loss", "got": [3.0, 2.0, 1.0],
     "got_steps": [0, 500, 999], "expected": [3.0, 2.0, 0.5], "expected_steps": [0, 500, 999],
     "rtol": 1e-3, "atol": 1e-9, "first_diverging": 999, "tol": None},
    {"kind": "heatmap", "title": "nothing checked", "rel_error": [[None, None]], "rtol": 1e-5},
    {"kind": "heatmap", "title": "all exact", "rel_error": [[0.0, 0.0], [0.0, 0.0]], "rtol": 1e-5},
    {"kind": "arrays", "title": "shapes differ", "got": [float(i) for i in range(60)],
     "expected": [[1.0, 2.0], [3.0, 4.0]], "mismatch": None, "shape_got": [60],
     "shape_expected": [2, 2]},
    {"kind": "arrays", "title": "numbers", "got": 1.5, "expected": None, "mismatch": None,
     "shape_got": [], "shape_expected": []},
])
def test_edge_attachments_still_draw(attachment):
    sub = {"id": "x", "score": 0.0, "max_score": 1.0, "status": "graded", "message": "",
           "output": "", "source": ""}
    case = {"question": "q1", "name": "c", "hidden": False, "passed": False, "points": 1.0,
            "score": 0.0, "message": "m", "duration_s": 0.0, "attachments": [attachment]}
    page = Page(feedback_html(sub, [{"name": "q1", "score": 0.0, "max_score": 1.0}], [case],
                              hidden_visibility="hidden"))
    for img in page.all("img"):
        assert png_size(img["src"])[0] > 0
    assert page.all("img") or page.all("td")
    if attachment["title"] == "shapes differ":
        assert "Shapes differ: yours is (60,), expected (2, 2)." in page.text


def test_unknown_attachment_kind_is_named_not_drawn():
    sub = {"id": "x", "score": 0.0, "max_score": 1.0, "status": "graded", "message": "",
           "output": ""}
    case = {"question": "q1", "name": "c", "hidden": False, "passed": False, "points": 1.0,
            "score": 0.0, "message": "m", "duration_s": 0.0,
            "attachments": [{"kind": "<b>sound</b>", "title": "t"}]}
    text = feedback_html(sub, [], [case], hidden_visibility="hidden")
    assert "<b>" not in text and "cannot draw" in text


# -- output --------------------------------------------------------------------------------------

def test_cut_output_is_said(written):
    page = Page(_page(written, "floods"))
    assert "The grader kept only part of what the notebook printed" in page.text
    assert "more characters cut]" in page.text  # the worker's marker survives the page's cut


def test_bounded_output_keeps_head_and_tail():
    text = "".join(f"line {i}\n" for i in range(5000))
    shown, note = bounded_output(text)
    assert len(shown) < MAX_PAGE_OUTPUT + 100
    assert shown.startswith("line 0\n") and shown.endswith("line 4999\n")
    assert f"{len(text):,} characters" in note and "characters not shown here" in shown
    assert bounded_output("short\n") == ("short\n", "")


# -- escaping ------------------------------------------------------------------------------------

def _no_active_markup(text: str) -> None:
    page = Page(text)
    allowed = {"html", "head", "meta", "title", "style", "body", "h1", "h2", "h3", "p", "strong",
               "pre", "table", "tr", "th", "td", "a", "div", "span", "details", "summary",
               "figure", "figcaption", "img", "ul", "li", "code"}
    for tag, attrs in page.tags:
        assert tag in allowed, tag
        assert not [name for name in attrs if name.startswith("on")], (tag, attrs)
        for name in ("href", "src"):
            value = (attrs.get(name) or "").strip().lower()
            assert not value.startswith("javascript:"), (tag, attrs)
        if tag == "img":
            assert attrs["src"].startswith("data:image/png;base64,")
    for payload in (SCRIPT_PAYLOAD, IMG_PAYLOAD, JS_PAYLOAD, NAME_IMG):
        assert payload not in text


@pytest.mark.parametrize("sid", ["prints_markup", "raises_markup", NAME_IMG, NAME_JS])
def test_submission_controlled_text_is_escaped(written, sid):
    text = _page(written, sid)
    _no_active_markup(text)
    shown = Page(text).text
    assert sid in shown  # the id is shown, as text
    if sid == "prints_markup":
        assert SCRIPT_PAYLOAD in shown and IMG_PAYLOAD in shown and JS_PAYLOAD in shown
    if sid == "raises_markup":
        assert "ValueError: " + IMG_PAYLOAD + SCRIPT_PAYLOAD in shown


def test_summary_escapes_and_links_every_page(graded, written):
    text = written["summary"].read_text(encoding="utf-8")
    _no_active_markup(text)
    page = Page(text)
    hrefs = [a["href"] for a in page.all("a")]
    targets = {(graded / unquote(href)).resolve() for href in hrefs}
    assert {p.resolve() for p in written["feedback"].values()} <= targets
    assert all((graded / unquote(href)).is_file() for href in hrefs)
    assert NAME_IMG in page.text and "ValueError: <img" in page.text


# -- summary -------------------------------------------------------------------------------------

def test_summary_content(written):
    page = Page(written["summary"].read_text(encoding="utf-8"))
    text = page.text
    assert f"{len(NOTEBOOKS) + 1} submissions" in text
    assert "12.5 s for this run" in text
    # histograms: the total and each question
    assert [img["alt"] for img in page.all("img")] == ["histogram of total", "histogram of q1",
                                                       "histogram of q2"]
    for img in page.all("img"):
        assert png_size(img["src"])[0] > 0
    # the wrong add_rows (partial and the img-named submission) fails the public q2 case twice
    assert f"{PUBLIC_Q2_TEXT} 2" in text
    # the otter location line is not what a message "says"
    assert "Error at line" not in text
    # raises_markup's double raises in both q1 cases
    assert "ValueError: " + IMG_PAYLOAD + SCRIPT_PAYLOAD + " 2" in text


def test_summary_lists_what_needs_a_look_and_similarity(written):
    page = Page(written["summary"].read_text(encoding="utf-8"))
    text = page.text
    section = text.split("Submissions that need a look", 1)[1].split("Identical and near", 1)[0]
    assert "floods" in section and "printed output cut" in section
    assert PICTURES_ID in section and "graded; code cell 4 dropped: memory limit" in section
    assert "correct" not in section and "partial" not in section
    similar = text.split("Identical and near-identical submissions", 1)[1].split("All submissions")[0]
    assert f"correct , {NAME_JS}" in similar
    assert f"{NAME_IMG} partial 0.97" in similar


def test_page_of_a_vanished_submission_is_removed(graded, tmp_path):
    out = tmp_path / "copy"
    shutil.copytree(graded, out)
    with Store(out / "results.sqlite") as store:
        store.mark_present(sid for sid in [*NOTEBOOKS, PICTURES_ID] if sid != "floods")
        written = write_pages(out, store, tiny_manifest())
    assert "floods" not in written["feedback"]
    assert not (out / "feedback" / "floods.html").exists()
    assert "floods" not in written["summary"].read_text(encoding="utf-8")


def test_unchanged_pages_are_not_drawn_again(graded, tmp_path):
    out = tmp_path / "again"
    shutil.copytree(graded, out)
    with Store(out / "results.sqlite") as store:
        first = write_pages(out, store, tiny_manifest())
        inodes = {sid: path.stat().st_ino for sid, path in first["feedback"].items()}
        write_pages(out, store, tiny_manifest())  # same data, same code: nothing rewritten
        assert {sid: p.stat().st_ino for sid, p in first["feedback"].items()} == inodes
        # another visibility changes what the pages show: every page is drawn again
        visible = write_pages(out, store, tiny_manifest("visible"))
    assert all(p.stat().st_ino != inodes[sid] for sid, p in visible["feedback"].items())
    assert HIDDEN_SECRET_MESSAGE in html.unescape(visible["feedback"][PICTURES_ID].read_text())
