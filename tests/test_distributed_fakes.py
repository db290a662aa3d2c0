"""A grader for the Dask tests (no tests here): ``fixtures.fake_grader`` plus ``killdask``
submissions, which SIGKILL the Dask worker that owns the grading worker (its parent), as a
submission that takes its whole host down would."""

from __future__ import annotations

import os
import signal

from tests.fixtures.fake_grader import FakeGrader


class DaskKiller(FakeGrader):
    def grade(self, task: dict) -> dict:
        if task["id"].startswith("killdask"):
            if self.config.get("attempts_dir"):
                with open(os.path.join(self.config["attempts_dir"], task["id"]), "a") as log:
                    log.write(f"{self.pid}\n")
            os.kill(os.getppid(), signal.SIGKILL)  # the Dask worker; PDEATHSIG then takes us
        return super().grade(task)


def make(config: dict) -> DaskKiller:
    return DaskKiller(config)
