"""What verify's mutation stage shows: kill rates per stub in the terminal, and
``build/<hw>/verify.json`` (checks, kill matrix, survivors with diffs, time per case)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from rich.markup import escape
from rich.table import Table

from autograder.release.kill_matrix import ERRORED, KILLED, rate_text


def mutation_json(result: Any) -> dict:
    matrix = result.matrix
    rates = matrix.kill_rates(exclude=result.equivalent_ids)
    return {
        "per_stub": result.options.per_stub,
        "budget_s": result.options.budget_s,
        "workers": result.run.workers,
        "elapsed_s": round(result.run.elapsed_s, 3),
        "hand_written": result.hand_written,
        "generated": result.generated,
        "not_graded": result.run.not_graded,
        "kill_rate": {
            ("assignment" if stub == "*" else stub): {"killed": k, "counted": n,
                                                      "rate": (k / n) if n else None}
            for stub, (k, n) in sorted(rates.items())
        },
        "equivalent": [{"id": e.id, "reason": e.reason} for e in result.equivalent],
        "survivors": [
            {"id": m.id, "kind": m.kind, "stub": m.stub, "category": m.category, "diff": m.diff,
             "equivalent": m.id in result.equivalent_ids,
             "passed_cases": matrix.passed_cases(m.id)}
            for m in matrix.survivors()
        ],
        "cases": [
            {"case": c.key, "hidden": c.hidden, "reference_s": round(c.duration_s, 4),
             "cost_s": round(matrix.case_cost_s(c.key), 4),
             "kills": matrix.kills(c.key), "errors": matrix.kills(c.key, outcome=ERRORED)}
            for c in matrix.cases
        ],
        "mutants": [
            {"id": m.id, "kind": m.kind, "stub": m.stub, "category": m.category,
             "status": matrix.statuses.get(m.id),
             "killed_by": [k for k, o in matrix.outcomes[m.id].items() if o == KILLED],
             "errored_by": [k for k, o in matrix.outcomes[m.id].items() if o == ERRORED]}
            for m in matrix.mutants
        ],
    }


def write_verify_json(report: Any, path: Path) -> Path:
    data = {
        "assignment": report.hw,
        "ok": report.ok,
        "checks": [{"name": c.name, "ok": c.ok, "detail": c.detail} for c in report.checks],
        "mutation": mutation_json(report.mutation) if report.mutation is not None else None,
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
    return path


def print_mutation(console: Any, result: Any) -> None:
    matrix = result.matrix
    rates = matrix.kill_rates(exclude=result.equivalent_ids)
    table = Table(title="generated mutants: kill rate per stub")
    table.add_column("stub", no_wrap=True)
    table.add_column("killed")
    for stub, (k, n) in sorted(rates.items(), key=lambda item: (item[0] == "*", item[0])):
        table.add_row("assignment" if stub == "*" else escape(stub), rate_text(k, n))
    console.print(table)
    for m in matrix.survivors():
        tag = "equivalent" if m.id in result.equivalent_ids else "SURVIVES"
        console.print(f"{tag} {m.id} ({m.kind}); passed {len(matrix.passed_cases(m.id))} cases",
                      markup=False, highlight=False)
        if m.diff and tag == "SURVIVES":
            console.print(m.diff, markup=False, highlight=False)
