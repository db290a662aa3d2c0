"""What every report page shares: the Jinja environment that escapes everything, the page
frame with its Content-Security-Policy, and the atomic write.

Much of what a page shows is written by students: printed output, exception messages, cell text,
submission ids (file names). Every value therefore goes through Jinja's autoescape (``& < > " '``
all escaped, so a value is safe in text and in double-quoted attributes alike); no template marks
anything ``|safe`` except what this package produced itself (the data URIs of its own PNGs are
passed as plain strings and escaped too: base64 has nothing to escape). The CSP meta tag is the
second wall: ``default-src 'none'`` forbids scripts, frames, fonts, fetches and every URL but the
inline pictures (``img-src data:``) and the inline style block, so even markup that slipped
through could neither run nor call out. No page carries a ``<script>``.
"""

from __future__ import annotations

import os
from pathlib import Path

import jinja2

#: The policy of every page: nothing from the network, no script, pictures only as data URIs.
CONTENT_SECURITY_POLICY = (
    "default-src 'none'; img-src data:; style-src 'unsafe-inline'; "
    "base-uri 'none'; form-action 'none'"
)

STYLE = """
body { font-family: system-ui, sans-serif; margin: 1.5em auto; max-width: 1100px; color: #222;
       padding: 0 1em; line-height: 1.4; }
h1 { font-size: 1.5em; margin-bottom: 0.2em; }
h2 { font-size: 1.2em; margin-top: 1.6em; border-bottom: 1px solid #ccc; }
h3 { font-size: 1.05em; margin-bottom: 0.3em; }
table { border-collapse: collapse; margin: 0.5em 0; }
th, td { border: 1px solid #ccc; padding: 0.25em 0.6em; text-align: left; vertical-align: top; }
th { background: #f3f3f3; }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; }
pre { background: #f7f7f7; border: 1px solid #ddd; padding: 0.6em; overflow-x: auto;
      white-space: pre-wrap; word-break: break-word; max-height: 40em; overflow-y: auto; }
.pass { color: #186a1e; font-weight: 600; }
.fail { color: #a51d1d; font-weight: 600; }
.muted { color: #666; }
.note { background: #fff6dd; border: 1px solid #e8d48a; padding: 0.4em 0.7em; }
.case { margin: 0.8em 0 1.2em 0; padding-left: 0.8em; border-left: 4px solid #ddd; }
.case.failed { border-left-color: #d66; }
.case.passed { border-left-color: #6b6; }
figure { margin: 0.5em 0; }
figure img { max-width: 100%; height: auto; border: 1px solid #eee; }
figcaption { font-size: 0.9em; color: #555; }
.side { display: flex; gap: 1.5em; flex-wrap: wrap; align-items: flex-start; }
td.bad { background: #f8d4d4; }
.grid { display: flex; flex-wrap: wrap; gap: 1em; }
"""

_FRAME = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="{{ csp }}">
<meta name="referrer" content="no-referrer">
<meta name="viewport" content="width=device-width, initial-scale=1">
{% block head %}{% endblock %}
<title>{{ title }}</title>
<style>{{ style }}</style>
</head>
<body>
{% block body %}{% endblock %}
</body>
</html>
"""


def environment(templates: dict[str, str]) -> jinja2.Environment:
    """A Jinja environment over ``templates`` (name -> source) plus the ``frame`` they extend,
    autoescaping every value and failing on an undefined name rather than printing nothing."""
    env = jinja2.Environment(
        loader=jinja2.DictLoader({"frame.html": _FRAME, **templates}),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.globals.update(csp=CONTENT_SECURITY_POLICY, style=STYLE)
    env.filters["num"] = format_number
    return env


def format_number(value: float | int | None, digits: int = 6) -> str:
    """A score or value as a person reads it: 3 for 3.0, 2.5, 1.23457e-05; "non-finite" for
    None (attachments store NaN and inf as null)."""
    if value is None:
        return "non-finite"
    value = float(value)
    if value == int(value) and abs(value) < 1e15:
        return str(int(value))
    return f"{value:.{digits}g}"


def write_atomic(path: Path, text: str) -> Path:
    """Write ``text`` to ``path`` through a temporary file and ``os.replace``: a reader sees the
    old page or the new one, never half of one."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)
    return path
