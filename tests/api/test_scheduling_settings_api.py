"""Scheduling settings over HTTP: tenants' shares and quotas, region energy settings and
cluster prices. Roles, problem documents naming the field, never a 500; and the CLI
commands in-process against the same app."""

from __future__ import annotations

import json
from typing import Any

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from suanli.cli import common
from suanli.cli import main as cli
from suanli.sdk.client import Client
from suanli.services.bootstrap import LocalTokens
from tests.api.test_http_api import assert_problem, auth


def test_tenants_list_shows_weights_cohorts_and_quotas(
    api: TestClient, tokens: LocalTokens
) -> None:
    op = auth(tokens.operator)
    listed = api.get("/v1/tenants", headers=op)
    assert listed.status_code == 200, listed.text
    assert listed.json() == [
        {
            "id": "default",
            "name": "Default consumer tenant",
            "weight": 1.0,
            "cohort": None,
            "quotas": [],
            "sector": "other",
            "contact": "",
            "created_at": "2026-03-01T08:00:00Z",
        },
        {
            "id": "operator",
            "name": "Platform operator",
            "weight": 1.0,
            "cohort": None,
            "quotas": [],
            "sector": "other",
            "contact": "",
            "created_at": "2026-03-01T08:00:00Z",
        },
    ]
    assert [t["id"] for t in api.get("/v1/tenants", headers=auth(tokens.user)).json()] == [
        "default"
    ]
    assert_problem(api.get("/v1/tenants", headers=auth(tokens.agent)), 403)


def test_operator_sets_a_share(api: TestClient, tokens: LocalTokens) -> None:
    op = auth(tokens.operator)
    got = api.put("/v1/tenants/default/share", json={"weight": 2.5, "cohort": "uni"}, headers=op)
    assert got.status_code == 200, got.text
    assert (got.json()["weight"], got.json()["cohort"]) == (2.5, "uni")
    got = api.put("/v1/tenants/default/share", json={"weight": 1}, headers=op)
    assert (got.json()["weight"], got.json()["cohort"]) == (1.0, None)
    assert_problem(
        api.put("/v1/tenants/default/share", json={"weight": 5}, headers=auth(tokens.user)), 403
    )
    missing = assert_problem(
        api.put("/v1/tenants/nope/share", json={"weight": 5}, headers=op), 404, "nope"
    )
    assert missing["field"] == "tenant_id" and "suanli tenant list" in str(missing["hint"])


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"weight": 0}, "weight"),
        ({"weight": -3}, "weight"),
        ({"weight": 1e7}, "weight"),
        ({"weight": "heavy"}, "weight"),
        ({"weight": "Infinity"}, "weight"),
        ({}, "weight"),
        ({"weight": 1, "cohort": "Big Cohort"}, "cohort"),
        ({"weight": 1, "cohort": "c" * 65}, "cohort"),
        ({"weight": 1, "colour": "red"}, "colour"),
    ],
)
def test_bad_shares_are_422_naming_the_field(
    api: TestClient, tokens: LocalTokens, body: dict[str, Any], field: str
) -> None:
    op = auth(tokens.operator)
    problem = assert_problem(api.put("/v1/tenants/default/share", json=body, headers=op), 422)
    assert problem["field"] == field
    assert api.get("/v1/tenants", headers=op).json()[0]["weight"] == 1.0


def test_quotas_set_list_and_delete(api: TestClient, tokens: LocalTokens) -> None:
    op = auth(tokens.operator)
    cpu = api.put(
        "/v1/tenants/default/quotas/cpu",
        json={"nominal": 8.5, "borrowing_limit": 4, "lending_limit": 0.5},
        headers=op,
    )
    assert cpu.status_code == 200, cpu.text
    assert cpu.json() == {
        "tenant_id": "default",
        "flavor": "cpu",
        "unit": "cores",
        "nominal": 8.5,
        "borrowing_limit": 4.0,
        "lending_limit": 0.5,
    }
    gpu = api.put("/v1/tenants/default/quotas/gpu:h100", json={"nominal": 8}, headers=op)
    assert gpu.status_code == 200, gpu.text
    assert (gpu.json()["flavor"], gpu.json()["unit"], gpu.json()["nominal"]) == (
        "gpu:H100",
        "devices",
        8.0,
    )
    quotas = api.get("/v1/tenants/default/quotas", headers=op).json()
    assert [q["flavor"] for q in quotas] == ["cpu", "gpu:H100"]
    # the consumer reads its own tenant's quotas, not another's
    user = auth(tokens.user)
    assert api.get("/v1/tenants/default/quotas", headers=user).json() == quotas
    assert_problem(api.get("/v1/tenants/operator/quotas", headers=user), 404)
    assert api.get("/v1/tenants", headers=user).json()[0]["quotas"] == quotas
    assert_problem(api.delete("/v1/tenants/default/quotas/cpu", headers=user), 403)
    assert_problem(
        api.put("/v1/tenants/default/quotas/cpu", json={"nominal": 99}, headers=user), 403
    )
    assert api.delete("/v1/tenants/default/quotas/gpu:H100", headers=op).status_code == 204
    gone = assert_problem(api.delete("/v1/tenants/default/quotas/gpu:H100", headers=op), 404)
    assert gone["field"] == "flavor"
    assert [q["flavor"] for q in api.get("/v1/tenants/default/quotas", headers=op).json()] == [
        "cpu"
    ]
    assert_problem(api.get("/v1/tenants/nope/quotas", headers=op), 404, "nope")


@pytest.mark.parametrize(
    ("flavor", "body", "field"),
    [
        ("tpu", {"nominal": 1}, "flavor"),
        ("gpu:NOPE-9000", {"nominal": 1}, "flavor"),
        ("gpu:any", {"nominal": 1}, "flavor"),
        ("gpu:H100", {"nominal": 0.5}, "nominal"),
        ("cpu", {"nominal": -1}, "nominal"),
        ("cpu", {"nominal": 1e300}, "nominal"),
        ("cpu", {"nominal": "lots"}, "nominal"),
        ("cpu", {"nominal": "NaN"}, "nominal"),
        ("cpu", {}, "nominal"),
        ("cpu", {"nominal": 4, "lending_limit": 5}, "lending_limit"),
        ("cpu", {"nominal": 4, "borrowing_limit": -1}, "borrowing_limit"),
        ("cpu", {"nominal": 4, "extra": 1}, "extra"),
    ],
)
def test_bad_quotas_are_422_naming_the_field_and_write_nothing(
    api: TestClient, tokens: LocalTokens, flavor: str, body: dict[str, Any], field: str
) -> None:
    op = auth(tokens.operator)
    problem = assert_problem(
        api.put(f"/v1/tenants/default/quotas/{flavor}", json=body, headers=op), 422
    )
    assert problem["field"] == field
    assert api.get("/v1/tenants/default/quotas", headers=op).json() == []


def test_region_energy_settings(api: TestClient, tokens: LocalTokens) -> None:
    op = auth(tokens.operator)
    got = api.patch(
        "/v1/regions/local", json={"energy_price": 0.62, "carbon_intensity": 581}, headers=op
    )
    assert got.status_code == 200, got.text
    assert (got.json()["energy_price"], got.json()["carbon_intensity"]) == (0.62, 581.0)
    kept = api.patch("/v1/regions/local", json={"energy_price": 0.5}, headers=op).json()
    assert (kept["energy_price"], kept["carbon_intensity"]) == (0.5, 581.0)
    cleared = api.patch("/v1/regions/local", json={"carbon_intensity": None}, headers=op).json()
    assert (cleared["energy_price"], cleared["carbon_intensity"]) == (0.5, None)
    (region,) = api.get("/v1/regions", headers=auth(tokens.user)).json()
    assert region == {
        "id": "local",
        "name": "This machine",
        "latitude": None,
        "longitude": None,
        "energy_price": 0.5,
        "carbon_intensity": None,
    }
    assert_problem(
        api.patch("/v1/regions/local", json={"energy_price": 1}, headers=auth(tokens.user)), 403
    )
    assert_problem(api.patch("/v1/regions/mars", json={"energy_price": 1}, headers=op), 404, "mars")
    for body, field in (
        ({"energy_price": -1}, "energy_price"),
        ({"carbon_intensity": 1e7}, "carbon_intensity"),
        ({"energy_price": "cheap"}, "energy_price"),
        ({"energy_price": "Infinity"}, "energy_price"),
        ({"name": "x"}, "name"),
    ):
        problem = assert_problem(api.patch("/v1/regions/local", json=body, headers=op), 422)
        assert problem["field"] == field
    assert api.get("/v1/regions", headers=op).json()[0]["energy_price"] == 0.5


def test_cluster_price(api: TestClient, tokens: LocalTokens) -> None:
    op = auth(tokens.operator)
    got = api.put("/v1/clusters/local/price", json={"gpu_hour_price": 12.5}, headers=op)
    assert got.status_code == 200, got.text
    assert got.json()["id"] == "local" and got.json()["gpu_hour_price"] == 12.5
    listed = api.get("/v1/clusters", headers=auth(tokens.user)).json()
    assert listed[0]["gpu_hour_price"] == 12.5
    got = api.put("/v1/clusters/local/price", json={"gpu_hour_price": None}, headers=op)
    assert got.json()["gpu_hour_price"] is None
    assert_problem(
        api.put("/v1/clusters/local/price", json={"gpu_hour_price": 1}, headers=auth(tokens.user)),
        403,
    )
    assert_problem(
        api.put("/v1/clusters/nope/price", json={"gpu_hour_price": 1}, headers=op), 404, "nope"
    )
    for body, field in (
        ({"gpu_hour_price": -1}, "gpu_hour_price"),
        ({"gpu_hour_price": 1e300}, "gpu_hour_price"),
        ({"gpu_hour_price": "free"}, "gpu_hour_price"),
        ({}, "gpu_hour_price"),
    ):
        problem = assert_problem(api.put("/v1/clusters/local/price", json=body, headers=op), 422)
        assert problem["field"] == field


# --- the CLI, in-process against the same app ----------------------------------------


@pytest.fixture
def run_cli(api: TestClient, tokens: LocalTokens, monkeypatch: pytest.MonkeyPatch) -> Any:
    """`suanli ARGS` with its SDK client talking to the test app (operator token)."""
    monkeypatch.delenv("SUANLI_TOKEN", raising=False)

    def local(url: str | None, token: str | None) -> Client:
        return Client("http://test", token, transport=api._transport)

    # main's commands call `client` directly, the others through common.operator_client
    monkeypatch.setattr(cli, "client", local)
    monkeypatch.setattr(common, "client", local)
    runner = CliRunner()

    def run(*args: str, token: str | None = None) -> tuple[int, str, str]:
        result = runner.invoke(cli.app, [*args, "--token", token or tokens.operator])
        return result.exit_code, result.stdout, result.stderr

    return run


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_cli_commands(run_cli: Any, tokens: LocalTokens) -> None:
    code, out, err = run_cli("share", "default", "--weight", "3", "--cohort", "uni")
    assert code == 0, err
    code, out, err = run_cli("share", "default", "--weight", "2")  # keeps the cohort
    assert code == 0, err
    code, out, err = run_cli("tenants", "--json")
    default = json.loads(out)[0]
    assert (default["weight"], default["cohort"]) == (2.0, "uni")
    code, out, err = run_cli("quota", "set", "default", "gpu:h100", "8", "--lend", "4", "--json")
    assert code == 0, err
    assert json.loads(out)["flavor"] == "gpu:H100"
    assert run_cli("quota", "set", "default", "cpu", "16", "--borrow", "8")[0] == 0
    code, out, err = run_cli("quota", "list", "--json")
    assert [(q["flavor"], q["nominal"]) for q in json.loads(out)] == [
        ("cpu", 16.0),
        ("gpu:H100", 8.0),
    ]
    code, out, err = run_cli("quota", "list", "default")
    assert code == 0 and "gpu:H100" in out and "8 devices" in out
    assert run_cli("quota", "rm", "default", "cpu")[0] == 0
    code, out, err = run_cli("quota", "rm", "default", "cpu")
    assert code == 1 and "no quota" in err
    code, out, err = run_cli("quota", "set", "default", "gpu:H100", "1.5")
    assert code == 1 and "whole" in err
    code, out, err = run_cli("region", "set", "local", "--energy-price", "0.6", "--carbon", "580")
    assert code == 0, err
    code, out, err = run_cli("region", "set", "local", "--carbon", "none", "--json")
    assert (json.loads(out)["energy_price"], json.loads(out)["carbon_intensity"]) == (0.6, None)
    assert run_cli("region", "set", "local")[0] == 2
    assert run_cli("region", "set", "local", "--carbon", "lots")[0] == 2
    assert run_cli("price", "local", "inf")[0] == 2
    code, out, err = run_cli("price", "local", "12.5", "--json")
    assert code == 0 and json.loads(out)["gpu_hour_price"] == 12.5
    code, out, err = run_cli("price", "local", "1", token=tokens.user)
    assert code == 1 and "may not" in err
    code, out, err = run_cli("tenants", token=tokens.user)
    assert code == 0 and "default" in out and "operator" not in out
