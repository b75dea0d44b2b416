"""The device catalog of the metering standard (src/suanli/domain/devices.json).

Checks its shape, the well-known anchors (H100 SXM and A100 dense BF16), that every
required model is present, that aliases are unambiguous, and that every GPU name found in
the bundled traces maps to a catalog row or is explicitly unmappable with a reason.
"""

from __future__ import annotations

import json
from importlib.resources import files
from typing import Any

import pytest

REQUIRED_MODELS = {
    "H100",
    "H100-PCIE",
    "H800",
    "H20",
    "A100-40GB",
    "A100-80GB",
    "A800",
    "L40S",
    "L20",
    "A10",
    "RTX4090",
    "V100",
    "V100-32GB",
    "T4",
    "P100",
    "K80",
    "ASCEND-910B",
    "MI300X",
    "RTX6000",
    "RTX2080TI",
    "XEON-8480",
    "EPYC-9654",
    "KUNPENG-920",
}

RATE_KEYS = ("fp64_tflops", "fp32_tflops", "tf32_tflops", "fp16_bf16_tflops", "int8_tops")
STRING_KEYS = ("model", "name", "vendor", "kind", "source", "notes")
KINDS = {"gpu", "npu", "cpu"}


def _load() -> dict[str, Any]:
    text = (files("suanli.domain") / "devices.json").read_text(encoding="utf-8")
    data = json.loads(text)
    assert isinstance(data, dict)
    return data


CATALOG = _load()
DEVICES: list[dict[str, Any]] = CATALOG["devices"]
BY_MODEL: dict[str, dict[str, Any]] = {d["model"]: d for d in DEVICES}


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _is_number_or_null(value: object) -> bool:
    return value is None or _is_number(value)


def _ids(row: dict[str, Any]) -> str:
    return str(row.get("model"))


def test_header() -> None:
    assert CATALOG["version"] == 1
    assert isinstance(CATALOG["unit_notes"], str)
    assert "dense" in CATALOG["unit_notes"].lower()
    assert len(DEVICES) >= 20


@pytest.mark.parametrize("row", DEVICES, ids=_ids)
def test_row_shape(row: dict[str, Any]) -> None:
    for key in STRING_KEYS:
        assert isinstance(row[key], str), key
        assert row[key].strip(), f"{key} is empty"
    assert row["kind"] in KINDS
    assert isinstance(row["aliases"], list)
    assert all(isinstance(a, str) and a.strip() for a in row["aliases"])
    for key in RATE_KEYS:
        assert _is_number_or_null(row[key]), key
        if row[key] is not None:
            assert row[key] > 0, key
    assert any(row[key] is not None for key in RATE_KEYS), "a row must rate something"
    eff = row["reference_efficiency"]
    assert _is_number(eff)
    assert 0 < eff <= 1
    if row["kind"] == "cpu":
        # Host memory is a node property, not a CPU-model property: may be null.
        assert _is_number_or_null(row["memory_gb"])
        assert isinstance(row["cores"], int) and row["cores"] > 0
    else:
        assert _is_number(row["memory_gb"]) and row["memory_gb"] > 0
        assert row["cores"] is None
    bw = row["memory_bandwidth_gbs"]
    assert _is_number_or_null(bw)
    if bw is None:
        assert "bandwidth" in row["notes"].lower(), "a null bandwidth must be explained"


def test_models_unique() -> None:
    models = [d["model"] for d in DEVICES]
    assert len(models) == len(set(models))


def test_aliases_do_not_collide() -> None:
    owner: dict[str, str] = {d["model"].upper(): d["model"] for d in DEVICES}
    for row in DEVICES:
        for alias in row["aliases"]:
            key = alias.upper()
            assert owner.get(key, row["model"]) == row["model"], (
                f"alias {alias!r} of {row['model']} collides with {owner[key]}"
            )
            owner[key] = row["model"]


def test_required_models_present() -> None:
    assert set(BY_MODEL) >= REQUIRED_MODELS, sorted(REQUIRED_MODELS - set(BY_MODEL))


def test_anchor_h100_sxm_dense_bf16() -> None:
    assert BY_MODEL["H100"]["fp16_bf16_tflops"] == pytest.approx(989.0, rel=0.02)


def test_anchor_a100_dense_bf16() -> None:
    assert BY_MODEL["A100-80GB"]["fp16_bf16_tflops"] == pytest.approx(312.0, rel=0.02)
    assert BY_MODEL["A100-40GB"]["fp16_bf16_tflops"] == pytest.approx(312.0, rel=0.02)


def test_at_least_three_cpu_families_with_cores() -> None:
    cpus = [d for d in DEVICES if d["kind"] == "cpu" and d["cores"]]
    assert len(cpus) >= 3


@pytest.mark.parametrize("row", [d for d in DEVICES if d["kind"] != "cpu"], ids=_ids)
def test_accelerator_half_precision_not_below_fp32(row: dict[str, Any]) -> None:
    fp16, fp32 = row["fp16_bf16_tflops"], row["fp32_tflops"]
    if fp16 is not None and fp32 is not None:
        assert fp16 >= fp32


def test_a_null_rating_is_explained() -> None:
    for row in DEVICES:
        nulls = [k for k in RATE_KEYS if row[k] is None]
        if nulls:
            assert len(row["notes"]) > 40, row["model"]


def test_trace_models_map_or_explain() -> None:
    rows: list[dict[str, Any]] = CATALOG["trace_models"]
    assert rows
    seen: set[tuple[str, str]] = set()
    for row in rows:
        assert isinstance(row["trace"], str) and row["trace"]
        assert isinstance(row["name"], str) and row["name"]
        assert isinstance(row["note"], str)
        key = (row["trace"], row["name"])
        assert key not in seen, key
        seen.add(key)
        if row["model"] is None:
            assert row["note"].strip(), f"unmapped {key} needs a reason"
        else:
            assert row["model"] in BY_MODEL, key


def test_known_trace_names_are_covered() -> None:
    """The GPU names found in ../shared/traces (see docs/metering-catalog.md)."""
    expected = {
        ("alibaba-v2023", n) for n in ("G2", "G3", "T4", "P100", "V100M16", "V100M32", "A10")
    } | {
        ("alibaba-v2026-spot", n)
        for n in (
            "A10",
            "A100-SXM4-80GB",
            "A800-SXM4-80GB",
            "H800",
            "GPU-series-1",
            "GPU-series-2",
        )
    }
    expected |= {("gavel", n) for n in ("k80", "p100", "v100")}
    expected |= {("sia-workloads", n) for n in ("aws", "azure", "dgx", "dgx-ext", "quad", "rtx")}
    present = {(r["trace"], r["name"]) for r in CATALOG["trace_models"]}
    assert expected <= present, sorted(expected - present)
