"""Cluster specs as YAML: regions, providers, clusters and their node groups.

A spec describes the hardware a simulation runs on::

    regions:
      - {id: zhengzhou, place: zhengzhou, energy_price: 0.55, carbon_intensity: 0.58}
    providers:
      - {id: p-central, name: Central Compute}
    clusters:
      - id: zz-a100
        region: zhengzhou
        provider: p-central
        gpu_hour_price: 12
        nodes:
          - {count: 3, gpu_model: A100-80GB, gpus_per_node: 8, cpus: 64, memory_gb: 512}

`load_cluster_spec` checks every field and raises `TraceError` naming the file, the line,
the field path (``clusters[0].nodes[1].gpus_per_node``) and what was expected.
`ClusterSpec.nodes()` expands the node groups into `TraceNode`s with stable ids
(``zz-a100/n000``, ``zz-a100/n001``, ...). `cluster_spec_from_counts` builds Gavel-style
single-region clusters from GPU counts per model.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import yaml

from suanli.adapters.traces.model import TraceError, TraceNode
from suanli.domain.devices import canonical_gpu_model, known_models
from suanli.domain.errors import InvalidInput
from suanli.domain.geo import places

T = TypeVar("T")

MAX_NODES = 1_000_000
"""Most nodes one node group may count (`ClusterSpec.nodes()` expands every one)."""
MAX_GPUS_PER_NODE = 100_000
MAX_NUMBER = 1e15
"""Largest cpus, memory_gb, price or energy figure: finite, and far from overflow when
converted (memory_gb x 1024, rounded)."""


@dataclass(frozen=True, slots=True)
class Region:
    """A region; `place` is a city id of `suanli.domain.geo.places()` (latency table)."""

    id: str
    place: str | None = None
    energy_price: float | None = None
    carbon_intensity: float | None = None


@dataclass(frozen=True, slots=True)
class Provider:
    id: str
    name: str


@dataclass(frozen=True, slots=True)
class NodeGroup:
    """`count` identical nodes; `gpu_model` is canonical (None for nodes without GPUs)."""

    count: int
    gpu_model: str | None
    gpus_per_node: int
    cpus: float | None = None
    memory_gb: float | None = None


@dataclass(frozen=True, slots=True)
class Cluster:
    id: str
    region: str
    provider: str
    nodes: tuple[NodeGroup, ...]
    gpu_hour_price: float | None = None

    def gpus(self) -> int:
        return sum(group.count * group.gpus_per_node for group in self.nodes)


@dataclass(frozen=True, slots=True)
class ClusterSpec:
    regions: tuple[Region, ...]
    providers: tuple[Provider, ...]
    clusters: tuple[Cluster, ...]
    source: str = ""

    def nodes(self) -> list[TraceNode]:
        """Every node of every cluster, ids ``<cluster-id>/n000`` numbered per cluster."""
        out: list[TraceNode] = []
        for cluster in self.clusters:
            total = sum(group.count for group in cluster.nodes)
            width = max(3, len(str(total - 1)))
            index = 0
            for group in cluster.nodes:
                memory_mb = None if group.memory_gb is None else round(group.memory_gb * 1024)
                for _ in range(group.count):
                    out.append(
                        TraceNode(
                            id=f"{cluster.id}/n{index:0{width}d}",
                            gpu_model=group.gpu_model,
                            gpus=group.gpus_per_node,
                            cpus=group.cpus,
                            memory_mb=memory_mb,
                            gpu_name=group.gpu_model or "",
                        )
                    )
                    index += 1
        return out

    def gpus(self) -> int:
        return sum(cluster.gpus() for cluster in self.clusters)

    def region(self, region_id: str) -> Region:
        for region in self.regions:
            if region.id == region_id:
                return region
        raise KeyError(region_id)


# --- loading -------------------------------------------------------------------------------


class _Reader:
    """Walks a composed YAML node tree, raising TraceError with file, line and field path."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._constructor = yaml.SafeLoader("")

    def fail(self, node: yaml.Node, field: str, expected: str, got: object = None) -> TraceError:
        return TraceError(self.path, node.start_mark.line + 1, field, expected, got)

    def mapping(
        self,
        node: yaml.Node,
        field: str,
        required: tuple[str, ...],
        optional: tuple[str, ...] = (),
    ) -> dict[str, yaml.Node]:
        what = f"a mapping with keys {', '.join(required + optional)}"
        if not isinstance(node, yaml.MappingNode):
            raise self.fail(node, field or "<document>", what, self._got(node))
        out: dict[str, yaml.Node] = {}
        for key_node, value_node in node.value:
            key = self._construct(key_node, field or "<document>")
            path = f"{field}.{key}" if field else str(key)
            if not isinstance(key, str) or key not in required + optional:
                raise self.fail(
                    key_node,
                    path,
                    f"one of the keys {', '.join(required + optional)}",
                    f"unknown key {key!r}",
                )
            if key in out:
                raise self.fail(key_node, path, "each key once", f"a second {key!r}")
            out[key] = value_node
        for key in required:
            if key not in out:
                path = f"{field}.{key}" if field else key
                raise self.fail(node, path, f"the required key {key!r}", "no such key")
        return out

    def sequence(self, node: yaml.Node, field: str) -> list[yaml.Node]:
        if not isinstance(node, yaml.SequenceNode):
            raise self.fail(node, field, "a list", self._got(node))
        return list(node.value)

    def scalar(self, node: yaml.Node, field: str = "") -> object:
        if not isinstance(node, yaml.ScalarNode):
            return None
        return self._construct(node, field)

    def _construct(self, node: yaml.Node, field: str) -> object:
        """The Python value of a node. PyYAML raises plain ValueError for a scalar it
        matched but cannot build (the date 2001-02-30, an int of 5000 digits)."""
        try:
            return self._constructor.construct_object(node, deep=True)
        except (yaml.YAMLError, ValueError, OverflowError, RecursionError) as exc:
            raise self.fail(node, field or "<value>", "a value YAML can build", str(exc)) from exc

    def text(self, node: yaml.Node, field: str) -> str:
        value = self.scalar(node)
        if not isinstance(value, str | int) or isinstance(value, bool) or str(value) == "":
            raise self.fail(node, field, "a non-empty string", self._got(node))
        return str(value)

    def whole(self, node: yaml.Node, field: str, minimum: int, maximum: int) -> int:
        value = self.scalar(node, field)
        if not isinstance(value, int) or isinstance(value, bool) or value < minimum:
            raise self.fail(node, field, f"a whole number >= {minimum}", self._got(node))
        if value > maximum:
            raise self.fail(node, field, f"a whole number <= {maximum}", self._got(node))
        return value

    def number(self, node: yaml.Node, field: str) -> float:
        value = self.scalar(node, field)
        if not isinstance(value, int | float) or isinstance(value, bool) or not value >= 0:
            raise self.fail(node, field, "a number >= 0", self._got(node))
        if value > MAX_NUMBER:
            raise self.fail(node, field, f"a number <= {MAX_NUMBER:g}", self._got(node))
        return float(value)

    def optional(
        self,
        fields: Mapping[str, yaml.Node],
        key: str,
        prefix: str,
        read: Callable[[yaml.Node, str], T],
    ) -> T | None:
        node = fields.get(key)
        if node is None or (isinstance(node, yaml.ScalarNode) and self.scalar(node) is None):
            return None
        return read(node, f"{prefix}.{key}")

    def _got(self, node: yaml.Node) -> object:
        if isinstance(node, yaml.MappingNode):
            return "a mapping"
        if isinstance(node, yaml.SequenceNode):
            return "a list"
        value = self.scalar(node)
        if isinstance(value, int) and not isinstance(value, bool) and value.bit_length() > 64:
            return "a very large number"  # repr would refuse one of over 4300 digits
        return "nothing" if value is None else value


def load_cluster_spec(path: Path) -> ClusterSpec:
    """Read and check a cluster spec YAML file (see the module docstring for the format)."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise TraceError(path, None, None, "a readable UTF-8 YAML file", str(exc)) from exc
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = None if mark is None else mark.line + 1
        column = None if mark is None else mark.column + 1
        raise TraceError(
            path,
            line,
            None if column is None else f"position {column}",
            "well-formed YAML",
            exc.problem or exc.context,
        ) from exc
    except yaml.YAMLError as exc:
        raise TraceError(path, None, None, "well-formed YAML", str(exc)) from exc
    except RecursionError as exc:
        raise TraceError(path, None, None, "YAML nested less deeply", "nesting too deep") from exc
    if root is None:
        raise TraceError(path, 1, None, "a mapping with keys regions, providers, clusters", "")
    return _read_spec(_Reader(path), root)


def _read_spec(reader: _Reader, root: yaml.Node) -> ClusterSpec:
    top = reader.mapping(root, "", ("regions", "providers", "clusters"))

    regions: list[Region] = []
    region_ids: set[str] = set()
    known_places = places()
    for i, node in enumerate(reader.sequence(top["regions"], "regions")):
        at = f"regions[{i}]"
        fields = reader.mapping(node, at, ("id",), ("place", "energy_price", "carbon_intensity"))
        region_id = reader.text(fields["id"], f"{at}.id")
        if region_id in region_ids:
            raise reader.fail(fields["id"], f"{at}.id", "a unique region id", region_id)
        place = reader.optional(fields, "place", at, reader.text)
        if place is not None and place not in known_places:
            few = ", ".join(sorted(known_places)[:8])
            raise reader.fail(
                fields["place"], f"{at}.place", f"a known place id (e.g. {few}, ...)", place
            )
        region_ids.add(region_id)
        regions.append(
            Region(
                id=region_id,
                place=place,
                energy_price=reader.optional(fields, "energy_price", at, reader.number),
                carbon_intensity=reader.optional(fields, "carbon_intensity", at, reader.number),
            )
        )

    providers: list[Provider] = []
    provider_ids: set[str] = set()
    for i, node in enumerate(reader.sequence(top["providers"], "providers")):
        at = f"providers[{i}]"
        fields = reader.mapping(node, at, ("id",), ("name",))
        provider_id = reader.text(fields["id"], f"{at}.id")
        if provider_id in provider_ids:
            raise reader.fail(fields["id"], f"{at}.id", "a unique provider id", provider_id)
        provider_ids.add(provider_id)
        name = reader.optional(fields, "name", at, reader.text)
        providers.append(Provider(id=provider_id, name=name or provider_id))

    clusters: list[Cluster] = []
    cluster_ids: set[str] = set()
    cluster_nodes = reader.sequence(top["clusters"], "clusters")
    if not cluster_nodes:
        raise reader.fail(top["clusters"], "clusters", "at least one cluster", "an empty list")
    for i, node in enumerate(cluster_nodes):
        at = f"clusters[{i}]"
        fields = reader.mapping(
            node, at, ("id", "region", "provider", "nodes"), ("gpu_hour_price",)
        )
        cluster_id = reader.text(fields["id"], f"{at}.id")
        if cluster_id in cluster_ids:
            raise reader.fail(fields["id"], f"{at}.id", "a unique cluster id", cluster_id)
        cluster_ids.add(cluster_id)
        region = reader.text(fields["region"], f"{at}.region")
        if region not in region_ids:
            raise reader.fail(
                fields["region"],
                f"{at}.region",
                f"a region defined under regions ({', '.join(sorted(region_ids))})",
                region,
            )
        provider = reader.text(fields["provider"], f"{at}.provider")
        if provider not in provider_ids:
            raise reader.fail(
                fields["provider"],
                f"{at}.provider",
                f"a provider defined under providers ({', '.join(sorted(provider_ids))})",
                provider,
            )
        groups = [
            _read_group(reader, group, f"{at}.nodes[{j}]")
            for j, group in enumerate(reader.sequence(fields["nodes"], f"{at}.nodes"))
        ]
        if not groups:
            raise reader.fail(fields["nodes"], f"{at}.nodes", "at least one node group", "[]")
        clusters.append(
            Cluster(
                id=cluster_id,
                region=region,
                provider=provider,
                nodes=tuple(groups),
                gpu_hour_price=reader.optional(fields, "gpu_hour_price", at, reader.number),
            )
        )
    return ClusterSpec(
        regions=tuple(regions),
        providers=tuple(providers),
        clusters=tuple(clusters),
        source=str(reader.path),
    )


def _read_group(reader: _Reader, node: yaml.Node, at: str) -> NodeGroup:
    fields = reader.mapping(
        node, at, ("count", "gpus_per_node"), ("gpu_model", "cpus", "memory_gb")
    )
    count = reader.whole(fields["count"], f"{at}.count", 1, MAX_NODES)
    gpus_per_node = reader.whole(
        fields["gpus_per_node"], f"{at}.gpus_per_node", 0, MAX_GPUS_PER_NODE
    )
    raw_model = reader.optional(fields, "gpu_model", at, reader.text)
    model: str | None = None
    if raw_model is not None:
        model = _model(raw_model)
        if model is None:
            raise reader.fail(
                fields["gpu_model"],
                f"{at}.gpu_model",
                f"a known GPU model (e.g. {', '.join(known_models()[:8])}, ...)",
                raw_model,
            )
    elif gpus_per_node > 0:
        raise reader.fail(
            node, f"{at}.gpu_model", "the required key 'gpu_model' when gpus_per_node > 0"
        )
    return NodeGroup(
        count=count,
        gpu_model=model,
        gpus_per_node=gpus_per_node,
        cpus=reader.optional(fields, "cpus", at, reader.number),
        memory_gb=reader.optional(fields, "memory_gb", at, reader.number),
    )


def _model(raw: str) -> str | None:
    try:
        model = canonical_gpu_model(raw)
    except InvalidInput:
        return None
    return None if model == "any" else model


# --- shorthand -------------------------------------------------------------------------------


def cluster_spec_from_counts(
    gpus: Mapping[str, int],
    gpus_per_node: int = 4,
    *,
    cluster_id: str = "cluster",
    region: str = "local",
    place: str | None = None,
    provider: str = "local",
    gpu_hour_price: float | None = None,
) -> ClusterSpec:
    """One single-region cluster from GPU counts per model, Gavel style.

    ``cluster_spec_from_counts({"V100": 12, "P100": 12, "K80": 12}, gpus_per_node=4)``
    gives 3 nodes of 4 GPUs of each model (Gavel's 36-GPU setup). A count that is not a
    multiple of `gpus_per_node` ends with one smaller node.
    """
    if gpus_per_node < 1:
        raise InvalidInput(
            f"gpus_per_node must be >= 1, got {gpus_per_node}.", field="gpus_per_node"
        )
    groups: list[NodeGroup] = []
    for raw, count in gpus.items():
        if isinstance(count, bool) or not isinstance(count, int) or count < 0:
            raise InvalidInput(
                f"GPU count of {raw!r} must be a whole number >= 0, got {count!r}.", field=raw
            )
        model = canonical_gpu_model(raw, field=raw)
        full, rest = divmod(count, gpus_per_node)
        if full:
            groups.append(NodeGroup(count=full, gpu_model=model, gpus_per_node=gpus_per_node))
        if rest:
            groups.append(NodeGroup(count=1, gpu_model=model, gpus_per_node=rest))
    if not groups:
        raise InvalidInput("At least one GPU is needed.", field="gpus")
    return ClusterSpec(
        regions=(Region(id=region, place=place),),
        providers=(Provider(id=provider, name=provider),),
        clusters=(
            Cluster(
                id=cluster_id,
                region=region,
                provider=provider,
                nodes=tuple(groups),
                gpu_hour_price=gpu_hour_price,
            ),
        ),
    )
