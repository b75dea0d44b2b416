"""What a job file becomes: the body of a submission (the API's JobCreate fields), an
array if it asks for one, and warnings about what was read and ignored."""

from __future__ import annotations

from dataclasses import dataclass, field
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

    def override(self, changes: dict[str, Any]) -> None:
        """Command-line flags win over the file's directives, as with sbatch."""
        self.body.update(changes)


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
