"""Executing units: each reads what it needs from the workspace and the store and writes its record(s)."""

from __future__ import annotations

import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, replace

import torch
from torch import nn

from bench.core import registry
from bench.core.config import MethodConfig
from bench.core.explainer import Explainer, canonicalize
from bench.data.images import SplitData
from bench.metrics import CurveMetric, Metric, MetricContext, get_metric
from bench.metrics.agreement import MEASURES, all_pairs
from bench.models.classifier_metrics import classifier_report
from bench.models.fast_path import fast_layout, infer
from bench.models.precision import autocast, precision_agreement
from bench.models.preprocessing import preprocessing_of
from bench.models.training import predict
from bench.pipeline import map_codec
from bench.pipeline.records import (
    AgreementRecord,
    AgreementValue,
    CalibrationRecord,
    EvaluateRecord,
    ExplainRecord,
    Failure,
    Implementation,
    ModelInfo,
    ScoreRecord,
    TimingRecord,
    TimingResult,
)
from bench.pipeline.units import Unit, method_label
from bench.pipeline.workspace import Workspace
from bench.utils.measure import peak_memory_mib, time_call
from bench.utils.rng import sample_seeds, stable_seed


@dataclass(frozen=True)
class Job:
    """What one worker runs at a time: a unit, or an explain unit with the score units of its maps that are missing."""

    lead: Unit
    scores: tuple[Unit, ...] = ()
    explain_stored: bool = False

    @property
    def keys(self) -> list[str]:
        """Keys of the units this job writes."""
        return ([] if self.explain_stored else [self.lead.key]) + [s.key for s in self.scores]


def error_text(err: BaseException) -> str:
    """An exception in one line, with the file and line it came from."""
    frame = traceback.extract_tb(err.__traceback__)[-1] if err.__traceback__ else None
    where = f" ({frame.filename.rsplit('/', 1)[-1]}:{frame.lineno})" if frame else ""
    return f"{type(err).__name__}: {err}{where}"


def implementation(cls: type[Explainer]) -> Implementation:
    """How a record names the implementation it measured."""
    return Implementation(cls.name, cls.method, cls.library, cls.version(), getattr(cls, "output", "raw"))


def _header(unit: Unit, ws: Workspace) -> dict:
    cfg = ws.cfg
    return {
        "key": unit.key,
        "suite": cfg.suite.name,
        "suite_version": cfg.suite.version,
        "dataset_digest": ws.data.digest,
        "device": ws.device_text,
    }


def explain_seeds(ws: Workspace, method: MethodConfig, ids: tuple[str, ...] | list[str]) -> torch.Tensor:
    """The per-sample seeds an implementation explains with, wherever and by whichever unit it runs."""
    return sample_seeds(stable_seed(ws.cfg.suite.seed, method.name), list(ids), ws.device)


def _explainer(method: MethodConfig, model: nn.Module, info: ModelInfo) -> Explainer:
    return registry.build(method.name, model, method.params, target_layer=info.target_layer)


def _explain_fn(explainer: Explainer, spatial: tuple[int, ...], dtype: str) -> Callable[..., torch.Tensor]:
    """The explainer as (inputs, targets, seeds) -> canonical maps on the inputs' device, as the store would return them."""

    def explain(x: torch.Tensor, target: torch.Tensor, seeds: torch.Tensor | None = None) -> torch.Tensor:
        raw = explainer.attribute(x, target, seeds=seeds)
        return map_codec.roundtrip(canonicalize(raw, spatial=spatial, channel_reduction=explainer.channel_reduction).to(x.device), dtype)

    return explain


class _LazyExplainer:
    """An explainer made on first use and closed at the end: scoring stored maps needs one only to re-explain."""

    def __init__(self, make: Callable[[], Explainer]) -> None:
        self.make, self.explainer = make, None

    def get(self) -> Explainer:
        if self.explainer is None:
            self.explainer = self.make()
        return self.explainer

    def close(self) -> None:
        if self.explainer is not None:
            self.explainer.close()


def run_train(unit: Unit, ws: Workspace) -> None:
    """Train the unit's model (its model directory is the record)."""
    ws.train(unit.model)


def run_evaluate(unit: Unit, ws: Workspace) -> None:
    """Classify the explained split: the classifier report and the targets, stored for publishing."""
    _, _, info = ws.model(unit.model)
    probs = ws.probabilities(unit.model)
    targets = ws.targets(unit.model)
    report = classifier_report(probs, ws.split.labels, ws.data.classes)
    ws.store.write(
        EvaluateRecord(
            **_header(unit, ws), model=info, split=ws.cfg.data.split, sample_ids=list(ws.split.ids), targets=targets.tolist(), report=report,
            labels=ws.split.labels.tolist(), probabilities=[_significant(row) for row in probs.tolist()], variants=_variant_reports(unit, ws),
        )
    )


def _variant_reports(unit: Unit, ws: Workspace) -> dict[str, dict]:
    """The classifier report on the whole test split and on each of its other versions (none when the data has none)."""
    names = ws.data.variant_names()
    if not names:
        return {}
    model, _, _ = ws.model(unit.model)
    splits = {"test": ws.data.split("test")} | {name: ws.data.variant(name) for name in names}
    return {name: classifier_report(predict(model, split.inputs, batch_size=ws.cfg.run.batch_size, device=ws.device), split.labels, ws.data.classes)
            for name, split in splits.items()}


def _explain_shard(
    samples: SplitData, targets: torch.Tensor, ws: Workspace, explainer: Explainer, seeds: torch.Tensor
) -> tuple[torch.Tensor, list[Failure], dict, float]:
    """Canonical maps (N, *S) of the samples (NaN where a batch failed), failures, diagnostics and seconds spent."""
    spatial = tuple(samples.inputs.shape[2:])
    explain = _explain_fn(explainer, spatial, ws.cfg.store.maps_dtype)
    preprocessing = preprocessing_of(explainer.model)
    maps = torch.full((len(samples), *spatial), float("nan"), device=ws.device)
    failures, diagnostics, seconds = [], {}, 0.0
    precision = ws.cfg.run.precision
    for start in range(0, len(samples), ws.cfg.run.batch_size):
        batch = slice(start, start + ws.cfg.run.batch_size)
        x = preprocessing.normalise(samples.inputs[batch].to(ws.device))
        began = time.perf_counter()
        try:
            with autocast(precision, ws.device):
                maps[batch] = explain(x, targets[batch].to(ws.device), seeds[batch])
        except Exception as err:  # one method failing on one batch must not stop the run
            failures.append(Failure("explain", samples.ids[batch], error_text(err)))
            continue
        seconds += time.perf_counter() - began
        found = explainer.diagnostics()
        if precision != "float32" and start == 0:
            # The shard's first batch again in float32: what the reduced precision changed, recorded with the results.
            found = {**found, **precision_agreement(maps[batch], explain(x, targets[batch].to(ws.device), seeds[batch]))}
        for name, values in found.items():
            diagnostics.setdefault(name, {}).update(zip(samples.ids[batch], values.detach().cpu().tolist()))
    return maps, failures, {k: [v.get(s) for s in samples.ids] for k, v in diagnostics.items()}, seconds


def run_explain_job(job: Job, ws: Workspace) -> None:
    """Explain the shard (or read its stored maps) and score every missing metric on them, writing each record."""
    unit, cfg = job.lead, ws.cfg
    model, _, info = ws.model(unit.model)
    cls = registry.get(unit.method.name)
    ids = list(unit.sample_ids)
    samples, targets = ws.samples(ids), ws.targets_of(unit.model, ids)
    seeds = explain_seeds(ws, unit.method, ids)
    lazy = _LazyExplainer(lambda: _explainer(unit.method, model, info))
    try:
        maps = ws.store.read_maps(unit.key, ids, cfg.store.maps_dtype) if job.explain_stored else None
        if job.explain_stored and maps is not None:
            failed = {s for f in ws.store.read(unit.key).failures for s in f.sample_ids}
        else:
            maps, failures, diagnostics, seconds = _explain_shard(samples, targets, ws, lazy.get(), seeds)
            failed = {s for f in failures for s in f.sample_ids}
            keep = cfg.store.maps and (cfg.store.maps_limit == 0 or ws.positions(ids[-1:])[0] < cfg.store.maps_limit)
            if keep:
                # Also when only the sidecar was missing (a fresh clone of published records): the next metric reads it.
                ws.store.write_maps(unit.key, ids, maps, cfg.store.maps_dtype)
            if not job.explain_stored:
                ws.store.write(
                    ExplainRecord(
                        **_header(unit, ws),
                        model=info,
                        implementation=implementation(cls),
                        params=unit.method.params,
                        shard=unit.shard,
                        sample_ids=ids,
                        failures=failures,
                        diagnostics=diagnostics,
                        explain_seconds=seconds,
                        maps_stored=bool(keep),
                    )
                )
        if job.scores:
            _score(job, ws, samples, targets, model, info, implementation(cls), maps.to(ws.device), failed, seeds, lazy)
    finally:
        lazy.close()


def _score(
    job: Job,
    ws: Workspace,
    samples: SplitData,
    targets: torch.Tensor,
    model: nn.Module,
    info: ModelInfo,
    impl: Implementation,
    maps: torch.Tensor,
    failed: set[str],
    seeds: torch.Tensor,
    lazy: _LazyExplainer,
) -> None:
    unit, cfg = job.lead, ws.cfg
    spatial = tuple(samples.inputs.shape[2:])
    preprocessing = preprocessing_of(model)
    metrics = [(s, get_metric(s.metric.name)(**s.metric.params)) for s in job.scores]
    metric_seeds = sample_seeds(stable_seed(cfg.suite.seed, "metrics", unit.method.name), list(unit.sample_ids), ws.device)
    tie_seed = stable_seed(cfg.suite.seed, "ties")
    values = {s.key: torch.full((len(samples),), float("nan")) for s, _ in metrics}
    points = {s.key: torch.full((len(samples), len(metric.curve_x())), float("nan")) for s, metric in metrics if isinstance(metric, CurveMetric)}
    seconds = {s.key: 0.0 for s, _ in metrics}
    failures: dict[str, list[Failure]] = {s.key: [] for s, _ in metrics}
    ok = torch.tensor([s not in failed for s in unit.sample_ids])
    explain_with = lambda other: _explain_fn(_explainer(unit.method, other, info), spatial, cfg.store.maps_dtype)  # noqa: E731
    for start in range(0, len(samples), cfg.run.batch_size):
        batch = torch.arange(start, min(start + cfg.run.batch_size, len(samples)))
        batch = batch[ok[batch]]
        if len(batch) == 0:
            continue
        ids = [samples.ids[i] for i in batch.tolist()]
        ctx = MetricContext(
            maps=maps[batch.to(maps.device)],
            x=preprocessing.normalise(samples.inputs[batch].to(ws.device)),
            target=targets[batch].to(ws.device),
            masks=samples.masks[batch].to(ws.device),
            model=model,
            seed=tie_seed,
            seeds=metric_seeds[batch.to(ws.device)],
            explain_seeds=seeds[batch.to(ws.device)],
            pixel_mean=preprocessing.mean,
            pixel_std=preprocessing.std,
            explain_with=explain_with,
            explain=lambda x, t, s=None: _explain_fn(lazy.get(), spatial, cfg.store.maps_dtype)(x, t, s),
        )
        # A metric scored against a further region reads its masks; the batch's shared results (ctx.cache) stay shared.
        regions = {r: replace(ctx, masks=samples.region(r)[0][batch].to(ws.device)) for r in {s.metric.region for s, _ in metrics} if r}
        for s, metric in metrics:
            began = time.perf_counter()
            try:
                with autocast(cfg.run.precision, ws.device):
                    on = regions.get(s.metric.region, ctx)
                    result = metric.curve(on) if s.key in points else metric(on)
                if s.key in points:
                    values[s.key][batch] = metric.summarise(result, on).detach().float().cpu()
                    points[s.key][batch] = result.detach().float().cpu()
                else:
                    values[s.key][batch] = result.detach().float().cpu()
            except Exception as err:
                failures[s.key].append(Failure("metric", ids, error_text(err), metric=s.metric.column()))
                continue
            seconds[s.key] += time.perf_counter() - began
    for s, metric in metrics:
        has_mask = samples.region(s.metric.region)[1]
        statuses, out = [], []
        metric_failed = failed | {sid for f in failures[s.key] for sid in f.sample_ids}
        for i, (sid, value) in enumerate(zip(unit.sample_ids, values[s.key].tolist())):
            if sid in metric_failed:
                status = "failed"
            elif metric.requires_masks and not bool(has_mask[i]):
                status = "no_mask"
            else:
                status = "undefined" if value != value else "ok"
            statuses.append(status)
            out.append(value if status == "ok" else None)
        m = s.metric
        ws.store.write(
            ScoreRecord(
                **_header(s, ws),
                explain_key=unit.key,
                model=info,
                implementation=impl,
                params=unit.method.params,
                shard=unit.shard,
                metric=m.name,
                metric_params=metric.params(),
                column=m.column(),
                sample_ids=list(unit.sample_ids),
                values=out,
                statuses=statuses,
                seconds=seconds[s.key],
                curve=m.curve,
                sweep_param=m.sweep_param,
                sweep_value=m.sweep_value,
                failures=failures[s.key],
                **_curve_fields(metric, points.get(s.key), statuses),
                region=m.region,
            )
        )


def _significant(values: list[float]) -> list[float]:
    """Values kept to 6 significant digits: what records store of per-sample curves and probabilities."""
    return [float(f"{v:.6g}") for v in values]


def _curve_fields(metric: Metric, points: torch.Tensor | None, statuses: list[str]) -> dict:
    """A curve metric's stored curves (6 significant digits, None where the value is not ok); nothing for other metrics."""
    if points is None:
        return {}
    rows = [_significant(row) if status == "ok" else None for row, status in zip(points.tolist(), statuses, strict=True)]
    return {"curve_x": [float(x) for x in metric.curve_x()], "curve_points": rows}


def run_agreement(unit: Unit, ws: Workspace) -> None:
    """Compare every pair of implementations of one method on the shard, sample by sample, from their explain units' maps.

    Maps are read from the store; a member whose maps are not stored is explained here with the seeds of its explain
    unit, so the comparison is the same either way.
    """
    model, _, info = ws.model(unit.model)
    ids = list(unit.sample_ids)
    samples, targets = ws.samples(ids), ws.targets_of(unit.model, ids)
    maps, failures = {}, []
    for member, key in zip(unit.members, unit.member_keys):
        label = method_label(member)
        try:
            stored = ws.store.read_maps(key, ids, ws.cfg.store.maps_dtype) if ws.store.has(key) else None
            if stored is not None:
                shard_failures = ws.store.read(key).failures
            else:
                seeds = explain_seeds(ws, member, ids)
                with _explainer(member, model, info) as explainer:
                    stored, shard_failures, _, _ = _explain_shard(samples, targets, ws, explainer, seeds)
            if shard_failures:
                raise RuntimeError(shard_failures[0].error)
            maps[label] = stored.to(ws.device)
        except Exception as err:  # one implementation failing must not hide the others' agreement
            failures.append(Failure("agreement", list(unit.sample_ids), error_text(err), implementation=label))
    values = []
    for (a, b), measures in all_pairs(
        maps, top_fraction=ws.cfg.agreement.top_fraction, seed=stable_seed(ws.cfg.suite.seed, "ties")
    ).items():
        for measure in MEASURES:
            for sid, value in zip(unit.sample_ids, measures[measure].cpu().tolist()):
                values.append(AgreementValue(a, b, measure, sid, value if value == value else None))
    ws.store.write(
        AgreementRecord(
            **_header(unit, ws),
            model=info,
            method=unit.family,
            members=[method_label(m) for m in unit.members],
            versions={method_label(m): implementation(registry.get(m.name)) for m in unit.members},
            shard=unit.shard,
            sample_ids=list(unit.sample_ids),
            values=values,
            failures=failures,
        )
    )


def model_pass_ms(model: nn.Module, x: torch.Tensor, target: torch.Tensor, *, device: torch.device, repeats: int) -> dict[str, float]:
    """Milliseconds per sample of one inference forward pass and of the backward pass added by an input gradient."""

    def forward() -> None:
        infer(model, x)

    def forward_backward() -> None:
        leaf = fast_layout(x.detach()).requires_grad_(True)
        torch.autograd.grad(model(leaf).gather(1, target.view(-1, 1)).sum(), leaf)

    f = time_call(forward, device=device, batch_size=len(x), warmup=1, repeats=repeats).median_ms
    fb = time_call(forward_backward, device=device, batch_size=len(x), warmup=1, repeats=repeats).median_ms
    return {"forward": f, "backward": max(fb - f, 0.0)}


def _timing_inputs(unit: Unit, ws: Workspace) -> tuple[torch.Tensor, torch.Tensor]:
    samples = ws.samples(unit.sample_ids)
    targets = ws.targets_of(unit.model, unit.sample_ids)
    model, _, _ = ws.model(unit.model)
    return preprocessing_of(model).normalise(samples.inputs.to(ws.device)), targets.to(ws.device)


def run_calibrate(unit: Unit, ws: Workspace) -> None:
    """Measure the model's pass cost on this device (it also warms caches before the timed methods)."""
    model, _, info = ws.model(unit.model)
    x, target = _timing_inputs(unit, ws)
    with autocast(ws.cfg.run.precision, ws.device):
        ms = model_pass_ms(model, x, target, device=ws.device, repeats=5)
    ws.store.write(
        CalibrationRecord(**_header(unit, ws), model=info, forward_ms=ms["forward"], backward_ms=ms["backward"], batch_size=len(x))
    )


def run_timing(unit: Unit, ws: Workspace, calibration: CalibrationRecord) -> None:
    """Time one method on one batch (median and IQR of ms per sample) and measure its peak memory."""
    m = ws.cfg.measure
    model, _, info = ws.model(unit.model)
    cls = registry.get(unit.method.name)
    header = {
        **_header(unit, ws),
        "model": info,
        "implementation": implementation(cls),
        "params": unit.method.params,
        "logical_key": unit.logical_key,
    }
    x, target = _timing_inputs(unit, ws)
    seeds = explain_seeds(ws, unit.method, unit.sample_ids)
    try:
        with _explainer(unit.method, model, info) as explainer, autocast(ws.cfg.run.precision, ws.device):
            call = lambda: explainer.attribute(x, target, seeds=seeds)  # noqa: E731
            timing = time_call(call, device=ws.device, batch_size=len(x), warmup=m.warmup, repeats=m.repeats)
            memory = peak_memory_mib(call, device=ws.device) if m.memory else float("nan")
            passes = explainer.passes()
    except Exception as err:
        ws.store.write(TimingRecord(**header, failures=[Failure("timing", list(unit.sample_ids), error_text(err))]))
        return
    ideal = passes.get("forward", 0) * calibration.forward_ms + passes.get("backward", 0) * calibration.backward_ms
    result = TimingResult(
        timing.median_ms,
        timing.iqr_ms,
        timing.batch_size,
        timing.repeats,
        m.warmup,
        memory,
        passes,
        calibration.forward_ms,
        calibration.backward_ms,
        ideal,
        timing.median_ms / ideal if ideal > 0 else float("nan"),
    )
    ws.store.write(TimingRecord(**header, timing=result))


def run_job(job: Job, ws: Workspace) -> None:
    """Execute one job of any kind."""
    kind = job.lead.kind
    if kind == "explain":
        run_explain_job(job, ws)
    elif kind == "timing":
        source = job.lead.source_key
        if not ws.store.has(source):
            raise RuntimeError(f"timing unit {job.lead.key} needs calibration unit {source}, which is not stored")
        run_timing(job.lead, ws, ws.store.read(source))
    else:
        {"train": run_train, "evaluate": run_evaluate, "agreement": run_agreement, "calibrate": run_calibrate}[kind](job.lead, ws)
