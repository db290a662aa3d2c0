"""The bundled demo class (examples/) and ``autograder demo``."""

from __future__ import annotations

import csv
import importlib.util
import io
import json
import shutil
import sys
from pathlib import Path

import pytest

from autograder.demo import MARKER, DemoError, fresh_out_dir, meets, run_demo
from autograder.release.sources import ASSIGNMENTS

REPO = Path(__file__).resolve().parent.parent
EXAMPLES = REPO / "examples"


def _generator():
    spec = importlib.util.spec_from_file_location("_examples_generate", EXAMPLES / "generate.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def _tree(root: Path) -> dict[str, bytes]:
    return {
        p.relative_to(root).as_posix(): p.read_bytes()
        for p in sorted(root.rglob("*"))
        if p.is_file() and "__pycache__" not in p.parts
    }


@pytest.mark.parametrize("hw", ASSIGNMENTS)
def test_committed_demo_class_is_current(hw, tmp_path):
    """Regenerating the class gives the committed bytes (run `python examples/generate.py`)."""
    _generator().write_class(hw, tmp_path)
    fresh, committed = _tree(tmp_path / hw), _tree(EXAMPLES / hw)
    stale = sorted(name for name in set(fresh) | set(committed) if fresh.get(name) != committed.get(name))
    assert not stale, f"examples/{hw} is stale, run `python examples/generate.py`: {stale[:8]}"


@pytest.mark.parametrize("hw", ASSIGNMENTS)
def test_demo_class_has_every_kind_of_submission(hw):
    manifest = json.loads((EXAMPLES / hw / "manifest.json").read_text())
    entries = manifest["submissions"]
    assert 24 <= len(entries) <= 34
    ids = [e["id"] for e in entries]
    assert len(set(ids)) == len(ids)
    assert ids == sorted(ids)
    kinds = {e["kind"] for e in entries}
    assert {"correct", "partial", "hostile", "bad-input"} <= kinds
    for entry in entries:
        path = EXAMPLES / hw / "submissions" / entry["file"]
        assert path.is_file(), path
        assert path.stat().st_size < 64 * 1024, f"{path} is not small"
        assert entry["id"].split("_", 1)[0][0] == "s" and entry["id"][1:4].isdigit()
    files = {p.name for p in (EXAMPLES / hw / "submissions").iterdir()}
    assert files == {e["file"] for e in entries}
    for name in ("correct", "blank_template", "hostile_infinite_loop", "hostile_reads_solutions",
                 "hostile_patches_allclose", "hostile_magic_eq_array", "hostile_os_exit"):
        assert any(i.split("_", 1)[1] == name for i in ids), name
    mistakes = [e for e in entries if e["kind"] == "mistake"]
    if (REPO / "assignments" / hw / "mutants").is_dir() and any(
        (REPO / "assignments" / hw / "mutants").glob("*__*.py")
    ):
        assert mistakes and all(e["fails"] and e["expect"] == "fails" for e in mistakes)


def test_correct_notebook_defines_every_stub_with_the_reference_code():
    """The correct submission's stub cells hold the reference functions, not the stubs."""
    generator = _generator()
    hw = "hw4_optimizers"
    nb = json.loads((EXAMPLES / hw / "submissions" / "s001_correct.ipynb").read_text())
    code = "\n".join("".join(c["source"]) for c in nb["cells"] if c["cell_type"] == "code")
    reference = generator.SourceModule.read(REPO / "solutions" / f"{hw}.py")
    for stub in ("sgd_step", "adam_step", "sgd_linear_regression"):
        assert reference.defs[stub] in code
    stubs_left = generator.Template.read(EXAMPLES / hw / "submissions" / "s001_correct.ipynb", hw)
    assert not stubs_left.stub_cells, "the correct notebook still has stubs"
    (blank_path,) = (EXAMPLES / hw / "submissions").glob("s*_blank_template.ipynb")
    blank = json.loads(blank_path.read_text())
    template = json.loads((REPO / "student_template" / hw / f"{hw}.ipynb").read_text())
    assert blank["cells"] == template["cells"]


def test_all_bad_inputs_and_archives_are_present():
    names = {p.name for hw in ASSIGNMENTS for p in (EXAMPLES / hw / "submissions").iterdir()}
    suffixes = {Path(n).suffix for n in names}
    assert {".ipynb", ".py", ".zip"} <= suffixes
    for fragment in ("bad_malformed_json", "bad_empty_file", "bad_python_script", "bad_zip_archive",
                     "hostile_zip_slip", "hostile_fork_bomb", "hostile_output_flood",
                     "hostile_memory_bomb", "hostile_fake_score_json"):
        assert any(fragment in n for n in names), fragment
    empty = [n for n in names if "bad_empty_file" in n]
    for hw in ASSIGNMENTS:
        for n in empty:
            p = EXAMPLES / hw / "submissions" / n
            if p.exists():
                assert p.stat().st_size == 0


def _row(total, possible=10.0, status="graded", **questions):
    return {"total": str(total), "max_total": str(possible), "status": status,
            **{k: str(v) for k, v in questions.items()}}


def test_expectations():
    qmax = {"q1": 4.0, "q2": 6.0}
    assert meets({"expect": "full"}, _row(10), qmax)
    assert not meets({"expect": "full"}, _row(9), qmax)
    assert meets({"expect": "zero"}, _row(0), qmax)
    assert meets({"expect": "fails", "fails": ["q2"]}, _row(4, q1=4, q2=3), qmax)
    assert not meets({"expect": "fails", "fails": ["q2"]}, _row(4, q1=0, q2=6), qmax)
    assert meets({"expect": "partial", "fails": ["q1"]}, _row(6, q1=0, q2=6), qmax)
    assert not meets({"expect": "partial"}, _row(0), qmax)
    assert meets({"expect": "full-or-rejected"}, _row(0, status="invalid_notebook"), qmax)
    assert not meets({"expect": "full-or-rejected"}, _row(0, status="graded"), qmax)
    assert meets({"expect": "any"}, _row(3, status="timeout"), qmax)
    assert not meets({"expect": "any"}, _row(3, status="error"), qmax)
    assert not meets({"expect": "full"}, None, qmax)


def test_out_dir_is_wiped_only_when_the_demo_made_it(tmp_path):
    foreign = tmp_path / "mine"
    foreign.mkdir()
    (foreign / "thesis.tex").write_text("precious")
    with pytest.raises(DemoError, match="not made by"):
        fresh_out_dir(foreign)
    assert (foreign / "thesis.tex").exists()
    ours = fresh_out_dir(tmp_path / "demo-out")
    (ours / "old.csv").write_text("stale")
    again = fresh_out_dir(tmp_path / "demo-out")
    assert (again / MARKER).is_file() and not (again / "old.csv").exists()


def test_demo_grades_a_small_class_end_to_end(tmp_path):
    """`run_demo` on four submissions of hw1: builds the bundle, grades, reports, exit 0."""
    from rich.console import Console

    hw = "hw1_linear_regression"
    manifest = json.loads((EXAMPLES / hw / "manifest.json").read_text())
    keep = [
        e for e in manifest["submissions"]
        if e["id"].split("_", 1)[1] in ("correct", "blank_template", "bad_empty_file")
        or e["kind"] == "mistake"
    ][:4]
    examples = tmp_path / "examples"
    (examples / hw / "submissions").mkdir(parents=True)
    for entry in keep:
        shutil.copy(EXAMPLES / hw / "submissions" / entry["file"], examples / hw / "submissions")
    (examples / hw / "manifest.json").write_text(json.dumps({**manifest, "submissions": keep}))
    out = io.StringIO()
    code = run_demo(
        out=tmp_path / "demo-out",
        assignments=[hw],
        workers=2,
        strict=True,
        examples_dir=examples,
        build_dir=tmp_path / "build",
        console=Console(file=out, width=120),
    )
    text = out.getvalue()
    assert code == 0, text
    assert (tmp_path / "build" / hw / "manifest.json").is_file()
    with open(tmp_path / "demo-out" / hw / "grades.csv", newline="") as handle:
        grades = {row["submission"]: row for row in csv.DictReader(handle)}
    assert set(grades) == {e["id"] for e in keep}
    correct = grades["s001_correct"]
    assert correct["status"] == "graded" and float(correct["total"]) == float(correct["max_total"]) > 0
    assert (tmp_path / "demo-out" / hw / "results.sqlite").is_file()
    assert len(list((tmp_path / "demo-out" / hw / "results").glob("*.json"))) == len(keep)
    assert f"{len(keep)}/{len(keep)} as the manifest expects" in text
    assert "grades.csv" in text and "results.sqlite" in text
    # the pages: a feedback page per submission and the class summary linking to them
    out_hw = tmp_path / "demo-out" / hw
    assert len(list((out_hw / "feedback").glob("*.html"))) == len(keep)
    summary = (out_hw / "summary.html").read_text()
    assert "feedback/s001_correct.html" in summary
    assert "summary.html" in text
    assert "sandbox" in text  # the protections line, printed once
    assert text.count("protections") <= 1


def test_cli_has_a_demo_command():
    from click.testing import CliRunner

    from autograder.cli import main

    result = CliRunner().invoke(main, ["demo", "--help"])
    assert result.exit_code == 0
    assert "--out" in result.output and "demo class" in result.output


def test_the_grader_sandbox_notice_is_held_back_for_the_demo_to_print_once():
    from rich.console import Console

    from autograder.demo import _held_notice, _HoldSandboxNotice

    underlying = io.StringIO()
    stream = _HoldSandboxNotice(underlying)
    console = Console(file=stream, force_terminal=True)
    console.print("[yellow]sandbox:[/] sandbox: these protections are not in force: landlock")
    console.print("grades: out/grades.csv")
    assert "landlock" not in underlying.getvalue()
    assert "grades: out/grades.csv" in underlying.getvalue()
    assert _held_notice(stream) == "sandbox: these protections are not in force: landlock"
