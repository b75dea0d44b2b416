"""Trace loaders on samples cut from the real traces (tests/data/traces, see its README)."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from suanli.adapters.traces import (
    TraceError,
    guess_format,
    load_alibaba_v2023_nodes,
    load_alibaba_v2023_pods,
    load_alibaba_v2026_nodes,
    load_gavel_throughputs,
    load_gavel_trace,
    load_helios_jobs,
    load_nodes,
    load_pai_jobs,
    load_pai_tasks,
    load_philly_csv,
    load_philly_json,
    load_sia_throughputs,
    load_sia_workload,
    load_tiresias_cluster,
    load_tiresias_jobs,
    load_trace,
)
from suanli.domain.errors import InvalidInput

DATA = Path(__file__).parent.parent / "data" / "traces"


def test_philly_csv() -> None:
    jobs = load_philly_csv(DATA / "philly" / "philly_sample.csv")
    assert len(jobs) == 200
    first = jobs[0]
    assert first.id == "1"
    assert first.duration_s == 66.0
    assert first.gpus == 1
    assert first.tenant == "11cb48"
    assert first.extra["submitted_at"] == "2017-10-09 07:01:55"
    assert min(job.submit_s for job in jobs) == 0.0
    assert all(job.submit_s >= 0 for job in jobs)
    assert len(load_philly_csv(DATA / "philly" / "philly_sample.csv", limit=5)) == 5


def test_philly_json() -> None:
    jobs = load_philly_json(DATA / "philly-json" / "cluster_job_log")
    assert [job.status for job in jobs] == ["Pass", "Killed", "Failed", "Pass"]
    assert jobs[0].id == "application_1506638472019_10238"
    assert jobs[0].submit_s == 0.0
    assert jobs[0].duration_s == 46.0
    assert jobs[0].gpus == 2
    assert jobs[1].gpus == 8  # GPUs of the last attempt
    assert jobs[1].duration_s == 600.0 + 1800.0  # both attempts
    assert jobs[1].submit_s == 438.0
    assert jobs[2].duration_s is None
    assert jobs[0].tenant == "6214e9"
    assert jobs[0].extra["user"] == "0f6d0a"
    assert len(load_philly_json(DATA / "philly-json" / "cluster_job_log", limit=2)) == 2


def test_gavel_trace() -> None:
    jobs = load_gavel_trace(DATA / "gavel" / "philly_first120.trace")
    assert len(jobs) == 120
    third = jobs[2]
    assert third.id == "2"
    assert third.job_type == "Transformer (batch size 16)"
    assert third.submit_s == pytest.approx(489.172146)
    assert third.gpus == 1
    assert third.duration_s is None
    assert third.extra["total_steps"] == "343170"
    assert "slo" not in third.extra
    assert len(load_gavel_trace(DATA / "gavel" / "philly_first120.trace", limit=7)) == 7


def test_gavel_throughputs() -> None:
    path = DATA / "gavel" / "throughputs_subset.json"
    table = load_gavel_throughputs(path)
    assert table.unit == "steps/s"
    assert table.models() == ["K80", "P100", "V100"]
    assert table.get("ResNet-18 (batch size 64)", "V100", 1) == pytest.approx(24.093231895382736)
    assert table.get("ResNet-50 (batch size 64)", "P100", 4) == pytest.approx(10.36465731519379)
    assert table.get("ResNet-50 (batch size 64)", "P100", 1) is None
    spread = load_gavel_throughputs(path, consolidated=False)
    assert spread.models() == ["V100"]


def test_sia() -> None:
    jobs = load_sia_workload(DATA / "sia" / "philly-workload-1-first40.csv")
    assert len(jobs) == 40
    assert jobs[0].id == "cifar10-0"
    assert jobs[0].submit_s == 107.0
    assert jobs[0].gpus == 6
    assert jobs[0].job_type == "cifar10"
    assert jobs[0].extra["batch_size"] == "2048"
    assert Counter(job.job_type for job in jobs)["cifar10"] > 20
    table = load_sia_throughputs(DATA / "sia" / "profiles")
    assert table.unit == "samples/s"
    assert table.models() == ["A100-40GB", "T4"]
    assert table.job_types() == ["bert", "cifar10"]
    one = table.get("bert", "T4", 1)
    assert one is not None
    assert one == pytest.approx(4 / 0.45532354712486267, rel=0.5)  # best local batch
    assert len(load_sia_workload(DATA / "sia" / "philly-workload-1-first40.csv", limit=3)) == 3


def test_tiresias() -> None:
    jobs = load_tiresias_jobs(DATA / "tiresias" / "60_job.csv")
    assert len(jobs) == 60
    assert Counter(job.gpus for job in jobs) == {1: 30, 2: 10, 4: 10, 8: 10}
    assert (jobs[1].id, jobs[1].gpus, jobs[1].submit_s, jobs[1].duration_s) == ("1", 8, 30.0, 147.0)
    assert jobs[1].job_type == "vgg11"
    assert jobs[1].extra["iterations"] == "133"
    nodes = load_tiresias_cluster(DATA / "tiresias" / "n32g4.csv")
    assert len(nodes) == 32
    assert (nodes[0].gpus, nodes[0].cpus, nodes[0].memory_mb) == (4, 40.0, 256 * 1024)


def test_alibaba_v2023() -> None:
    nodes = load_alibaba_v2023_nodes(DATA / "alibaba-v2023" / "gpu_nodes_15_per_model.csv")
    by_name = {node.gpu_name: node.gpu_model for node in nodes}
    assert by_name == {
        "P100": "P100",
        "T4": "T4",
        "V100M16": "V100",
        "V100M32": "V100-32GB",
        "A10": "A10",
        "G2": None,
        "G3": None,
    }
    assert nodes[0] == load_nodes(DATA / "alibaba-v2023" / "gpu_nodes_15_per_model.csv")[0]
    assert (nodes[0].id, nodes[0].gpus, nodes[0].cpus, nodes[0].memory_mb) == (
        "openb-node-0000",
        2,
        64.0,
        262144,
    )
    all_nodes = load_alibaba_v2023_nodes(DATA / "alibaba-v2023" / "nodes_first150.csv")
    assert all_nodes[0].gpus == 0
    assert all_nodes[0].gpu_model is None
    pods = load_alibaba_v2023_pods(DATA / "alibaba-v2023" / "pods_gpuspec33_first200.csv")
    assert len(pods) == 200
    pod = pods[1]
    assert (pod.id, pod.gpus, pod.extra["gpu_milli"], pod.cpus, pod.memory_mb) == (
        "openb-pod-0001",
        1,
        "460",
        6.0,
        12288,
    )
    assert pod.submit_s == 427061.0
    assert pod.duration_s == 12902960.0 - 427061.0
    assert pod.job_type == "LS"
    specs = {p.extra.get("gpu_spec"): (p.gpu_model, p.extra.get("gpu_models")) for p in pods}
    assert specs["T4"] == ("T4", "T4")
    assert specs["V100M16|V100M32"] == (None, "V100|V100-32GB")
    assert specs["G2"] == (None, "")
    multi = load_alibaba_v2023_pods(DATA / "alibaba-v2023" / "pods_multigpu50_first100.csv")
    assert len(multi) == 100
    assert multi[0].duration_s is None


def test_alibaba_v2026() -> None:
    nodes = load_alibaba_v2026_nodes(DATA / "alibaba-v2026" / "node_info_20_per_model.csv")
    assert len(nodes) == 120
    assert {node.gpu_name: node.gpu_model for node in nodes} == {
        "GPU-series-1": None,
        "GPU-series-2": None,
        "A10": "A10",
        "A100-SXM4-80GB": "A100-80GB",
        "A800-SXM4-80GB": "A800",
        "H800": "H800",
    }
    assert (nodes[0].id, nodes[0].gpus, nodes[0].cpus) == ("0", 4, 192.0)


def test_helios() -> None:
    jobs = load_helios_jobs(DATA / "helios" / "cluster_log.csv")
    assert [job.id for job in jobs] == ["j001", "j002", "j003", "j004"]
    assert jobs[0].submit_s == 10.0
    assert jobs[3].submit_s == 0.0
    assert jobs[3].duration_s == 40.0  # from start/end when duration is empty
    assert (jobs[2].gpus, jobs[2].cpus, jobs[2].tenant, jobs[2].status) == (
        16,
        128.0,
        "vcEwI",
        "CANCELLED",
    )


def test_pai() -> None:
    jobs = load_pai_jobs(DATA / "pai" / "pai_job_table.csv")
    assert [job.status for job in jobs] == ["Terminated", "Failed", "Running"]
    assert (jobs[0].submit_s, jobs[0].duration_s, jobs[0].tenant) == (0.0, 102.0, "58540f191766")
    assert jobs[2].duration_s is None
    tasks = load_pai_tasks(DATA / "pai" / "pai_task_table.csv")
    assert len(tasks) == 4  # the task that never started is skipped
    first = tasks[0]
    assert (first.gpus, first.extra["gpu_milli"], first.gpu_model) == (1, "500", None)
    worker = tasks[1]
    assert worker.id == "1c8d2e1f8f0f2c1a6b1d2e3f/worker"
    assert (worker.gpus, worker.gpu_model, worker.cpus, worker.memory_mb) == (2, "V100", 8.0, 40000)
    assert tasks[3].gpus == 8
    assert tasks[3].gpu_model == "T4"


def test_trace_error_is_invalid_input() -> None:
    error = TraceError(Path("/x/a.csv"), 3, "num_gpus", "a whole number", "abc")
    assert isinstance(error, InvalidInput)
    assert error.field == "num_gpus"
    assert str(error) == "a.csv, line 3, column 'num_gpus': expected a whole number, got 'abc'."


def test_registry_guesses_every_sample() -> None:
    expected = {
        "philly/philly_sample.csv": "philly-csv",
        "philly-json/cluster_job_log": "philly-json",
        "gavel/philly_first120.trace": "gavel",
        "sia/philly-workload-1-first40.csv": "sia",
        "tiresias/60_job.csv": "tiresias",
        "tiresias/n32g4.csv": "tiresias-cluster",
        "alibaba-v2023/nodes_first150.csv": "alibaba-v2023-nodes",
        "alibaba-v2023/pods_gpuspec33_first200.csv": "alibaba-v2023-pods",
        "alibaba-v2023/pods_multigpu50_first100.csv": "alibaba-v2023-pods",
        "alibaba-v2026/node_info_20_per_model.csv": "alibaba-v2026-nodes",
        "helios/cluster_log.csv": "helios",
        "pai/pai_job_table.csv": "pai-jobs",
        "pai/pai_task_table.csv": "pai-tasks",
    }
    for name, fmt in expected.items():
        assert guess_format(DATA / name) == fmt, name
    assert len(load_trace(DATA / "philly" / "philly_sample.csv", limit=10)) == 10
    assert len(load_trace(DATA / "gavel" / "philly_first120.trace", "gavel")) == 120


def test_registry_errors(tmp_path: Path) -> None:
    odd = tmp_path / "mystery.csv"
    odd.write_text("a,b,c\n1,2,3\n")
    with pytest.raises(TraceError, match=r"mystery.csv, line 1: .*recognised.*got 'a,b,c'"):
        load_trace(odd)
    with pytest.raises(TraceError, match="name the format explicitly"):
        guess_format(DATA / "gavel" / "throughputs_subset.json")
    with pytest.raises(TraceError, match=r"column 'format'.*got 'nope'"):
        load_trace(DATA / "philly" / "philly_sample.csv", "nope")
    with pytest.raises(TraceError, match="use load_nodes"):
        load_trace(DATA / "tiresias" / "n32g4.csv")
    with pytest.raises(TraceError, match=r"missing.csv: expected a readable file"):
        load_trace(tmp_path / "missing.csv", "philly-csv")
    with pytest.raises(TraceError, match="limit"):
        load_philly_csv(DATA / "philly" / "philly_sample.csv", limit=-1)
    assert load_philly_csv(DATA / "philly" / "philly_sample.csv", limit=0) == []
