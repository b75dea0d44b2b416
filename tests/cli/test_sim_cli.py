"""`suanli sim` on the committed trace samples: the table, the JSON, the HTML report,
and bad input as one line on stderr with exit code 2 (never a traceback)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from suanli.cli.main import app

DATA = Path(__file__).resolve().parents[1] / "data" / "traces"
PHILLY = DATA / "philly" / "philly_sample.csv"

runner = CliRunner()


def test_two_policies_as_json_and_an_html_report(tmp_path: Path) -> None:
    out = tmp_path / "r.html"
    args = ["sim", str(PHILLY), "--policy", "fifo", "--policy", "default"]
    result = runner.invoke(app, [*args, "--report", str(out), "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["scenario"]["jobs"] == 200
    assert [p["name"] for p in data["scenario"]["policies"]] == ["fifo", "suanli"]
    assert set(data["policies"]) == {"fifo", "default"}
    for name, metrics in data["policies"].items():
        assert metrics["jobs"] + metrics["unfinished"] == 200, name
        assert metrics["avg_jct_s"] > 0 and 0 < metrics["gpu_utilization"] <= 1
        assert metrics["units"] > 0 and metrics["fairness"]["max_rho"] > 0
        assert len(metrics["series"]["gpu_utilization"]) <= 501
        assert metrics["by_tenant"]
    page = out.read_text(encoding="utf-8")
    assert page.count("<svg") == 4
    for chart in ("JCT CDF", "GPU utilisation over time", "queue length over time", "per tenant"):
        assert chart in page
    assert 'class="best"' in page and "How to read this report" in page
    embedded = re.search(
        r'<script type="application/json" id="suanli-metrics">(.*?)</script>', page, re.S
    )
    assert embedded is not None and json.loads(embedded.group(1)) == data
    assert "<script src" not in page and "http://" not in page.replace(
        'xmlns="http://www.w3.org/2000/svg"', ""
    )


def test_the_summary_table_names_each_policy() -> None:
    result = runner.invoke(app, ["sim", str(PHILLY), "--jobs", "50", "--policy", "fifo"])
    assert result.exit_code == 0, result.output
    assert "POLICY" in result.stdout and "fifo" in result.stdout
    assert "AVG JCT" in result.stdout and "MAKESPAN" in result.stdout
    assert "50 jobs on" in result.stderr


def test_a_cluster_spec_and_a_gavel_trace_with_throughputs() -> None:
    spec = DATA / "cluster_specs" / "gavel-36.yaml"
    args = [
        "sim",
        str(DATA / "gavel" / "philly_first120.trace"),
        "--cluster",
        str(spec),
        "--throughputs",
        str(DATA / "gavel" / "throughputs_subset.json"),
        "--jobs",
        "40",
        "--policy",
        "fifo",
        "--json",
    ]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    scenario = json.loads(result.stdout)["scenario"]
    assert scenario["trace_format"] == "gavel" and scenario["gpus"] == 36
    assert scenario["pool"].startswith("cluster spec")


def _bad(tmp_path: Path) -> list[tuple[list[str], str]]:
    malformed = tmp_path / "bad.csv"
    malformed.write_text(
        "timestamp,duration,num_gpus,gpu_time,cluster\n2017-10-09 07:01:55,66.0,abc,66,vc\n"
    )
    spec = tmp_path / "spec.yaml"
    spec.write_text("regions: []\nproviders: []\nclusters: []\nextra: 1\n")
    trace = str(PHILLY)
    return [
        (["sim", str(tmp_path / "missing.csv")], "not found"),
        (["sim", trace, "--policy", "nope"], "fifo"),
        (["sim", str(malformed)], "line 2"),
        (["sim", trace, "--cluster", str(spec)], "spec.yaml"),
        (["sim", trace, "--cluster", str(tmp_path / "none.yaml")], "none.yaml"),
        (["sim", trace, "--jobs", "0"], "--jobs"),
        (["sim", trace, "--format", "tiresias-cluster"], "format"),
        (["sim", str(DATA / "gavel" / "philly_first120.trace")], "--throughputs"),
        (["sim", trace, "--report", str(tmp_path / "no" / "r.html")], "does not exist"),
        (["sim", trace, "--reference", "Z9000"], "Z9000"),
    ]


@pytest.mark.parametrize("case", range(10))
def test_bad_input_is_one_clear_line_and_exit_2(case: int, tmp_path: Path) -> None:
    args, expected = _bad(tmp_path)[case]
    result = runner.invoke(app, args)
    assert result.exit_code == 2, (args, result.output)
    assert "Traceback" not in result.output and isinstance(result.exception, SystemExit)
    assert result.stderr.startswith("error:"), result.stderr
    assert expected in result.stderr
    assert result.stdout == ""


def test_policies_in_parallel_processes_give_the_figures_of_one_after_another() -> None:
    args = ["sim", str(PHILLY), "--policy", "fifo", "--policy", "suanli", "--json"]
    one = runner.invoke(app, args)
    two = runner.invoke(app, [*args, "--processes", "2"])
    assert one.exit_code == 0 and two.exit_code == 0, two.output
    a, b = json.loads(one.stdout), json.loads(two.stdout)
    for doc in (a, b):
        for metrics in doc["policies"].values():
            metrics.pop("wall_s", None)
    assert a["policies"] == b["policies"] and a["scenario"] == b["scenario"]
