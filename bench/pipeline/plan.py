"""Planning: a suite and its prepared data as every unit of work, keyed, before anything is trained or explained."""

from __future__ import annotations

import dataclasses
import hashlib
import json
from dataclasses import asdict, dataclass
from pathlib import Path

from bench.core.config import MethodConfig, ModelConfig, SuiteConfig
from bench.data.suite_data import SuiteData, training_data
from bench.models.checkpoint import file_digest
from bench.models.model_store import cache_dir, checkpoint_weights, training_fingerprint
from bench.pipeline.map_codec import CODEC_VERSION
from bench.pipeline.units import ModelRef, Unit, method_identity, metric_identity, unit_key


@dataclass(frozen=True)
class Plan:
    """Every unit of a suite, in execution order, with the models and samples they refer to."""

    suite: str
    units: tuple[Unit, ...]
    models: tuple[ModelRef, ...]
    sample_ids: tuple[str, ...]
    dataset_digest: str

    def of_kind(self, *kinds: str) -> list[Unit]:
        """The units of these kinds, in plan order."""
        return [u for u in self.units if u.kind in kinds]

    def describe(self) -> dict:
        """The plan as plain data, enough to publish from the store without the data set or any model."""
        return {
            "suite": self.suite,
            "dataset_digest": self.dataset_digest,
            "samples": len(self.sample_ids),
            "sample_ids_sha": hashlib.sha256("\n".join(self.sample_ids).encode()).hexdigest(),
            "models": [
                {"name": m.name, "fingerprint": m.fingerprint, "trained_here": m.trained_here, "directory": m.directory,
                 **({"setting": m.config.setting, "entry": m.config.entry, "design": m.config.design, "varied": m.config.varied,
                     "factors": m.config.factors, "epoch": m.config.checkpoint_epoch} if m.config.factors else {})}
                for m in self.models
            ],
            "units": [u.describe() for u in self.units],
        }


def model_ref(m: ModelConfig, data: SuiteData) -> ModelRef:
    """A model entry's identity without training it: the training fingerprint on the data it trains on
    (bench.data.suite_data.training_data), or the digest of the given weights."""
    if m.checkpoint:
        weights = checkpoint_weights(Path(m.checkpoint))
        return ModelRef(m.name, file_digest(weights)[:16], m, False, str(weights.parent))
    fingerprint = training_fingerprint(m, data)
    # Named by the entry, not the model: a grid's checkpoints along one training find that training wherever they are
    # planned from (bench run, bench train), and an entry without a grid keeps the directory it always had.
    return ModelRef(m.name, fingerprint, m, True, str(cache_dir() / "models" / f"{m.entry or m.name}-{fingerprint}"))


def shared_trainings(refs: tuple[ModelRef, ...]) -> tuple[ModelRef, ...]:
    """The refs with one directory per training: models of one fingerprint (checkpoints along one training, or equal
    settings of two entries) share the first one's, so the training runs once."""
    first: dict[str, str] = {}
    shared = []
    for ref in refs:
        if ref.trained_here:
            ref = dataclasses.replace(ref, directory=first.setdefault(ref.fingerprint, ref.directory))
        shared.append(ref)
    return tuple(shared)


def method_groups(cfg: SuiteConfig) -> dict[str, tuple[MethodConfig, ...]]:
    """The suite's methods with more than one implementation, by method name."""
    from bench.core import registry

    groups: dict[str, list[MethodConfig]] = {}
    for m in cfg.methods:
        groups.setdefault(registry.get(m.name).method, []).append(m)
    return {method: tuple(members) for method, members in groups.items() if len(members) > 1}


def plan_suite(cfg: SuiteConfig, data: SuiteData, sample_ids: list[str], device: str) -> Plan:
    """Every unit of the suite: train, evaluate, explain x shard, score x metric, agreement, calibrate and timing.

    Keys of calibrate and timing units include the device description, so costs are never reused from another machine;
    a timing's logical key (without the device) lets a merge publish timings measured elsewhere.
    """
    common = {
        "suite": cfg.suite.name,
        "version": cfg.suite.version,
        "seed": cfg.suite.seed,
        "data": data.digest,
        "image_size": cfg.data.image_size,
        "target": cfg.run.target,
    }
    # float32 adds nothing, so records of runs from before the setting existed keep their keys.
    precision = {} if cfg.run.precision == "float32" else {"precision": cfg.run.precision}
    common.update(precision)
    shards = [tuple(sample_ids[i : i + cfg.run.shard_size]) for i in range(0, len(sample_ids), cfg.run.shard_size)]
    samples_sha = hashlib.sha256("\n".join(sample_ids).encode()).hexdigest()
    models = shared_trainings(tuple(model_ref(m, training_data(m, cfg, data)) for m in cfg.models))
    groups = method_groups(cfg) if cfg.agreement.enabled else {}
    units: list[Unit] = []
    trainings: set[str] = set()
    timed_settings: set[str] = set()
    for model in models:
        identity = {"model": model.fingerprint, "layer": model.config.target_layer}
        if model.config.checkpoint_epoch:
            identity["epoch"] = model.config.checkpoint_epoch
        if model.trained_here and model.fingerprint not in trainings:
            trainings.add(model.fingerprint)
            units.append(Unit(unit_key({"kind": "train", "fingerprint": model.fingerprint}), "train", model))
        units.append(
            Unit(
                unit_key({**common, **identity, "kind": "evaluate", "split": cfg.data.split, "samples": samples_sha, "stores": "probabilities",
                          **({"variants": list(data.variant_names())} if data.variant_names() else {})}),
                "evaluate",
                model,
                sample_ids=tuple(sample_ids),
            )
        )
        explain_keys: dict[tuple[int, int], str] = {}
        for m, method in enumerate(cfg.methods):
            for shard, ids in enumerate(shards):
                explain = explain_keys[(m, shard)] = unit_key(
                    {
                        **common,
                        **identity,
                        "kind": "explain",
                        "method": method_identity(method),
                        "samples": ids,
                        "maps": [CODEC_VERSION, cfg.store.maps_dtype],
                    }
                )
                units.append(Unit(explain, "explain", model, method, shard=shard, sample_ids=ids))
                units += [
                    Unit(
                        unit_key({"kind": "score", "explain": explain, "metric": metric_identity(metric)}),
                        "score",
                        model,
                        method,
                        metric,
                        shard,
                        ids,
                        source_key=explain,
                    )
                    for metric in cfg.metrics
                    if not metric.methods or method.name in metric.methods
                ]
        for name, members in groups.items():
            for shard, ids in enumerate(shards):
                # The members' explain units: agreement compares the maps they store (or would store).
                member_keys = tuple(explain_keys[(cfg.methods.index(m), shard)] for m in members)
                key = unit_key({"kind": "agreement", "members": member_keys, "top_fraction": cfg.agreement.top_fraction})
                units.append(
                    Unit(key, "agreement", model, shard=shard, sample_ids=ids, members=members, family=name, member_keys=member_keys)
                )
        timed = cfg.measure.enabled and (cfg.measure.seeds == "all" or (model.config.setting or model.name) not in timed_settings)
        timed_settings.add(model.config.setting or model.name)
        if timed:
            timing_ids = tuple(sample_ids[: cfg.measure.batch_size])
            calibrate = unit_key({**identity, **precision, "kind": "calibrate", "device": device, "samples": timing_ids})
            units.append(Unit(calibrate, "calibrate", model, sample_ids=timing_ids))
            for method in cfg.methods:
                logical = unit_key(
                    {
                        **common,
                        **identity,
                        "kind": "timing",
                        "method": method_identity(method),
                        # Which seeds are timed decides which units exist, not what one measures.
                        "measure": {k: v for k, v in asdict(cfg.measure).items() if k != "seeds"},
                        "samples": timing_ids,
                    }
                )
                units.append(
                    Unit(
                        unit_key({"logical": logical, "device": device}),
                        "timing",
                        model,
                        method,
                        sample_ids=timing_ids,
                        source_key=calibrate,
                        logical_key=logical,
                    )
                )
    order = {"train": 0, "evaluate": 1, "explain": 2, "score": 2, "agreement": 3, "calibrate": 4, "timing": 5}
    units.sort(key=lambda u: order[u.kind])
    return Plan(cfg.suite.name, tuple(units), models, tuple(sample_ids), data.digest)


def plan_json(plan: Plan) -> str:
    """The plan as JSON text."""
    return json.dumps(plan.describe(), indent=1)
