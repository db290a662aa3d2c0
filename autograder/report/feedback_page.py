"""One self-contained HTML feedback page per submission, from what the store holds.

The page shows the total and the status (with the grader's message: a dropped cell, a time-out),
the score of every question and case, each failed case's message (its hint included) and the
pictures of its attachments (curves, error maps, expected vs got), and the student's captured
output, bounded.

Hidden cases follow the assignment's hidden visibility (``assignment.toml`` [results], the same
value Gradescope's results use): unless it is ``visible``, a hidden case shows its name, points
and whether it passed, and neither its message nor its pictures, which hold hidden expected
values. Everything else is escaped by the page's Jinja environment (``html_page``).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import PurePath

from autograder.report import plots
from autograder.report.explain import output_was_cut, status_text
from autograder.report.html_page import environment, format_number

#: Characters of captured output a page shows (the worker already keeps at most 20,000).
MAX_PAGE_OUTPUT = 10_000
#: Entries of got and expected together up to which an ``arrays`` attachment is a table.
MAX_TABLE_ENTRIES = 50

_PAGE = """{% extends "frame.html" %}
{% block head %}<meta name="autograder-page" content="{{ page_key }}">{% endblock %}
{% block body %}
<h1>Feedback: {{ sid }}</h1>
<p class="muted">{{ assignment }}{% if source %} &middot; graded from {{ source }}{% endif %}</p>
<p><strong>Total: {{ score|num }} / {{ max_score|num }}</strong>
 &middot; status: <strong>{{ status }}</strong></p>
{% if message %}<pre class="note">{{ message }}</pre>{% endif %}

<h2>Questions</h2>
<table>
<tr><th>question</th><th class="num">score</th><th class="num">out of</th>
<th class="num">cases passed</th></tr>
{% for q in questions %}
<tr><td><a href="#q-{{ loop.index }}">{{ q.name }}</a></td><td class="num">{{ q.score|num }}</td>
<td class="num">{{ q.max_score|num }}</td><td class="num">{{ q.passed }} / {{ q.cases|length }}</td></tr>
{% endfor %}
</table>

{% for q in questions %}
<h2 id="q-{{ loop.index }}">{{ q.name }}: {{ q.score|num }} / {{ q.max_score|num }}</h2>
{% if not q.cases %}<p class="muted">No case of this question was run.</p>{% endif %}
{% for c in q.cases %}
<div class="case {{ 'passed' if c.passed else 'failed' }}">
<h3><span class="{{ 'pass' if c.passed else 'fail' }}">{{ 'passed' if c.passed else 'failed' }}</span>
 {{ c.name }} <span class="muted">({{ c.score|num }} / {{ c.points|num }} points{% if c.hidden %}, hidden test{% endif %})</span></h3>
{% if c.withheld %}
<p class="muted">Hidden test: its message and pictures are not shown.</p>
{% else %}
{% if not c.passed and c.message %}<pre>{{ c.message }}</pre>{% endif %}
{% if c.pictures %}
{% if c.passed %}<details><summary>pictures ({{ c.pictures|length }})</summary>{% endif %}
{% for p in c.pictures %}
{% if p.table is not none %}
<figure><figcaption>{{ p.title }}</figcaption>
<div class="side">
{% for side in p.table %}
<div><p class="muted">{{ side.label }} {{ side.shape }}</p>
<table>{% for row in side.rows %}<tr>{% for cell in row %}<td class="num{{ ' bad' if cell.bad }}">{{ cell.text }}</td>{% endfor %}</tr>{% endfor %}</table>
</div>
{% endfor %}
</div>
{% if p.note %}<figcaption>{{ p.note }}</figcaption>{% endif %}
</figure>
{% else %}
<figure><img src="{{ p.uri }}" alt="{{ p.alt }}"><figcaption>{{ p.caption }}</figcaption></figure>
{% endif %}
{% endfor %}
{% if c.passed %}</details>{% endif %}
{% endif %}
{% endif %}
</div>
{% endfor %}
{% endfor %}

<h2>Output of your notebook</h2>
{% if output %}
{% if output_note %}<p class="note">{{ output_note }}</p>{% endif %}
<pre>{{ output }}</pre>
{% else %}
<p class="muted">Nothing was printed.</p>
{% endif %}
{% endblock %}
"""

_ENV = environment({"feedback.html": _PAGE})


@dataclass
class _Question:
    name: str
    score: float
    max_score: float
    cases: list[dict] = field(default_factory=list)

    @property
    def passed(self) -> int:
        return sum(1 for c in self.cases if c["passed"])


def feedback_html(submission: dict, questions: list[dict], cases: list[dict], *,
                  hidden_visibility: str, assignment: str = "", page_key: str = "",
                  drawn: dict[str, dict] | None = None) -> str:
    """The page of one submission: ``submission`` a ``Store.submissions()`` row, ``questions``
    and ``cases`` what ``Store.questions`` / ``Store.cases`` return for it. ``page_key`` is
    written into the page (``pages`` compares it to skip unchanged pages); ``drawn``, a dict
    the caller keeps across the pages of one class, reuses the picture of an attachment already
    drawn (the passed cases of correct submissions carry the same curves)."""
    drawn = {} if drawn is None else drawn
    show_hidden = hidden_visibility == "visible"
    by_name = {q["name"]: _Question(q["name"], q["score"], q["max_score"]) for q in questions}
    for case in cases:
        question = by_name.setdefault(case["question"], _Question(case["question"], 0.0, 0.0))
        withheld = bool(case["hidden"]) and not show_hidden
        question.cases.append({
            "name": case["name"],
            "hidden": bool(case["hidden"]),
            "passed": bool(case["passed"]),
            "points": case["points"],
            "score": case["score"],
            "withheld": withheld,
            # withheld: not even handed to the template
            "message": "" if withheld else str(case["message"]),
            "pictures": [] if withheld else [_drawn(a, drawn) for a in case.get("attachments") or []
                                             if isinstance(a, dict)],
        })
    output, output_note = bounded_output(str(submission.get("output") or ""))
    return _ENV.get_template("feedback.html").render(
        title=f"Feedback: {submission['id']}",
        page_key=page_key,
        sid=submission["id"],
        assignment=assignment,
        # the file's name only: the folder it was graded from is the instructor's business
        source=PurePath(str(submission.get("source") or "")).name,
        score=submission["score"],
        max_score=submission["max_score"],
        status=status_text(submission),
        message=submission.get("message") or "",
        questions=list(by_name.values()),
        output=output,
        output_note=output_note,
    )


def bounded_output(output: str) -> tuple[str, str]:
    """The output a page shows (its head and its tail when it is long: the cut markers and the
    last lines printed are at the end) and a note saying what was cut (empty if nothing)."""
    notes = []
    if output_was_cut({"output": output}):
        notes.append("The grader kept only part of what the notebook printed (see the marker "
                     "in the text).")
    if len(output) > MAX_PAGE_OUTPUT:
        head, tail = MAX_PAGE_OUTPUT * 4 // 5, MAX_PAGE_OUTPUT // 5
        hidden = len(output) - head - tail
        notes.append(f"Output cut on this page: {len(output):,} characters, the first {head:,} "
                     f"and the last {tail:,} shown.")
        output = (output[:head] + f"\n[... {hidden:,} characters not shown here ...]\n"
                  + output[-tail:])
    return output, " ".join(notes)


# -- attachments -------------------------------------------------------------------------------

def _drawn(att: dict, drawn: dict[str, dict]) -> dict:
    key = json.dumps(att, sort_keys=True, allow_nan=True)
    if key not in drawn:
        drawn[key] = _picture(att)
    return drawn[key]


def _picture(att: dict) -> dict:
    """What the template shows for one attachment: an image (data URI, alt text, caption) or,
    for small arrays, two tables. An attachment of an unknown kind says so."""
    kind = att.get("kind")
    title = str(att.get("title") or kind or "")
    if kind == "curve":
        caption = ("Your run against the reference's, log scale; the shaded band is the "
                   "tolerance around the reference." if att.get("expected") is not None
                   else "Your run, log scale" + (", against the convergence threshold."
                                                 if att.get("tol") else "."))
        return _image(plots.curve(att), f"curve: {title}", caption)
    if kind == "heatmap":
        return _image(plots.heatmap(att), f"relative error per entry: {title}",
                      "Relative error of each entry; the colour bar is marked at rtol.")
    if kind == "arrays":
        table = _array_tables(att)
        if table is not None:
            return {"table": table, "title": title, "note": _shape_note(att)}
        return _image(plots.arrays(att), f"expected and your result: {title}",
                      "Expected (left) and your result (right) on one colour scale; red dots "
                      "mark entries that differ. " + _shape_note(att))
    return {"table": [], "title": f"{title} (a picture of kind {kind!r} this page cannot draw)",
            "note": ""}


def _image(uri: str, alt: str, caption: str) -> dict:
    return {"table": None, "uri": uri, "alt": alt, "caption": caption}


def _shape_note(att: dict) -> str:
    got, expected = att.get("shape_got"), att.get("shape_expected")
    if got is not None and expected is not None and list(got) != list(expected):
        return f"Shapes differ: yours is {tuple(got)}, expected {tuple(expected)}."
    return ""


def _rows(value) -> list[list]:
    """Nested lists (or one number) as rows of leaves: a number is one row of one, a vector one
    row, a matrix its rows, higher dimensions flattened after the first axis."""
    if not isinstance(value, list):
        return [[value]]
    if not any(isinstance(v, list) for v in value):
        return [list(value)]
    return [_flatten(row) for row in value]


def _flatten(value) -> list:
    if not isinstance(value, list):
        return [value]
    return [leaf for item in value for leaf in _flatten(item)]


def _array_tables(att: dict) -> list[dict] | None:
    expected, got = _rows(att.get("expected")), _rows(att.get("got"))
    if sum(len(r) for r in expected) + sum(len(r) for r in got) > MAX_TABLE_ENTRIES:
        return None
    mismatch = att.get("mismatch")
    bad = _rows(mismatch) if mismatch is not None else None
    if bad is not None and [len(r) for r in bad] != [len(r) for r in got]:
        bad = None

    def side(label, rows, shape, marks):
        return {"label": label, "shape": tuple(shape) if shape is not None else "",
                "rows": [[{"text": format_number(v), "bad": bool(marks and marks[i][j])}
                          for j, v in enumerate(row)] for i, row in enumerate(rows)]}

    return [side("expected", expected, att.get("shape_expected"), None),
            side("your result", got, att.get("shape_got"), bad)]
