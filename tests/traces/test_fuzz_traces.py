"""Fuzzing the trace loaders: whatever a file holds, a loader returns records or raises
`TraceError` naming the file (and the line where it has one), never a KeyError,
ValueError, OverflowError, RecursionError or UnicodeError of its own.

Files are built from each format's real header and rows of cells drawn from text that
has broken loaders before: non-ASCII digits, overflowing numbers, times at the ends of
the calendar, NUL, quotes; plus raw bytes that are not UTF-8 and JSON/YAML that is
truncated, too deeply nested or holds numbers Python refuses to convert.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

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
    load_trace,
)
from suanli.adapters.traces.cluster_spec import load_cluster_spec
from suanli.adapters.traces.sia_jobs import load_sia_profiles

FUZZ = settings(
    max_examples=300,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


def _no_separators(text: str) -> str:
    # random text rarely parses as a value; keep it from also breaking the row apart
    return text.replace(",", "").replace("\t", "").replace("\n", "").replace("\r", "")


NASTY = [
    "",
    " ",
    "nan",
    "inf",
    "-inf",
    "-1",
    "0",
    "1",
    "2",
    "12",
    "1.5",
    "1e400",
    "1e308",
    "-1e308",
    "1e15",
    "1e16",
    "1e306",
    "9" * 40,
    "1" * 5000,
    "1_000",
    "0x1F",
    "²",
    "٣",
    "１２",
    "\x00",
    '"',
    "'",
    "\\",
    "2017-10-09 07:01:55",
    "2020-04-01 25:00:00",
    "0001-01-01T00:00:00+05:00",
    "0001-01-01 00:00:00",
    "9999-12-31T23:59:59-05:00",
    "9999-12-31 23:59:59",
    "A100",
    "V100M16",
    "V100M16|X1",
    "T4",
    "MISC",
    "P100",
    "Z900",
    "COMPLETED",
]
cells = st.one_of(
    st.sampled_from(NASTY), st.sampled_from(NASTY), st.text(max_size=12).map(_no_separators)
)


def rows(width: int, sep: str = ",") -> st.SearchStrategy[str]:
    """Up to 4 lines, mostly of exactly `width` cells (so that a row gets past the width
    check to its values), sometimes one more or fewer."""
    exact = st.lists(cells, min_size=width, max_size=width)
    ragged = st.lists(cells, min_size=max(0, width - 1), max_size=width + 1)
    row = st.one_of(exact, exact, exact, ragged).map(sep.join)
    return st.lists(row, max_size=4).map(lambda lines: "".join(line + "\n" for line in lines))


def _expect_trace_error_or_result(path: Path, load: Callable[[Path], Any]) -> None:
    try:
        load(path)
    except TraceError as exc:
        assert exc.path.name in str(exc) or exc.path.name == path.name, str(exc)
        assert str(exc), "a TraceError says what is wrong"


CSV_FORMATS: list[tuple[str, str | None, int, Callable[[Path], Any]]] = [
    ("philly.csv", "timestamp,duration,num_gpus,gpu_time,cluster", 5, load_philly_csv),
    ("workload-1.csv", "name,time,application,num_replicas,batch_size", 5, load_sia_workload),
    (
        "60_job.csv",
        "job_id,num_gpu,submit_time,iterations,model_name,duration,interval",
        7,
        load_tiresias_jobs,
    ),
    (
        "n32g4.csv",
        "num_switch,num_node_p_switch,num_gpu_p_node,num_cpu_p_node,mem_p_node",
        5,
        load_tiresias_cluster,
    ),
    ("openb_node_list.csv", "sn,cpu_milli,memory_mib,gpu,model", 5, load_alibaba_v2023_nodes),
    (
        "openb_pod_list.csv",
        "name,cpu_milli,memory_mib,num_gpu,gpu_milli,gpu_spec,qos,pod_phase,"
        "creation_time,deletion_time,scheduled_time",
        11,
        load_alibaba_v2023_pods,
    ),
    (
        "node_info_df.csv",
        "gpu_model,gpu_capacity_num,cpu_num,node_name",
        4,
        load_alibaba_v2026_nodes,
    ),
    (
        "cluster_log.csv",
        "job_id,user,vc,gpu_num,cpu_num,node_num,state,submit_time,start_time,end_time,duration",
        11,
        load_helios_jobs,
    ),
    ("pai_job_table.csv", None, 6, load_pai_jobs),
    ("pai_task_table.csv", None, 10, load_pai_tasks),
    ("jobs.trace", None, 10, load_gavel_trace),
]


@pytest.mark.parametrize(
    ("name", "header", "width", "load"), CSV_FORMATS, ids=[f[0] for f in CSV_FORMATS]
)
@FUZZ
@given(data=st.data())
def test_tabular_loaders_raise_only_trace_errors(
    tmp_path: Path,
    name: str,
    header: str | None,
    width: int,
    load: Callable[[Path], Any],
    data: st.DataObject,
) -> None:
    sep = "\t" if name.endswith(".trace") else ","
    body = data.draw(rows(width, sep), label="rows")
    text = (header + "\n" if header else "") + body
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    _expect_trace_error_or_result(path, load)
    _expect_trace_error_or_result(path, load_trace)  # format guessed from name and header


@FUZZ
@given(content=st.binary(max_size=200))
def test_any_bytes_give_a_trace_error_or_records(tmp_path: Path, content: bytes) -> None:
    for name, _, _, load in CSV_FORMATS:
        path = tmp_path / name
        path.write_bytes(content)
        _expect_trace_error_or_result(path, load)
    for name, load in (
        ("cluster_job_log", load_philly_json),
        ("simulation_throughputs.json", load_gavel_throughputs),
        ("spec.yaml", load_cluster_spec),
    ):
        path = tmp_path / name
        path.write_bytes(content)
        _expect_trace_error_or_result(path, load)


json_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from(NASTY),
    st.text(max_size=10),
)
json_values = st.recursive(
    json_scalars,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=12,
)


def _philly_job() -> st.SearchStrategy[dict[str, Any]]:
    time = st.one_of(st.sampled_from(NASTY), json_scalars)
    attempt = st.fixed_dictionaries(
        {},
        optional={
            "start_time": time,
            "end_time": time,
            "detail": st.one_of(
                json_values,
                st.lists(
                    st.fixed_dictionaries({"ip": st.text(max_size=4), "gpus": json_values}),
                    max_size=2,
                ),
            ),
        },
    )
    return st.fixed_dictionaries(
        {},
        optional={
            "jobid": st.one_of(st.text(max_size=6), json_scalars),
            "submitted_time": time,
            "attempts": st.one_of(json_values, st.lists(attempt, max_size=2)),
            "status": json_values,
            "vc": json_values,
            "user": json_values,
        },
    )


# Texts Python's json refuses on its own terms (not JSONDecodeError).
JSON_TRAPS = ["[" + "1" * 5000 + "]", "[" * 5000 + "]" * 5000, "[", "", "[{}", "[1,]", "\ufeff["]


@FUZZ
@given(
    jobs=st.lists(st.one_of(_philly_job(), json_values), max_size=3),
    cut=st.one_of(st.none(), st.integers(min_value=0, max_value=400)),
    trap=st.one_of(st.none(), st.sampled_from(JSON_TRAPS)),
)
def test_philly_json_raises_only_trace_errors(
    tmp_path: Path, jobs: list[Any], cut: int | None, trap: str | None
) -> None:
    text = trap if trap is not None else json.dumps(jobs, indent=1)
    if cut is not None:
        text = text[:cut]
    path = tmp_path / "cluster_job_log"
    path.write_text(text, encoding="utf-8", errors="surrogatepass")
    _expect_trace_error_or_result(path, load_philly_json)


@FUZZ
@given(
    data=st.one_of(
        json_values,
        st.dictionaries(
            st.sampled_from(["v100", "k80", "p100_unconsolidated", "tpu9", "\ud800"])
            | st.text(max_size=6),
            st.one_of(
                json_values,
                st.dictionaries(
                    st.sampled_from(
                        [
                            "('ResNet-18', 1)",
                            "('A', 0)",
                            "(" * 200 + ")" * 200,
                            "(" * 5000,
                            "1" * 5000,
                            "\x00",
                        ]
                    )
                    | st.text(max_size=10),
                    st.fixed_dictionaries({}, optional={"null": json_scalars}) | json_values,
                    max_size=3,
                ),
            ),
            max_size=3,
        ),
    ),
    trap=st.one_of(st.none(), st.sampled_from(JSON_TRAPS)),
)
def test_gavel_throughputs_raise_only_trace_errors(
    tmp_path: Path, data: Any, trap: str | None
) -> None:
    path = tmp_path / "simulation_throughputs.json"
    text = trap if trap is not None else json.dumps(data)
    path.write_text(text, encoding="utf-8")
    _expect_trace_error_or_result(path, load_gavel_throughputs)


yaml_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(),
    st.sampled_from([*NASTY, "2001-02-30", ".inf", "1" * 5000]),
    st.text(max_size=8),
)


@settings(FUZZ, max_examples=200)
@given(
    count=yaml_scalars,
    gpus=yaml_scalars,
    memory=yaml_scalars,
    model=yaml_scalars,
    region=yaml_scalars,
    extra=st.dictionaries(st.text(max_size=6), yaml_scalars, max_size=2),
)
def test_cluster_spec_raises_only_trace_errors(
    tmp_path: Path,
    count: Any,
    gpus: Any,
    memory: Any,
    model: Any,
    region: Any,
    extra: dict[str, Any],
) -> None:
    spec = {
        "regions": [{"id": region if region is not None else "r"}],
        "providers": [{"id": "p"}],
        "clusters": [
            {
                "id": "c",
                "region": "r",
                "provider": "p",
                "nodes": [
                    {"count": count, "gpus_per_node": gpus, "gpu_model": model, "memory_gb": memory}
                    | extra
                ],
            }
        ],
    }
    path = tmp_path / "spec.yaml"
    # unquoted, so that "2001-02-30" or "1e400" reach YAML's own resolvers as values
    text = yaml.safe_dump(spec, allow_unicode=True).replace("'", "")
    path.write_text(text, encoding="utf-8")
    try:
        loaded = load_cluster_spec(path)
    except TraceError:
        return
    assert loaded.nodes() is not None  # expanding the nodes must not fail either


SPEC_HEAD = "regions: [{id: r}]\nproviders: [{id: p}]\nclusters: [{id: c, region: r, provider: p, "


@pytest.mark.parametrize(
    "text",
    [
        "[" * 3000,
        "a: " + "[" * 3000,
        SPEC_HEAD + "nodes: [{count: 1" + "0" * 5000 + ", gpus_per_node: 0}]}]",
        SPEC_HEAD + "nodes: [{count: 1000000000000, gpus_per_node: 0}]}]",
        SPEC_HEAD + "nodes: [{count: 1, gpus_per_node: 0, memory_gb: .inf}]}]",
        SPEC_HEAD + "nodes: [{count: 1, gpus_per_node: 0, memory_gb: 1e308}]}]",
        "regions: [{id: r, energy_price: 2001-02-30}]\nproviders: []\nclusters: []",
        "a: &x [1]\nb: *y",
        "\x00",
        "{[1]: 2}",
    ],
    ids=range(10),
)
def test_cluster_spec_traps(tmp_path: Path, text: str) -> None:
    path = tmp_path / "spec.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(TraceError) as caught:
        load_cluster_spec(path)
    assert str(caught.value).startswith("spec.yaml")


@FUZZ
@given(
    cluster=st.sampled_from(["aws", "dgx", "tpu", "rtx"]),
    body=rows(4),
)
def test_sia_profiles_raise_only_trace_errors(tmp_path: Path, cluster: str, body: str) -> None:
    folder = tmp_path / "profiles"
    app = folder / "bert"
    app.mkdir(parents=True, exist_ok=True)
    for old in app.iterdir():
        old.unlink()
    (app / f"placements-{cluster}.csv").write_text(
        "placement,local_bsz,step_time,sync_time\n" + body, encoding="utf-8"
    )
    _expect_trace_error_or_result(folder, load_sia_throughputs)
    _expect_trace_error_or_result(folder, lambda f: load_sia_profiles(f, [cluster]))


@pytest.mark.parametrize(
    ("name", "text", "load"),
    [
        # 1e306 x 1024 is infinity, which round() and int() refuse (OverflowError)
        ("pai_task_table.csv", "j,w,1,T,1,2,1,1e306,1e308,T4\n", load_pai_tasks),
        (
            "n32g4.csv",
            "num_switch,num_node_p_switch,num_gpu_p_node,num_cpu_p_node,mem_p_node\n"
            "1,1,1,1,1e306\n",
            load_tiresias_cluster,
        ),
        # 1e12 x 1e12 nodes would be expanded one by one
        (
            "n32g4.csv",
            "num_switch,num_node_p_switch,num_gpu_p_node,num_cpu_p_node,mem_p_node\n"
            "1e12,1e12,1,1,1\n",
            load_tiresias_cluster,
        ),
        # "²".isdigit() is True, int("²") a ValueError
        (
            "bert/placements-aws.csv",
            "placement,local_bsz,step_time,sync_time\n²,1,1,1\n",
            lambda path: load_sia_throughputs(path.parents[1]),
        ),
        (
            "bert/placements-aws.csv",
            "placement,local_bsz,step_time,sync_time\n٣,1,1,1\n",
            lambda path: load_sia_profiles(path.parents[1], ["aws"]),
        ),
        ("cluster_job_log", "[" + "1" * 5000 + "]", load_philly_json),
        ("cluster_job_log", "[" + "[" * 100_000, load_philly_json),
        ("simulation_throughputs.json", "{" + '"a":' * 100_000, load_gavel_throughputs),
        ("simulation_throughputs.json", '{"v100": ' + "1" * 5000 + "}", load_gavel_throughputs),
        (
            "simulation_throughputs.json",
            json.dumps({"v100": {"(" * 400 + ")" * 400: {"null": 1}}}),
            load_gavel_throughputs,
        ),
    ],
    ids=range(10),
)
def test_inputs_that_crashed_loaders(
    tmp_path: Path, name: str, text: str, load: Callable[[Path], Any]
) -> None:
    path = tmp_path / "data" / name
    path.parent.mkdir(parents=True)
    path.write_text(text, encoding="utf-8")
    with pytest.raises(TraceError) as caught:
        load(path)
    assert path.name in str(caught.value)
