"""The Job manifest of the Kubernetes engine (no API server needed)."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

import pytest

from suanli.adapters.engines.kubernetes_manifest import (
    build_job,
    gpu_model_of,
    job_name,
    label_value,
    parse_cpu_milli,
    parse_memory_mib,
)
from suanli.domain.ids import JobId, NodeId
from suanli.domain.resources import Resources
from suanli.ports.engine import EngineTask

DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
LABEL_VALUE = re.compile(r"^([A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?)?$")
NOW = datetime(2025, 1, 2, 3, 4, 5, tzinfo=UTC)


def make_task(**kwargs: Any) -> EngineTask:
    defaults: dict[str, Any] = {
        "job_id": JobId("j-42"),
        "attempt": 2,
        "argv": ("python3", "-c", "print('a b')", "$HOME", "*"),
        "allocation": Resources.request(cpus=1.5, memory_mb=2048),
    }
    return EngineTask(**{**defaults, **kwargs})


def build(task: EngineTask, **kwargs: Any) -> dict[str, Any]:
    return build_job(task, image="python:3.11-slim", instance="agent-1", submitted_at=NOW, **kwargs)


def container(job: dict[str, Any]) -> dict[str, Any]:
    containers = job["spec"]["template"]["spec"]["containers"]
    assert len(containers) == 1
    return dict(containers[0])


def env(job: dict[str, Any]) -> dict[str, str]:
    return {e["name"]: e["value"] for e in container(job)["env"]}


@pytest.mark.parametrize(
    "key", ["j-42.2", "J_42.1", "a" * 200 + ".1", "...", "作业.1", "c-1700000000-17.1"]
)
def test_job_names_are_valid_dns_labels(key: str) -> None:
    name = job_name(key)
    assert DNS_LABEL.match(name), name
    assert len(name) <= 63
    assert name.startswith("suanli-")
    assert job_name(key) == name  # the same key, the same name


def test_job_names_of_keys_that_slug_alike_differ() -> None:
    assert job_name("a-1.1") != job_name("a.1-1")
    assert job_name("A.1") != job_name("a.1")


@pytest.mark.parametrize("text", ["j-42", "x" * 63, "a_b.c"])
def test_valid_label_values_are_kept(text: str) -> None:
    assert label_value(text) == text


@pytest.mark.parametrize("text", ["-x", "x" * 64, "a b/c", "作业", "x."])
def test_invalid_label_values_are_made_valid(text: str) -> None:
    value = label_value(text)
    assert LABEL_VALUE.match(value) and len(value) <= 63, value
    assert label_value(text) == value


def test_a_job_runs_one_pod_once_with_the_argv_as_its_command() -> None:
    t = make_task()
    job = build(t)
    assert (job["apiVersion"], job["kind"]) == ("batch/v1", "Job")
    assert job["metadata"]["name"] == job_name(t.key)
    spec = job["spec"]
    assert (spec["backoffLimit"], spec["completions"], spec["parallelism"]) == (0, 1, 1)
    pod = spec["template"]["spec"]
    assert pod["restartPolicy"] == "Never"
    c = container(job)
    assert c["name"] == "task" and c["image"] == "python:3.11-slim"
    assert c["command"] == ["python3", "-c", "print('a b')", "$HOME", "*"]  # no shell
    assert "args" not in c and "workingDir" not in c
    assert "activeDeadlineSeconds" not in spec
    assert "nodeSelector" not in pod and "affinity" not in pod


def test_env_is_the_tasks_plus_suanli_variables() -> None:
    t = make_task(env={"GREETING": "ni hao"}, nodes=(NodeId("n1"), NodeId("n2")))
    assert env(build(t)) == {
        "GREETING": "ni hao",
        "SUANLI_JOB_ID": "j-42",
        "SUANLI_ATTEMPT": "2",
        "SUANLI_GANG_SIZE": "2",
        "SUANLI_NODES": "n1,n2",
    }


def test_resources_are_requested_and_limited_alike() -> None:
    res = container(build(make_task()))["resources"]
    assert res["requests"] == {"cpu": "1500m", "memory": "2048Mi"}
    assert res["limits"] == res["requests"]


def test_gpus_are_the_gpu_resource_plus_a_node_selector_on_the_model_label() -> None:
    t = make_task(allocation=Resources.request(cpus=1, gpus={"H100": 2}))
    assert gpu_model_of(t) == "H100"
    job = build(t, gpu_label_values=["NVIDIA-H100-80GB-HBM3"])
    res = container(job)["resources"]
    assert res["limits"]["nvidia.com/gpu"] == "2" == res["requests"]["nvidia.com/gpu"]
    pod = job["spec"]["template"]["spec"]
    assert pod["nodeSelector"] == {"nvidia.com/gpu.product": "NVIDIA-H100-80GB-HBM3"}
    assert env(job)["CUDA_VISIBLE_DEVICES"] == "0,1"


def test_several_label_values_of_one_model_become_a_node_affinity() -> None:
    t = make_task(allocation=Resources.request(cpus=1, gpus={"H100": 1}))
    job = build(
        t,
        gpu_label_values=["NVIDIA-H100-PCIe", "NVIDIA-H100-80GB-HBM3"],
        gpu_label="example.com/gpu",
        gpu_resource="example.com/gpu",
        cuda_visible_devices=False,
    )
    pod = job["spec"]["template"]["spec"]
    terms = pod["affinity"]["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]
    assert terms["nodeSelectorTerms"] == [
        {
            "matchExpressions": [
                {
                    "key": "example.com/gpu",
                    "operator": "In",
                    "values": ["NVIDIA-H100-80GB-HBM3", "NVIDIA-H100-PCIe"],
                }
            ]
        }
    ]
    assert container(job)["resources"]["limits"]["example.com/gpu"] == "1"
    assert "CUDA_VISIBLE_DEVICES" not in env(job)


def test_gpus_of_any_model_have_no_selector() -> None:
    t = make_task(allocation=Resources.request(cpus=1, gpus={"any": 1}))
    assert gpu_model_of(t) is None


def test_gpus_of_two_models_are_refused() -> None:
    t = make_task(allocation=Resources(1000, 1024, {"H100": 1, "V100": 1}))
    with pytest.raises(ValueError, match="one node"):
        gpu_model_of(t)


def test_the_time_limit_is_the_active_deadline() -> None:
    job = build(make_task(time_limit_s=90), grace_s=7)
    assert job["spec"]["activeDeadlineSeconds"] == 90
    assert job["spec"]["template"]["spec"]["terminationGracePeriodSeconds"] == 7


def test_labels_and_annotations_name_the_job_and_attempt() -> None:
    job = build(make_task(job_id=JobId("job with spaces")))
    labels, notes = job["metadata"]["labels"], job["metadata"]["annotations"]
    assert labels["app.kubernetes.io/managed-by"] == "suanli"
    assert labels["suanli.io/instance"] == "agent-1"
    assert labels["suanli.io/attempt"] == "2"
    assert LABEL_VALUE.match(labels["suanli.io/job-id"])
    assert notes["suanli.io/job-id"] == "job with spaces"  # exact
    assert notes["suanli.io/attempt"] == "2"
    assert notes["suanli.io/submitted-at"] == NOW.isoformat()
    assert job["spec"]["template"]["metadata"]["labels"] == labels


def test_working_dir_and_pull_policy() -> None:
    job = build(make_task(working_dir="/work"), image_pull_policy="IfNotPresent")
    assert container(job)["workingDir"] == "/work"
    assert container(job)["imagePullPolicy"] == "IfNotPresent"


def test_an_empty_command_is_refused() -> None:
    with pytest.raises(ValueError, match="empty command"):
        build(make_task(argv=()))


@pytest.mark.parametrize(
    ("quantity", "milli"), [("2", 2000), ("1500m", 1500), ("0.5", 500), ("15900m", 15900)]
)
def test_cpu_quantities(quantity: str, milli: int) -> None:
    assert parse_cpu_milli(quantity) == milli


@pytest.mark.parametrize(
    ("quantity", "mib"),
    [("64Gi", 65536), ("1024Mi", 1024), ("8000M", 7629), ("1e9", 953), ("2097152Ki", 2048)],
)
def test_memory_quantities(quantity: str, mib: int) -> None:
    assert parse_memory_mib(quantity) == mib
