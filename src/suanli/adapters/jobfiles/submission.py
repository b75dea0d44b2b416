"""What a job file becomes: the body of a submission (the API's JobCreate fields), an
array if it asks for one, and warnings about what was read and ignored."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


class JobFileError(ValueError):
    """The file cannot be submitted as written; the message names the line or key."""


@dataclass(slots=True)
class Submission:
    body: dict[str, Any]
    """JobCreate's fields (what `suanli submit` posts)."""
    array: str | None = None
    """Slurm's array syntax ('0-99%10') when the file asks for an array."""
    warnings: list[str] = field(default_factory=list)
    """Directives read and ignored (harmless ones), one sentence each."""


@dataclass(frozen=True, slots=True)
class Vocabulary:
    """What a file format may say that suanli does not act on: `harmless` names are
    read and ignored with a warning, `refused` ones fail; each with why (or "")."""

    harmless: dict[str, str]
    refused: dict[str, str]

    def judge(self, key: str, shown: str, where: str, warnings: list[str]) -> bool:
        """True when `key` is harmless (a warning is added); raises JobFileError when it
        is refused; False when the vocabulary does not know it."""
        if key in self.harmless:
            why = self.harmless[key]
            warnings.append(f"{where}: {shown} is ignored" + (f" ({why})." if why else "."))
            return True
        if key in self.refused:
            why = self.refused[key]
            raise JobFileError(f"{where}: {shown} is not supported" + (f": {why}." if why else "."))
        return False


SBATCH_SUFFIXES = (".sbatch", ".slurm", ".sh", ".bash", ".job")
YAML_SUFFIXES = (".yaml", ".yml")


def is_job_file(path: Path, head: bytes) -> bool:
    """Whether `suanli submit PATH` means a job file rather than a program: a .sbatch,
    .slurm, .yaml or .yml file, or a script (`head`: its first bytes) with #SBATCH
    directives."""
    suffix = path.suffix.lower()
    if suffix in YAML_SUFFIXES or suffix in (".sbatch", ".slurm"):
        return True
    return b"\n#SBATCH" in head or head.startswith(b"#SBATCH")
