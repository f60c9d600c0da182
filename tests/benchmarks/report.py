"""The ratio tables the benchmark modules write: row collection, the timed call, rendering and writing.

A benchmark module declares REPORT (what its table is called and says) and CASES; conftest's autouse
collector files every benchmark's row under its module's REPORT, and at session end each report is
rendered, printed, and written to results/benchmarks/<stem><cpu|gpu>.md when every case of its module ran.
"""

from __future__ import annotations

import datetime
import math
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

import pytest
import torch
from torch import nn

from bench.utils.measure import peak_memory_mib


@dataclass(frozen=True)
class Report:
    """One benchmark module's table: file stem, first-column name, title, packages to list, notes, and an optional score column."""

    stem: str
    group: str
    title: str
    source: str
    packages: tuple[str, ...]
    notes: Callable[[list[dict]], list[str]]
    value_column: bool = False


def version(package: str) -> str:
    """The installed version of package, or 'not installed'."""
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return "not installed"


def _num(value: float | None, digits: int = 1) -> str:
    return "n/a" if value is None or (isinstance(value, float) and math.isnan(value)) else f"{value:,.{digits}f}"


def _ratio(value: float, reference: float) -> str:
    if any(v is None or math.isnan(v) for v in (value, reference)) or reference <= 0:
        return "n/a"
    return f"{value / reference:.2f}"


def benchmark_row(benchmark, node_name: str) -> dict | None:
    """The row of one finished benchmark: its group, extra_info, timing statistics and the load average; None if it did not run."""
    stats = getattr(benchmark, "stats", None)
    if stats is None or getattr(benchmark, "has_error", False):
        return None
    info = dict(benchmark.extra_info)
    return {
        "implementation": node_name, "input": "", "setup": "", "device": "", "device_type": "cpu", "peak_mib": float("nan"),
        "value": float("nan"), **info,
        "group": benchmark.group or node_name, "reference": bool(info.get("reference", False)),
        "median_ms": stats.stats.median * 1000.0, "iqr_ms": stats.stats.iqr * 1000.0, "min_ms": stats.stats.min * 1000.0,
        "rounds": stats.stats.rounds, "load": os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan"),
    }


def timed(benchmark, fn: Callable[[], object], *, device: torch.device, rounds: int, model: nn.Module) -> object:
    """Time fn over `rounds` (one warm-up round, CUDA synchronised), then measure one further call's peak memory into extra_info."""
    def call() -> object:
        out = fn()
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        return out

    result = benchmark.pedantic(call, rounds=rounds, iterations=1, warmup_rounds=1)
    model.zero_grad(set_to_none=True)  # parameter gradients a library left behind are not this call's memory
    benchmark.extra_info["peak_mib"] = peak_memory_mib(call, device=device)
    return result


def render(report: Report, rows: list[dict]) -> str:
    """The Markdown table: rows grouped with the in-house (reference) row first, ratios third-party / in-house, then the setups."""
    groups: dict[str, list[dict]] = {}
    for row in rows:
        groups.setdefault(row["group"], []).append(row)
    versions = ", ".join([f"torch {torch.__version__}", *(f"{p} {version(p)}" for p in report.packages), f"Python {sys.version.split()[0]}"])
    written = datetime.datetime.now().astimezone().isoformat(timespec="seconds")
    value_head = ["mean value"] if report.value_column else []
    head = [report.group, "implementation", "input", "rounds", "median ms", "IQR ms", "min ms", "peak MiB", *value_head,
            "time ratio (medians)", "time ratio (mins)", "peak ratio", "load"]
    lines = [f"# {report.title}", "", f"- Device: {'; '.join(sorted({r['device'] for r in rows}))}", f"- {versions}",
             f"- Written {written} by `make benchmarks` ({report.source})", *report.notes(rows), "",
             "| " + " | ".join(head) + " |", "|---|---|---|" + "---:|" * (len(head) - 3)]
    for group, members in groups.items():
        own = next((r for r in members if r["reference"]), None)
        for r in sorted(members, key=lambda r: not r["reference"]):
            ratios = ["n/a"] * 3 if own is None else [_ratio(r[k], own[k]) for k in ("median_ms", "min_ms", "peak_mib")]
            value = [_num(r["value"], 4)] if report.value_column else []
            cells = [group, r["implementation"], r["input"], str(r["rounds"]), _num(r["median_ms"]), _num(r["iqr_ms"]), _num(r["min_ms"]),
                     _num(r["peak_mib"]), *value, *ratios, _num(r["load"], 2)]
            lines.append("| " + " | ".join(cells) + " |")
    lines += ["", f"## Setup per {report.group}", ""]
    for group, members in groups.items():
        setup = next((r["setup"] for r in members if r["setup"]), "")
        if setup:
            lines.append(f"- **{group}**: {setup}")
    return "\n".join(lines) + "\n"


def write(report: Report, rows: list[dict], total: int, root: Path) -> tuple[str, str]:
    """Render the report; write it when all `total` cases ran. Returns (where it went, the text)."""
    device = "gpu" if any(r["device_type"] == "cuda" for r in rows) else "cpu"
    path = root / "results" / "benchmarks" / f"{report.stem}{device}.md"
    text = render(report, rows)
    if len(rows) < total:
        return f"partial run, {len(rows)} of {total} benchmarks: {path} not written", text
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return f"written to {path}", text


ROWS = pytest.StashKey[dict[Report, tuple[int, list[dict]]]]()
