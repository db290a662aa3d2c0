"""The class summary page (``OUT/summary.html``), for the instructor.

It shows the score distribution of the total and of each question (histograms), the most common
failure message of each question (the first line of a failed case's message, with its count),
the submissions that need a look (status other than ``graded``, output cut, a cell dropped or
left out), identical and near-identical submissions (computed elsewhere and passed in as a plain
dict), the grading time, and every submission with a link to its feedback page.

The page is for staff: hidden cases' messages are counted like public ones. Every value written
by a student (ids, messages, output) is escaped by the page's Jinja environment (``html_page``).
"""

from __future__ import annotations

import re
import statistics
from collections import Counter

from autograder.report import explain, plots
from autograder.report.html_page import environment

#: Failure messages listed per question: the most common first.
TOP_MESSAGES = 3
#: Words of a submission's message that say part of it was not graded as written.
_DROPPED = re.compile(r"\b(dropped|left out|cut|truncated|skipped)\b", re.IGNORECASE)

_PAGE = """{% extends "frame.html" %}
{% block body %}
<h1>Class summary{% if assignment %}: {{ assignment }}{% endif %}</h1>
<p>{{ n }} submission{{ '' if n == 1 else 's' }}{% if n %}; total mean {{ mean|num(4) }},
 median {{ median|num(4) }} of {{ max_total|num }}{% endif %}.
 {% for status, count in by_status %}<strong>{{ status }}</strong>: {{ count }}{{ ', ' if not loop.last }}{% endfor %}</p>
<p>Grading time: {% if elapsed_s is not none %}{{ elapsed_s|num(4) }} s for this run (wall clock); {% endif %}
sandbox time {{ execution_total|num(4) }} s over all submissions{% if n %}, {{ execution_mean|num(3) }} s each on average,
slowest {{ slowest.id }} ({{ slowest.time|num(3) }} s){% endif %}.</p>

<h2>Score distribution</h2>
<div class="grid">
{% for h in histograms %}
<figure><img src="{{ h.uri }}" alt="histogram of {{ h.name }}"><figcaption>{{ h.name }}: mean {{ h.mean|num(4) }} of {{ h.max|num }}</figcaption></figure>
{% endfor %}
</div>

<h2>Most common failures</h2>
<table>
<tr><th>question</th><th class="num">failed cases</th><th>message (first line)</th><th class="num">count</th><th>cases</th></tr>
{% for q in failures %}
{% if q.top %}
{% for m in q.top %}
<tr>{% if loop.first %}<td rowspan="{{ q.top|length }}">{{ q.name }}</td><td class="num" rowspan="{{ q.top|length }}">{{ q.failed }}</td>{% endif %}
<td><code>{{ m.line }}</code></td><td class="num">{{ m.count }}</td><td>{{ m.cases }}</td></tr>
{% endfor %}
{% else %}
<tr><td>{{ q.name }}</td><td class="num">0</td><td class="muted" colspan="3">every case passed</td></tr>
{% endif %}
{% endfor %}
</table>

<h2>Submissions that need a look</h2>
{% if problems %}
<table>
<tr><th>submission</th><th>stored status</th><th class="num">total</th><th>why</th></tr>
{% for p in problems %}
<tr><td><a href="{{ p.href }}">{{ p.id }}</a></td><td>{{ p.status }}</td><td class="num">{{ p.score|num }}</td><td>{{ p.why }}</td></tr>
{% endfor %}
</table>
{% else %}
<p class="muted">None: every submission was graded in full.</p>
{% endif %}

<h2>Identical and near-identical submissions</h2>
{% if similarity is none %}
<p class="muted">Similarity was not computed for this run.</p>
{% else %}
{% if identical %}
<h3>Identical</h3>
<ul>{% for group in identical %}<li>{% for s in group %}{% if s.href %}<a href="{{ s.href }}">{{ s.id }}</a>{% else %}{{ s.id }}{% endif %}{{ ', ' if not loop.last }}{% endfor %}</li>{% endfor %}</ul>
{% else %}<p class="muted">No identical submissions.</p>{% endif %}
{% if near %}
<h3>Near-identical</h3>
<table><tr><th>submission</th><th>submission</th><th class="num">similarity</th></tr>
{% for pair in near %}
<tr>{% for s in (pair.a, pair.b) %}<td>{% if s.href %}<a href="{{ s.href }}">{{ s.id }}</a>{% else %}{{ s.id }}{% endif %}</td>{% endfor %}
<td class="num">{{ pair.similarity|num(3) }}</td></tr>
{% endfor %}
</table>
{% else %}<p class="muted">No near-identical submissions.</p>{% endif %}
{% endif %}

<h2>All submissions</h2>
<table>
<tr><th>submission</th><th>status</th>{% for name in question_names %}<th class="num">{{ name }}</th>{% endfor %}<th class="num">total</th></tr>
{% for row in rows %}
<tr><td><a href="{{ row.href }}">{{ row.id }}</a></td><td>{{ row.status }}</td>
{% for score in row.scores %}<td class="num">{{ score|num }}</td>{% endfor %}<td class="num">{{ row.score|num }}</td></tr>
{% endfor %}
</table>
{% endblock %}
"""

_ENV = environment({"summary.html": _PAGE})


def summary_html(entries: list[dict], *, question_names: list[str], question_max: dict[str, float],
                 hrefs: dict[str, str], assignment: str = "", similarity: dict | None = None,
                 elapsed_s: float | None = None) -> str:
    """The summary page. ``entries``: per submission ``{"submission": row, "questions":
    {name: score}, "cases": [...]}`` (store rows); ``hrefs``: submission id -> link to its page;
    ``similarity``: ``{"identical": [[sid, ...], ...], "near": [{"a", "b", "similarity"}]}``."""
    subs = [e["submission"] for e in entries]
    totals = [float(s["score"]) for s in subs]
    max_total = float(sum(question_max.values())) or max((float(s["max_score"]) for s in subs),
                                                         default=0.0)
    times = [(float(s["execution_time"]), s["id"]) for s in subs]
    slowest = max(times, default=(0.0, ""))
    return _ENV.get_template("summary.html").render(
        title=f"Class summary: {assignment}" if assignment else "Class summary",
        assignment=assignment,
        n=len(subs),
        mean=statistics.fmean(totals) if totals else 0.0,
        median=statistics.median(totals) if totals else 0.0,
        max_total=max_total,
        by_status=sorted(Counter(s["status"] for s in subs).items()),
        elapsed_s=elapsed_s,
        execution_total=sum(t for t, _ in times),
        execution_mean=statistics.fmean(t for t, _ in times) if times else 0.0,
        slowest={"id": slowest[1], "time": slowest[0]},
        histograms=_histograms(entries, question_names, question_max, max_total),
        failures=[_failures(entries, name) for name in question_names],
        problems=[p for p in (_problem(e, hrefs) for e in entries) if p],
        similarity=similarity,
        identical=[[_link(sid, hrefs) for sid in group]
                   for group in (similarity or {}).get("identical") or []],
        near=[{"a": _link(p["a"], hrefs), "b": _link(p["b"], hrefs),
               "similarity": float(p["similarity"])}
              for p in (similarity or {}).get("near") or []],
        question_names=question_names,
        rows=[{"id": s["id"], "href": hrefs.get(s["id"], ""), "status": s["status"],
               "score": s["score"], "scores": [e["questions"].get(n) for n in question_names]}
              for e, s in zip(entries, subs)],
    )


def _link(sid, hrefs: dict[str, str]) -> dict:
    return {"id": str(sid), "href": hrefs.get(sid, "")}


def _histograms(entries, question_names, question_max, max_total) -> list[dict]:
    pictures = []
    columns = [("total", [float(e["submission"]["score"]) for e in entries], max_total)]
    columns += [(name, [float(e["questions"].get(name) or 0.0) for e in entries],
                 float(question_max.get(name, 0.0))) for name in question_names]
    for name, scores, top in columns:
        pictures.append({"name": name, "max": top, "mean": statistics.fmean(scores) if scores else 0.0,
                         "uri": plots.histogram(scores, top, name)})
    return pictures


def first_line(message: str) -> str:
    """What a message says first (``explain.first_line``: otter's "Error at line N" and the
    quoted test line skipped), bounded: what the failure table groups by."""
    line = explain.first_line(message) or "(no message)"
    return line if len(line) <= 240 else line[:237] + "..."


def _failures(entries, question: str) -> dict:
    lines: Counter = Counter()
    cases: dict[str, Counter] = {}
    failed = 0
    for entry in entries:
        for case in entry["cases"]:
            if case["question"] != question or case["passed"]:
                continue
            failed += 1
            line = first_line(case["message"])
            lines[line] += 1
            cases.setdefault(line, Counter())[case["name"]] += 1
    top = [{"line": line, "count": count,
            "cases": ", ".join(name for name, _ in cases[line].most_common(3))
                     + (", ..." if len(cases[line]) > 3 else "")}
           for line, count in lines.most_common(TOP_MESSAGES)]
    return {"name": question, "failed": failed, "top": top}


def _problem(entry: dict, hrefs: dict[str, str]) -> dict | None:
    """Why a submission needs a look, or None: not graded in full, output cut, a cell dropped."""
    sub = entry["submission"]
    why = []
    message = str(sub.get("message") or "")
    if sub["status"] != "graded" or _DROPPED.search(message):
        why.append(explain.status_text(sub))
        if message:
            why.append(first_line(message))
    if explain.output_was_cut(sub):
        why.append("printed output cut")
    if not why:
        return None
    return {"id": sub["id"], "href": hrefs.get(sub["id"], ""), "status": sub["status"],
            "score": sub["score"], "why": "; ".join(why)}
