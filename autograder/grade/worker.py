"""Grade one submission: parse it, run its cells in the sandbox, run every case against proxies.

``Grader`` is what a grading worker holds for its whole life: the bundle's questions (loaded once)
and one sandbox ``ForkServer`` (started once). ``Grader.grade(task)`` returns a plain JSON-able
dict and never raises for anything a submission does; a bug of the grader itself becomes status
``error`` for that submission.

Submission statuses (``status``):

- ``graded``: cells ran (some may have raised: see ``message``) and every case was run. A
  per-call time-out fails that case only and leaves the status ``graded``;
- ``invalid_notebook`` / ``empty`` / ``unsafe_zip``: the file could not be turned into cells;
  every case fails with that message;
- ``timeout`` / ``memory`` / ``sandbox_died``: running the cells exceeded the time limit, ran
  out of memory, or the process died (``os._exit``, a signal, an output flood). The sandbox kills
  the process when that happens, so the cells are run again without the cell that did it (at
  most ``MAX_CELL_RETRIES`` times) and the cases run against what the other cells define; the
  message names the cell. ``memory`` / ``sandbox_died`` also mark a process that died during a
  test: cases that passed keep their points, the running case fails, and the sandbox is
  started again (cells re-run) for the next case;
- ``error``: the grader itself failed on this submission (re-graded on the next run);
- ``grader_fault`` (set by the batch driver, not here): grading this submission broke its worker
  process on two attempts (a poison pill); kept until the file or the bundle changes.

A per-submission time budget (``run_wall_s + call_wall_s * number of cases``) bounds how long
the tests may call into one submission; once it is spent, the remaining cases fail without
calling the student's code.
"""

from __future__ import annotations

import os
import time
import traceback
from pathlib import Path
from typing import Any

from autograder.grade.budget import Budget, BudgetedProxy
from autograder.grade.bundle import load_bundle
from autograder.grade.import_check import analyze_cells, bundle_policy, module_note
from autograder.grade.inputs import SubmissionInputError, load_cells, sha256_file
from autograder.grade.lookahead import AHEAD, ALONE, SKIP, Lookahead, Replay
from autograder.runner import CaseResult, run_case, score_question
from autograder.testfiles import Question, load_question

MAX_OUTPUT_CHARS = 20_000
EXIT_LOST_FORK_SERVER = 75
MAX_CELL_RETRIES = 2

GRADED = "graded"
ERROR = "error"


def _truncate(text: str, limit: int) -> str:
    if len(text) <= limit:
        return text
    return text[: limit - 60] + f"\n... [{len(text) - limit + 60} more characters cut]"


def server_policy(policy: Any) -> dict:
    """The fork server's share of the import policy: which packages children may read, and the
    allowed modules the child names when it refuses an import."""
    return {"packages": policy.allowed,
            "run_options": {"allowed_imports": list(policy.allowed), "policy": policy.assignment}}


class Grader:
    """Grades submissions of one bundle; owns one sandbox fork server."""

    #: Run the cases ahead to their first requests, sent together (grade/lookahead.py);
    #: False runs each case in its turn, one request after the other (the tests compare both).
    run_ahead = True

    def __init__(self, bundle_dir: str | Path, limits: Any = None, *, workdir_root: str | None = None,
                 server: Any = None, restartable: bool = True):
        from autograder.sandbox import ForkServer, Limits

        self.bundle = load_bundle(bundle_dir)
        self.policy = bundle_policy(self.bundle.manifest)
        self.questions: list[Question] = [load_question(path) for _, path in self.bundle.question_files]
        self.wanted = sorted(
            {name for q in self.questions for case in q.cases for name in case.params if name != "env"}
        )
        self.n_cases = sum(len(q.cases) for q in self.questions)
        self.max_score = float(sum(q.points for q in self.questions))
        if limits is None:
            limits = Limits()
        elif isinstance(limits, dict):
            limits = Limits(**limits)
        self.limits = limits
        if workdir_root and not os.path.isdir(workdir_root):  # (a dropped worker may not mkdir)
            os.makedirs(workdir_root, exist_ok=True)
        self.workdir_root = workdir_root
        # ``restartable=False``: this worker gave up the privileges its fork server needs, so a
        # lost fork server ends the worker (the executor retries the task on a fresh one)
        # instead of silently starting a weaker one
        self.restartable = restartable
        self.server = server if server is not None else ForkServer(
            limits, workdir_root=workdir_root, **server_policy(self.policy))
        self.server.__enter__()
        self.server.prepare_ahead = True  # the next sandbox confines while this one is tested
        # the globals the tests ask for come back with the cells' "ready" (one round trip less)
        self.server.run_options["globals"] = list(self.wanted)
        self.server_restarts = 0
        self.protections = dict(getattr(self.server, "protections", {}) or {})
        self.protections_message = self.server.missing_protections_message()

    @classmethod
    def from_config(cls, config: dict) -> Grader:
        """Build the grader a worker holds. ``config["factory"]`` ("module:callable", trusted,
        set by the grader's own code) replaces this class, e.g. for tests of the executor."""
        factory = config.get("factory")
        if factory:
            import importlib

            module, _, attr = factory.partition(":")
            return getattr(importlib.import_module(module), attr)(config)
        return cls(config["bundle_dir"], config.get("limits"), workdir_root=config.get("workdir_root"))

    def _spawn(self, cells: list[str]) -> Any:
        """``server.spawn``, restarting the fork server once if it is gone (e.g. killed)."""
        from autograder.sandbox import ForkServer, SandboxError

        try:
            return self.server.spawn(cells)
        except SandboxError:
            if not self.restartable:
                # a fork server started now would run as this unprivileged worker (weaker
                # sandboxes): end the worker instead, the executor retries the task on a fresh
                # one. (A student cannot cause this: a set-up failure is only believed before
                # the child says it starts the cells.)
                os._exit(EXIT_LOST_FORK_SERVER)
            self.server_restarts += 1
            old, self.server = self.server, None
            try:
                old.__exit__(None, None, None)
            except Exception:
                pass
            self.server = ForkServer(self.limits, workdir_root=self.workdir_root,
                                     **server_policy(self.policy))
            self.server.__enter__()
            self.server.prepare_ahead = True
            self.server.run_options["globals"] = list(self.wanted)
            return self.server.spawn(cells)

    def close(self) -> None:
        server, self.server = self.server, None
        if server is not None:
            server.__exit__(None, None, None)

    # -- results -------------------------------------------------------------------------------
    def _base(self, task: dict) -> dict:
        return {
            "id": task["id"],
            "kind": task.get("kind", ""),
            "path": task.get("path", ""),
            "content_hash": task["content_hash"],
            "bundle_hash": self.bundle.hash,
            "max_score": self.max_score,
        }

    def _all_failed(self, task: dict, status: str, message: str, started: float) -> dict:
        questions = []
        for question in self.questions:
            results = tuple(
                CaseResult(question.name, case.name, case.hidden, False, case.points, message, 0.0)
                for case in question.cases
            )
            questions.append(_question_dict(score_question(question, results)))
        return {
            **self._base(task),
            "status": status,
            "message": message,
            "score": 0.0,
            "questions": questions,
            "output": "",
            "execution_time": time.monotonic() - started,
        }

    # -- grading -------------------------------------------------------------------------------
    def grade(self, task: dict) -> dict:
        """Grade one task (``SubmissionRef.to_task()``); never raises."""
        started = time.monotonic()
        try:
            file = Path(task["file"])
            # with the bytes in the task (the normal case) load_cells checks their hash itself
            if "data_b64" not in task and file.is_file() and sha256_file(file) != task["content_hash"]:
                return self._all_failed(
                    task, ERROR, "the file changed while the batch was running; graded again on the next run", started
                )
            cells, note = load_cells(task, self.bundle.assignment)
        except SubmissionInputError as error:
            return self._all_failed(task, error.status, error.message, started)
        except Exception as error:  # unreadable file, permissions...
            return self._all_failed(
                task, "invalid_notebook", f"cannot read the submission: {type(error).__name__}: {error}", started
            )
        try:
            return self._grade_cells(task, cells, note, started)
        except Exception:
            message = "internal grader error (the submission will be graded again on the next run):\n"
            return self._all_failed(task, ERROR, message + _truncate(traceback.format_exc(), 4000), started)

    def _namespace(self, submission: Any, budget: Budget, report: Any = None) -> dict[str, Any]:
        from autograder.grade.globals import read_globals
        from autograder.sandbox import CallTimeout

        def make_proxy(name: str) -> BudgetedProxy:
            proxy = submission.proxy(name)
            proxy.suppresses_warnings = bool(report is not None and name in report.functions
                                             and report.functions[name].suppresses_warnings)
            return BudgetedProxy(proxy, budget, CallTimeout)

        # functions as proxies, values as plain data, allowed modules as the grader's own;
        # a name the notebook does not define is left out (the case gets None, as in otter)
        return read_globals(submission, self.wanted, self.policy, make_proxy)

    def _run_cells(self, cells: list[str], budget: Budget, notes: list[str]) -> tuple[Any, str, list[str]]:
        """Spawn the sandbox and run the cells. A cell that kills the process (time-out, memory,
        ``os._exit``...) is reported and left out of a new attempt (at most ``MAX_CELL_RETRIES``),
        so that the functions defined by the other cells are still graded."""
        status = GRADED
        cells = list(cells)
        for attempt in range(MAX_CELL_RETRIES + 1):
            submission = self._spawn(cells)
            if submission.status != "ok":
                status = status if status != GRADED else _SANDBOX_STATUS.get(submission.status, "sandbox_died")
            if submission.alive:
                if submission.status == "memory":
                    notes.append("a cell ran out of memory (MemoryError)")
                return submission, status, cells
            done = len(submission.cells)
            where = f"code cell {done + 1}" if done < len(cells) else "the cells"
            notes.append(f"{_reason(submission, self.limits)} while running {where}")
            if done >= len(cells) or attempt == MAX_CELL_RETRIES or budget.spent:
                return submission, status, cells
            notes[-1] += "; graded again without that cell"
            submission.close()
            cells = cells[:done] + [""] + cells[done + 1 :]
        raise AssertionError("unreachable")

    def _grade_cells(self, task: dict, cells: list[str], note: str, started: float) -> dict:
        budget = Budget(self.limits.run_wall_s + self.limits.call_wall_s * max(1, self.n_cases))
        notes = [note] if note else []
        report = analyze_cells(cells, self.policy)
        notes.append(module_note(report))
        outputs: list[str] = []
        submission, status, ran_cells = self._run_cells(cells, budget, notes)
        ahead = None
        try:
            for cell in getattr(submission, "cells", []):
                if not cell.ok:
                    notes.append(f"code cell {cell.index + 1} raised {_first_line(cell.error)}")
            namespace = self._namespace(submission, budget, report)
            died_in_cells = not submission.alive
            if not died_in_cells:
                missing = [name for name in self.wanted if name not in namespace]
                if missing:
                    notes.append("not defined by the submission: " + ", ".join(missing))
            dead_reason = _reason(submission, self.limits) if died_in_cells else None
            respawns = 0
            plan = [(question, case) for question in self.questions for case in question.cases]
            refusals = [next((m for n in case.params if (m := report.message_for(n))), None)
                        for _, case in plan]
            # the cases run ahead to their first requests, which cross together (lookahead.py);
            # an OK-format case runs its doctest alone, in its turn
            ahead = Lookahead(plan, run_case, lambda i: SKIP if refusals[i] is not None else
                              ALONE if plan[i][1].run is not None or not self.run_ahead
                              else AHEAD, (budget.deadline, budget.spent_message))
            ahead.restart(submission, namespace)
            results: dict[str, list[CaseResult]] = {q.name: [] for q in self.questions}
            index, replay = 0, False
            while index < len(plan):
                question, case = plan[index]
                if dead_reason is not None and not died_in_cells and respawns < self.n_cases and not budget.spent:
                    # The process died during an earlier case: start it again for this one.
                    respawns += 1
                    outputs.append(_output(submission))
                    submission.close()
                    submission = self._spawn(ran_cells)
                    namespace = self._namespace(submission, budget, report)
                    ahead.restart(submission, namespace)
                    dead_reason = None if submission.alive else _reason(submission, self.limits)
                index += 1
                if dead_reason is not None:
                    results[question.name].append(_failed(question, case, f"not run: {dead_reason}"))
                    continue
                if budget.spent and not ahead.answered(index - 1):
                    # (a case whose request was made ahead, in time, finishes as it would have)
                    results[question.name].append(_failed(
                        question, case,
                        f"not run: the {budget.spent_message}",
                    ))
                    continue
                if refusals[index - 1] is not None:  # the same message grader.check gives in Jupyter
                    results[question.name].append(_failed(question, case, refusals[index - 1]))
                    continue
                alone, replay = replay, False
                result = ahead.run(index - 1, alone=alone)
                replay = result is Replay
                if replay:
                    # its later request found the process ended by a later case's call: it
                    # runs again, alone, on a fresh sandbox (as it would have on a live one)
                    dead_reason, index = _reason(submission, self.limits), index - 1
                    continue
                if ahead.died_in(index - 1):
                    dead_reason = _reason(submission, self.limits)
                    tested = ", ".join(name for name in case.params if name != "env")
                    where = f"test {case.name} ({tested})" if tested else f"test {case.name}"
                    kind = _SANDBOX_STATUS.get(submission.status, "sandbox_died")
                    if kind != "timeout" and status == GRADED:
                        status = kind  # a per-call time-out only fails its case
                    notes.append(f"{dead_reason} during {where}")
                    if not result.passed and dead_reason not in result.message:
                        result = CaseResult(
                            result.question, result.case, result.hidden, False, result.points,
                            _truncate(f"{result.message}\n({dead_reason})", 3000), result.duration_s,
                            result.attachments,
                        )
                results[question.name].append(result)
            questions = [_question_dict(score_question(q, tuple(results[q.name])))
                         for q in self.questions]
            outputs.append(_output(submission))
        finally:
            if ahead is not None:
                ahead.close()  # (cases still parked after an error of the grader's own)
            # the fork server cleans up while the next submission runs (see Submission.close)
            submission.close(wait=False)
        output = "".join(o for o in outputs if o)
        score = float(sum(q["score"] for q in questions))
        return {
            **self._base(task),
            "status": status,
            "message": _truncate("; ".join(dict.fromkeys(n for n in notes if n)), 4000),
            "score": score,
            "questions": questions,
            "output": _truncate(output, MAX_OUTPUT_CHARS),
            "execution_time": time.monotonic() - started,
        }


_SANDBOX_STATUS = {"timeout": "timeout", "memory": "memory", "died": "sandbox_died",
                   "output": "sandbox_died", "protocol": "sandbox_died"}


def _output(submission: Any) -> str:
    try:
        text = submission.output
    except Exception:
        return ""
    return text if isinstance(text, str) else ""


def _first_line(text: object) -> str:
    text = str(text or "").strip()
    lines = text.splitlines()
    return _truncate(lines[-1] if lines else "an error", 300)


def _reason(submission: Any, limits: Any) -> str:
    reason = getattr(submission, "reason", None)
    if reason:
        return _truncate(str(reason), 300)
    status = getattr(submission, "status", "died")
    if status == "timeout":
        return "time limit exceeded"
    if status == "memory":
        return f"out of memory ({limits.memory_mb} MB)"
    return "the submission's process died"


def _failed(question: Question, case: Any, message: str) -> CaseResult:
    return CaseResult(question.name, case.name, case.hidden, False, case.points, message, 0.0)


def _question_dict(result: Any) -> dict:
    all_passed = all(case.passed for case in result.cases)
    cases = []
    for case in result.cases:
        if result.all_or_nothing:
            score = case.points if all_passed else 0.0
        else:
            score = case.points if case.passed else 0.0
        cases.append(
            {
                "name": case.case,
                "hidden": bool(case.hidden),
                "passed": bool(case.passed),
                "points": float(case.points),
                "score": float(score),
                "message": str(case.message),
                "duration_s": float(case.duration_s),
                "attachments": list(case.attachments),
            }
        )
    return {
        "name": result.name,
        "score": float(result.score),
        "max_score": float(result.max_score),
        "cases": cases,
    }
