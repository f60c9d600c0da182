"""Executing one work unit: explain a shard and score it, or time and measure one method."""

from __future__ import annotations

import time
import traceback
from dataclasses import dataclass

import torch
from torch import nn

from bench import registry
from bench.agreement import MEASURES, all_pairs
from bench.config import MethodConfig, SuiteConfig
from bench.data.images import SplitData
from bench.explainer import Explainer, canonicalize
from bench.measure import peak_memory_mib, time_call
from bench.metrics import Metric, MetricContext, get_metric
from bench.models.resnet import MEAN, STD, normalise
from bench.plan import WorkUnit
from bench.rng import sample_seeds, stable_seed


@dataclass
class UnitInputs:
    """What a unit needs from the run: the model, the samples and the class explained for each."""

    model: nn.Module
    samples: SplitData
    targets: torch.Tensor
    device: torch.device
    pass_ms: dict[str, float] | None = None


def _error(err: BaseException) -> str:
    frame = traceback.extract_tb(err.__traceback__)[-1] if err.__traceback__ else None
    where = f" ({frame.filename.rsplit('/', 1)[-1]}:{frame.lineno})" if frame else ""
    return f"{type(err).__name__}: {err}{where}"


def implementation(cls: type[Explainer]) -> dict:
    """How a record names the implementation it measured."""
    return {"adapter": cls.name, "method": cls.method, "library": cls.library, "version": cls.version(), "output": getattr(cls, "output", "raw")}


def _make_explainer(unit: WorkUnit, model: nn.Module) -> Explainer:
    return registry.get(unit.method.name)(model, target_layer=unit.model.target_layer, **unit.method.params)


def _metrics(cfg: SuiteConfig) -> list[tuple[str, Metric]]:
    return [(m.column(), get_metric(m.name)(**m.params)) for m in cfg.metrics]


def _header(unit: WorkUnit, cfg: SuiteConfig, digest: str, cls: type[Explainer], device: torch.device) -> dict:
    return {"kind": unit.kind, "suite": cfg.suite.name, "suite_version": cfg.suite.version, "dataset_digest": digest,
            "model": {"name": unit.model.name, "digest": unit.model.digest, "target_layer": unit.model.target_layer},
            "implementation": implementation(cls), "params": unit.method.params, "device": str(device), "shard": unit.shard}


def _reexplain(explainer: Explainer, spatial: tuple[int, ...]):  # noqa: ANN202
    """The explainer as a function (inputs, targets, seeds) -> canonical maps on the inputs' device."""
    def explain(x: torch.Tensor, target: torch.Tensor, seeds: torch.Tensor | None = None) -> torch.Tensor:
        return canonicalize(explainer.attribute(x, target, seeds=seeds), spatial=spatial, channel_reduction=explainer.channel_reduction).to(x.device)
    return explain


def run_quality_unit(unit: WorkUnit, cfg: SuiteConfig, inputs: UnitInputs, digest: str) -> dict:
    """Explain every sample of the unit's shard in batches, score every metric, and return the unit record."""
    cls = registry.get(unit.method.name)
    metrics = _metrics(cfg)
    seeds = sample_seeds(stable_seed(cfg.suite.seed, unit.method.name), list(inputs.samples.ids), inputs.device)
    tie_seed = stable_seed(cfg.suite.seed, "ties")
    metric_seeds = sample_seeds(stable_seed(cfg.suite.seed, "metrics", unit.method.name), list(inputs.samples.ids), inputs.device)
    records, failures, diagnostics, metric_costs = [], [], {}, {}
    explain_s = 0.0
    spatial = tuple(inputs.samples.images.shape[2:])
    with _make_explainer(unit, inputs.model) as explainer:
        explain = _reexplain(explainer, spatial)
        for start in range(0, len(inputs.samples), cfg.run.batch_size):
            batch = slice(start, start + cfg.run.batch_size)
            ids = inputs.samples.ids[batch]
            x = normalise(inputs.samples.images[batch].to(inputs.device))
            target = inputs.targets[batch].to(inputs.device)
            began = time.perf_counter()
            try:
                maps = explain(x, target, seeds[batch])
            except Exception as err:  # one method failing on one batch must not stop the run
                failures.append({"stage": "explain", "sample_ids": ids, "error": _error(err)})
                continue
            explain_s += time.perf_counter() - began
            for key, values in explainer.diagnostics().items():
                diagnostics.setdefault(key, []).extend(values.detach().cpu().tolist())
            masks = inputs.samples.masks[batch].to(inputs.device)
            has_mask = inputs.samples.has_mask[batch]
            ctx = MetricContext(maps=maps, x=x, target=target, masks=masks, model=inputs.model, seed=tie_seed,
                                seeds=metric_seeds[batch], explain_seeds=seeds[batch], explain=explain, pixel_mean=MEAN, pixel_std=STD,
                                explain_with=lambda model: _reexplain(_make_explainer(unit, model), spatial))
            for column, metric in metrics:
                began = time.perf_counter()
                try:
                    values = metric(ctx).detach().cpu()
                except Exception as err:
                    failures.append({"stage": "metric", "metric": column, "sample_ids": ids, "error": _error(err)})
                    continue
                metric_costs[column] = metric_costs.get(column, 0.0) + time.perf_counter() - began
                for sid, value, mask_ok in zip(ids, values.tolist(), has_mask.tolist()):
                    status = "no_mask" if metric.requires_masks and not mask_ok else ("undefined" if value != value else "ok")
                    records.append({"sample_id": sid, "metric": column, "metric_name": metric.name, "metric_params": metric.params(),
                                    "value": value if status == "ok" else None, "status": status})
    return {**_header(unit, cfg, digest, cls, inputs.device), "sample_ids": list(unit.sample_ids), "records": records,
            "failures": failures, "diagnostics": diagnostics, "explain_seconds": explain_s, "metric_seconds": sum(metric_costs.values()),
            "metric_seconds_by_metric": metric_costs}


def run_timing_unit(unit: WorkUnit, cfg: SuiteConfig, inputs: UnitInputs, digest: str) -> dict:
    """Time one method on one batch (median and IQR of ms per sample) and measure its peak memory."""
    cls = registry.get(unit.method.name)
    header = _header(unit, cfg, digest, cls, inputs.device)
    x = normalise(inputs.samples.images.to(inputs.device))
    target = inputs.targets.to(inputs.device)
    seeds = sample_seeds(stable_seed(cfg.suite.seed, unit.method.name), list(inputs.samples.ids), inputs.device)
    try:
        with _make_explainer(unit, inputs.model) as explainer:
            call = lambda: explainer.attribute(x, target, seeds=seeds)  # noqa: E731
            timing = time_call(call, device=inputs.device, batch_size=len(x), warmup=cfg.measure.warmup, repeats=cfg.measure.repeats)
            memory = peak_memory_mib(call, device=inputs.device) if cfg.measure.memory else float("nan")
            passes = explainer.passes()
        pass_ms = inputs.pass_ms or model_pass_ms(inputs.model, x, target, device=inputs.device, repeats=max(3, cfg.measure.repeats // 2))
    except Exception as err:
        return {**header, "timing": None, "failures": [{"stage": "timing", "sample_ids": list(unit.sample_ids), "error": _error(err)}]}
    ideal = passes.get("forward", 0) * pass_ms["forward"] + passes.get("backward", 0) * pass_ms["backward"]
    return {**header, "timing": {"median_ms": timing.median_ms, "iqr_ms": timing.iqr_ms, "batch_size": timing.batch_size,
                                 "repeats": timing.repeats, "warmup": cfg.measure.warmup, "peak_memory_mib": memory, "passes": passes,
                                 "pass_ms": pass_ms, "ideal_ms": ideal, "efficiency": timing.median_ms / ideal if ideal > 0 else float("nan")},
            "failures": []}


def model_pass_ms(model: nn.Module, x: torch.Tensor, target: torch.Tensor, *, device: torch.device, repeats: int) -> dict[str, float]:
    """Milliseconds per sample of one inference forward pass and of the backward pass added by an input gradient."""
    def forward() -> None:
        with torch.no_grad():
            model(x)

    def forward_backward() -> None:
        leaf = x.detach().requires_grad_(True)
        torch.autograd.grad(model(leaf).gather(1, target.view(-1, 1)).sum(), leaf)

    f = time_call(forward, device=device, batch_size=len(x), warmup=1, repeats=repeats).median_ms
    fb = time_call(forward_backward, device=device, batch_size=len(x), warmup=1, repeats=repeats).median_ms
    return {"forward": f, "backward": max(fb - f, 0.0)}


def member_label(member: MethodConfig) -> str:
    """How an implementation is named in agreement tables: the adapter, with its parameters if any."""
    if not member.params:
        return member.name
    return f"{member.name}({','.join(f'{k}={v}' for k, v in sorted(member.params.items()))})"


def run_agreement_unit(unit: WorkUnit, cfg: SuiteConfig, inputs: UnitInputs, digest: str) -> dict:
    """Explain the shard with every implementation of one method and compare each pair, sample by sample."""
    seeds = sample_seeds(stable_seed(cfg.suite.seed, "agreement"), list(inputs.samples.ids), inputs.device)
    spatial = tuple(inputs.samples.images.shape[2:])
    maps, failures = {}, []
    for member in unit.members:
        label = member_label(member)
        try:
            with registry.get(member.name)(inputs.model, target_layer=unit.model.target_layer, **member.params) as explainer:
                explain = _reexplain(explainer, spatial)
                parts = []
                for start in range(0, len(inputs.samples), cfg.run.batch_size):
                    batch = slice(start, start + cfg.run.batch_size)
                    x = normalise(inputs.samples.images[batch].to(inputs.device))
                    parts.append(explain(x, inputs.targets[batch].to(inputs.device), seeds[batch]))
            maps[label] = torch.cat(parts)
        except Exception as err:  # one implementation failing must not hide the others' agreement
            failures.append({"stage": "agreement", "implementation": label, "sample_ids": list(unit.sample_ids), "error": _error(err)})
    records = []
    for (a, b), measures in all_pairs(maps, top_fraction=cfg.agreement.top_fraction, seed=stable_seed(cfg.suite.seed, "ties")).items():
        for measure in MEASURES:
            for sid, value in zip(unit.sample_ids, measures[measure].cpu().tolist()):
                records.append({"a": a, "b": b, "measure": measure, "sample_id": sid, "value": value if value == value else None})
    return {"kind": "agreement", "suite": cfg.suite.name, "suite_version": cfg.suite.version, "dataset_digest": digest,
            "model": {"name": unit.model.name, "digest": unit.model.digest, "target_layer": unit.model.target_layer},
            "method": unit.method.name.removeprefix("agreement:"), "members": [member_label(m) for m in unit.members],
            "versions": {member_label(m): implementation(registry.get(m.name)) for m in unit.members},
            "device": str(inputs.device), "shard": unit.shard, "sample_ids": list(unit.sample_ids), "records": records, "failures": failures}
