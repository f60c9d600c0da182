"""Suite files: TOML parsed into typed, validated, fingerprinted configuration."""

from __future__ import annotations

import dataclasses
import difflib
import hashlib
import inspect
import json
import os
import re
import tomllib
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.data.synthetic import default_counts
from bench.errors import BenchError, ConfigError
from bench.models.resnet import ARCHS
from bench.training import SELECT_KEYS, TrainConfig

TARGETS = ("label", "predicted")
DEVICES = ("auto", "cpu", "cuda")
SOURCES = ("synthetic", "folder")
_ENV = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}|\$([A-Za-z_][A-Za-z0-9_]*)")


@dataclass(frozen=True)
class SuiteInfo:
    """[suite]: identity of the suite and its master seed."""

    name: str
    version: int = 1
    seed: int = 0
    description: str = ""


@dataclass(frozen=True)
class SyntheticData:
    """[data.synthetic]: options of the generated fundus set."""

    seed: int = 0
    shortcut: bool = False
    shortcut_strength: float = 0.9
    counts: dict[str, dict[str, int]] = field(default_factory=default_counts)


@dataclass(frozen=True)
class DataConfig:
    """[data]: where the images are, their input size and the split that is explained."""

    root: str
    source: str = "folder"
    manifest: str = ""
    image_size: int = 224
    split: str = "test"
    limit: int = 0
    synthetic: SyntheticData = field(default_factory=SyntheticData)


@dataclass(frozen=True)
class ModelConfig:
    """[[models]]: one classifier, either loaded from a checkpoint or trained on the suite's data."""

    name: str
    arch: str = "resnet18"
    dropout: float = 0.0
    batchnorm: bool = True
    pretrained: str = ""
    checkpoint: str = ""
    target_layer: str = ""
    train: TrainConfig = field(default_factory=TrainConfig)


@dataclass(frozen=True)
class MethodConfig:
    """[[methods]]: an explainer by registry name with its parameters."""

    name: str
    params: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class MetricConfig:
    """[[metrics]]: a metric by name with its parameters and an optional column label.

    sweep = { param = [v1, v2, ...] } expands into one entry per value (column "<column>@param=v"); the
    entries of one sweep share `curve`, which the report draws as one curve (e.g. randomisation over blocks).
    """

    name: str
    params: dict[str, Any] = field(default_factory=dict)
    label: str = ""
    sweep: dict[str, Any] = field(default_factory=dict)
    curve: str = ""

    def column(self) -> str:
        """The leaderboard column for this metric."""
        if self.label:
            return self.label
        if not self.params:
            return self.name
        return f"{self.name}({','.join(f'{k}={v}' for k, v in sorted(self.params.items()))})"


@dataclass(frozen=True)
class RunConfig:
    """[run]: batching, device, which class is explained, shard size and where results go."""

    batch_size: int = 16
    device: str = "auto"
    target: str = "label"
    shard_size: int = 50
    results: str = "results"


@dataclass(frozen=True)
class MeasureConfig:
    """[measure]: the separate timing and memory runs."""

    enabled: bool = True
    batch_size: int = 8
    warmup: int = 2
    repeats: int = 7
    memory: bool = True


@dataclass(frozen=True)
class AgreementConfig:
    """[agreement]: compare implementations of the same method on the same inputs."""

    enabled: bool = False
    top_fraction: float = 0.1


@dataclass(frozen=True)
class LeaderboardConfig:
    """[leaderboard]: bootstrap resamples and confidence level of the intervals."""

    bootstrap: int = 1000
    confidence: float = 0.95


@dataclass(frozen=True)
class SuiteConfig:
    """A whole validated suite file."""

    suite: SuiteInfo
    data: DataConfig
    models: list[ModelConfig]
    methods: list[MethodConfig]
    metrics: list[MetricConfig]
    run: RunConfig = field(default_factory=RunConfig)
    measure: MeasureConfig = field(default_factory=MeasureConfig)
    leaderboard: LeaderboardConfig = field(default_factory=LeaderboardConfig)
    agreement: AgreementConfig = field(default_factory=AgreementConfig)
    path: str = ""

    def fingerprint(self) -> str:
        """Hash of the resolved configuration (everything but the file's own path)."""
        blob = json.dumps({k: v for k, v in dataclasses.asdict(self).items() if k != "path"}, sort_keys=True, default=str)
        return hashlib.sha256(blob.encode()).hexdigest()[:16]

    def results_dir(self) -> Path:
        """Where this suite's records, leaderboards and manifest go."""
        return Path(self.run.results) / self.suite.name


def _type_name(tp: Any) -> str:
    origin = typing.get_origin(tp)
    if origin is list:
        return "array"
    if origin is dict or tp is dict:
        return "table"
    if dataclasses.is_dataclass(tp):
        return "table"
    return {str: "string", int: "integer", float: "number", bool: "boolean"}.get(tp, str(tp))


def _coerce(value: Any, tp: Any, file: str, key: str) -> Any:
    origin = typing.get_origin(tp)
    if dataclasses.is_dataclass(tp):
        if not isinstance(value, dict):
            raise ConfigError(file, key, f"expected a table, got {type(value).__name__}")
        return _build(tp, value, file, key)
    if origin is list:
        if not isinstance(value, list):
            raise ConfigError(file, key, f"expected an array, got {type(value).__name__}")
        (item,) = typing.get_args(tp)
        return [_coerce(v, item, file, f"{key}[{i}]") for i, v in enumerate(value)]
    if origin is dict or tp is dict:
        if not isinstance(value, dict):
            raise ConfigError(file, key, f"expected a table, got {type(value).__name__}")
        return value
    if tp is Any:
        return value
    if tp is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if not isinstance(value, tp) or (tp is int and isinstance(value, bool)):
        raise ConfigError(file, key, f"expected {_type_name(tp)}, got {type(value).__name__} {value!r}")
    return value


def _build(cls: type, data: dict, file: str, prefix: str) -> Any:
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls) if f.name != "path"}
    for key in data:
        if key not in fields:
            close = difflib.get_close_matches(key, list(fields), n=1)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            where = f"{prefix}.{key}" if prefix else key
            raise ConfigError(file, where, f"unknown key{hint} (allowed: {', '.join(fields)})")
    values = {}
    for name, f in fields.items():
        where = f"{prefix}.{name}" if prefix else name
        if name in data:
            values[name] = _coerce(data[name], hints[name], file, where)
        elif f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
            raise ConfigError(file, where, "required key is missing")
    return cls(**values)


def expand_env(value: str, file: str, key: str) -> str:
    """Expand ${VAR} and $VAR in value; an unset variable is an error naming it."""
    def sub(match: re.Match) -> str:
        var = match.group(1) or match.group(2)
        if var not in os.environ:
            raise ConfigError(file, key, f"environment variable {var} is not set (export {var}=/path/to/data)")
        return os.environ[var]

    return _ENV.sub(sub, value)


def _check_choice(file: str, key: str, value: str, choices: tuple[str, ...]) -> None:
    if value not in choices:
        raise ConfigError(file, key, f"{value!r} is not one of {list(choices)}")


def _check_positive(file: str, key: str, value: float, *, allow_zero: bool = False) -> None:
    if value < 0 or (value == 0 and not allow_zero):
        raise ConfigError(file, key, f"must be {'>= 0' if allow_zero else '> 0'}, got {value}")


def _metric_parameters(cls: type) -> list[str]:
    return [p for p in inspect.signature(cls.__init__).parameters if p != "self"]


def _check_metric_params(file: str, key: str, cfg: MetricConfig) -> type:
    from bench.metrics import get_metric

    try:
        cls = get_metric(cfg.name)
    except BenchError as err:
        raise ConfigError(file, f"{key}.name", str(err)) from None
    allowed = _metric_parameters(cls)
    for param in cfg.params:
        if param not in allowed:
            raise ConfigError(file, f"{key}.params.{param}", f"unknown parameter; {cfg.name} accepts {allowed or 'no parameters'}")
    try:
        cls(**cfg.params)
    except (TypeError, ValueError) as err:
        raise ConfigError(file, f"{key}.params", str(err)) from None
    return cls


def _expand_sweep(file: str, key: str, entry: MetricConfig, cls: type) -> list[tuple[str, MetricConfig]]:
    """The entry itself, or one entry per value of its sweep, each with the config key that names it in errors."""
    if not entry.sweep:
        return [(key, entry)]
    if len(entry.sweep) != 1:
        raise ConfigError(file, f"{key}.sweep", f"sweep one parameter per entry (a curve has one axis), got {sorted(entry.sweep)}")
    ((param, values),) = entry.sweep.items()
    if param in entry.params:
        raise ConfigError(file, f"{key}.sweep.{param}", "is also set in params; set it in one place")
    if not isinstance(values, list) or not values:
        raise ConfigError(file, f"{key}.sweep.{param}", f"expected a non-empty array of values, got {values!r}")
    allowed = _metric_parameters(cls)
    if param not in allowed:
        raise ConfigError(file, f"{key}.sweep.{param}", f"unknown parameter; {entry.name} accepts {allowed}")
    base = dataclasses.replace(entry, sweep={})
    curve = f"{base.column()}@{param}"
    expanded = []
    for j, value in enumerate(values):
        try:
            cls(**{**entry.params, param: value})
        except (TypeError, ValueError) as err:
            raise ConfigError(file, f"{key}.sweep.{param}[{j}]", str(err)) from None
        metric = dataclasses.replace(base, params={**entry.params, param: value}, label=f"{curve}={value}", curve=curve)
        expanded.append((f"{key}.sweep.{param}[{j}]", metric))
    return expanded


def _validate(cfg: SuiteConfig, file: str) -> SuiteConfig:
    from bench import registry
    from bench.data.layout import LABELS, SPLITS

    data = cfg.data
    _check_choice(file, "data.source", data.source, SOURCES)
    _check_choice(file, "data.split", data.split, SPLITS)
    _check_positive(file, "data.image_size", data.image_size)
    _check_positive(file, "data.limit", data.limit, allow_zero=True)
    root = expand_env(data.root, file, "data.root")
    manifest = expand_env(data.manifest, file, "data.manifest") if data.manifest else ""
    if data.source == "folder":
        if not Path(root).is_dir():
            raise ConfigError(file, "data.root", f"{root!r} is not a directory")
        if manifest and not (Path(root) / manifest).is_file():
            raise ConfigError(file, "data.manifest", f"{manifest!r}: no such file under {root}")
    else:
        for split, per_label in data.synthetic.counts.items():
            _check_choice(file, "data.synthetic.counts", split, SPLITS)
            for label, count in per_label.items():
                _check_choice(file, f"data.synthetic.counts.{split}", label, LABELS)
                if not isinstance(count, int) or count < 0:
                    raise ConfigError(file, f"data.synthetic.counts.{split}.{label}", f"must be a whole number >= 0, got {count!r}")
    data = dataclasses.replace(data, root=root, manifest=manifest)

    if not cfg.models:
        raise ConfigError(file, "models", "at least one [[models]] entry is required")
    seen, models = set(), []
    for i, m in enumerate(cfg.models):
        key = f"models[{i}]"
        if m.name in seen:
            raise ConfigError(file, f"{key}.name", f"duplicate model name {m.name!r}")
        seen.add(m.name)
        _check_choice(file, f"{key}.arch", m.arch, ARCHS)
        if not 0 <= m.dropout < 1:
            raise ConfigError(file, f"{key}.dropout", f"must lie in [0, 1), got {m.dropout}")
        paths = {k: expand_env(getattr(m, k), file, f"{key}.{k}") for k in ("checkpoint", "pretrained") if getattr(m, k)}
        for path_key, value in paths.items():
            if not Path(value).exists():
                raise ConfigError(file, f"{key}.{path_key}", f"{value!r}: no such file or directory")
        models.append(dataclasses.replace(m, **paths))
        _check_positive(file, f"{key}.train.epochs", m.train.epochs)
        _check_positive(file, f"{key}.train.batch_size", m.train.batch_size)
        _check_positive(file, f"{key}.train.lr", m.train.lr)
        _check_choice(file, f"{key}.train.select", m.train.select, SELECT_KEYS)

    if not cfg.methods:
        raise ConfigError(file, "methods", "at least one [[methods]] entry is required")
    for i, method in enumerate(cfg.methods):
        try:
            cls = registry.get(method.name)
        except BenchError as err:
            raise ConfigError(file, f"methods[{i}].name", str(err)) from None
        problems = registry.check_params(cls, method.params)
        if problems:
            raise ConfigError(file, f"methods[{i}].params", "; ".join(problems))

    if not cfg.metrics:
        raise ConfigError(file, "metrics", "at least one [[metrics]] entry is required")
    columns, metrics = set(), []
    for i, entry in enumerate(cfg.metrics):
        cls = _check_metric_params(file, f"metrics[{i}]", dataclasses.replace(entry, sweep={}))
        for key, metric in _expand_sweep(file, f"metrics[{i}]", entry, cls):
            if metric.column() in columns:
                raise ConfigError(file, key, f"column {metric.column()!r} appears twice; give one a label")
            columns.add(metric.column())
            metrics.append(metric)

    run = cfg.run
    _check_choice(file, "run.device", run.device, DEVICES)
    _check_choice(file, "run.target", run.target, TARGETS)
    _check_positive(file, "run.batch_size", run.batch_size)
    _check_positive(file, "run.shard_size", run.shard_size)
    _check_positive(file, "measure.batch_size", cfg.measure.batch_size)
    _check_positive(file, "measure.repeats", cfg.measure.repeats)
    _check_positive(file, "measure.warmup", cfg.measure.warmup, allow_zero=True)
    _check_positive(file, "leaderboard.bootstrap", cfg.leaderboard.bootstrap)
    if not 0 < cfg.agreement.top_fraction <= 1:
        raise ConfigError(file, "agreement.top_fraction", f"must lie in (0, 1], got {cfg.agreement.top_fraction}")
    if not 0 < cfg.leaderboard.confidence < 1:
        raise ConfigError(file, "leaderboard.confidence", f"must lie in (0, 1), got {cfg.leaderboard.confidence}")
    if not re.fullmatch(r"[A-Za-z0-9._-]+", cfg.suite.name):
        raise ConfigError(file, "suite.name", f"{cfg.suite.name!r}: use letters, digits, '.', '_' and '-' only")
    return dataclasses.replace(cfg, data=data, models=models, metrics=metrics)


def parse_suite(data: dict, file: str) -> SuiteConfig:
    """A validated SuiteConfig from already-parsed TOML data; errors name file and key."""
    return dataclasses.replace(_validate(_build(SuiteConfig, data, file, ""), file), path=file)


def load_suite(path: str | Path) -> SuiteConfig:
    """Read and validate a suite file."""
    file = str(path)
    try:
        raw = Path(path).read_bytes()
    except OSError as err:
        raise ConfigError(file, None, f"cannot read suite file: {err.strerror}") from err
    try:
        data = tomllib.loads(raw.decode("utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as err:
        raise ConfigError(file, None, f"not valid TOML: {err}") from err
    return parse_suite(data, file)
