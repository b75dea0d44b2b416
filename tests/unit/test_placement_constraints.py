"""A job's placement constraints are one value (`PlacementConstraints`): the filter's
memo keys are made from it, the API's fields are its fields, and the CLI has a flag for
each; a new constraint that misses one of them fails here."""

from __future__ import annotations

from dataclasses import fields

import pytest
from typer.testing import CliRunner

from suanli.api.schemas import JobCreate, JobPublic, PlacementIn, PlacementOut
from suanli.cli.main import app
from suanli.domain.errors import InvalidInput
from suanli.domain.ids import JobId, TenantId, UserId
from suanli.domain.jobs import Job, JobSpec, JobStatus, PlacementConstraints
from suanli.domain.resources import Resources
from suanli.logic.scheduling.placement import filter_key
from tests.conftest import START

NAMES = {f.name for f in fields(PlacementConstraints)}
CLI_FLAGS = {
    "regions": "--region",
    "deny_regions": "--deny-region",
    "providers": "--provider",
    "deny_providers": "--deny-provider",
    "gpu_models": "--gpu-model",
    "data_region": "--data-region",
    "max_data_rtt_ms": "--data-rtt",
    "client_region": "--client-region",
    "latency_slo_ms": "--latency-slo",
}


def test_the_api_and_the_cli_have_every_constraint() -> None:
    assert set(PlacementIn.model_fields) == NAMES
    assert set(PlacementOut.model_fields) == NAMES
    assert set(JobCreate.model_fields) >= NAMES and set(JobPublic.model_fields) >= NAMES
    assert set(CLI_FLAGS) == NAMES
    text = CliRunner().invoke(app, ["submit", "--help"], env={"COLUMNS": "200"}).output
    for flag in CLI_FLAGS.values():
        assert flag in text, flag


def _job(i: int, **placement: object) -> Job:
    spec = JobSpec.create(
        command=["true"],
        resources=Resources.request(cpus=1, memory_mb=1024, gpus={"any": 1}),
        **placement,  # type: ignore[arg-type]
    )
    return Job(JobId(f"j{i}"), TenantId("t"), UserId("u"), spec, JobStatus.PENDING, START)


def test_equal_constraints_share_a_filter_key_and_differ_otherwise() -> None:
    a = _job(1, regions=["bj", "zz"], gpu_models=["A100"], client_region="bj", latency_slo_ms=20)
    b = _job(2, regions=["bj", "zz"], gpu_models=["A100"], client_region="bj", latency_slo_ms=20)
    c = _job(3, regions=["bj"], gpu_models=["A100"], client_region="bj", latency_slo_ms=20)
    assert a.spec.placement == b.spec.placement and hash(a.spec.placement)
    assert filter_key(a) == filter_key(b) != filter_key(c)
    assert a.spec.placement.regions == ("bj", "zz") and a.spec.placement.latency_slo_ms == 20


def test_the_api_round_trips_the_constraints() -> None:
    body = JobCreate(
        command=["true"], gpus="any:1", regions=["bj"], deny_providers=["p9"], gpu_models=["T4"]
    )
    spec = body.to_spec()
    assert spec.placement == PlacementConstraints.create(
        resources=spec.resources, regions=["bj"], deny_providers=["p9"], gpu_models=["T4"]
    )
    shown = PlacementOut(**PlacementOut.fields_of(spec.placement))
    assert (shown.regions, shown.deny_providers, shown.gpu_models) == (["bj"], ["p9"], ["T4"])


@pytest.mark.parametrize(
    ("placement", "field"),
    [
        ({"data_region": "gy"}, "data_region"),
        ({"latency_slo_ms": 5}, "client_region"),
        ({"max_data_rtt_ms": -1, "data_region": "gy"}, "max_data_rtt_ms"),
    ],
)
def test_bad_constraints_name_their_field(placement: dict[str, object], field: str) -> None:
    with pytest.raises(InvalidInput) as err:
        _job(1, **placement)
    assert err.value.field == field
