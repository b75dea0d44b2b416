"""The numbers docs/scheduling.md quotes from examples/scheduling_example.py."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "scheduling_example.py"


def load() -> ModuleType:
    spec = importlib.util.spec_from_file_location("scheduling_example", EXAMPLE)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["scheduling_example"] = module
    spec.loader.exec_module(module)
    return module


def test_worked_example_matches_the_document() -> None:
    example = load()
    w = example.run()
    s1, s2, s3, s4, s5, s6 = w.steps
    # 1. borrowing: 16 firm jobs start, the 8 beyond its quota borrowed from the lab
    firm_train = {j: where for j, where in s1.placed.items() if j.startswith("firm-train")}
    assert len(firm_train) == 16
    assert sum("(borrowed)" in where for where in firm_train.values()) == 8
    # 2. reclaim: four lab jobs, within quota, preempt two borrowing firm jobs each
    assert len(s2.result.preemptions) == 4
    assert all(len(p.victims) == 2 for p in s2.result.preemptions)
    assert all(v.startswith("firm-train") for p in s2.result.preemptions for v in p.victims)
    # 3. after the grace period the lab's jobs run on the freed H100s
    assert sorted(s3.placed) == [f"lab-train-{i}" for i in range(4)]
    # 4. backfill: the gang is reserved, the short job backfills, the long one is held back
    reservation = s4.result.reservation
    assert reservation is not None and reservation.job_id == "lab-gang"
    assert f"{reservation.start:%H:%M}" == "10:00"
    assert list(s4.placed) == ["firm-short"]
    reasons = {wt.job_id: wt.reason for wt in s4.result.waiting}
    assert reasons["firm-long"].startswith("Held back by backfill")
    # 5. the 15 ms SLO keeps chat in Zhengzhou; the 30 ms one lets ocr use Guiyang too
    assert {s5.placed["chat-0"].split("/")[0], s5.placed["chat-1"].split("/")[0]} == {"zz-t4"}
    assert {s5.placed["ocr-0"].split("/")[0], s5.placed["ocr-1"].split("/")[0]} == {
        "gy-t4",
        "zz-t4",
    }
    # 6. fair share in standard units: the firm holds 8 more A100s, so the lab's T4 jobs
    # go first
    assert sorted(s6.placed) == [f"lab-eval-{i}" for i in range(8)]
    assert w.held(example.LAB, "H100") == 8 and w.held(example.FIRM, "H100") == 8
