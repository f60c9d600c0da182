"""Planning: the suite as independent work units, each with a stable key."""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass

from bench.config import MethodConfig, SuiteConfig


@dataclass(frozen=True)
class PreparedModel:
    """A model ready to explain: its name, checkpoint digest, target layer and where it lives."""

    name: str
    digest: str
    target_layer: str
    directory: str


@dataclass(frozen=True)
class WorkUnit:
    """One model x method x (shard of samples | timing run); key identifies it across runs."""

    key: str
    kind: str
    model: PreparedModel
    method: MethodConfig
    shard: int
    sample_ids: tuple[str, ...]
    members: tuple[MethodConfig, ...] = ()


def unit_key(identity: dict) -> str:
    """A short stable hash of everything that determines a unit's result."""
    blob = json.dumps(identity, sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:24]


def plan_units(cfg: SuiteConfig, models: list[PreparedModel], sample_ids: list[str], dataset_digest: str, device: str) -> list[WorkUnit]:
    """Every quality unit (model x method x shard) and, if measuring, every timing unit (model x method).

    Timing keys include the device description, so timings are never reused from another machine.
    """
    common = {"suite": cfg.suite.name, "version": cfg.suite.version, "seed": cfg.suite.seed, "data": dataset_digest,
              "image_size": cfg.data.image_size, "target": cfg.run.target}
    metrics = [{"name": m.name, "params": m.params, "column": m.column()} for m in cfg.metrics]
    shards = [tuple(sample_ids[i:i + cfg.run.shard_size]) for i in range(0, len(sample_ids), cfg.run.shard_size)]
    units = []
    for model in models:
        for method in cfg.methods:
            base = {**common, "model": model.digest, "layer": model.target_layer, "method": asdict(method)}
            for shard, ids in enumerate(shards):
                key = unit_key({**base, "kind": "quality", "metrics": metrics, "samples": ids})
                units.append(WorkUnit(key, "quality", model, method, shard, ids))
            if cfg.measure.enabled:
                timing_ids = tuple(sample_ids[:cfg.measure.batch_size])
                key = unit_key({**base, "kind": "timing", "measure": asdict(cfg.measure), "device": device, "samples": timing_ids})
                units.append(WorkUnit(key, "timing", model, method, 0, timing_ids))
        if cfg.agreement.enabled:
            for method, members in method_groups(cfg).items():
                base = {**common, "model": model.digest, "layer": model.target_layer, "members": [asdict(m) for m in members],
                        "top_fraction": cfg.agreement.top_fraction}
                for shard, ids in enumerate(shards):
                    key = unit_key({**base, "kind": "agreement", "samples": ids})
                    units.append(WorkUnit(key, "agreement", model, MethodConfig(f"agreement:{method}"), shard, ids, members))
    return units


def method_groups(cfg: SuiteConfig) -> dict[str, tuple[MethodConfig, ...]]:
    """The suite's methods with more than one implementation, by method name."""
    from bench import registry

    groups: dict[str, list[MethodConfig]] = {}
    for m in cfg.methods:
        groups.setdefault(registry.get(m.name).method, []).append(m)
    return {method: tuple(members) for method, members in groups.items() if len(members) > 1}
