"""SkyPilot-style task YAML into a suanli submission (docs/submit.md).

    name: train
    num_nodes: 2                      # a gang of 2 members
    resources:
      accelerators: A100:8            # one model; or {A100: 8, H100: 8} / [A100:8, H100:8]
      cpus: 16+                       # at least 16 (suanli asks for 16)
      memory: 64+                     # GB
      use_spot: true                  # preemptible
      region: zhengzhou               # where it may run
    envs: {EPOCHS: "3"}
    workdir: ~/project
    setup: pip install -r requirements.txt
    run: python train.py --epochs $EPOCHS

Several accelerator candidates become one request for that many GPUs of any of the
models named (`gpu_models`): the scheduler places it on whichever fits first. Keys that
change nothing here (`file_mounts` of local paths, `resources.disk_size`, ...) are
warned about; keys that would change what runs (`service`, `resources.image_id`, ...)
fail with a message naming them.
"""

from __future__ import annotations

import re
from typing import Any

import yaml

from suanli.adapters.jobfiles.submission import JobFileError, Submission, Vocabulary

HARMLESS_TOP = {
    "file_mounts": "the job runs in `workdir`, on the node; copy data there first",
    "config": "",
    "event_callback": "",
}
REFUSED_TOP = {
    "service": "serve replicas with `suanli submit --service NAME --replicas N`",
    "experimental": "",
    "volumes": "",
}
HARMLESS_RESOURCES = {
    "disk_size": "",
    "disk_tier": "",
    "ports": "",
    "labels": "",
    "instance_type": "name the accelerators instead",
    "zone": "regions are the places suanli knows",
    "network_tier": "",
    "autostop": "",
    "job_recovery": "suanli requeues jobs its clusters lose",
    "spot_recovery": "suanli requeues jobs its clusters lose",
}
REFUSED_RESOURCES = {
    "image_id": "jobs run on the pool's nodes as they are",
    "cloud": "the pool is suanli's; use `region`",
    "infra": "the pool is suanli's; use `region`",
    "accelerator_args": "",
    "any_of": "list the accelerators as candidates instead",
    "ordered": "list the accelerators as candidates instead",
}
_KNOWN_TOP = {"name", "num_nodes", "resources", "envs", "workdir", "setup", "run", "secrets"}
_KNOWN_RESOURCES = {"accelerators", "cpus", "memory", "use_spot", "region"}
_TOP = Vocabulary(HARMLESS_TOP, REFUSED_TOP)
_RESOURCES = Vocabulary(HARMLESS_RESOURCES, REFUSED_RESOURCES)
_AMOUNT = re.compile(r"(\d+(?:\.\d+)?)\s*\+?")


def parse_task_yaml(text: str, *, source: str = "task.yaml") -> Submission:
    """The submission a task YAML asks for; raises JobFileError naming the key."""
    try:
        doc = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise JobFileError(f"{source}: not valid YAML ({exc}).") from exc
    if not isinstance(doc, dict):
        raise JobFileError(f"{source}: a task YAML is a mapping (name:, resources:, run: ...).")
    warnings: list[str] = []
    _keys(doc, _KNOWN_TOP, _TOP, source, "", warnings)
    run = doc.get("run")
    if not isinstance(run, str) or not run.strip():
        raise JobFileError(f"{source}: `run` (the commands to run) is missing or empty.")
    setup = doc.get("setup") or ""
    if not isinstance(setup, str):
        raise JobFileError(f"{source}: `setup` must be shell commands (a string).")
    body: dict[str, Any] = {
        "name": str(doc.get("name") or source.rsplit(".", 1)[0]),
        "command": ["bash", "-c", _script(setup, run), str(doc.get("name") or "task")],
    }
    nodes = doc.get("num_nodes", 1)
    if not isinstance(nodes, int) or isinstance(nodes, bool) or nodes < 1:
        raise JobFileError(f"{source}: num_nodes must be a whole number >= 1, got {nodes!r}.")
    body["gang_size"] = nodes
    envs = doc.get("envs") or {}
    secrets = doc.get("secrets") or {}
    for label, table in (("envs", envs), ("secrets", secrets)):
        if not isinstance(table, dict):
            raise JobFileError(f"{source}: `{label}` must be a mapping of NAME: value.")
    body["env"] = {
        str(k): "" if v is None else str(v).lower() if isinstance(v, bool) else str(v)
        for k, v in {**envs, **secrets}.items()
    }
    if doc.get("workdir") is not None:
        body["working_dir"] = str(doc["workdir"])
    resources = doc.get("resources") or {}
    if not isinstance(resources, dict):
        raise JobFileError(f"{source}: `resources` must be a mapping.")
    _resources(resources, body, source, warnings)
    return Submission(body, None, warnings)


def _keys(
    table: dict[str, Any],
    known: set[str],
    vocabulary: Vocabulary,
    source: str,
    prefix: str,
    warnings: list[str],
) -> None:
    for key in table:
        name = f"{prefix}{key}"
        if key not in known and not vocabulary.judge(key, f"`{name}`", source, warnings):
            raise JobFileError(
                f"{source}: unknown key `{name}`; see docs/submit.md for the keys suanli reads."
            )


def _resources(res: dict[str, Any], body: dict[str, Any], source: str, warnings: list[str]) -> None:
    _keys(res, _KNOWN_RESOURCES, _RESOURCES, source, "resources.", warnings)
    if "cpus" in res:
        body["cpus"] = _amount(res["cpus"], source, "resources.cpus")
    if "memory" in res:
        body["memory"] = f"{_amount(res['memory'], source, 'resources.memory'):g}G"
    if res.get("use_spot"):
        body["priority_class"] = "preemptible"
    if res.get("region"):
        body["regions"] = [str(res["region"])]
    if "accelerators" in res and res["accelerators"] is not None:
        models, count = _accelerators(res["accelerators"], source)
        if len(models) == 1:
            body["gpus"] = f"{models[0]}:{count}"
        else:
            body["gpus"] = f"any:{count}"
            body["gpu_models"] = models


def _amount(value: object, source: str, key: str) -> float:
    """'16', '16+', 16 -> 16.0 (at least that: suanli asks for it)."""
    m = _AMOUNT.fullmatch(str(value).strip())
    if m is None or float(m.group(1)) <= 0:
        raise JobFileError(f"{source}: `{key}` {value!r} is not a number like 8 or 8+.")
    return float(m.group(1))


def _accelerators(value: object, source: str) -> tuple[list[str], int]:
    """'A100', 'A100:8', {A100: 8, H100: 8}, [A100:8, H100:8] or {A100:8, H100:8} (a set)
    -> (models, count); every candidate must ask for the same count."""
    items: list[tuple[str, int]] = []
    if isinstance(value, str):
        items = [_one(value, source)]
    elif isinstance(value, dict):
        for model, count in value.items():
            if count is None:  # YAML's {A100:8, H100:8} set syntax
                items.append(_one(str(model), source))
            else:
                items.append(_one(f"{model}:{count}", source))
    elif isinstance(value, list):
        items = [_one(str(v), source) for v in value]
    else:
        raise JobFileError(f"{source}: `resources.accelerators` {value!r} is not MODEL:N.")
    if not items:
        raise JobFileError(f"{source}: `resources.accelerators` names no accelerator.")
    counts = {c for _, c in items}
    if len(counts) > 1:
        raise JobFileError(
            f"{source}: the accelerator candidates ask for different counts "
            f"({', '.join(f'{m}:{c}' for m, c in items)}); suanli takes one count with "
            "several models."
        )
    return list(dict.fromkeys(m for m, _ in items)), counts.pop()


def _one(text: str, source: str) -> tuple[str, int]:
    model, _, count = text.strip().partition(":")
    try:
        n = float(count) if count else 1.0
    except ValueError:
        n = 0.0
    if not model or n < 1 or n != int(n):
        raise JobFileError(
            f"{source}: accelerator {text!r} is not MODEL:N with N a whole number >= 1 "
            "(fractions of a GPU are not supported)."
        )
    return model, int(n)


def _script(setup: str, run: str) -> str:
    """setup, then run, in one bash: a failed setup fails the job (as SkyPilot's does)."""
    parts = ["set -e"]
    if setup.strip():
        parts += ["# setup", setup.rstrip("\n")]
    parts += ["set +e", "# run", run.rstrip("\n")]
    return "\n".join(parts) + "\n"
