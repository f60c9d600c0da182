"""The gallery's material: one model's stored maps with the inputs and masks they explain, the samples to show (a fixed
set, and each implementation's best, median and worst on the headline metric) and the agreement of implementations on each.

Everything comes from the record store and the suite's data; maps are local sidecars (not published), so on a clone
without them the gallery says so instead of explaining anything again.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from bench.core import registry
from bench.core.config import MetricConfig, SuiteConfig
from bench.metrics import get_metric
from bench.pipeline.store import RecordStore
from bench.pipeline.units import params_label
from bench.reporting.tables import StoredRun


@dataclass(frozen=True)
class Gallery:
    """One model's maps (implementation label -> (N, *S), NaN where it failed) over the explained split, with inputs
    (N, *S, 3) in [0, 1] or (N, L) signals, masks (N, *S) or None, each method's implementations, agreement per sample,
    and the headline metric's value per (implementation, sample)."""

    model: str
    ids: list[str]
    labels: list[str]
    inputs: np.ndarray
    masks: np.ndarray | None
    maps: dict[str, np.ndarray]
    families: dict[str, list[str]]
    agreement: dict[tuple[str, str, str], float]
    metric: str
    higher_is_better: bool
    values: dict[str, dict[str, float]]


def fixed_positions(count: int, total: int) -> list[int]:
    """count positions spread evenly over a split of total samples (so both ends of a class-sorted split are shown)."""
    return sorted({int(round(p)) for p in np.linspace(0, total - 1, min(count, total))}) if total else []


def best_median_worst(values: dict[str, float], higher_is_better: bool) -> list[tuple[str, str, float]]:
    """(which, sample id, value) for the best, the median and the worst sample; ties go to the first id in sorted order."""
    ranked = sorted(values.items(), key=lambda kv: (-kv[1] if higher_is_better else kv[1], kv[0]))
    if not ranked:
        return []
    picks = [("best", ranked[0]), ("median", ranked[(len(ranked) - 1) // 2]), ("worst", ranked[-1])]
    return [(which, sid, value) for which, (sid, value) in picks]


def display_inputs(raw: np.ndarray, scale: float) -> np.ndarray:
    """Stored inputs (N, C, *S) as displayable (N, *S, 3) images in [0, 1], or (N, L) signals as they are."""
    if raw.ndim == 3:
        return raw[:, 0].astype(np.float64)
    images = np.clip(raw.astype(np.float64) / scale, 0.0, 1.0)
    channels = images.shape[1]
    rgb = images[:, :3] if channels >= 3 else np.repeat(images[:, :1], 3, axis=1)
    return np.moveaxis(rgb, 1, -1)


def gallery_model(run: StoredRun, model: str | None) -> str | None:
    """The model the gallery shows: the one asked for, else the first whose maps are stored."""
    names = [e.model.name for e in run.explains]
    if model is not None:
        return model if model in names else None
    return next((e.model.name for e in run.explains if e.maps_stored), None)


def load_gallery(cfg: SuiteConfig, run: StoredRun, store: RecordStore, model: str | None = None,
                 headline: MetricConfig | None = None) -> Gallery | None:
    """The gallery of one model (the first with stored maps unless named), samples ranked by `headline` (default: the
    suite's first metric), or None when no map of the model is stored here."""
    from bench.pipeline.stages import prepare

    name = gallery_model(run, model)
    if name is None:
        return None
    explains = [e for e in run.explains if e.model.name == name]
    shards: dict[str, list[tuple[list[str], np.ndarray]]] = {}
    for e in explains:
        maps = store.read_maps(e.key, e.sample_ids, cfg.store.maps_dtype)
        if maps is not None:
            shards.setdefault(params_label(e.implementation.adapter, e.params), []).append((e.sample_ids, maps.numpy()))
    if not shards:
        return None
    data = prepare(cfg)
    split = data.split(cfg.data.split, cfg.data.limit)
    index = {sid: i for i, sid in enumerate(split.ids)}
    spatial = tuple(split.inputs.shape[2:])
    maps = {}
    for label, parts in shards.items():
        full = np.full((len(split.ids), *spatial), np.nan, dtype=np.float32)
        for ids, values in parts:
            full[[index[s] for s in ids]] = values
        maps[label] = full
    families: dict[str, list[str]] = {}
    for m in cfg.methods:
        label = params_label(m.name, m.params)
        if label in maps:
            families.setdefault(registry.get(m.name).method, []).append(label)
    agreement = {(v.a, v.b, v.sample_id): v.value for a in run.agreements if a.model.name == name
                 for v in a.values if v.measure == "spearman" and v.value is not None}
    headline = headline or cfg.metrics[0]
    values: dict[str, dict[str, float]] = {}
    for metric, s in run.scores:
        if s.model.name == name and metric.column() == headline.column():
            label = params_label(s.implementation.adapter, s.params)
            values.setdefault(label, {}).update({sid: v for sid, v, st in zip(s.sample_ids, s.values, s.statuses) if st == "ok"})
    masks = split.masks.numpy() if bool(split.has_mask.any()) else None
    return Gallery(name, list(split.ids), [data.classes[int(c)] for c in split.labels], display_inputs(split.inputs.numpy(), data.scale),
                   masks, maps, families, agreement, headline.column(), get_metric(headline.name).direction == "higher", values)
