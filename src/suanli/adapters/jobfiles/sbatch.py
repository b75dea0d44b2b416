"""Slurm batch scripts: `#SBATCH` directives into a suanli submission (docs/submit.md).

Directives are read as sbatch reads them: `#SBATCH` lines before the first command,
options in long (`--nodes=2`, `--nodes 2`) or short (`-N 2`, `-N2`) form, a `#` after a
space starting a comment. What suanli does with each:

- resources: `-N/--nodes`, `-n/--ntasks`, `--ntasks-per-node`, `-c/--cpus-per-task`,
  `--mem`, `--mem-per-cpu`, `--gres=gpu[:type]:N`, `-G/--gpus`, `--gpus-per-node`,
  `--gpus-per-task`. One node is one member; N nodes are a gang of N members, each with
  a node's share (suanli places members whole, all or none);
- `-t/--time` in every Slurm form; `-J/--job-name`; `-D/--chdir`;
- `-o/--output`, `-e/--error` with `%j %x %A %a %u %N %%`: the script's output is
  copied there on the node that runs it (and kept for `suanli logs` as always);
- `-a/--array` (steps, `%` throttle), `-d/--dependency` (afterok, afterany, afternotok);
- `-p/--partition`: a priority class (`guaranteed`, `standard`, `preemptible`, or the
  usual partition names `debug`/`short` -> standard, `low`/`scavenger`/`spot` ->
  preemptible, `high`/`urgent` -> guaranteed), else the region(s) to run in;
- `--export`: `NONE` and `ALL` copy nothing (a job runs elsewhere than the shell that
  submits it), `VAR` copies the submitting shell's value, `VAR=value` sets it.

Harmless directives (mail, account, QoS, binding hints, ...) are read and ignored with a
warning (`HARMLESS`); any other, and the ones that would change what runs in a way suanli
cannot honour (`REFUSED`), fail with a message naming the directive and its line.
"""

from __future__ import annotations

import math
import re
import shlex
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from suanli.adapters.jobfiles.submission import JobFileError, Submission, Vocabulary
from suanli.domain.errors import InvalidInput
from suanli.domain.job_links import parse_array, parse_dependencies

# long name -> takes a value
_SHORT = {
    "J": "job-name",
    "N": "nodes",
    "n": "ntasks",
    "c": "cpus-per-task",
    "t": "time",
    "o": "output",
    "e": "error",
    "a": "array",
    "d": "dependency",
    "p": "partition",
    "D": "chdir",
    "G": "gpus",
    "A": "account",
    "q": "qos",
    "C": "constraint",
    "w": "nodelist",
    "x": "exclude",
    "i": "input",
    "L": "licenses",
    "M": "clusters",
    "b": "begin",
    "m": "distribution",
    "S": "core-spec",
    "F": "nodefile",
}
_SHORT_FLAGS = {
    "O": "overcommit",
    "s": "oversubscribe",
    "k": "no-kill",
    "W": "wait",
    "Q": "quiet",
    "v": "verbose",
    "H": "hold",
    "h": "help",
    "V": "version",
}
HANDLED = {
    "job-name",
    "nodes",
    "ntasks",
    "ntasks-per-node",
    "cpus-per-task",
    "mem",
    "mem-per-cpu",
    "gres",
    "gpus",
    "gpus-per-node",
    "gpus-per-task",
    "time",
    "output",
    "error",
    "array",
    "dependency",
    "partition",
    "export",
    "chdir",
}
HARMLESS = {
    "account": "accounts are suanli tenants (your token's)",
    "qos": "the priority class comes from -p/--partition",
    "mail-type": "suanli sends no mail; follow jobs with `suanli job` or --wait",
    "mail-user": "suanli sends no mail",
    "comment": "",
    "open-mode": "output files are appended to",
    "signal": "a job is sent SIGTERM before it is stopped (SUANLI_PREEMPTION_GRACE_S)",
    "constraint": "name a GPU model in --gres/--gpus instead",
    "exclude": "suanli places jobs on the pool's nodes itself",
    "distribution": "",
    "hint": "",
    "cpu-bind": "",
    "mem-bind": "",
    "gpu-bind": "",
    "cpu-freq": "",
    "gpu-freq": "",
    "propagate": "",
    "time-min": "",
    "tmp": "",
    "threads-per-core": "",
    "cores-per-socket": "",
    "sockets-per-node": "",
    "ntasks-per-core": "",
    "ntasks-per-socket": "",
    "ntasks-per-gpu": "",
    "network": "",
    "nice": "",
    "wckey": "",
    "profile": "",
    "acctg-freq": "",
    "kill-on-invalid-dep": "a job whose dependency can never be met is cancelled",
    "get-user-env": "",
    "exclusive": "suanli gives each member what it asks for",
    "requeue": "suanli requeues jobs its clusters lose (max_attempts)",
    "no-requeue": "",
    "parsable": "`suanli submit` prints the job id alone",
    "overcommit": "",
    "oversubscribe": "",
    "contiguous": "",
    "no-kill": "",
    "quiet": "",
    "verbose": "",
    "spread-job": "",
    "use-min-nodes": "",
    "wait": "use `suanli submit --wait`",
}
REFUSED = {
    "begin": "suanli starts jobs as soon as they fit; submit later instead",
    "deadline": "suanli has no deadlines",
    "nodelist": "suanli chooses the nodes; use -p/--partition for a region",
    "nodefile": "suanli chooses the nodes",
    "reservation": "reserve capacity on the exchange (`suanli market`) instead",
    "licenses": "suanli has no licenses",
    "clusters": "use -p/--partition for a region",
    "input": "batch jobs read no standard input",
    "hold": "submit it when it should run",
    "container": "",
    "bb": "",
    "bbf": "",
    "burst-buffer": "",
    "core-spec": "",
    "switches": "",
    "mem-per-gpu": "use --mem (per node) or --mem-per-cpu",
    "gpus-per-socket": "use --gpus-per-node",
    "help": "",
    "version": "",
    "uid": "",
    "gid": "",
    "priority": "use -p/--partition with a priority class",
    "wrap": "the script is the command",
    "export-file": "",
    "batch": "",
    "test-only": "use `suanli submit --dry-run`",
}
GENERIC_PARTITIONS = {
    "gpu",
    "gpus",
    "cpu",
    "compute",
    "main",
    "general",
    "shared",
    "long",
    "medium",
    "interactive",
    "gpu-shared",
}
"""Partition names that say nothing about where or how urgently: the job runs where it
fits, at the standard class (a warning says so)."""
PRIORITY_PARTITIONS = {
    "guaranteed": "guaranteed",
    "high": "guaranteed",
    "urgent": "guaranteed",
    "standard": "standard",
    "normal": "standard",
    "batch": "standard",
    "debug": "standard",
    "short": "standard",
    "preemptible": "preemptible",
    "low": "preemptible",
    "scavenger": "preemptible",
    "spot": "preemptible",
}
_VOCABULARY = Vocabulary(HARMLESS, REFUSED)
_TIME = re.compile(r"(?:(\d+)-)?(\d+)(?::(\d+))?(?::(\d+))?")
_MEM = re.compile(r"(\d+(?:\.\d+)?)([KMGT]?)B?", re.IGNORECASE)
_PATTERNS = re.compile(r"%(\d*)([a-zA-Z%])")
_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


@dataclass(slots=True)
class _Directives:
    values: dict[str, tuple[str, int]] = field(default_factory=dict)
    """Option -> (its last value, the line it is on)."""
    warnings: list[str] = field(default_factory=list)


def parse_sbatch(
    text: str, *, source: str = "script", args: list[str], environ: dict[str, str]
) -> Submission:
    """The submission a batch script asks for (see the module doc). Raises JobFileError
    naming the directive and line at fault."""
    found = _directives(text, source)
    body: dict[str, Any] = {}
    get = found.values.get
    if (name := get("job-name")) is not None:
        body["name"] = name[0]
    else:
        body["name"] = source.rsplit("/", 1)[-1]
    _resources(found, body, source)
    if (t := get("time")) is not None:
        seconds = slurm_time_s(t[0], f"{source}:{t[1]}")
        body["time_limit"] = None if seconds is None else f"{seconds}s"
    if (d := get("chdir")) is not None:
        body["working_dir"] = d[0]
    if (p := get("partition")) is not None:
        _partition(p[0], body, f"{source}:{p[1]}", found.warnings)
    env = _export(get("export"), environ, source)
    if (dep := get("dependency")) is not None:
        _checked(parse_dependencies, dep, source)
        body["dependency"] = dep[0]
    array = get("array")
    if array is not None:
        _checked(parse_array, array, source)
    outputs = {k: (v[0], f"{source}:{v[1]}") for k in ("output", "error") if (v := get(k))}
    body["env"] = env
    body["command"] = wrap_script(text, args, outputs, str(body["name"]), source)
    return Submission(body, array[0] if array else None, found.warnings)


def _checked(parse: Callable[..., object], found: tuple[str, int], source: str) -> None:
    """Check a value with the domain's parser, so a bad one fails here, naming its line."""
    try:
        parse(found[0])
    except InvalidInput as exc:
        raise JobFileError(f"{source}:{found[1]}: {exc}") from exc


def _directives(text: str, source: str) -> _Directives:
    out = _Directives()
    for number, line in enumerate(text.splitlines(), 1):
        stripped = line.strip()
        if number == 1 and stripped.startswith("#!"):
            continue
        if not stripped or (stripped.startswith("#") and not stripped.startswith("#SBATCH")):
            continue
        if not stripped.startswith("#SBATCH"):
            break  # sbatch reads directives up to the first command
        rest = stripped[len("#SBATCH") :]
        if rest and not rest[0].isspace():
            continue  # e.g. "#SBATCHX": not a directive
        try:
            tokens = shlex.split(rest, comments=True)
        except ValueError as exc:
            raise JobFileError(f"{source}:{number}: cannot read {stripped!r} ({exc}).") from exc
        if tokens and tokens[0] in ("hetjob", "packjob", ":"):
            raise JobFileError(
                f"{source}:{number}: heterogeneous jobs ({tokens[0]!r}) are not supported; "
                "submit each component as its own job (with --dependency if one needs another)."
            )
        _options(tokens, number, source, out)
    return out


def _options(tokens: list[str], number: int, source: str, out: _Directives) -> None:
    i = 0
    while i < len(tokens):
        token = tokens[i]
        where = f"{source}:{number}"
        value: str | None
        if token.startswith("--"):
            name, eq, value = token[2:].partition("=")
            if not eq:
                value = None
        elif token.startswith("-") and len(token) >= 2:
            letter = token[1]
            if letter in _SHORT_FLAGS:
                name, value = _SHORT_FLAGS[letter], None
                if len(token) > 2:
                    raise JobFileError(
                        f"{where}: cannot read {token!r} (-{letter} takes no value)."
                    )
            elif letter in _SHORT:
                name, value = _SHORT[letter], token[2:] or None
            else:
                raise JobFileError(f"{where}: unknown sbatch option {token!r}.")
        else:
            raise JobFileError(f"{where}: {token!r} is not an sbatch option.")
        takes_value = name not in _FLAG_NAMES
        if takes_value and value is None:
            if i + 1 >= len(tokens):
                raise JobFileError(f"{where}: {token} needs a value.")
            i += 1
            value = tokens[i]
        _record(name, value, number, where, out)
        i += 1


_FLAG_NAMES = {
    "exclusive",
    "requeue",
    "no-requeue",
    "parsable",
    "overcommit",
    "oversubscribe",
    "contiguous",
    "no-kill",
    "quiet",
    "verbose",
    "spread-job",
    "use-min-nodes",
    "wait",
    "hold",
    "help",
    "version",
    "test-only",
    "get-user-env",
}


def _record(name: str, value: str | None, number: int, where: str, out: _Directives) -> None:
    if name in HANDLED:
        out.values[name] = (value or "", number)
    elif not _VOCABULARY.judge(name, f"#SBATCH --{name}", where, out.warnings):
        raise JobFileError(
            f"{where}: #SBATCH --{name} is not an sbatch option suanli knows; remove it "
            "or see docs/submit.md for the ones it reads."
        )


def slurm_time_s(text: str, where: str) -> int | None:
    """Slurm's time forms: M, M:S, H:M:S, D-H, D-H:M, D-H:M:S; UNLIMITED/INFINITE
    (None: no limit)."""
    raw = text.strip()
    if raw.upper() in ("UNLIMITED", "INFINITE"):
        return None
    m = _TIME.fullmatch(raw)
    if m is None:
        raise JobFileError(
            f"{where}: --time {text!r} is not a Slurm time (e.g. 30, 1:30:00, 2-00:00:00)."
        )
    days, a, b, c = m.groups()
    if days is not None:  # D-H[:M[:S]]
        seconds = int(days) * 86_400 + int(a) * 3_600 + int(b or 0) * 60 + int(c or 0)
    elif c is not None:  # H:M:S
        seconds = int(a) * 3_600 + int(b) * 60 + int(c)
    elif b is not None:  # M:S
        seconds = int(a) * 60 + int(b)
    else:  # M
        seconds = int(a) * 60
    if seconds <= 0:
        raise JobFileError(f"{where}: --time {text!r} is not a positive duration.")
    return seconds


def _mem_mb(text: str, where: str, option: str) -> float:
    m = _MEM.fullmatch(text.strip())
    if m is None:
        raise JobFileError(f"{where}: --{option} {text!r} is not a memory size (e.g. 4G, 500M).")
    number, unit = float(m.group(1)), m.group(2).upper() or "M"
    mb = number * {"K": 1 / 1024, "M": 1, "G": 1024, "T": 1024 * 1024}[unit]
    if mb <= 0:
        raise JobFileError(
            f"{where}: --{option}={text} (all of a node's memory) is not supported: give "
            "an amount, e.g. --mem=64G."
        )
    return mb


def _gpus(text: str, where: str, option: str) -> tuple[str, int]:
    """'[type:]N' -> (type or '', N)."""
    kind, _, count = text.strip().rpartition(":")
    if not count.isdigit() or int(count) < 1:
        raise JobFileError(f"{where}: --{option} {text!r} is not [type:]N (e.g. a100:2).")
    return kind, int(count)


def _gres(text: str, where: str) -> tuple[str, int]:
    """--gres=gpu[:type]:N (several, comma-separated: only GPUs are known)."""
    model, total = "", 0
    for item in text.split(","):
        parts = item.strip().split(":")
        if parts[0] != "gpu":
            raise JobFileError(
                f"{where}: --gres {item!r}: only GPUs (gpu[:type]:N) are generic resources "
                "suanli knows."
            )
        if len(parts) == 1:
            count, kind = 1, ""
        elif len(parts) == 2:
            kind, count = ("", int(parts[1])) if parts[1].isdigit() else (parts[1], 1)
        elif len(parts) == 3 and parts[2].isdigit():
            kind, count = parts[1], int(parts[2])
        else:
            raise JobFileError(f"{where}: --gres {item!r} is not gpu[:type]:N.")
        if count < 1:
            raise JobFileError(f"{where}: --gres {item!r} asks for no GPUs.")
        model, total = kind or model, total + count
    return model, total


def _resources(found: _Directives, body: dict[str, Any], source: str) -> None:
    """Nodes become members; each gets a node's share of tasks, CPUs, memory, GPUs."""
    v = found.values

    def num(key: str, low: int = 1) -> int | None:
        if key not in v:
            return None
        text, line = v[key]
        first = text.split("-")[0] if key == "nodes" else text
        if not first.isdigit() or int(first) < low:
            raise JobFileError(f"{source}:{line}: --{key} {text!r} is not a whole number >= {low}.")
        if key == "nodes" and "-" in text:
            found.warnings.append(
                f"{source}:{line}: --nodes {text} is a range; suanli runs it on {first} node(s)."
            )
        return int(first)

    def where(key: str) -> str:
        return f"{source}:{v[key][1]}"

    nodes = num("nodes") or 1
    ntasks = num("ntasks")
    per_node = num("ntasks-per-node")
    if per_node is None:
        per_node = math.ceil(ntasks / nodes) if ntasks else 1
    elif ntasks is not None and ntasks > per_node * nodes:
        raise JobFileError(
            f"{where('ntasks')}: --ntasks {ntasks} do not fit {nodes} node(s) of "
            f"--ntasks-per-node {per_node}."
        )
    cpus_per_task = num("cpus-per-task") or 1
    cpus = per_node * cpus_per_task
    body["cpus"] = float(cpus)
    if "mem" in v and "mem-per-cpu" in v:
        raise JobFileError(f"{where('mem')}: --mem and --mem-per-cpu exclude each other.")
    if "mem" in v:
        body["memory"] = f"{math.ceil(_mem_mb(v['mem'][0], where('mem'), 'mem'))}M"
    elif "mem-per-cpu" in v:
        mb = _mem_mb(v["mem-per-cpu"][0], where("mem-per-cpu"), "mem-per-cpu")
        body["memory"] = f"{math.ceil(mb * cpus)}M"
    model, gpus = _gpu_request(found, nodes, per_node, source)
    if gpus:
        body["gpus"] = f"{model}:{gpus}" if model else str(gpus)
    body["gang_size"] = nodes


def _gpu_request(found: _Directives, nodes: int, per_node: int, source: str) -> tuple[str, int]:
    """(model or '', GPUs per node) from --gres, --gpus-per-node, --gpus-per-task, --gpus."""
    v = found.values
    asked = [k for k in ("gres", "gpus-per-node", "gpus-per-task", "gpus") if k in v]
    if len(asked) > 1:
        first, second = asked[0], asked[1]
        raise JobFileError(
            f"{source}:{v[second][1]}: --{second} and --{first} both ask for GPUs; keep one."
        )
    if not asked:
        return "", 0
    key = asked[0]
    text, line = v[key]
    where = f"{source}:{line}"
    if key == "gres":
        return _gres(text, where)
    model, count = _gpus(text, where, key)
    if key == "gpus-per-node":
        return model, count
    if key == "gpus-per-task":
        return model, count * per_node
    if count % nodes:
        raise JobFileError(
            f"{where}: --gpus {count} cannot be split evenly over {nodes} nodes; "
            "use --gpus-per-node."
        )
    return model, count // nodes


def _partition(text: str, body: dict[str, Any], where: str, warnings: list[str]) -> None:
    regions: list[str] = []
    for item in (p.strip() for p in text.split(",")):
        if item.lower() in PRIORITY_PARTITIONS:
            body["priority_class"] = PRIORITY_PARTITIONS[item.lower()]
        elif item.lower() in GENERIC_PARTITIONS:
            warnings.append(
                f"{where}: partition {item!r} is ignored: the job runs wherever it fits "
                "(name a region, or guaranteed/standard/preemptible)."
            )
        elif item:
            regions.append(item)
    if regions:
        body["regions"] = regions


def _export(found: tuple[str, int] | None, environ: dict[str, str], source: str) -> dict[str, str]:
    if found is None:
        return {}
    text, line = found
    out: dict[str, str] = {}
    for item in (i.strip() for i in text.split(",")):
        if item.upper() in ("ALL", "NONE", "NIL", ""):
            continue
        name, eq, value = item.partition("=")
        if not _ENV_NAME.fullmatch(name):
            raise JobFileError(f"{source}:{line}: --export {item!r} is not VAR or VAR=value.")
        if eq:
            out[name] = value
        elif name in environ:
            out[name] = environ[name]
    return out


def _bash_pattern(pattern: str, where: str, name: str) -> str:
    """An output file pattern as a double-quoted bash word, its %-codes expanded when
    the job runs."""
    codes = {
        "j": "${SUANLI_JOB_ID}",
        "J": "${SUANLI_JOB_ID}",
        "A": "${SLURM_ARRAY_JOB_ID:-$SUANLI_JOB_ID}",
        "a": "${SLURM_ARRAY_TASK_ID:-4294967294}",
        "u": "${USER:-$(id -un)}",
        "N": "$(hostname -s)",
        "x": _quote_inner(name),
        "%": "%",
    }
    out: list[str] = []
    last = 0
    for m in _PATTERNS.finditer(pattern):
        out.append(_quote_inner(pattern[last : m.start()]))
        width, code = m.groups()
        if code not in codes:
            raise JobFileError(
                f"{where}: the output pattern %{code} in {pattern!r} is not supported "
                "(suanli expands %j %x %A %a %u %N %%)."
            )
        value = codes[code]
        if width and code in "jJAa":
            value = f"$(printf '%0{int(width)}d' \"{value}\")"
        out.append(value)
        last = m.end()
    out.append(_quote_inner(pattern[last:]))
    return '"' + "".join(out) + '"'


def _quote_inner(text: str) -> str:
    """Text safe inside bash double quotes."""
    return re.sub(r'([\\"$`])', r"\\\1", text)


def wrap_script(
    script: str, args: list[str], outputs: dict[str, tuple[str, str]], name: str, source: str
) -> list[str]:
    """The command that runs `script` as sbatch would on the node: written to a private
    file and executed (its `#!` line chooses the interpreter; none: bash), with
    SLURM_JOB_ID and SLURM_JOB_NAME set, output copied to the -o/-e files when given,
    SIGTERM passed on to it (a stop or a preemption)."""
    end = "SUANLI_SCRIPT_END"
    while end in script:
        end += "_"
    lines = [
        f"# suanli: runs the batch script {_quote_inner(source)} as sbatch would",
        'export SLURM_JOB_ID="${SLURM_JOB_ID:-$SUANLI_JOB_ID}"',
        f'export SLURM_JOB_NAME="{_quote_inner(name)}"',
        'export SLURM_SUBMIT_DIR="${SLURM_SUBMIT_DIR:-$PWD}"',
    ]
    if "output" in outputs:
        out = _bash_pattern(*outputs["output"], name)
        lines.append(f"exec > >(tee -a -- {out})")
        if "error" not in outputs:
            lines.append("exec 2>&1")
    if "error" in outputs:
        err = _bash_pattern(*outputs["error"], name)
        lines.append(f"exec 2> >(tee -a -- {err} >&2)")
    lines += [
        'f="$(mktemp "${TMPDIR:-/tmp}/suanli-script.XXXXXX")" || exit 1',
        f"cat > \"$f\" <<'{end}'",
        script.rstrip("\n"),
        end,
        'chmod 700 "$f"',
        '"$f" "$@" &',
        "pid=$!",
        "trap 'kill -TERM \"$pid\" 2>/dev/null' TERM INT",
        "while :; do",
        '  wait "$pid"; rc=$?',
        '  kill -0 "$pid" 2>/dev/null || break',
        "done",
        'rm -f "$f"',
        'exit "$rc"',
    ]
    return ["bash", "-c", "\n".join(lines) + "\n", source, *args]
