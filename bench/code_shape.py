"""The shape of the product's code: function lengths and complexity, now and at an earlier
revision (issue 14's acceptance asks that the median function length and the largest
function's complexity go down).

    .venv/bin/python bench/code_shape.py --against b5d6195

Length: lines from `def` to the function's last line (decorators excluded, docstring
included), and statements in its body (docstring excluded), over every function and
method under src/ but the database migrations (schema scripts, written once). Complexity:
McCabe's, as ruff's C901 measures it. Prints one JSON line per revision, then their
ratios.
"""

from __future__ import annotations

import argparse
import ast
import json
import re
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
COMPLEXITY = re.compile(r"`(?P<name>[^`]+)` is too complex \((?P<n>\d+) > 0\)")


def _lengths(src: Path) -> tuple[list[int], list[int]]:
    lines: list[int] = []
    statements: list[int] = []
    for path in sorted(src.rglob("*.py")):
        if "migrations" in path.parts:
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                continue
            assert node.end_lineno is not None
            lines.append(node.end_lineno - node.lineno + 1)
            body = node.body
            if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
                body = body[1:]
            statements.append(sum(isinstance(n, ast.stmt) for b in body for n in ast.walk(b)))
    return lines, statements


def _complexity(src: Path) -> tuple[int, str]:
    done = subprocess.run(
        [
            sys.executable, "-m", "ruff", "check", str(src), "--isolated", "--select", "C901",
            "--config", "lint.mccabe.max-complexity=0", "--output-format", "json",
            "--exclude", "migrations",
        ],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    worst, where = 0, ""
    for finding in json.loads(done.stdout or "[]"):
        match = COMPLEXITY.search(finding["message"])
        if match and int(match["n"]) > worst:
            rel = Path(finding["filename"]).relative_to(src.parent)
            worst, where = int(match["n"]), f"{rel}:{match['name']}"
    return worst, where


def _percentile(values: list[int], share: float) -> int:
    ordered = sorted(values)
    return ordered[int(share * (len(ordered) - 1))]


def shape(src: Path, label: str) -> dict[str, Any]:
    """The figures for the tree under `src`."""
    lines, statements = _lengths(src)
    worst, where = _complexity(src)
    return {
        "bench": "code_shape",
        "revision": label,
        "functions": len(lines),
        "median_lines": statistics.median(lines),
        "mean_lines": round(statistics.mean(lines), 2),
        "p90_lines": _percentile(lines, 0.9),
        "p99_lines": _percentile(lines, 0.99),
        "max_lines": max(lines),
        "over_50_lines": sum(n > 50 for n in lines),
        "median_statements": statistics.median(statements),
        "mean_statements": round(statistics.mean(statements), 2),
        "max_complexity": worst,
        "most_complex": where,
    }


def _at_revision(rev: str, into: Path) -> Path:
    archive = subprocess.run(
        ["git", "-C", str(ROOT), "archive", rev, "src"], capture_output=True, check=True
    ).stdout
    subprocess.run(["tar", "-x", "-C", str(into)], input=archive, check=True)
    return into / "src"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--against", help="a git revision to compare with (e.g. b5d6195)")
    args = parser.parse_args()
    now = shape(ROOT / "src", "working tree")
    if args.against:
        with tempfile.TemporaryDirectory() as tmp:
            before = shape(_at_revision(args.against, Path(tmp)), args.against)
        print(json.dumps(before))
    print(json.dumps(now))
    if args.against:
        keys = ("median_lines", "mean_lines", "p90_lines", "max_lines", "max_complexity")
        ratios = {k: round(now[k] / before[k], 3) for k in keys if before[k]}
        print(json.dumps({"bench": "code_shape", "now_over_before": ratios}))


if __name__ == "__main__":
    main()
