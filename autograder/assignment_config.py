"""What an instructor declares per assignment: ``assignments/<hw>/assignment.toml``.

One file, read by ``autograder build`` (which copies what the grader and the student template
need into the bundle and the template) and never from a submission. A missing file means the
defaults; an unknown key or a wrong type is a :class:`ConfigError` naming the file and the key.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from pathlib import Path

FILE_NAME = "assignment.toml"

#: Gradescope's visibility values (results.json ``visibility``) allowed for hidden cases.
VISIBILITIES = ("hidden", "after_due_date", "after_published", "visible")


class ConfigError(ValueError):
    """assignment.toml is malformed; the message names the file and what to fix."""


@dataclass(frozen=True)
class ImportsConfig:
    """Extra modules allowed, and modules or single functions refused (dotted names)."""

    allow: tuple[str, ...] = ()
    forbid: tuple[str, ...] = ()


@dataclass(frozen=True)
class ResultsConfig:
    """How results are shown: when Gradescope shows the hidden cases."""

    hidden_visibility: str = "after_published"


@dataclass(frozen=True)
class AssignmentConfig:
    imports: ImportsConfig = field(default_factory=ImportsConfig)
    results: ResultsConfig = field(default_factory=ResultsConfig)

    def to_dict(self) -> dict:
        return {
            "imports": {"allow": list(self.imports.allow), "forbid": list(self.imports.forbid)},
            "results": {"hidden_visibility": self.results.hidden_visibility},
        }

    @classmethod
    def from_dict(cls, data: dict, where: str = "assignment config") -> AssignmentConfig:
        if not isinstance(data, dict):
            raise ConfigError(f"{where}: expected a table at the top level")
        _no_unknown(data, {"imports", "results"}, where)
        imports = data.get("imports", {})
        results = data.get("results", {})
        _no_unknown(imports, {"allow", "forbid"}, f"{where} [imports]")
        _no_unknown(results, {"hidden_visibility"}, f"{where} [results]")
        visibility = results.get("hidden_visibility", "after_published")
        if visibility not in VISIBILITIES:
            raise ConfigError(
                f"{where} [results] hidden_visibility = {visibility!r}: use one of "
                + ", ".join(VISIBILITIES)
            )
        return cls(
            imports=ImportsConfig(
                allow=_names(imports.get("allow", []), f"{where} [imports] allow"),
                forbid=_names(imports.get("forbid", []), f"{where} [imports] forbid"),
            ),
            results=ResultsConfig(hidden_visibility=visibility),
        )


def load_assignment_config(assignment_dir: str | Path) -> AssignmentConfig:
    """The config of the assignment in ``assignment_dir`` (defaults when it has no file)."""
    path = Path(assignment_dir) / FILE_NAME
    if not path.is_file():
        return AssignmentConfig()
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from None
    return AssignmentConfig.from_dict(data, str(path))


def _no_unknown(table: object, known: set[str], where: str) -> None:
    if not isinstance(table, dict):
        raise ConfigError(f"{where}: expected a table")
    unknown = sorted(set(table) - known)
    if unknown:
        raise ConfigError(f"{where}: unknown key(s) {', '.join(unknown)}; known: {', '.join(sorted(known))}")


def _names(value: object, where: str) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(v, str) and v.strip() for v in value):
        raise ConfigError(f"{where}: expected a list of dotted names such as \"numpy.linalg.lstsq\"")
    for name in value:
        if not all(part.isidentifier() for part in name.split(".")):
            raise ConfigError(f"{where}: {name!r} is not a dotted module or function name")
    return tuple(value)
