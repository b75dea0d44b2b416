from __future__ import annotations

import pytest

from suanli.domain.devices import canonical_gpu_model
from suanli.domain.errors import InvalidInput
from suanli.domain.quantities import parse_duration_s, parse_gpu_request, parse_memory_mb


@pytest.mark.parametrize(
    ("text", "mib"),
    [
        ("4G", 4096),
        ("512M", 512),
        ("1.5GiB", 1536),
        ("2T", 2 * 1024 * 1024),
        ("100", 100),
        ("2048K", 2),
        ("4gb", 4096),
    ],
)
def test_memory_sizes(text: str, mib: int) -> None:
    assert parse_memory_mb(text) == mib


@pytest.mark.parametrize("text", ["4X", "", "G", "-1G", "0", "four"])
def test_bad_memory_names_the_field_and_the_forms(text: str) -> None:
    with pytest.raises(InvalidInput) as exc:
        parse_memory_mb(text)
    assert exc.value.field == "memory"
    assert exc.value.hint and "4G" in exc.value.hint


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("1h", 3600),
        ("90m", 5400),
        ("1h30m", 5400),
        ("2d", 172800),
        ("45s", 45),
        ("01:30:00", 5400),
        ("1-00:00:00", 86400),
        ("10:30", 630),
        ("30", 1800),
    ],
)
def test_durations(text: str, seconds: int) -> None:
    assert parse_duration_s(text) == seconds


@pytest.mark.parametrize("text", ["1x", "", "h", "0", "0s", "-5m"])
def test_bad_durations(text: str) -> None:
    with pytest.raises(InvalidInput):
        parse_duration_s(text)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("A100:2", ("A100-80GB", 2)),
        ("h100", ("H100", 1)),
        ("4", ("any", 4)),
        ("NVIDIA A100-SXM4-40GB:8", ("A100-40GB", 8)),
        ("910B:1", ("ASCEND-910B", 1)),
    ],
)
def test_gpu_requests(text: str, expected: tuple[str, int]) -> None:
    assert parse_gpu_request(text) == expected


@pytest.mark.parametrize("text", ["FOO:1", "A100:0", "A100:-1", "A100:x"])
def test_bad_gpu_requests(text: str) -> None:
    with pytest.raises(InvalidInput) as exc:
        parse_gpu_request(text)
    assert exc.value.field == "gpus"


def test_unknown_model_lists_known_ones() -> None:
    with pytest.raises(InvalidInput) as exc:
        canonical_gpu_model("FOO")
    assert exc.value.hint and "H100" in exc.value.hint and "suanli pool" in exc.value.hint


@pytest.mark.parametrize(
    ("raw", "model"),
    [
        ("NVIDIA H100 80GB HBM3", "H100"),
        ("Tesla V100-SXM2-16GB", "V100"),
        ("NVIDIA GeForce RTX 4090", "RTX4090"),
        ("Tesla T4", "T4"),
        ("NVIDIA A800-SXM4-80GB", "A800"),
    ],
)
def test_nvidia_smi_names(raw: str, model: str) -> None:
    assert canonical_gpu_model(raw) == model
