"""What `bench plan` shows: every unit with its declared passes and whether it is stored, and the disk the maps will take."""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import replace
from pathlib import Path

import torch

from bench.core import registry
from bench.core.config import StoreConfig
from bench.data.suite_data import SuiteData
from bench.models.builders import build_model
from bench.models.layers import default_layer
from bench.models.model_store import is_trained, model_spec
from bench.pipeline.plan import Plan
from bench.pipeline.store import RecordStore
from bench.pipeline.units import Unit, method_label

BYTES_PER_PIXEL = {"float16": 2, "float32": 4}


def declared_passes(plan: Plan, data: SuiteData) -> dict[tuple[str, str], str]:
    """Passes per input of each (model, method entry), declared by its adapter after one call on the untrained architecture."""
    out: dict[tuple[str, str], str] = {}
    for ref in plan.models:
        model = build_model(replace(model_spec(ref.config, data), pretrained=None)).eval()
        layer = ref.config.target_layer or default_layer(model)
        x = torch.randn(1, data.channels, *data.shape, generator=torch.Generator().manual_seed(0))
        for unit in plan.of_kind("explain"):
            label = _entry(unit)
            if unit.model.name != ref.name or (ref.name, label) in out:
                continue
            try:
                with registry.build(unit.method.name, model, unit.method.params, target_layer=layer) as explainer:
                    explainer.attribute(x, torch.tensor([0]), seeds=torch.tensor([0]))
                    passes = explainer.passes()
                out[(ref.name, label)] = " ".join(f"{v}{_SHORT.get(k, k)}" for k, v in passes.items() if v)
            except Exception as err:  # the plan still lists the unit; the run records the failure
                out[(ref.name, label)] = f"? ({type(err).__name__})"
    return out


_SHORT = {"forward": "F", "backward": "B", "head_forward": "hF", "head_backward": "hB"}


def _entry(unit: Unit) -> str:
    if unit.kind == "agreement":
        return f"{unit.family}: " + ", ".join(m.name for m in unit.members)
    return method_label(unit.method) if unit.method else ""


def _stored(unit: Unit, store: RecordStore) -> bool:
    return is_trained(unit.model.directory) if unit.kind == "train" else store.has(unit.key)


def map_bytes(plan: Plan, shape: tuple[int, ...], maps: StoreConfig) -> int:
    """Bytes the stored maps of the plan's explain units take (maps in their dtype plus a float32 scale per map)."""
    if not maps.maps:
        return 0
    position = {sid: i for i, sid in enumerate(plan.sample_ids)}
    total = 0
    for unit in plan.of_kind("explain"):
        if maps.maps_limit == 0 or position[unit.sample_ids[-1]] < maps.maps_limit:
            total += len(unit.sample_ids) * (math.prod(shape) * BYTES_PER_PIXEL[maps.maps_dtype] + 4)
    return total


def _table(rows: list[tuple[str, ...]]) -> list[str]:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    return ["  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in rows]


def grid_lines(plan: Plan) -> list[str]:
    """The models of the suite's grids, one line each: setting, factor values and the training it reads (none without a grid)."""
    if not any(ref.config.factors for ref in plan.models):
        return []
    settings = {ref.config.setting for ref in plan.models}
    trainings = {ref.directory for ref in plan.models if ref.trained_here}
    rows = [("model", "setting", "factors", "checkpoint", "training")]
    for ref in plan.models:
        factors = ", ".join(f"{k}={v}" for k, v in ref.config.factors.items() if k not in ("seed", "epoch"))
        epoch = f"epoch {ref.config.checkpoint_epoch}" if ref.config.checkpoint_epoch else "selected"
        rows.append((ref.name, ref.config.setting, factors or "-", epoch, Path(ref.directory).name if ref.trained_here else "checkpoint file"))
    return [f"models: {len(plan.models)} in {len(settings)} settings, {len(trainings)} trainings", *_table(rows), ""]


def plan_lines(plan: Plan, store: RecordStore, *, data: SuiteData, maps: StoreConfig, passes: bool = True) -> list[str]:
    """The plan as text: a summary line, the disk estimate, then one line per unit."""
    stored = {u.key: _stored(u, store) for u in plan.units}
    kinds = Counter(u.kind for u in plan.units)
    summary = ", ".join(f"{n} {k}" for k, n in kinds.items())
    lines = [
        f"{plan.suite}: {len(plan.units)} units ({summary}); {sum(stored.values())} stored, {len(plan.units) - sum(stored.values())} to run",
        f"maps kept: {map_bytes(plan, data.shape, maps) / 2**20:.1f} MiB on disk ([store] maps = {str(maps.maps).lower()}, "
        f"maps_limit = {maps.maps_limit}, maps_dtype = {maps.maps_dtype})",
    ]
    lines += grid_lines(plan)
    declared = declared_passes(plan, data) if passes else {}
    rows = [("kind", "model", "method", "metric", "shard", "samples", "passes/img", "stored", "key")]
    for u in plan.units:
        method = _entry(u) if u.kind not in ("train", "evaluate", "calibrate") else "-"
        p = declared.get((u.model.name, method), "-") if u.kind in ("explain", "timing") else "-"
        shard = str(u.shard) if u.kind in ("explain", "score", "agreement") else "-"
        rows.append(
            (
                u.kind,
                u.model.name,
                method,
                u.metric.column() if u.metric else "-",
                shard,
                str(len(u.sample_ids)) if u.sample_ids else "-",
                p,
                "yes" if stored[u.key] else "no",
                u.key,
            )
        )
    return lines + _table(rows)
