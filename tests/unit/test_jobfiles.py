"""The job-file corpus (tests/data/jobfiles/, written for these tests in the styles of
public Slurm and SkyPilot examples): each converts to the expected submission and to a
valid job spec; the unsupported ones fail with messages naming the directive or key."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from suanli.adapters.jobfiles import JobFileError, read_job_file
from suanli.adapters.jobfiles.sbatch import slurm_time_s
from suanli.api.schemas import JobCreate

CORPUS = Path(__file__).resolve().parents[1] / "data" / "jobfiles"
ENVIRON = {"DATASET": "imagenet"}

SBATCH: dict[str, dict[str, Any]] = {
    "01_hello.sbatch": {"name": "hello", "time_limit": "300s", "memory": "1024M", "cpus": 1.0},
    "02_short_opts.sh": {"name": "short-opts", "cpus": 8.0, "time_limit": "5400s"},
    "03_single_gpu.sbatch": {"gpus": "1", "cpus": 8.0, "memory": "32768M", "warnings": 1},
    "04_typed_gres.sbatch": {"gpus": "a100:4", "time_limit": "172800s", "memory": "262144M"},
    "05_multinode_ddp.sbatch": {"gang_size": 4, "cpus": 32.0, "gpus": "8", "warnings": 1},
    "06_array_basic.sbatch": {"array": "0-99", "time_limit": "600s"},
    "07_array_step_throttle.sbatch": {"array": "1-20:4%2", "cpus": 4.0, "memory": "8192M"},
    "08_array_list.sbatch": {"array": "1,3,5,7-9%3"},
    "09_dependency.sbatch": {"dependency": "afterok:a-sweep01", "time_limit": "1800s"},
    "10_dependency_multi.sbatch": {
        "dependency": "afterany:j-first01:j-second02,afternotok:j-third03"
    },
    "11_partition_priority.sbatch": {"priority_class": "preemptible", "warnings": 1},
    "12_partition_region.sbatch": {"regions": ["zhengzhou", "beijing"], "gpus": "2"},
    "13_export.sbatch": {"env": {"OMP_NUM_THREADS": "8", "DATASET": "imagenet"}},
    "14_chdir.sbatch": {"working_dir": "/scratch/alice/run1", "time_limit": "7200s"},
    "15_mail_account_qos.sbatch": {"name": "polite", "warnings": 4},
    "16_python_script.sbatch": {"cpus": 2.0, "time_limit": "300s"},
    "17_gpus_typed_total.sbatch": {"gang_size": 2, "gpus": "h100:8", "cpus": 8.0},
    "18_comments_and_spacing.sbatch": {
        "name": "spaced name",
        "memory": "8000M",
        "cpus": 3.0,
        "time_limit": "9000s",
        "gpus": None,  # its --gres comes after the first command: not a directive
    },
    "19_gpus_per_task.sbatch": {"cpus": 24.0, "gpus": "4"},
    "20_unlimited_time_hint.sbatch": {"time_limit": None, "warnings": 2},
    "21_minutes_seconds.slurm": {"time_limit": "2730s", "memory": "512M"},
    "22_array_deps_high.sbatch": {
        "priority_class": "guaranteed",
        "array": "0-9%5",
        "dependency": "afterok:j-prep01",
    },
}

YAML: dict[str, dict[str, Any]] = {
    "01_minimal.yaml": {"gang_size": 1, "gpus": None},
    "02_gpu.yaml": {"name": "finetune", "gpus": "A100:1"},
    "03_candidates_set.yaml": {
        "gpus": "any:8",
        "gpu_models": ["A100", "H100"],
        "cpus": 32.0,
        "memory": "256G",
    },
    "04_candidates_list.yaml": {"gpus": "any:1", "gpu_models": ["L40S", "A10", "T4"]},
    "05_candidates_dict.yaml": {"gpus": "any:2", "gpu_models": ["A100-80GB", "H100"]},
    "06_multinode.yaml": {"gang_size": 2, "gpus": "H100:8", "env": {"NCCL_DEBUG": "INFO"}},
    "07_spot_region.yaml": {"priority_class": "preemptible", "regions": ["guiyang"]},
    "08_setup_workdir_envs.yaml": {
        "working_dir": str(Path("~/project").expanduser()),
        "env": {"EPOCHS": "3", "DEBUG": "false"},
    },
    "09_cpu_only.yaml": {"cpus": 8.0, "memory": "32G", "gpus": None},
    "10_file_mounts.yaml": {"gpus": "A100:1", "warnings": 2},
    "11_secrets.yaml": {"env": {"MODEL": "llama", "HF_TOKEN": ""}},
}

UNSUPPORTED = {
    "begin.sbatch": "--begin",
    "nodelist.sbatch": "--nodelist",
    "reservation.sbatch": "--reservation",
    "gres_nongpu.sbatch": "mps:50",
    "hetjob.sbatch": "hetjob",
    "dependency_or.sbatch": "'?'",
    "dependency_singleton.sbatch": "singleton",
    "unknown_option.sbatch": "--frobnicate",
    "mem_zero.sbatch": "--mem=0",
    "output_pattern.sbatch": "%s",
    "bad_time.sbatch": "--time 'soon'",
    "image.yaml": "resources.image_id",
    "fractional.yaml": "T4:0.5",
    "unknown_key.yaml": "schedule",
    "service.yaml": "`service`",
    "mixed_counts.yaml": "different counts",
    "no_run.yaml": "`run`",
}


def check(path: Path, expected: dict[str, Any]) -> None:
    sub = read_job_file(path, environ=ENVIRON)
    want = dict(expected)
    assert len(sub.warnings) == want.pop("warnings", 0), sub.warnings
    assert sub.array == want.pop("array", None)
    for key, value in want.items():
        assert sub.body.get(key) == value, (path.name, key, sub.body.get(key))
    JobCreate(**sub.body).to_spec()  # a spec the API would accept


@pytest.mark.parametrize("name", sorted(SBATCH))
def test_sbatch_scripts_convert(name: str) -> None:
    check(CORPUS / "sbatch" / name, SBATCH[name])


@pytest.mark.parametrize("name", sorted(YAML))
def test_task_yamls_convert(name: str) -> None:
    check(CORPUS / "yaml" / name, YAML[name])


@pytest.mark.parametrize("name", sorted(UNSUPPORTED))
def test_unsupported_files_name_what_is_wrong(name: str) -> None:
    with pytest.raises(JobFileError) as caught:
        read_job_file(CORPUS / "unsupported" / name)
    assert UNSUPPORTED[name] in str(caught.value)
    assert name in str(caught.value)


def test_the_corpus_is_covered_whole() -> None:
    assert {p.name for p in (CORPUS / "sbatch").iterdir()} == set(SBATCH)
    assert {p.name for p in (CORPUS / "yaml").iterdir()} == set(YAML)
    assert {p.name for p in (CORPUS / "unsupported").iterdir()} == set(UNSUPPORTED)
    assert len(SBATCH) >= 20 and len(YAML) >= 10


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("30", 1800),
        ("5:30", 330),
        ("1:00:00", 3600),
        ("2-0", 172_800),
        ("1-2:30", 95_400),
        ("1-00:00:01", 86_401),
        ("UNLIMITED", None),
        ("infinite", None),
    ],
)
def test_every_slurm_time_form(text: str, seconds: int | None) -> None:
    assert slurm_time_s(text, "x") == seconds


def test_a_template_script_is_kept_whole_and_arguments_follow(tmp_path: Path) -> None:
    script = tmp_path / "job.sbatch"
    script.write_text("#!/bin/bash\n#SBATCH -J t\necho SUANLI_SCRIPT_END\n")
    sub = read_job_file(script, args=["a b", "c"])
    argv = sub.body["command"]
    assert argv[0] == "bash" and argv[-2:] == ["a b", "c"]
    assert "echo SUANLI_SCRIPT_END\n" in argv[2]  # the heredoc's end marker changed
    assert "\nSUANLI_SCRIPT_END_\n" in argv[2]
