"""Reading a job file: which kind it is, and the submission it asks for."""

from __future__ import annotations

from pathlib import Path

from suanli.adapters.jobfiles.sbatch import parse_sbatch
from suanli.adapters.jobfiles.submission import (
    SBATCH_SUFFIXES,
    YAML_SUFFIXES,
    JobFileError,
    Submission,
)
from suanli.adapters.jobfiles.task_yaml import parse_task_yaml


def kind_of(path: Path, text: str) -> str:
    """'yaml' or 'sbatch', by extension, else by content."""
    suffix = path.suffix.lower()
    if suffix in YAML_SUFFIXES:
        return "yaml"
    if suffix in SBATCH_SUFFIXES:
        return "sbatch"
    head = text.lstrip()
    if head.startswith("#!") or "#SBATCH" in text:
        return "sbatch"
    return "yaml"


def read_job_file(
    path: Path, *, args: list[str] | None = None, environ: dict[str, str] | None = None
) -> Submission:
    """Read a batch script or a task YAML into a submission; `args` are the script's
    arguments (sbatch's), `environ` what `--export=VAR` copies (the caller's
    environment). Raises JobFileError with what to fix."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise JobFileError(f"Cannot read {path}: {exc}.") from exc
    submission = _parse(path, text, args, environ)
    where = submission.body.get("working_dir")
    if isinstance(where, str):
        # the job runs where the file was submitted from: resolve it as a shell would
        submission.body["working_dir"] = str(Path(where).expanduser().absolute())
    return submission


def _parse(
    path: Path, text: str, args: list[str] | None, environ: dict[str, str] | None
) -> Submission:
    if kind_of(path, text) == "yaml":
        if args:
            raise JobFileError(
                f"{path.name} is a task YAML: it takes no arguments (put them in its `run`)."
            )
        submission: Submission = parse_task_yaml(text, source=path.name)
        return submission
    return parse_sbatch(text, source=path.name, args=args or [], environ=environ or {})
