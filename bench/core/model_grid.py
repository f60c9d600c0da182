"""Model grids: a [[models]] entry that sweeps model and training fields, expanded into one named entry per point.

A point is one setting of the swept factors; `seed` replicates every setting (it is the statistical factor, never a
studied one), and `epochs` explains checkpoints saved along one training. Names are generated from the point, e.g.
`resnet[arch=resnet34,seed=1]`, and the setting (the name without the seed) is what leaderboards aggregate over.
"""

from __future__ import annotations

import dataclasses
import itertools
import json
import typing
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from bench.core.config import ModelConfig, SuiteProblems

DESIGNS = ("grid", "one_at_a_time")
SEED = "seed"
EPOCH = "epoch"
# Model fields a sweep may set; the training fields are TrainConfig's. `epochs` alone is ambiguous (training length or
# checkpoints along training), so the training length is swept as `train.epochs`.
MODEL_FIELDS = ("arch", "arch_params", "dropout", "batchnorm", "pretrained", "target_layer", "normalise")
AMBIGUOUS = {"epochs": "write train.epochs to sweep the training length, or epochs = [...] beside sweep to explain checkpoints along training"}


def train_fields() -> tuple[str, ...]:
    """The training fields a sweep may set (TrainConfig's fields)."""
    from bench.core.config import TrainConfig

    return tuple(f.name for f in dataclasses.fields(TrainConfig))


def factor_target(factor: str) -> tuple[str, str] | None:
    """Where a swept factor lives: ("model", field), ("train", field) or ("arch_params", key); None if it is no field."""
    if factor.startswith("arch_params.") and len(factor) > len("arch_params."):
        return "arch_params", factor.split(".", 1)[1]
    if factor.startswith("train.") and factor[len("train."):] in train_fields():
        return "train", factor[len("train."):]
    if factor in MODEL_FIELDS:
        return "model", factor
    if factor in train_fields() and factor not in AMBIGUOUS:
        return "train", factor
    return None


def value_label(value: Any) -> str:
    """A factor value as names show it: true/false, numbers as written in TOML, strings bare."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return value
    return json.dumps(value, sort_keys=True, separators=(",", ":"))


def point_name(base: str, parts: list[tuple[str, Any]]) -> str:
    """A generated model or setting name: base[k=v,...], or base alone when nothing is set."""
    if not parts:
        return base
    return f"{base}[{','.join(k if v is None else f'{k}={value_label(v)}' for k, v in parts)}]"


def _short(factor: str) -> str:
    return factor.split(".", 1)[1] if factor.startswith("train.") else factor


def base_value(m: ModelConfig, factor: str) -> Any:
    """The entry's own value of a factor (the base of a one-at-a-time design)."""
    where, name = factor_target(factor)
    if where == "arch_params":
        return m.arch_params.get(name)
    return getattr(m.train if where == "train" else m, name)


def apply_point(m: ModelConfig, point: dict[str, Any]) -> ModelConfig:
    """The entry with the point's factor values set."""
    model, train, params = {}, {}, dict(m.arch_params)
    for factor, value in point.items():
        where, name = factor_target(factor)
        {"model": model, "train": train, "arch_params": params}[where][name] = value
    if params != m.arch_params:
        model["arch_params"] = params
    return dataclasses.replace(m, **model, train=dataclasses.replace(m.train, **train))


def _field_type(factor: str) -> Any:
    from bench.core.config import ModelConfig, TrainConfig

    where, name = factor_target(factor)
    if where == "arch_params":
        return Any
    return typing.get_type_hints(TrainConfig if where == "train" else ModelConfig)[name]


def _check_sweep(found: SuiteProblems, key: str, m: ModelConfig) -> dict[str, list]:
    """The entry's valid factors and values; every invalid one is recorded naming models[i].sweep.FACTOR[j]."""
    from bench.core.config import _coerce

    factors: dict[str, list] = {}
    for factor, values in m.sweep.items():
        where = f"{key}.sweep.{factor}"
        if factor in AMBIGUOUS:
            found.add(where, AMBIGUOUS[factor])
            continue
        if factor_target(factor) is None:
            allowed = [*MODEL_FIELDS, *(f for f in train_fields() if f not in AMBIGUOUS), "train.epochs", "arch_params.KEY"]
            found.add(where, f"not a model or training field; a sweep may set {', '.join(allowed)}")
            continue
        if not isinstance(values, list) or not values:
            found.add(where, f"expected a non-empty array of values, got {values!r}")
            continue
        coerced = [_coerce(v, _field_type(factor), found, f"{where}[{j}]") for j, v in enumerate(values)]
        labels = [json.dumps(v, sort_keys=True, default=str) for v in coerced]
        if len(set(labels)) != len(labels):
            found.add(where, f"repeats a value: {values}")
        if not found.failed(where):
            factors[factor] = coerced
    if "seed" in factors and "train.seed" in factors:
        found.add(f"{key}.sweep", "sweep seed or train.seed, not both")
    if any(factor_target(f) == ("train", "epochs") for f in factors) and m.epochs:
        found.add(f"{key}.epochs", "checkpoints along training need one training length; do not also sweep train.epochs")
    return factors


def _check_epochs(found: SuiteProblems, key: str, m: ModelConfig) -> list[int]:
    """The checkpoints to explain: [] (the selected one), a list of epochs, or every epoch for "all"."""
    if m.epochs in ([], None):
        return []
    if m.checkpoint:
        found.add(f"{key}.epochs", "checkpoints along training exist only for a model trained here; remove checkpoint or epochs")
        return []
    if m.epochs == "all":
        return list(range(1, m.train.epochs + 1))
    if not isinstance(m.epochs, list) or not all(isinstance(e, int) and not isinstance(e, bool) for e in m.epochs):
        found.add(f"{key}.epochs", f'expected an array of epoch numbers or "all", got {m.epochs!r}')
        return []
    bad = [e for e in m.epochs if not 1 <= e <= m.train.epochs]
    if bad:
        found.add(f"{key}.epochs", f"epochs {bad} lie outside 1..{m.train.epochs} (train.epochs)")
    elif len(set(m.epochs)) != len(m.epochs):
        found.add(f"{key}.epochs", f"repeats an epoch: {m.epochs}")
    return [] if found.failed(f"{key}.epochs") else sorted(m.epochs)


def _points(m: ModelConfig, factors: dict[str, list], epochs: list[int]) -> list[tuple[dict, str, list[tuple[str, Any]], int]]:
    """(factor values, varied factor, name parts, checkpoint epoch) of every setting of the entry, seeds not yet applied."""
    studied = {f: v for f, v in factors.items() if _short(f) != SEED}
    points = []
    if m.design == "grid":
        for combo in itertools.product(*studied.values()):
            point = dict(zip(studied, combo))
            parts = [(_short(f), v) for f, v in point.items()]
            points += [(point, "", parts + [(EPOCH, e)], e) for e in epochs] or [(point, "", parts, 0)]
        return points
    base = {f: base_value(m, f) for f in studied}
    points.append((base, "", [("base", None)] if studied or epochs else [], 0))
    for factor, values in studied.items():
        for v in values:
            if json.dumps(v, sort_keys=True, default=str) != json.dumps(base[factor], sort_keys=True, default=str):
                points.append(({**base, factor: v}, factor, [(_short(factor), v)], 0))
    points += [(base, EPOCH, [(EPOCH, e)], e) for e in epochs]
    return points


def expand_entry(found: SuiteProblems, key: str, m: ModelConfig) -> list[ModelConfig]:
    """One model entry per point of the entry's sweep (and seed, and checkpoint epoch); the entry itself if it sweeps nothing."""
    if m.design not in DESIGNS:
        from bench.core.config import _check_choice

        _check_choice(found, f"{key}.design", m.design, DESIGNS)
        return [m]
    factors = _check_sweep(found, key, m)
    epochs = _check_epochs(found, key, m)
    if not factors and not epochs:
        return [dataclasses.replace(m, entry=m.name, setting=m.name)]
    seed_factor = next((f for f in factors if _short(f) == SEED), None)
    seeds = factors.get(seed_factor, [None])
    expanded = []
    for point, varied, parts, epoch in _points(m, factors, epochs):
        setting = point_name(m.name, parts)
        for seed in seeds:
            full = {**point, **({seed_factor: seed} if seed is not None else {})}
            model = apply_point(m, full)
            recorded = {_short(f): v for f, v in point.items()} | ({EPOCH: epoch or None} if epochs else {})
            recorded[SEED] = model.train.seed
            expanded.append(dataclasses.replace(
                model, sweep={}, epochs=[], name=point_name(m.name, parts + ([(SEED, seed)] if seed is not None else [])),
                entry=m.name, setting=setting, factors=recorded, varied=varied, checkpoint_epoch=epoch,
                swept=tuple(factor_target(f)[1] for f in factors),
            ))
    return expanded


def expand_models(found: SuiteProblems, entries: list[ModelConfig]) -> list[tuple[str, ModelConfig]]:
    """Every model of the suite with the config key of the entry it came from (errors name that entry)."""
    return [(f"models[{i}]", model) for i, m in enumerate(entries) for model in expand_entry(found, f"models[{i}]", m)]
