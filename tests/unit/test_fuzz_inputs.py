"""Fuzzing the parsers and the job submission schema: every input either gives a value in
range or raises InvalidInput (a 422 naming the field), never another exception.

Text is drawn from all of Unicode, lone surrogates included (JSON can carry "\\ud800"),
and from quantities built with digits that `str.isdigit` accepts but `int` refuses or
reads as another number ("²", "٣", fullwidth "１"), and with numbers too large to
convert or to compute with.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import fields, is_dataclass
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from suanli.api.schemas import JobCreate, ServiceCreate
from suanli.domain.errors import InvalidInput
from suanli.domain.jobs import (
    MAX_ARGV_BYTES,
    MAX_ARGV_ITEMS,
    MAX_ATTEMPTS,
    MAX_ENV_BYTES,
    MAX_ENV_KEYS,
    MAX_ENV_VALUE_BYTES,
    MAX_GANG,
    MAX_REGIONS,
    MAX_THROUGHPUT_HINTS,
    MAX_TIME_LIMIT_S,
    JobSpec,
)
from suanli.domain.quantities import (
    MAX_DURATION_S,
    parse_duration_s,
    parse_gpu_request,
    parse_memory_mb,
)
from suanli.domain.resources import MAX_CPUS, MAX_GPU_MEMORY_MB, MAX_GPUS, MAX_MEMORY_MB

FUZZ = settings(max_examples=400, deadline=None)

any_char = st.characters(blacklist_categories=())  # every code point, surrogates too
any_text = st.text(alphabet=any_char, max_size=30)
DIGITS = ["0", "1", "2", "9", "²", "٣", "１", "߁", "๑", "⁹", "𝟗"]
digit_runs = st.lists(st.sampled_from(DIGITS), min_size=1, max_size=8).map("".join)
huge = st.sampled_from(["9" * 30, "9" * 400, "1" * 5000, "1e400", "18446744073709551617"])
number_text = st.one_of(digit_runs, huge, st.integers().map(str), st.floats().map(repr))
unit = st.sampled_from(["", "K", "M", "G", "T", "P", "GiB", "k", "mb", "K", "d", "h", "m", "s"])


def _quantity() -> st.SearchStrategy[str]:
    """Text that looks like a quantity: numbers and units, clock forms, GPU requests."""
    part = st.tuples(number_text, unit).map("".join)
    return st.one_of(
        any_text,
        st.lists(part, min_size=1, max_size=3).map("".join),
        st.tuples(number_text, number_text).map(":".join),
        st.tuples(number_text, number_text, number_text).map(lambda t: f"{t[0]}-{t[1]}:{t[2]}"),
        st.tuples(st.sampled_from(["A100", "H100", "any", "T4", "", "Z9"]), number_text).map(
            ":".join
        ),
        st.tuples(st.sampled_from(["", " ", "\t", "\u3000"]), number_text, unit).map("".join),
    )


@FUZZ
@given(text=_quantity())
def test_memory_is_in_range_or_invalid_input(text: str) -> None:
    try:
        mib = parse_memory_mb(text)
    except InvalidInput as exc:
        assert exc.field == "memory"
        return
    assert isinstance(mib, int) and 1 <= mib <= MAX_MEMORY_MB
    assert text.isascii(), f"only ASCII digits and units parse: {text!r}"


@FUZZ
@given(text=_quantity())
def test_duration_is_in_range_or_invalid_input(text: str) -> None:
    try:
        seconds = parse_duration_s(text)
    except InvalidInput as exc:
        assert exc.field == "time_limit"
        return
    assert isinstance(seconds, int) and 1 <= seconds <= MAX_DURATION_S
    assert all(c.isascii() for c in text if c.isdigit()), f"non-ASCII digit parsed: {text!r}"


@FUZZ
@given(text=_quantity())
def test_gpu_request_is_in_range_or_invalid_input(text: str) -> None:
    try:
        model, count = parse_gpu_request(text)
    except InvalidInput as exc:
        assert exc.field == "gpus"
        return
    assert isinstance(model, str) and model
    assert isinstance(count, int) and 1 <= count <= MAX_GPUS


def test_non_ascii_digits_are_refused() -> None:
    for text in ["²", "٣G", "１２G", "1²h", "٣:٣", "A100:²", "A100:٣", "߁"]:
        for parse in (parse_memory_mb, parse_duration_s, parse_gpu_request):
            try:
                parse(text)
            except InvalidInput:
                continue
            raise AssertionError(f"{parse.__name__} accepted {text!r}")


# --- the submission schema, end to end through the domain ----------------------------

json_number = st.one_of(
    st.integers(min_value=-(10**30), max_value=10**30),
    st.sampled_from([10**400, -(10**400), True, False, 0, -1, 2**63, 2**64]),
    st.floats(allow_nan=False, allow_infinity=False),
    st.floats(),
)
short = st.one_of(any_text, st.sampled_from(["", "x", "r1", "A100", "\ud800", "a\x00b", "\n"]))
env_key = st.one_of(short, st.sampled_from(["PATH", "_X", "9X", "A-B", "A=B", "É"]))
env_value = st.one_of(
    short, st.sampled_from(["v" * (MAX_ENV_VALUE_BYTES + 1), "é" * (MAX_ENV_VALUE_BYTES // 2 + 1)])
)


VALID: dict[str, st.SearchStrategy[Any]] = {
    "name": st.sampled_from(["", "train", "训练"]),
    "cpus": st.sampled_from([1, 0.5, 2.0]),
    "memory": st.sampled_from(["1G", "512M", "2048"]),
    "gpus": st.sampled_from([None, "any:1", "2"]),
    "time_limit": st.sampled_from([None, "1h", "01:30:00"]),
    "env": st.sampled_from([{}, {"HOME": "/tmp", "LANG": "zh_CN.UTF-8"}]),
    "working_dir": st.sampled_from([None, "/tmp/作业"]),
    "max_attempts": st.sampled_from([1, 3]),
    "sector": st.sampled_from(["other", "research", "科研"]),
    "gang_size": st.sampled_from([1, 2]),
    "service": st.sampled_from(["", "chat"]),
    "job_type": st.sampled_from(["", "resnet50"]),
    "throughput_hints": st.sampled_from([{}, {"H100": 3, "A100": 1.0}]),
}


def _adversarial() -> dict[str, st.SearchStrategy[Any]]:
    """Per field: values of the wrong type, out of range, or holding bad text."""
    lists = st.lists(short, max_size=4) | st.sampled_from(
        [["r"] * (MAX_REGIONS + 1), ["x"] * (MAX_ARGV_ITEMS + 1)]
    )
    return {
        "command": st.one_of(
            st.lists(short, min_size=0, max_size=4),
            st.just(["x" * (MAX_ARGV_BYTES + 1)]),
            st.lists(st.integers(), max_size=2),
        ),
        "name": short,
        "cpus": json_number,
        "memory": st.one_of(_quantity(), json_number),
        "gpus": st.one_of(st.none(), _quantity()),
        "gpu_memory": st.one_of(st.none(), _quantity()),
        "time_limit": st.one_of(st.none(), _quantity()),
        "regions": lists,
        "deny_regions": lists,
        "providers": lists,
        "deny_providers": lists,
        "gpu_models": lists,
        "env": st.one_of(
            st.dictionaries(env_key, env_value, max_size=4),
            st.just({f"K{i}": "v" for i in range(MAX_ENV_KEYS + 1)}),
            st.just({f"K{i}": "v" * 30_000 for i in range(5)}),
        ),
        "working_dir": st.one_of(st.none(), short),
        "max_attempts": json_number,
        "sector": st.one_of(short, st.sampled_from(["research", "科研", "x" * 1000])),
        "workload_class": st.one_of(st.none(), short, st.just("ai")),
        "gang_size": json_number,
        "min_gang_size": st.one_of(st.none(), json_number),
        "max_gang_size": st.one_of(st.none(), json_number),
        "data_region": st.one_of(st.none(), short),
        "max_data_rtt_ms": st.one_of(st.none(), json_number),
        "client_region": st.one_of(st.none(), short),
        "latency_slo_ms": st.one_of(st.none(), json_number),
        "service": short,
        "job_type": short,
        "throughput_hints": st.one_of(
            st.dictionaries(short, json_number, max_size=3),
            st.just({"A100": 1.0} | {f"m{i}": 1.0 for i in range(MAX_THROUGHPUT_HINTS)}),
        ),
    }


@st.composite
def _body(draw: st.DrawFn) -> dict[str, Any]:
    """A sane job body with 0-3 of its fields replaced by adversarial values (so that
    most bodies get past the schema and the other fields to the one under test)."""
    body: dict[str, Any] = {"command": ["python3", "-c", "print(42)"]}
    body |= draw(st.fixed_dictionaries({}, optional=VALID))
    adversarial = _adversarial()
    for name in draw(st.lists(st.sampled_from(sorted(adversarial)), max_size=3, unique=True)):
        body[name] = draw(adversarial[name], label=name)
    return body


def _strings(value: object) -> list[str]:
    """Every string in a spec: fields, list items, mapping keys and values."""
    if isinstance(value, str):
        return [value]
    if isinstance(value, Mapping):
        return [s for k, v in value.items() for s in (*_strings(k), *_strings(v))]
    if isinstance(value, tuple | list):
        return [s for item in value for s in _strings(item)]
    if is_dataclass(value) and not isinstance(value, type):
        return [s for f in fields(value) for s in _strings(getattr(value, f.name))]
    return []


def _assert_in_range(spec: JobSpec) -> None:
    for text in _strings(spec):
        text.encode("utf-8")  # raises on a lone surrogate
        assert "\x00" not in text
    r = spec.resources
    assert 1 <= r.cpu_milli <= MAX_CPUS * 1000
    assert 1 <= r.memory_mb <= MAX_MEMORY_MB
    assert 0 <= r.gpu_memory_mb <= MAX_GPU_MEMORY_MB
    assert all(1 <= n <= MAX_GPUS for n in r.gpus.values())
    assert 1 <= spec.gang_size <= MAX_GANG and 1 <= spec.max_attempts <= MAX_ATTEMPTS
    assert spec.time_limit_s is None or 1 <= spec.time_limit_s <= MAX_TIME_LIMIT_S
    assert len(spec.env) <= MAX_ENV_KEYS
    assert sum(len(k) + len(v.encode()) for k, v in spec.env.items()) <= MAX_ENV_BYTES
    assert len(spec.command) <= MAX_ARGV_ITEMS and len(spec.placement.regions) <= MAX_REGIONS
    assert len(spec.throughput_hints) <= MAX_THROUGHPUT_HINTS
    for bound in (spec.placement.max_data_rtt_ms, spec.placement.latency_slo_ms):
        assert bound is None or (math.isfinite(bound) and bound > 0)
    for value in spec.throughput_hints.values():
        assert math.isfinite(value) and value > 0


@FUZZ
@given(body=_body())
def test_job_create_gives_a_spec_in_range_or_invalid_input(body: dict[str, Any]) -> None:
    try:
        create = JobCreate.model_validate(body)
    except ValidationError:
        return  # a 422 from the schema (wrong JSON type, non-finite number, ...)
    try:
        spec = create.to_spec()
    except InvalidInput as exc:
        assert exc.field, f"an error names its field: {exc}"
        assert str(exc).encode("utf-8")  # the message itself can be sent
        return
    _assert_in_range(spec)


@settings(FUZZ, max_examples=200)
@given(body=_body(), replicas=json_number)
def test_service_create_gives_a_spec_or_invalid_input(body: dict[str, Any], replicas: Any) -> None:
    try:
        create = ServiceCreate.model_validate(body | {"service": "svc", "replicas": replicas})
    except ValidationError:
        return
    assert isinstance(create.replicas, int) and not isinstance(create.replicas, bool)
    try:
        spec = create.to_spec()
    except InvalidInput:
        return
    _assert_in_range(spec)


def test_booleans_are_not_numbers() -> None:
    for field in ("cpus", "max_attempts", "gang_size", "min_gang_size", "max_data_rtt_ms"):
        try:
            JobCreate.model_validate({"command": ["x"], field: True})
        except ValidationError as exc:
            assert exc.errors()[0]["loc"] == (field,)
            continue
        raise AssertionError(f"{field}: true was accepted")
    try:
        JobCreate.model_validate({"command": ["x"], "throughput_hints": {"A100": True}})
    except ValidationError:
        pass
    else:
        raise AssertionError("a boolean throughput hint was accepted")
    assert JobCreate.model_validate({"command": ["x"], "cpus": 2}).cpus == 2.0  # ints are fine
