"""Measured throughput profiles: parsed with canonical model names; bad files are refused
naming the file and the entry."""

from __future__ import annotations

from pathlib import Path

import pytest

from suanli.domain.errors import InvalidInput
from suanli.logic.scheduling.throughput import load_throughput, parse_throughput


def test_profiles_use_canonical_model_names(tmp_path: Path) -> None:
    path = tmp_path / "t.json"
    path.write_text('{"resnet50": {"h100-sxm": 2900, "T4": 310.5}}')
    assert load_throughput(str(path)) == {("resnet50", "H100"): 2900.0, ("resnet50", "T4"): 310.5}


@pytest.mark.parametrize(
    ("data", "words"),
    [
        ([1, 2], "object of job types"),
        ({"bert": 3}, "'bert' must map"),
        ({"bert": {"H100": 0}}, "'bert'/'H100' is 0"),
        ({"bert": {"H100": "fast"}}, "expected a positive number"),
    ],
)
def test_bad_profiles_say_what_is_wrong(data: object, words: str) -> None:
    with pytest.raises(InvalidInput, match=words):
        parse_throughput(data)


def test_unreadable_or_malformed_files_name_the_file(tmp_path: Path) -> None:
    with pytest.raises(InvalidInput, match="Cannot read"):
        load_throughput(str(tmp_path / "missing.json"))
    bad = tmp_path / "bad.json"
    bad.write_text('{"bert": ')
    with pytest.raises(InvalidInput, match=r"bad.json: not JSON \(line 1"):
        load_throughput(str(bad))
    unknown = tmp_path / "unknown.json"
    unknown.write_text('{"bert": {"Z9000": 1}}')
    with pytest.raises(InvalidInput, match="Z9000"):
        load_throughput(str(unknown))
