from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from suanli.domain.errors import InvalidInput
from suanli.domain.resources import Resources


def test_request_validates_each_field() -> None:
    for kwargs, field in [
        ({"cpus": -1}, "cpus"),
        ({"cpus": 0}, "cpus"),
        ({"memory_mb": 0}, "memory"),
        ({"gpus": {"A100": 0}}, "gpus"),
        ({"gpus": {"FOO": 1}}, "gpus"),
        ({"gpus": {"A100": 1, "H100": 1}}, "gpus"),
    ]:
        with pytest.raises(InvalidInput) as exc:
            Resources.request(**kwargs)  # type: ignore[arg-type]
        assert exc.value.field == field


def test_bind_any_gpu_picks_a_model_with_enough_devices() -> None:
    free = Resources(8000, 65536, {"T4": 1, "A100-80GB": 4})
    request = Resources.request(cpus=2, memory_mb=1024, gpus={"any": 2})
    bound = request.bind(free)
    assert bound is not None and dict(bound.gpus) == {"A100-80GB": 2}


def test_bind_refuses_what_does_not_fit_and_shortfall_says_why() -> None:
    free = Resources(2000, 4096, {"T4": 1})
    request = Resources.request(cpus=4, memory_mb=1024, gpus={"T4": 2})
    assert request.bind(free) is None
    missing = request.shortfall(free)
    assert any("CPUs" in m for m in missing) and any("T4" in m for m in missing)


vectors = st.builds(
    Resources,
    st.integers(0, 64_000),
    st.integers(0, 1 << 20),
    st.dictionaries(st.sampled_from(["T4", "A100-80GB", "H100"]), st.integers(0, 8)),
)


@given(vectors, vectors)
def test_add_then_subtract_is_identity(a: Resources, b: Resources) -> None:
    back = (a + b) - b
    assert (back.cpu_milli, back.memory_mb, dict(back.gpus)) == (
        a.cpu_milli,
        a.memory_mb,
        dict(a.gpus),
    )


@given(vectors, vectors)
def test_a_bound_request_never_exceeds_free(req: Resources, free: Resources) -> None:
    bound = req.bind(free)
    if bound is not None:
        rest = free - bound
        assert rest.cpu_milli >= 0 and rest.memory_mb >= 0
        assert all(v >= 0 for v in rest.gpus.values())
