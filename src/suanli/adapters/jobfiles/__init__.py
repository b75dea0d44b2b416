"""Job files people already have: Slurm batch scripts (`sbatch.py`) and SkyPilot-style
task YAML (`task_yaml.py`), read into one submission (`submission.py`)."""

from suanli.adapters.jobfiles.reader import read_job_file
from suanli.adapters.jobfiles.submission import JobFileError, Submission

__all__ = ["JobFileError", "Submission", "read_job_file"]
