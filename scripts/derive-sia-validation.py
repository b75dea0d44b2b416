"""Derive `src/suanli/adapters/traces/sia_validation.json` from the Sia artifact's
validation curves (sia-simulator/traces/APP/validation-B.csv): per application and
global batch size B, per epoch, the examples processed (`progress`), the iterations done
(`iteration`) and the gradient statistics (`grad_sqr`, `grad_var`) the goodput model's
statistical efficiency is computed from. The validation metric is left out (the artifact
trains to a fixed number of epochs, `max_epochs`, not to a target metric).

    python3 scripts/derive-sia-validation.py ../shared/reference/sia-simulator/traces

Run once; the JSON is committed (the project must not need the artifact at run time).
"""

from __future__ import annotations

import csv
import json
import sys
from pathlib import Path

MAX_EPOCHS = {"bert": 2, "cifar10": 100, "deepspeech2": 80, "imagenet": 90, "ncf": 10, "yolov3": 50}
"""sia-simulator/applications.py: the epochs each application trains for."""
SOURCE = "siasosp23/artifacts@aaf7a0d:sia-simulator/traces/APP/validation-B.csv"
OUT = Path(__file__).resolve().parent.parent / "src/suanli/adapters/traces/sia_validation.json"


def main(folder: Path) -> None:
    apps: dict[str, object] = {}
    for app, epochs in MAX_EPOCHS.items():
        curves: dict[str, dict[str, list[float]]] = {}
        for path in sorted((folder / app).glob("validation-*.csv")):
            batch = int(path.stem.split("-")[-1])
            cols: dict[str, list[float]] = {"progress": [], "iteration": [], "grad_sqr": [], "grad_var": []}
            with path.open(newline="") as handle:
                for row in csv.DictReader(handle):
                    for name, values in cols.items():
                        values.append(float(row[name]))
            curves[str(batch)] = cols
        apps[app] = {"max_epochs": epochs, "curves": dict(sorted(curves.items(), key=lambda kv: int(kv[0])))}
    OUT.write_text(json.dumps({"source": SOURCE, "max_epochs_source": "sia-simulator/applications.py", "apps": apps}, separators=(",", ":")) + "\n")
    print(f"wrote {OUT} ({OUT.stat().st_size} bytes)")


if __name__ == "__main__":
    main(Path(sys.argv[1] if len(sys.argv) > 1 else "../shared/reference/sia-simulator/traces"))
