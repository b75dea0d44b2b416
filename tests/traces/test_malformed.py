"""Every loader names the file, the line and the column of a malformed row."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from suanli.adapters.traces import (
    TraceError,
    load_alibaba_v2023_nodes,
    load_alibaba_v2023_pods,
    load_alibaba_v2026_nodes,
    load_gavel_throughputs,
    load_gavel_trace,
    load_helios_jobs,
    load_pai_jobs,
    load_pai_tasks,
    load_philly_csv,
    load_philly_json,
    load_sia_throughputs,
    load_sia_workload,
    load_tiresias_cluster,
    load_tiresias_jobs,
)

PHILLY = "timestamp,duration,num_gpus,gpu_time,cluster\n"
GAVEL_OK = (
    "ResNet-18 (batch size 64)\tpython3 main.py\tcifar10\t--num_steps\t1\t1000\t1\t1\t-1\t0\n"
)


def _raises(
    path: Path, load: Callable[[Path], Any], line: int | None, column: str, *words: str
) -> None:
    with pytest.raises(TraceError) as caught:
        load(path)
    error = caught.value
    text = str(error)
    assert text.startswith(path.name), text
    if line is not None:
        assert f"line {line}," in text, text
    assert f"column {column!r}" in text, text
    assert error.line == line
    assert error.column == column
    for word in words:
        assert word in text, text


@pytest.mark.parametrize(
    ("body", "line", "column", "words"),
    [
        (
            PHILLY + "2017-10-09 07:01:55,66.0,abc,66.0,11cb48\n",
            2,
            "num_gpus",
            ["whole number of GPUs >= 0", "'abc'"],
        ),
        (
            PHILLY + "2017-10-09 07:01:55,66.0,1,66.0,a\n2017-10-09 07:01:55,66.0,-2,66,a\n",
            3,
            "num_gpus",
            ["'-2'"],
        ),
        (PHILLY + "2017-10-09 07:01:55,66.0,1.5,66.0,a\n", 2, "num_gpus", ["'1.5'"]),
        (PHILLY + "yesterday,66.0,1,66.0,a\n", 2, "timestamp", ["a time like", "'yesterday'"]),
        (PHILLY + "2017-10-09 07:01:55,nan,1,66.0,a\n", 2, "duration", ["number of seconds"]),
        (
            PHILLY + "2017-10-09 07:01:55,66.0\n",
            2,
            "num_gpus",
            ["5 comma-separated values", "2 values"],
        ),
        ("time,duration\n", 1, "timestamp", ["header naming the column"]),
    ],
)
def test_philly_csv(tmp_path: Path, body: str, line: int, column: str, words: list[str]) -> None:
    path = tmp_path / "philly_full.csv"
    path.write_text(body)
    _raises(path, load_philly_csv, line, column, *words)


def test_philly_csv_error_message(tmp_path: Path) -> None:
    path = tmp_path / "philly_full.csv"
    path.write_text(
        PHILLY + "2017-10-09 07:01:55,66.0,1,66.0,a\n" * 3 + "2017-10-09 07:01:55,66.0,abc,66.0,a\n"
    )
    with pytest.raises(TraceError) as caught:
        load_philly_csv(path)
    assert caught.value.message == (
        "philly_full.csv, line 5, column 'num_gpus': "
        "expected a whole number of GPUs >= 0, got 'abc'."
    )


def _philly_job(**changes: Any) -> dict[str, Any]:
    job: dict[str, Any] = {
        "status": "Pass",
        "vc": "vc1",
        "jobid": "application_1",
        "attempts": [
            {
                "start_time": "2017-10-07 13:42:43",
                "end_time": "2017-10-07 13:43:29",
                "detail": [{"ip": "m1", "gpus": ["gpu0"]}],
            }
        ],
        "submitted_time": "2017-10-07 13:42:42",
        "user": "u",
    }
    job.update(changes)
    return job


def test_philly_json(tmp_path: Path) -> None:
    path = tmp_path / "cluster_job_log"
    bad = _philly_job(
        attempts=[{"start_time": "2017-10-07 13:42:43", "end_time": "soon", "detail": []}]
    )
    path.write_text("[\n" + json.dumps(_philly_job()) + ",\n" + json.dumps(bad) + "\n]\n")
    _raises(path, load_philly_json, 3, "[1].attempts[0].end_time", "'soon'")
    path.write_text("[\n" + json.dumps(_philly_job(submitted_time=None)) + "\n]")
    _raises(path, load_philly_json, 2, "[0].submitted_time", "a time like")
    path.write_text(
        "[\n" + json.dumps(_philly_job()) + ",\n" + '{"jobid": "x", "attempts": [,]}' + "\n]"
    )
    _raises(path, load_philly_json, 3, "[1]", "valid JSON")
    path.write_text(json.dumps(_philly_job()))
    with pytest.raises(TraceError, match=r"cluster_job_log, line 1: expected a JSON list of jobs"):
        load_philly_json(path)
    path.write_text("[" + json.dumps(_philly_job()))
    with pytest.raises(TraceError, match=r"line 1: expected ']' closing the list of jobs"):
        load_philly_json(path)


def test_philly_json_streams_across_chunks(tmp_path: Path) -> None:
    path = tmp_path / "cluster_job_log"
    jobs = [_philly_job(jobid=f"application_{i}") for i in range(300)]
    path.write_text("[\n" + ",\n".join(json.dumps(job, indent=2) for job in jobs) + "\n]\n")
    loaded = load_philly_json(path)
    assert [job.id for job in loaded] == [f"application_{i}" for i in range(300)]
    assert len(load_philly_json(path, limit=11)) == 11


@pytest.mark.parametrize(
    ("body", "line", "column", "words"),
    [
        (
            GAVEL_OK + GAVEL_OK.replace("\t1000\t", "\tmany\t"),
            2,
            "total_steps",
            ["whole number of steps >= 1", "'many'"],
        ),
        (GAVEL_OK.replace("\t1\t1\t-1", "\t0\t1\t-1"), 1, "scale_factor", ["GPUs >= 1"]),
        (GAVEL_OK.replace("\t0\n", "\tlater\n"), 1, "arrival_time", ["'later'"]),
        ("a\tb\tc\n", 1, "num_steps_arg", ["10 tab-separated values", "3 values"]),
        (
            GAVEL_OK.replace("\t--num_steps\t1\t", "\t--num_steps\tyes\t"),
            1,
            "needs_data_dir",
            ["0 or 1"],
        ),
    ],
)
def test_gavel_trace(tmp_path: Path, body: str, line: int, column: str, words: list[str]) -> None:
    path = tmp_path / "jobs.trace"
    path.write_text(body)
    _raises(path, load_gavel_trace, line, column, *words)


def test_gavel_throughputs(tmp_path: Path) -> None:
    path = tmp_path / "simulation_throughputs.json"
    path.write_text(json.dumps({"v100": {"('ResNet-18', 1)": {"null": "fast"}}}))
    _raises(path, load_gavel_throughputs, None, "v100.('ResNet-18', 1).null", "isolated throughput")
    path.write_text(json.dumps({"v100": {"ResNet-18": {"null": 1.0}}}))
    _raises(path, load_gavel_throughputs, None, "v100.ResNet-18", "a key like")
    path.write_text(json.dumps({"tpu9": {}}))
    _raises(
        path, load_gavel_throughputs, None, "tpu9", "GPU model the catalog knows", "'tpu9'", "k80"
    )
    path.write_text("{\n  oops")
    with pytest.raises(
        TraceError, match=r"simulation_throughputs.json, line 2: expected valid JSON"
    ):
        load_gavel_throughputs(path)


def test_sia(tmp_path: Path) -> None:
    path = tmp_path / "workload-1.csv"
    path.write_text("name,time,application,num_replicas,batch_size\ncifar10-0,107,cifar10,0,2048\n")
    _raises(path, load_sia_workload, 2, "num_replicas", "GPUs >= 1", "'0'")
    profiles = tmp_path / "profiles" / "bert"
    profiles.mkdir(parents=True)
    good = "placement,local_bsz,step_time,sync_time\n1,4,0.45,0.01\n"
    (profiles / "placements-aws.csv").write_text(good + "1x,4,0.5,0.01\n")
    _raises(
        profiles / "placements-aws.csv",
        lambda _: load_sia_throughputs(tmp_path / "profiles"),
        3,
        "placement",
        "digits",
    )
    (profiles / "placements-aws.csv").write_text(good + "2,4,0,0.01\n")
    _raises(
        profiles / "placements-aws.csv",
        lambda _: load_sia_throughputs(tmp_path / "profiles"),
        3,
        "step_time",
        "> 0",
    )
    (profiles / "placements-aws.csv").unlink()
    (profiles / "placements-tpu.csv").write_text(good)
    _raises(
        profiles / "placements-tpu.csv",
        lambda _: load_sia_throughputs(tmp_path / "profiles"),
        None,
        "file name",
        "'tpu'",
        "aws",
    )


def test_tiresias(tmp_path: Path) -> None:
    path = tmp_path / "60_job.csv"
    path.write_text(
        "job_id,num_gpu,submit_time,iterations,model_name,duration,interval\n0,1,0,606,vgg19,long,30\n"
    )
    _raises(path, load_tiresias_jobs, 2, "duration", "number of seconds", "'long'")
    shape = tmp_path / "n32g4.csv"
    shape.write_text(
        "num_switch,num_node_p_switch,num_gpu_p_node,num_cpu_p_node,mem_p_node\n1,x,4,40,256"
    )
    _raises(shape, load_tiresias_cluster, 2, "num_node_p_switch", "nodes per switch")


def test_alibaba(tmp_path: Path) -> None:
    nodes = tmp_path / "openb_node_list_gpu_node.csv"
    nodes.write_text(
        "sn,cpu_milli,memory_mib,gpu,model\nn0,64000,262144,2,P100\nn1,64000,262144,2,Z900\n"
    )
    _raises(
        nodes,
        load_alibaba_v2023_nodes,
        3,
        "model",
        "GPU model the catalog knows",
        "'Z900'",
        "V100M16",
    )
    pods = tmp_path / "openb_pod_list_default.csv"
    header = (
        "name,cpu_milli,memory_mib,num_gpu,gpu_milli,gpu_spec,qos,pod_phase,"
        "creation_time,deletion_time,scheduled_time\n"
    )
    pods.write_text(header + "p0,12000,16384,1,1500,,LS,Running,0,10,0\n")
    _raises(pods, load_alibaba_v2023_pods, 2, "gpu_milli", "between 0 and 1000")
    pods.write_text(header + "p0,12000,16384,1,500,V100M16|X1,LS,Running,0,10,0\n")
    _raises(pods, load_alibaba_v2023_pods, 2, "gpu_spec", "'X1'")
    pods.write_text(header + "p0,12000,16384,1,500,,LS,Running,0,10,20\n")
    _raises(pods, load_alibaba_v2023_pods, 2, "deletion_time", "not before scheduled_time")
    spot = tmp_path / "node_info_df.csv"
    spot.write_text("gpu_model,gpu_capacity_num,cpu_num,node_name\nA10,eight,128,2\n")
    _raises(spot, load_alibaba_v2026_nodes, 2, "gpu_capacity_num", "whole number of GPUs")


def test_helios(tmp_path: Path) -> None:
    path = tmp_path / "cluster_log.csv"
    path.write_text(
        "job_id,user,vc,gpu_num,cpu_num,state,submit_time\n"
        "j1,u,vc,8,64,COMPLETED,2020-04-01 25:00:00\n"
    )
    _raises(path, load_helios_jobs, 2, "submit_time", "a time like")
    path.write_text("job_id,user,vc,cpu_num,state,submit_time\n")
    _raises(path, load_helios_jobs, 1, "gpu_num", "header naming the column")


def test_pai(tmp_path: Path) -> None:
    jobs = tmp_path / "pai_job_table.csv"
    jobs.write_text("j1,i1,u1,Terminated,5272.0,5374.0\nj2,i2,u2,Terminated,6000.0,5000.0\n")
    _raises(jobs, load_pai_jobs, 2, "end_time", "not before start_time")
    tasks = tmp_path / "pai_task_table.csv"
    tasks.write_text("j1,worker,two,Terminated,5272.0,5374.0,600.0,29.3,50.0,T4\n")
    _raises(tasks, load_pai_tasks, 1, "inst_num", "whole number of instances")
    tasks.write_text("j1,worker,1,Terminated,5272.0,5374.0,600.0,29.3,50.0,Q8000X\n")
    _raises(tasks, load_pai_tasks, 1, "gpu_type", "'Q8000X'")
    tasks.write_text("j1,worker,1,Terminated\n")
    _raises(tasks, load_pai_tasks, 1, "start_time", "10 comma-separated values")


def test_not_utf8(tmp_path: Path) -> None:
    path = tmp_path / "philly_full.csv"
    path.write_bytes(PHILLY.encode() + b"\xff\xfe,1,1,1,a\n")
    with pytest.raises(TraceError, match=r"philly_full.csv: expected UTF-8 text"):
        load_philly_csv(path)
