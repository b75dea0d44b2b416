"""The policy lab over HTTP: a bundled sample run under two policies in the background to
SUCCEEDED with both policies' metrics and an HTML report; an uploaded (generated) trace
run the same way; bad input (unknown sample or policy, a trace no reader takes, too many
jobs, an upload over the limit) is a 4xx problem with a hint that queues nothing; runs
are private to their owner (another consumer gets 404, an operator sees all), a provider
gets 403; the per-user limit, the runs kept, and a failing run that shows no traceback.
"""

from __future__ import annotations

import random
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from suanli.adapters.clock import ManualClock
from suanli.api.app import create_app
from suanli.api.limits import BodyLimits
from suanli.lab import runs as lab_runs
from suanli.lab.runs import LabRuns
from suanli.platform import Platform, PlatformConfig
from suanli.services.bootstrap import bootstrap_local
from tests.api.test_http_api import PROBLEM, assert_problem, auth
from tests.conftest import START

WAIT_S = 120.0
"""Longest wait for a run to finish (a 50-job sample takes well under a second)."""


@dataclass
class Lab:
    plat: Platform
    api: TestClient
    op: dict[str, str]
    """Headers of the operator."""
    ann: dict[str, str]
    """Headers of ann, a consumer of tenant default."""
    bob: dict[str, str]
    """Headers of bob, another consumer of the same tenant."""
    pat: dict[str, str]
    """Headers of pat, a provider admin."""

    def ok(self, method: str, path: str, headers: dict[str, str], **kw: Any) -> Any:
        response = self.api.request(method, path, headers=headers, **kw)
        assert response.status_code < 300, f"{method} {path}: {response.text}"
        return response.json()

    def runs(self) -> LabRuns:
        found: LabRuns = self.api.app.state.lab_runs  # type: ignore[attr-defined]
        return found

    def wait(self, run_id: str, headers: dict[str, str]) -> Any:
        """The run once finished (fails after WAIT_S)."""
        deadline = time.monotonic() + WAIT_S
        while True:
            run = self.ok("GET", f"/v1/lab/runs/{run_id}", headers)
            if run["state"] in ("SUCCEEDED", "FAILED"):
                return run
            assert time.monotonic() < deadline, f"run {run_id} still {run['state']}: {run}"
            time.sleep(0.05)


def _lab(tmp_path: Path, body_limits: BodyLimits | None = None) -> Iterator[Lab]:
    tmp_path.mkdir(parents=True, exist_ok=True)
    clock = ManualClock(START)
    plat = Platform(PlatformConfig(f"sqlite:///{tmp_path / 'lab.db'}"), clock=clock)
    local = bootstrap_local(plat.store, clock, plat.ids, user="ann", previous=None)
    api = TestClient(create_app(plat, body_limits=body_limits), raise_server_exceptions=False)
    op = auth(local.operator)

    def post(path: str, body: dict[str, Any]) -> Any:
        response = api.post(path, json=body, headers=op)
        assert response.status_code == 201, f"{path}: {response.text}"
        return response.json()

    post("/v1/providers", {"id": "prov", "name": "Provider"})
    post("/v1/users", {"id": "bob", "role": "consumer", "tenant_id": "default"})
    post("/v1/users", {"id": "pat", "role": "provider", "provider_id": "prov"})
    secrets = {u: post("/v1/tokens", {"user_id": u})["token"] for u in ("bob", "pat")}
    try:
        yield Lab(plat, api, op, auth(local.user), auth(secrets["bob"]), auth(secrets["pat"]))
    finally:
        plat.close()


@pytest.fixture
def lab(tmp_path: Path) -> Iterator[Lab]:
    yield from _lab(tmp_path)


def _tiresias_csv(rows: int, seed: int) -> str:
    """A Tiresias-format trace (docs/traces.md): `rows` jobs of 1 to 8 GPUs arriving over
    about an hour, each running 1 to 30 minutes."""
    rng = random.Random(seed)
    lines = ["job_id,num_gpu,submit_time,iterations,model_name,duration,interval"]
    submit = 0
    for job in range(rows):
        gap = rng.randint(0, 120)
        submit += gap
        gpus = rng.choice((1, 1, 1, 2, 4, 8))
        model = rng.choice(("resnet50", "vgg16", "bert"))
        lines.append(
            f"{job},{gpus},{submit},{rng.randint(100, 900)},{model},{rng.randint(60, 1800)},{gap}"
        )
    return "\n".join(lines) + "\n"


def test_the_samples_are_listed_with_their_size_format_and_source(lab: Lab) -> None:
    samples = {s["name"]: s for s in lab.ok("GET", "/v1/lab/samples", lab.ann)}
    assert samples["philly-200"]["rows"] == 200
    assert samples["philly-200"]["format"] == "philly-csv"
    assert samples["tiresias-60"]["rows"] == 60
    assert samples["tiresias-60"]["format"] == "tiresias"
    assert all(s["description"] and s["source"] for s in samples.values())


def test_a_sample_runs_two_policies_in_the_background_to_a_report(lab: Lab) -> None:
    started = lab.api.post(
        "/v1/lab/runs",
        json={"sample": "philly-200", "policies": ["fifo", "default"], "jobs": 50},
        headers=lab.ann,
    )
    assert started.status_code == 202, started.text
    run = started.json()
    assert run["id"].startswith("lab-")
    assert (run["owner"], run["tenant"], run["trace"]) == ("ann", "default", "philly-200")
    assert run["state"] in ("QUEUED", "RUNNING", "SUCCEEDED")
    assert run["policies"] == ["fifo", "default"]
    assert run["jobs"] == 50
    assert run["created_at"] == START.isoformat().replace("+00:00", "Z")
    assert set(run["progress"]) == {"fifo", "default"}
    assert all(total == 50 for _, total in run["progress"].values())

    done = lab.wait(run["id"], lab.ann)
    assert done["state"] == "SUCCEEDED", done["error"]
    assert done["error"] is None
    assert done["progress"] == {"fifo": [50, 50], "default": [50, 50]}
    assert done["finished_at"] is not None
    assert done["report"] == f"/v1/lab/runs/{run['id']}/report"
    result = done["result"]
    assert result["scenario"]["trace"] == "philly-200"  # the label, not a server path
    assert result["scenario"]["jobs"] == 50
    assert set(result["policies"]) == {"fifo", "default"}
    for name, metrics in result["policies"].items():
        assert metrics["jobs"] == 50, name
        assert metrics["unfinished"] == 0, name
        assert metrics["avg_jct_s"] > 0 and 0 < metrics["gpu_utilization"] <= 1, name
    assert result["policies"]["default"]["policy"] == "suanli"

    listed = lab.ok("GET", "/v1/lab/runs", lab.ann)
    assert [r["id"] for r in listed] == [run["id"]]
    assert listed[0]["result"] is None  # lists leave the result out

    page = lab.api.get(done["report"], headers=lab.ann)
    assert page.status_code == 200, page.text
    assert page.headers["content-type"].startswith("text/html")
    assert "default-src 'none'" in page.headers["content-security-policy"]
    assert page.text.startswith("<!DOCTYPE html>")
    assert "Simulation report: philly-200" in page.text
    assert "suanli-lab-" not in page.text  # no temporary path


def test_an_uploaded_trace_runs_to_a_result(lab: Lab) -> None:
    text = _tiresias_csv(40, seed=11)
    body = {"trace_text": text, "filename": "generated.csv", "policies": ["default", "sjf"]}
    run = lab.ok("POST", "/v1/lab/runs", lab.ann, json=body)
    assert (run["trace"], run["trace_format"], run["jobs"]) == ("generated.csv", "tiresias", 40)
    done = lab.wait(run["id"], lab.ann)
    assert done["state"] == "SUCCEEDED", done["error"]
    assert set(done["result"]["policies"]) == {"default", "sjf"}
    assert done["result"]["scenario"]["trace"] == "generated.csv"
    assert all(p["jobs"] == 40 for p in done["result"]["policies"].values())
    page = lab.api.get(done["report"], headers=lab.ann)
    assert page.status_code == 200 and "generated.csv" in page.text


BAD_INPUT = [
    ({"sample": "nope"}, "sample", "unknown sample", "philly-200"),
    ({"sample": "philly-200", "policies": ["fifo", "nope"]}, "policies", "nope", "fifo"),
    ({"sample": "philly-200", "policies": []}, "policies", "no policy", "default"),
    (
        {"trace_text": "hello,world\n1,2\n", "filename": "junk.csv"},
        "trace_text",
        "junk.csv",
        '"format"',
    ),
    (
        {"trace_text": "job_id,num_gpu,submit_time,duration\n1,many,0,60\n", "filename": "t.csv"},
        "trace_text",
        "num_gpu",
        "fix that row",
    ),
    ({"sample": "philly-200", "jobs": 2001}, "jobs", "at most 2000", "1 to 2000"),
    ({"sample": "philly-200", "jobs": 0}, "jobs", "at least 1", "1 to 2000"),
    ({"sample": "philly-200", "trace_text": "x"}, "sample", "one trace", "not both"),
    ({"policies": ["fifo"]}, "sample", "one trace", "GET /v1/lab/samples"),
    ({"trace_text": " \n", "filename": "t.csv"}, "trace_text", "empty", "sample"),
]


@pytest.mark.parametrize(("body", "field", "detail", "hint"), BAD_INPUT)
def test_bad_input_is_a_problem_with_a_hint_and_queues_nothing(
    lab: Lab, body: dict[str, Any], field: str, detail: str, hint: str
) -> None:
    problem = assert_problem(lab.api.post("/v1/lab/runs", json=body, headers=lab.ann), 422)
    assert problem["field"] == field
    assert detail.lower() in str(problem["detail"]).lower()
    assert hint in str(problem["hint"])
    assert lab.ok("GET", "/v1/lab/runs", lab.op) == []


def test_an_upload_over_the_limit_is_refused(lab: Lab, tmp_path: Path) -> None:
    big = _tiresias_csv(34_000, seed=1)
    assert len(big) > 1024 * 1024
    body = {"trace_text": big, "filename": "big.csv"}
    # the API's body limit (1 MiB) answers first ...
    refused = lab.api.post("/v1/lab/runs", json=body, headers=lab.ann)
    assert_problem(refused, 413, "1 MiB")
    # ... and where it is raised, the lab's own limit holds
    for roomy in _lab(tmp_path / "roomy", BodyLimits(default=8 * 1024 * 1024)):
        problem = assert_problem(roomy.api.post("/v1/lab/runs", json=body, headers=roomy.ann), 422)
        assert problem["field"] == "trace_text"
        assert "at most 1,048,576" in str(problem["detail"])
        assert "suanli sim" in str(problem["hint"])
        assert roomy.ok("GET", "/v1/lab/runs", roomy.op) == []


def test_runs_are_private_to_their_owner_and_operators_see_all(lab: Lab) -> None:
    run = lab.ok("POST", "/v1/lab/runs", lab.ann, json={"sample": "tiresias-60", "jobs": 20})
    lab.wait(run["id"], lab.ann)
    path = f"/v1/lab/runs/{run['id']}"
    for url in (path, f"{path}/report"):
        assert_problem(lab.api.get(url, headers=lab.bob), 404, "no lab run")
    assert lab.ok("GET", "/v1/lab/runs", lab.bob) == []
    assert [r["id"] for r in lab.ok("GET", "/v1/lab/runs", lab.op)] == [run["id"]]
    assert lab.ok("GET", path, lab.op)["state"] == "SUCCEEDED"
    assert lab.api.get(f"{path}/report", headers=lab.op).status_code == 200
    assert_problem(lab.api.get("/v1/lab/runs/lab-nothere", headers=lab.ann), 404)


def test_a_provider_may_not_use_the_lab(lab: Lab) -> None:
    calls = [
        ("GET", "/v1/lab/samples", None),
        ("GET", "/v1/lab/runs", None),
        ("POST", "/v1/lab/runs", {"sample": "tiresias-60"}),
        ("GET", "/v1/lab/runs/lab-x", None),
        ("GET", "/v1/lab/runs/lab-x/report", None),
    ]
    for method, path, body in calls:
        response = lab.api.request(method, path, json=body, headers=lab.pat)
        assert_problem(response, 403, "lab:run")
    assert lab.ok("GET", "/v1/lab/runs", lab.op) == []


def test_three_active_runs_per_user_then_409_and_the_report_waits(lab: Lab) -> None:
    held = LabRuns(lab.plat.clock, lab.plat.ids, worker=False)  # runs only when told
    lab.api.app.state.lab_runs = held  # type: ignore[attr-defined]
    body = {"sample": "tiresias-60", "policies": ["fifo"], "jobs": 10}
    ids = [lab.ok("POST", "/v1/lab/runs", lab.ann, json=body)["id"] for _ in range(3)]
    problem = assert_problem(lab.api.post("/v1/lab/runs", json=body, headers=lab.ann), 409)
    assert "at most 3" in str(problem["detail"]) and problem["hint"]
    assert lab.ok("POST", "/v1/lab/runs", lab.bob, json=body)["state"] == "QUEUED"
    waiting = assert_problem(lab.api.get(f"/v1/lab/runs/{ids[0]}/report", headers=lab.ann), 409)
    assert "QUEUED" in str(waiting["detail"]) and "SUCCEEDED" in str(waiting["hint"])
    assert held.run_pending() == 4
    assert {r["state"] for r in lab.ok("GET", "/v1/lab/runs", lab.op)} == {"SUCCEEDED"}
    assert lab.ok("POST", "/v1/lab/runs", lab.ann, json=body)["state"] == "QUEUED"


def test_the_oldest_finished_runs_make_room(lab: Lab) -> None:
    held = LabRuns(lab.plat.clock, lab.plat.ids, worker=False, max_kept=2)
    lab.api.app.state.lab_runs = held  # type: ignore[attr-defined]
    body = {"sample": "tiresias-60", "policies": ["fifo"], "jobs": 5}
    first = lab.ok("POST", "/v1/lab/runs", lab.ann, json=body)["id"]
    second = lab.ok("POST", "/v1/lab/runs", lab.bob, json=body)["id"]
    busy = assert_problem(lab.api.post("/v1/lab/runs", json=body, headers=lab.ann), 409, "busy")
    assert busy["hint"]
    held.run_pending()
    third = lab.ok("POST", "/v1/lab/runs", lab.ann, json=body)["id"]
    assert [r["id"] for r in lab.ok("GET", "/v1/lab/runs", lab.op)] == [third, second]
    assert_problem(lab.api.get(f"/v1/lab/runs/{first}", headers=lab.ann), 404)


def test_a_failing_run_says_so_without_a_traceback(
    lab: Lab, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*_: object, **__: object) -> None:
        raise RuntimeError("internal detail /srv/secret/path")

    monkeypatch.setattr(lab_runs, "run_policy", broken)
    held = LabRuns(lab.plat.clock, lab.plat.ids, worker=False)
    lab.api.app.state.lab_runs = held  # type: ignore[attr-defined]
    run = lab.ok("POST", "/v1/lab/runs", lab.ann, json={"sample": "tiresias-60", "jobs": 5})
    held.run_pending()
    failed = lab.ok("GET", f"/v1/lab/runs/{run['id']}", lab.ann)
    assert failed["state"] == "FAILED"
    assert "RuntimeError" in failed["error"] and "log" in failed["error"]
    assert "/srv/secret" not in failed["error"] and "Traceback" not in failed["error"]
    assert failed["result"] is None and failed["report"] is None
    report = lab.api.get(f"/v1/lab/runs/{run['id']}/report", headers=lab.ann)
    assert_problem(report, 409, "failed")
    assert report.headers["content-type"].startswith(PROBLEM)
