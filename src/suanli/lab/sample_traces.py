"""The sample traces bundled with the package (`lab/samples/`, sources in its README), so
the policy lab has something to run on a fresh install."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from importlib import resources
from pathlib import Path

from suanli.domain.errors import InvalidInput


@dataclass(frozen=True, slots=True)
class Sample:
    name: str
    file: str
    """File name under `lab/samples/` (its header lets `guess_format` recognise it)."""
    description: str
    source: str

    def path(self) -> Path:
        # The package is installed as plain files (no zip import), so this is a real path.
        return Path(str(resources.files("suanli.lab") / "samples" / self.file))

    def rows(self) -> int:
        """Data rows (the header line not counted)."""
        return _rows(self.path())


SAMPLES: tuple[Sample, ...] = (
    Sample(
        "philly-200",
        "philly-200.csv",
        "Microsoft Philly GPU cluster, the first 200 jobs of its log (197 of them on 1 GPU, "
        "arriving over 10 days).",
        "Philly job log (Jeon et al., ATC'19) via siasosp23/artifacts@aaf7a0d, CC BY 4.0",
    ),
    Sample(
        "tiresias-60",
        "tiresias-60.csv",
        "Tiresias' 60-job workload: 30 x 1 GPU, 10 each of 2, 4 and 8 GPUs, arriving over "
        "half an hour.",
        "SymbioticLab/Tiresias@959f9b0 (Gu et al., NSDI'19), Apache-2.0",
    ),
)


@cache
def _rows(path: Path) -> int:
    with path.open(encoding="utf-8") as handle:
        return max(0, sum(1 for line in handle if line.strip()) - 1)


def sample(name: str) -> Sample:
    """The sample called `name`; InvalidInput listing the names otherwise."""
    for found in SAMPLES:
        if found.name == name:
            return found
    raise InvalidInput(
        f"Unknown sample trace {name!r}.",
        field="sample",
        hint=f"pick one of {', '.join(s.name for s in SAMPLES)} (GET /v1/lab/samples), "
        "or upload a trace as trace_text.",
    )
