"""Cluster specs as YAML: the samples load, nodes expand, every error names file, line, field."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from suanli.adapters.traces.cluster_spec import (
    ClusterSpec,
    cluster_spec_from_counts,
    load_cluster_spec,
)
from suanli.adapters.traces.model import TraceError
from suanli.domain.errors import InvalidInput

SPECS = Path(__file__).parent.parent / "data" / "traces" / "cluster_specs"

GOOD = """\
regions:
  - {id: zhengzhou, place: zhengzhou, energy_price: 0.55}
  - {id: guiyang, place: guiyang}
providers:
  - {id: p-central, name: Central Compute}
clusters:
  - id: zz-a100
    region: zhengzhou
    provider: p-central
    gpu_hour_price: 12
    nodes:
      - {count: 3, gpu_model: A100-80GB, gpus_per_node: 8, cpus: 64, memory_gb: 512}
      - {count: 1, gpu_model: A100, gpus_per_node: 4}
"""


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "spec.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def test_three_region_sample() -> None:
    spec = load_cluster_spec(SPECS / "three-region-mixed.yaml")
    assert [r.id for r in spec.regions] == ["beijing", "zhengzhou", "guiyang"]
    assert spec.regions[2].place == "guiyang"
    assert spec.regions[2].energy_price == pytest.approx(0.38)
    assert spec.providers[0].name == "North Compute"
    assert [c.id for c in spec.clusters] == ["bj-h100", "zz-a100", "gy-t4"]
    nodes = spec.nodes()
    assert len(nodes) == 4 + 3 + 2 + 6 + 2
    gpus = Counter[str]()
    for node in nodes:
        if node.gpu_model is not None:
            gpus[node.gpu_model] += node.gpus
    assert gpus == {"H100": 32, "A100-80GB": 24, "A100-40GB": 8, "T4": 24}
    assert spec.gpus() == 88
    assert nodes[0].id == "bj-h100/n000"
    assert [n.id for n in nodes if n.id.startswith("zz-a100/")] == [
        f"zz-a100/n{i:03d}" for i in range(5)
    ]
    cpu_only = [n for n in nodes if n.gpus == 0]
    assert len(cpu_only) == 2 and all(n.gpu_model is None and n.gpu_name == "" for n in cpu_only)
    assert nodes[0].memory_mb == 2048 * 1024


def test_gavel_sample_matches_shorthand() -> None:
    spec = load_cluster_spec(SPECS / "gavel-36.yaml")
    assert len(spec.nodes()) == 9
    assert spec.gpus() == 36
    short = cluster_spec_from_counts(
        {"V100": 12, "P100": 12, "K80": 12}, gpus_per_node=4, cluster_id="gavel"
    )
    assert isinstance(short, ClusterSpec)
    assert [(n.id, n.gpu_model, n.gpus) for n in short.nodes()] == [
        (n.id, n.gpu_model, n.gpus) for n in spec.nodes()
    ]


def test_shorthand_partial_node_and_errors() -> None:
    spec = cluster_spec_from_counts({"v100": 6}, gpus_per_node=4)
    assert [n.gpus for n in spec.nodes()] == [4, 2]
    assert spec.nodes()[0].gpu_model == "V100"
    with pytest.raises(InvalidInput):
        cluster_spec_from_counts({"Z9000": 4})
    with pytest.raises(InvalidInput):
        cluster_spec_from_counts({"V100": -4})
    with pytest.raises(InvalidInput):
        cluster_spec_from_counts({"V100": 4}, gpus_per_node=0)


def test_aliases_are_canonical(tmp_path: Path) -> None:
    spec = load_cluster_spec(_write(tmp_path, GOOD))
    assert spec.clusters[0].nodes[1].gpu_model == "A100-80GB"
    assert spec.clusters[0].gpu_hour_price == 12.0
    assert len(spec.nodes()) == 4


@pytest.mark.parametrize(
    ("old", "new", "line", "field", "words"),
    [
        # unknown key
        (
            "gpus_per_node: 4}",
            "gpus_per_node: 4, colour: red}",
            13,
            "clusters[0].nodes[1].colour",
            "unknown key",
        ),
        # missing required key
        (
            "{count: 1, gpu_model: A100, ",
            "{gpu_model: A100, ",
            13,
            "clusters[0].nodes[1].count",
            "required",
        ),
        # wrong type
        (
            "gpus_per_node: 4}",
            "gpus_per_node: four}",
            13,
            "clusters[0].nodes[1].gpus_per_node",
            "whole number",
        ),
        # negative count
        ("{count: 1,", "{count: -2,", 13, "clusters[0].nodes[1].count", ">= 1"),
        # bool is not a number
        ("gpu_hour_price: 12", "gpu_hour_price: true", 10, "clusters[0].gpu_hour_price", "number"),
        # negative price
        ("energy_price: 0.55", "energy_price: -1", 2, "regions[0].energy_price", "number >= 0"),
        # unknown GPU model, known ones listed
        ("gpu_model: A100,", "gpu_model: Z9000,", 13, "clusters[0].nodes[1].gpu_model", "H100"),
        # undefined region / provider
        ("region: zhengzhou", "region: shanghai", 8, "clusters[0].region", "zhengzhou"),
        ("provider: p-central\n", "provider: p-east\n", 9, "clusters[0].provider", "p-central"),
        # duplicate ids
        ("{id: guiyang,", "{id: zhengzhou,", 3, "regions[1].id", "unique"),
        # unknown place
        ("place: guiyang}", "place: atlantis}", 3, "regions[1].place", "known place"),
        # a list where a mapping belongs
        (
            GOOD[: GOOD.index("providers:")],
            "regions: 3\n",
            1,
            "regions",
            "a list",
        ),
        # duplicate key
        (
            "gpu_hour_price: 12\n",
            "gpu_hour_price: 12\n    gpu_hour_price: 13\n",
            11,
            "clusters[0].gpu_hour_price",
            "once",
        ),
    ],
)
def test_errors_name_file_line_and_field(
    tmp_path: Path, old: str, new: str, line: int, field: str, words: str
) -> None:
    assert old in GOOD
    path = _write(tmp_path, GOOD.replace(old, new, 1))
    with pytest.raises(TraceError) as caught:
        load_cluster_spec(path)
    message = str(caught.value)
    assert "spec.yaml" in message
    assert f"line {line}" in message, message
    assert repr(field) in message, message
    assert words in message, message
    assert caught.value.line == line
    assert caught.value.column == field


def test_malformed_yaml_names_yamls_position(tmp_path: Path) -> None:
    path = _write(tmp_path, GOOD.replace("- {count: 3,", "- {count: [3,", 1))
    with pytest.raises(TraceError) as caught:
        load_cluster_spec(path)
    message = str(caught.value)
    assert "spec.yaml" in message and "well-formed YAML" in message
    assert caught.value.line is not None and caught.value.line >= 12
    assert "position" in message


@pytest.mark.parametrize(
    ("text", "line", "field"),
    [
        ("", 1, None),
        ("- 1\n", 1, "<document>"),
        ("regions: []\nproviders: []\n", 1, "clusters"),
        ("regions: []\nproviders: []\nclusters: []\n", 3, "clusters"),
    ],
)
def test_empty_and_incomplete_documents(
    tmp_path: Path, text: str, line: int, field: str | None
) -> None:
    with pytest.raises(TraceError) as caught:
        load_cluster_spec(_write(tmp_path, text))
    assert caught.value.line == line
    assert caught.value.column == field
    assert "spec.yaml" in str(caught.value)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(TraceError) as caught:
        load_cluster_spec(tmp_path / "nope.yaml")
    assert "nope.yaml" in str(caught.value)
