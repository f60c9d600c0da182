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
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.core.errors import BenchError, ConfigError
from bench.data.layout import SPLITS
from bench.data.sources import DATA_SOURCES
from bench.data.synthetic import LABELS, MARKER_REGION, default_counts
from bench.models.architectures import parse_arch, torchvision_names
from bench.models.precision import CUDA_ONLY, PRECISIONS

# Config is read before any model exists (bench validate, planning): it imports neither torch nor the trainer,
# so the training settings and the layout `bench train` writes are defined here and bench.models.training imports them.
CARD = "model_card.json"
SELECT_KEYS = ("roc_auc", "accuracy", "loss")
TARGETS = ("label", "predicted")
NORMALISATIONS = ("auto", "imagenet", "dataset", "none")
MAP_DTYPES = ("float16", "float32")
MEASURED_SEEDS = ("all", "first")
DEVICES = ("auto", "cpu", "cuda")
_ENV = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}|\$([A-Za-z_][A-Za-z0-9_]*)")


@dataclass(frozen=True)
class TrainConfig:
    """Optimisation settings: epochs, batch size, AdamW learning rate and weight decay, selection, seed."""

    epochs: int = 6
    batch_size: int = 32
    lr: float = 1e-3
    weight_decay: float = 1e-4
    augment: bool = True
    select: str = "roc_auc"
    seed: int = 0


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


def default_texture_counts() -> dict[str, int]:
    """Images per class and split of the generated texture set."""
    return {"train": 40, "val": 10, "test": 10}


@dataclass(frozen=True)
class TexturesData:
    """[data.textures]: options of the generated 8-class texture set (histology format)."""

    seed: int = 0
    counts: dict[str, int] = field(default_factory=default_texture_counts)


@dataclass(frozen=True)
class Mnist1dData:
    """[data.mnist1d]: the MNIST1D generator's seed (42 gives the published set) and the share of train kept for validation."""

    seed: int = 42
    val_fraction: float = 0.1


@dataclass(frozen=True)
class DataConfig:
    """[data]: the source and where it lies, the class order, the input size and channels of image files, and the explained split."""

    root: str
    source: str = "folder"
    manifest: str = ""
    classes: list[str] = field(default_factory=list)
    image_size: int = 224
    channels: int = 3
    split: str = "test"
    limit: int = 0
    synthetic: SyntheticData = field(default_factory=SyntheticData)
    textures: TexturesData = field(default_factory=TexturesData)
    mnist1d: Mnist1dData = field(default_factory=Mnist1dData)


@dataclass(frozen=True)
class ModelConfig:
    """[[models]]: one classifier, either loaded from a checkpoint or trained on the suite's data, or a grid of them.

    arch names its source: a torchvision classifier ("resnet18", "torchvision:vgg16_bn"), our zoo ("zoo:vgg7") or a
    user's factory ("python:package.module:factory"); arch_params go to the zoo or the factory, and a torchvision ResNet
    takes arch_params.width (its stem's channels, 64 in torchvision; every stage scales with it). normalise picks the
    input statistics ("auto": ImageNet's with pretrained weights, else the train split's); mean and std override it.
    sweep = { field = [values] } expands the entry into a grid of models (design "grid", or "one_at_a_time" around the
    entry's own values), `seed` among them replicating every setting; epochs = [1, 2, ...] or "all" explains the
    checkpoints saved along training (bench.core.model_grid). train_data changes what the model is trained on against the
    suite's [data] (what it is explained on): another root or manifest, or generator options ({ synthetic = { shortcut =
    false } } trains a control without the shortcut marker).
    """

    name: str
    arch: str = "resnet18"
    arch_params: dict[str, Any] = field(default_factory=dict)
    dropout: float = 0.0
    batchnorm: bool = True
    pretrained: str = ""
    checkpoint: str = ""
    target_layer: str = ""
    normalise: str = "auto"
    mean: list[float] = field(default_factory=list)
    std: list[float] = field(default_factory=list)
    train: TrainConfig = field(default_factory=TrainConfig)
    sweep: dict[str, Any] = field(default_factory=dict)
    design: str = "grid"
    epochs: Any = field(default_factory=list)
    train_data: dict[str, Any] = field(default_factory=dict)
    # Derived when the file is read: the entry a model came from, its setting (name without the seed), the factor values
    # recorded with every record, the factor a one-at-a-time point varies, the explained checkpoint (0: the selected one)
    # and the fields its entry swept (errors about them name the sweep).
    entry: str = field(default="", metadata={"derived": True})
    setting: str = field(default="", metadata={"derived": True})
    factors: dict[str, Any] = field(default_factory=dict, metadata={"derived": True})
    varied: str = field(default="", metadata={"derived": True})
    checkpoint_epoch: int = field(default=0, metadata={"derived": True})
    swept: tuple[str, ...] = field(default=(), metadata={"derived": True})


@dataclass(frozen=True)
class MethodConfig:
    """[[methods]]: an explainer by registry name with its parameters."""

    name: str
    params: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class MetricConfig:
    """[[metrics]]: a metric by name with its parameters and an optional column label.

    sweep = { param = [v1, v2, ...] } expands into one entry per value (column label "<column>@param=v"); the
    entries of one sweep share `curve` (the unswept column) and record `sweep_param` and `sweep_value`, which the
    report draws as one curve (e.g. randomisation over blocks). methods = [adapter names] scores only those
    methods' maps (for a metric too costly on some), every method when empty. region scores a mask metric against a
    further region of the data (e.g. "shortcut": the synthetic set's marker) instead of its main mask.
    """

    name: str
    params: dict[str, Any] = field(default_factory=dict)
    label: str = ""
    sweep: dict[str, Any] = field(default_factory=dict)
    methods: list[str] = field(default_factory=list)
    region: str = ""
    # Derived from `sweep` when the file is read, never written in it.
    curve: str = field(default="", metadata={"derived": True})
    sweep_param: str = field(default="", metadata={"derived": True})
    sweep_value: Any = field(default=None, metadata={"derived": True})

    def column(self) -> str:
        """The leaderboard column for this metric."""
        if self.label:
            return self.label
        region = f"[{self.region}]" if self.region else ""
        if not self.params:
            return self.name + region
        return f"{self.name}({','.join(f'{k}={v}' for k, v in sorted(self.params.items()))}){region}"


@dataclass(frozen=True)
class RunConfig:
    """[run]: batching, device, which class is explained ("label", "predicted" or a class index), shard size, where results go,
    and the precision of the model's passes ("float32", or autocast to "bfloat16", or "float16" on CUDA)."""

    batch_size: int = 16
    device: str = "auto"
    precision: str = "float32"
    target: Any = "label"
    shard_size: int = 50
    results: str = "results"


@dataclass(frozen=True)
class MeasureConfig:
    """[measure]: the separate timing and memory runs; seeds = "first" times only the first training seed of each setting
    (the seeds' weights differ, their cost does not), "all" every seed."""

    enabled: bool = True
    batch_size: int = 8
    warmup: int = 2
    repeats: int = 7
    memory: bool = True
    seeds: str = "all"


@dataclass(frozen=True)
class AgreementConfig:
    """[agreement]: compare implementations of the same method on the same inputs."""

    enabled: bool = False
    top_fraction: float = 0.1


@dataclass(frozen=True)
class ContrastConfig:
    """[contrast]: how well each method's per-sample scores tell two model entries apart (e.g. a model trained with a
    shortcut and its control): ROC-AUC over the explained samples, for each pair of their models with the same seed."""

    positive: str = ""
    negative: str = ""
    columns: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class StoreConfig:
    """[store]: which canonical maps are kept (safetensors beside the records) for re-scoring and galleries, and in what precision."""

    maps: bool = True
    maps_limit: int = 0
    maps_dtype: str = "float32"


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
    store: StoreConfig = field(default_factory=StoreConfig)
    contrast: ContrastConfig = field(default_factory=ContrastConfig)
    path: str = field(default="", metadata={"derived": True})

    def fingerprint(self) -> str:
        """Hash of the resolved configuration (everything but the file's own path)."""
        blob = json.dumps({k: v for k, v in dataclasses.asdict(self).items() if k != "path"}, sort_keys=True, default=str)
        return hashlib.sha256(blob.encode()).hexdigest()[:16]

    def results_dir(self) -> Path:
        """Where this suite's records, leaderboards and manifest go."""
        return Path(self.run.results) / self.suite.name


class SuiteErrors(ConfigError):
    """Every error found in one suite file; the message puts each on its own line as FILE: KEY: message."""

    def __init__(self, errors: list[ConfigError]) -> None:
        if not errors:
            raise ValueError("SuiteErrors needs at least one error")
        self.errors = list(errors)
        first = self.errors[0]
        if len(self.errors) == 1:
            super().__init__(first.file, first.field, first.message)
        else:
            super().__init__(first.file, None, f"{len(self.errors)} errors\n" + "\n".join(str(e) for e in self.errors))


def _related(a: str | None, b: str | None) -> bool:
    """Whether one key is the other or lies inside it (None is the whole file)."""
    if a is None or b is None or a == b:
        return True
    return b.startswith((a + ".", a + "[")) or a.startswith((b + ".", b + "["))


class SuiteProblems:
    """The errors of one suite file in the order found.

    An error at a key hides later ones at that key, inside it or around it: those would only repeat it
    (a missing name makes the name unknown too; an entry that is not a table has no valid fields).
    """

    def __init__(self, file: str) -> None:
        self.file = file
        self.errors: list[ConfigError] = []

    def add(self, key: str | None, message: str) -> None:
        """Record an error at key (None: the file as a whole)."""
        if not self.failed(key):
            self.errors.append(ConfigError(self.file, key, message))

    def failed(self, key: str | None) -> bool:
        """Whether an error was recorded at key, inside it or around it."""
        return any(_related(e.field, key) for e in self.errors)

    def raise_if_any(self) -> None:
        """Raise SuiteErrors with every recorded error, if there is any."""
        if self.errors:
            raise SuiteErrors(self.errors)


# What _coerce returns for a value that did not validate (its error is recorded); the field then keeps its default.
_INVALID = object()


def _required(f: dataclasses.Field) -> bool:
    return f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING


def _placeholder(tp: Any) -> Any:
    """A stand-in for a required value that is missing or invalid, so that the rest of the file is still checked."""
    if dataclasses.is_dataclass(tp):
        hints = typing.get_type_hints(tp)
        return tp(**{f.name: _placeholder(hints[f.name]) for f in dataclasses.fields(tp) if _required(f)})
    return {list: [], dict: {}, str: "", int: 0, float: 0.0, bool: False}.get(typing.get_origin(tp) or tp)


def _type_name(tp: Any) -> str:
    origin = typing.get_origin(tp)
    if origin is list or tp is list:
        return "array"
    if origin is dict or tp is dict:
        return "table"
    if dataclasses.is_dataclass(tp):
        return "table"
    return {str: "string", int: "integer", float: "number", bool: "boolean"}.get(tp, str(tp))


def _coerce(value: Any, tp: Any, found: SuiteProblems, key: str) -> Any:
    origin = typing.get_origin(tp)
    if dataclasses.is_dataclass(tp):
        if not isinstance(value, dict):
            found.add(key, f"expected a table, got {type(value).__name__}")
            return _INVALID
        return _build(tp, value, found, key)
    if origin is list:
        if not isinstance(value, list):
            found.add(key, f"expected an array, got {type(value).__name__}")
            return _INVALID
        (item,) = typing.get_args(tp)
        items = [_coerce(v, item, found, f"{key}[{i}]") for i, v in enumerate(value)]
        # An invalid entry keeps its place, so that the entries after it keep the index their errors name.
        return [_placeholder(item) if v is _INVALID else v for v in items]
    if origin is dict or tp is dict:
        if not isinstance(value, dict):
            found.add(key, f"expected a table, got {type(value).__name__}")
            return _INVALID
        return value
    if tp is Any:
        return value
    if tp is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if not isinstance(value, tp) or (tp is int and isinstance(value, bool)):
        found.add(key, f"expected {_type_name(tp)}, got {type(value).__name__} {value!r}")
        return _INVALID
    return value


def _build(cls: type, data: dict, found: SuiteProblems, prefix: str) -> Any:
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls) if not f.metadata.get("derived")}
    for key in data:
        if key not in fields:
            close = difflib.get_close_matches(key, list(fields), n=1)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            found.add(f"{prefix}.{key}" if prefix else key, f"unknown key{hint} (allowed: {', '.join(fields)})")
    values = {}
    for name, f in fields.items():
        where = f"{prefix}.{name}" if prefix else name
        value = _coerce(data[name], hints[name], found, where) if name in data else _INVALID
        if name not in data and _required(f):
            found.add(where, "required key is missing")
        if value is not _INVALID:
            values[name] = value
        elif _required(f):
            values[name] = _placeholder(hints[name])
    return cls(**values)


def expand_env(value: str, file: str, key: str) -> str:
    """Expand ${VAR} and $VAR in value; an unset variable is an error naming it."""
    def sub(match: re.Match) -> str:
        var = match.group(1) or match.group(2)
        if var not in os.environ:
            raise ConfigError(file, key, f"environment variable {var} is not set (export {var}=/path/to/data)")
        return os.environ[var]

    return _ENV.sub(sub, value)


def _expanded(found: SuiteProblems, key: str, value: str) -> str:
    try:
        return expand_env(value, found.file, key)
    except ConfigError as err:
        found.add(key, err.message)
        return value


def _check_choice(found: SuiteProblems, key: str, value: str, choices: tuple[str, ...]) -> None:
    if value not in choices:
        close = difflib.get_close_matches(str(value), choices, n=1)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        found.add(key, f"{value!r} is not one of {list(choices)}{hint}")


def _check_positive(found: SuiteProblems, key: str, value: float, *, allow_zero: bool = False) -> None:
    if value < 0 or (value == 0 and not allow_zero):
        found.add(key, f"must be {'>= 0' if allow_zero else '> 0'}, got {value}")


def _check_range(found: SuiteProblems, key: str, value: float, low: float, high: float, *, closed_high: bool) -> None:
    if not (low < value <= high if closed_high else low < value < high):
        found.add(key, f"must lie in ({low}, {high}{']' if closed_high else ')'}, got {value}")


def _safetensors_problem(path: Path) -> str | None:
    """Why path is not a safetensors file whose header parses, or None."""
    from safetensors import safe_open

    try:
        with safe_open(str(path), framework="numpy") as f:
            f.keys()
    except Exception as err:  # safetensors raises its own error types for a missing file or a corrupt header
        return f"{str(path)!r} is not a safetensors weights file ({type(err).__name__}: {err})"
    return None


def _checkpoint_problem(path: Path) -> str | None:
    """Why path is not a checkpoint (a .safetensors file, or a directory `bench train` wrote), or None."""
    if not path.exists():
        return f"{str(path)!r}: no such file or directory"
    if path.is_dir():
        card = path / CARD
        if not card.is_file():
            return f"{str(path)!r} has no {CARD}: point at a model directory made by `bench train` or a .safetensors file"
        try:
            weights = json.loads(card.read_text(encoding="utf-8"))["checkpoint"]
        except (OSError, ValueError, KeyError, TypeError) as err:
            return f"{str(card)!r} is not a model card with a 'checkpoint' entry ({type(err).__name__}: {err})"
        return _safetensors_problem(path / str(weights))
    if path.suffix != ".safetensors":
        return f"{str(path)!r} is neither a .safetensors file nor a `bench train` directory (pickled checkpoints are never loaded)"
    return _safetensors_problem(path)


def _pretrained_problem(path: Path) -> str | None:
    """Why path is not a weights file that torch loads with weights_only=True into a dict of tensors, or None."""
    if not path.is_file():
        return f"{str(path)!r}: no such file" if not path.exists() else f"{str(path)!r} is a directory, not a weights file"
    import torch

    try:
        # Memory-mapped, a large file is not read: only its index is (mmap needs torch's zip format).
        state = torch.load(path, map_location="cpu", weights_only=True, mmap=zipfile.is_zipfile(path))
    except Exception as err:  # torch raises many types for files it cannot unpickle safely
        # torch's refusals run to paragraphs of advice on unsafe loading: keep the unpickler's finding, else the first sentence.
        finding = re.search(r"WeightsUnpickler error:\s*([^\n]+)", str(err))
        text = finding.group(1) if finding else str(err).strip()
        detail = re.split(r"(?<=\.)\s", text, maxsplit=1)[0] or "the file is empty or cut short"
        return f"{str(path)!r} cannot be loaded with torch.load(weights_only=True) ({type(err).__name__}: {detail})"
    if not isinstance(state, dict) or not state or not all(isinstance(v, torch.Tensor) for v in state.values()):
        return f"{str(path)!r} does not hold a state dict (a table of parameter names to tensors)"
    return None


def _unknown_parameter(param: str, owner: str, allowed: list[str]) -> str:
    close = difflib.get_close_matches(param, allowed, n=1)
    hint = f" (did you mean {close[0]!r}?)" if close else ""
    return f"unknown parameter{hint}; {owner} accepts {', '.join(allowed) if allowed else 'no parameters'}"


def _metric_parameters(cls: type) -> dict[str, inspect.Parameter]:
    """The keyword parameters of a metric's constructor (a metric without one of its own takes none)."""
    return {k: p for k, p in inspect.signature(cls).parameters.items() if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)}


def _type_problem(value: Any, param: inspect.Parameter) -> str | None:
    """A mismatch between value and the type of param's default (ints pass for floats), or None."""
    default = param.default
    if default is inspect.Parameter.empty or default is None:
        return None
    expected = type(default)
    if expected is float and isinstance(value, int) and not isinstance(value, bool):
        return None
    if isinstance(value, expected) and (expected is bool or not isinstance(value, bool)):
        return None
    return f"expected {_type_name(expected)}, got {type(value).__name__} {value!r}"


def _check_metric(found: SuiteProblems, key: str, entry: MetricConfig) -> type | None:
    """The entry's metric class after checking its parameters' names, types and values; None for an unknown name."""
    from bench.metrics import get_metric

    try:
        cls = get_metric(entry.name)
    except BenchError as err:
        found.add(f"{key}.name", str(err))
        return None
    allowed = _metric_parameters(cls)
    for param, value in entry.params.items():
        if param not in allowed:
            found.add(f"{key}.params.{param}", _unknown_parameter(param, entry.name, list(allowed)))
        elif problem := _type_problem(value, allowed[param]):
            found.add(f"{key}.params.{param}", problem)
    if not found.failed(f"{key}.params"):
        try:
            cls(**entry.params)
        except (TypeError, ValueError) as err:
            found.add(f"{key}.params", str(err))
    return cls


def _expand_sweep(found: SuiteProblems, key: str, entry: MetricConfig, cls: type) -> list[tuple[str, MetricConfig]]:
    """The entry itself, or one entry per value of its sweep, each with the config key that names it in errors."""
    if not entry.sweep:
        return [(key, entry)]
    if len(entry.sweep) != 1:
        found.add(f"{key}.sweep", f"sweep one parameter per entry (a curve has one axis), got {sorted(entry.sweep)}")
        return []
    ((param, values),) = entry.sweep.items()
    where = f"{key}.sweep.{param}"
    allowed = _metric_parameters(cls)
    if param in entry.params:
        found.add(where, "is also set in params; set it in one place")
    elif not isinstance(values, list) or not values:
        found.add(where, f"expected a non-empty array of values, got {values!r}")
    elif param not in allowed:
        found.add(where, _unknown_parameter(param, entry.name, list(allowed)))
    if found.failed(where):
        return []
    base = dataclasses.replace(entry, sweep={})
    curve = base.column()
    expanded = []
    for j, value in enumerate(values):
        problem = _type_problem(value, allowed[param])
        if problem is None:
            try:
                cls(**{**entry.params, param: value})
            except (TypeError, ValueError) as err:
                problem = str(err)
        if problem:
            found.add(f"{where}[{j}]", problem)
            continue
        metric = dataclasses.replace(base, params={**entry.params, param: value}, label=f"{curve}@{param}={value}", curve=curve,
                                     sweep_param=param, sweep_value=value)
        expanded.append((f"{where}[{j}]", metric))
    return expanded


def _check_data(found: SuiteProblems, data: DataConfig) -> DataConfig:
    _check_choice(found, "data.source", data.source, tuple(DATA_SOURCES.names()))
    _check_choice(found, "data.split", data.split, SPLITS)
    _check_positive(found, "data.image_size", data.image_size)
    _check_positive(found, "data.limit", data.limit, allow_zero=True)
    if data.channels not in (1, 3):
        found.add("data.channels", f"image files decode to 1 (grayscale) or 3 (RGB) channels, got {data.channels}")
    if len(set(data.classes)) != len(data.classes) or not all(isinstance(c, str) and c for c in data.classes):
        found.add("data.classes", f"expected distinct, non-empty class names, got {data.classes}")
    root = _expanded(found, "data.root", data.root)
    manifest = _expanded(found, "data.manifest", data.manifest) if data.manifest else ""
    # An invalid source leaves unknown what its root must hold.
    if data.source in ("folder", "csv") and not found.failed("data.source") and not found.failed("data.root"):
        if not Path(root).is_dir():
            found.add("data.root", f"{root!r} is not a directory")
        elif data.source == "csv" and not manifest:
            found.add("data.manifest", 'source = "csv" needs manifest = "FILE.csv" (relative to data.root)')
        elif manifest and not found.failed("data.manifest") and not (Path(root) / manifest).is_file():
            found.add("data.manifest", f"{manifest!r}: no such file under {root}")
    elif data.source == "npz" and not found.failed("data.root") and not Path(root).is_file():
        found.add("data.root", f"{root!r}: no such .npz file")
    elif data.source == "synthetic":
        _check_synthetic_counts(found, "data.synthetic.counts", data.synthetic.counts)
    elif data.source == "textures":
        for split, count in data.textures.counts.items():
            _check_choice(found, f"data.textures.counts.{split}", split, SPLITS)
            _check_count(found, f"data.textures.counts.{split}", count)
    elif data.source == "mnist1d":
        _check_range(found, "data.mnist1d.val_fraction", data.mnist1d.val_fraction, -1e-12, 1, closed_high=False)
    if data.classes and data.source in ("synthetic", "textures", "mnist1d"):
        found.add("data.classes", f"the {data.source} source names its own classes; remove data.classes")
    return dataclasses.replace(data, root=root, manifest=manifest)


def _check_synthetic_counts(found: SuiteProblems, key: str, counts: dict) -> None:
    for split, per_label in counts.items():
        _check_choice(found, f"{key}.{split}", split, SPLITS)
        if not isinstance(per_label, dict):
            found.add(f"{key}.{split}", f"expected a table of counts per label {list(LABELS)}, got {per_label!r}")
            continue
        for label, count in per_label.items():
            _check_choice(found, f"{key}.{split}.{label}", label, LABELS)
            _check_count(found, f"{key}.{split}.{label}", count)


def _check_count(found: SuiteProblems, key: str, count: Any) -> None:
    if not isinstance(count, int) or isinstance(count, bool) or count < 0:
        found.add(key, f"must be a whole number >= 0, got {count!r}")


def _check_models(found: SuiteProblems, entries: list[ModelConfig], data: DataConfig) -> list[ModelConfig]:
    from bench.core.model_grid import expand_models

    if not entries:
        found.add("models", "at least one [[models]] entry is required")
    seen: dict[str, str] = {}
    resolved = []
    for key, m in expand_models(found, entries):
        def at(name: str, key: str = key, m: ModelConfig = m) -> str:
            """The key of a field: in the entry's sweep when the entry sweeps it."""
            return f"{key}.sweep.{name}" if name in m.swept else f"{key}.{name}"

        def at_train(name: str, key: str = key, m: ModelConfig = m) -> str:
            return f"{key}.sweep.{name}" if name in m.swept else f"{key}.train.{name}"

        if m.name in seen:
            found.add(f"{key}.name", f"duplicate model name {m.name!r} ({seen[m.name]} has it)")
        seen.setdefault(m.name, key)
        try:
            source, arch = parse_arch(m.arch)
        except ValueError as err:
            found.add(at("arch"), str(err))
        else:
            if source == "torchvision":
                _check_choice(found, at("arch"), arch, tuple(torchvision_names()))
        _check_choice(found, at("normalise"), m.normalise, NORMALISATIONS)
        if bool(m.mean) != bool(m.std) or len(m.mean) != len(m.std):
            found.add(f"{key}.mean", f"give mean and std together, one value per channel (mean {m.mean}, std {m.std})")
        elif any(not isinstance(v, (int, float)) or isinstance(v, bool) for v in m.mean + m.std) or any(v <= 0 for v in m.std):
            found.add(f"{key}.std", f"mean and std are numbers, std > 0 (mean {m.mean}, std {m.std})")
        if not 0 <= m.dropout < 1:
            found.add(at("dropout"), f"must lie in [0, 1), got {m.dropout}")
        paths = {k: _expanded(found, at(k), getattr(m, k)) for k in ("checkpoint", "pretrained") if getattr(m, k)}
        for path_key, value in paths.items():
            if not found.failed(at(path_key)):
                problem = (_checkpoint_problem if path_key == "checkpoint" else _pretrained_problem)(Path(value))
                if problem:
                    found.add(at(path_key), problem)
        train_data = _check_train_data(found, f"{key}.train_data", m.train_data, data)
        resolved.append(dataclasses.replace(m, **paths, train_data=train_data))
        _check_positive(found, at_train("epochs"), m.train.epochs)
        _check_positive(found, at_train("batch_size"), m.train.batch_size)
        _check_positive(found, at_train("lr"), m.train.lr)
        _check_positive(found, at_train("weight_decay"), m.train.weight_decay, allow_zero=True)
        _check_choice(found, at_train("select"), m.train.select, SELECT_KEYS)
    return resolved


# What a model's train_data may change against the suite's [data], per source: the explained data's layout stays.
_TRAIN_DATA_KEYS = {"folder": ("root", "manifest"), "csv": ("root", "manifest"), "synthetic": ("synthetic",)}


def _check_train_data(found: SuiteProblems, key: str, overrides: dict[str, Any], data: DataConfig) -> dict[str, Any]:
    """The overrides with their paths expanded, each problem recorded naming models[i].train_data.KEY."""
    allowed = _TRAIN_DATA_KEYS.get(data.source, ())
    resolved = dict(overrides)
    for name, value in overrides.items():
        if name not in allowed:
            found.add(f"{key}.{name}", f"not a training-data option of the {data.source!r} source (allowed: {', '.join(allowed) or 'none'})")
        elif name == "synthetic":
            if not isinstance(value, dict):
                found.add(f"{key}.synthetic", f"expected a table of [data.synthetic] options, got {type(value).__name__}")
                continue
            _build(SyntheticData, value, found, f"{key}.synthetic")
            if isinstance(value.get("counts"), dict):
                _check_synthetic_counts(found, f"{key}.synthetic.counts", value["counts"])
        elif not isinstance(value, str) or not value:
            found.add(f"{key}.{name}", f"expected a non-empty path string, got {value!r}")
        else:
            resolved[name] = _expanded(found, f"{key}.{name}", value)
    root = resolved.get("root", data.root)
    if "root" in resolved and not found.failed(f"{key}.root") and not Path(root).is_dir():
        found.add(f"{key}.root", f"{root!r} is not a directory")
    manifest = resolved.get("manifest")
    if manifest and not found.failed(f"{key}.manifest") and not found.failed(f"{key}.root") and not (Path(root) / manifest).is_file():
        found.add(f"{key}.manifest", f"{manifest!r}: no such file under {root}")
    return resolved


def training_data_config(data: DataConfig, overrides: dict[str, Any]) -> DataConfig:
    """The [data] a model with these train_data overrides trains on (generator options merged into the suite's)."""
    if not overrides:
        return data
    changed = {k: v for k, v in overrides.items() if k != "synthetic"}
    if "synthetic" in overrides:
        changed["synthetic"] = dataclasses.replace(data.synthetic, **overrides["synthetic"])
        # Another generated set needs its own folder: named after its options, beside the suite's.
        digest = hashlib.sha256(json.dumps(overrides["synthetic"], sort_keys=True).encode()).hexdigest()[:8]
        changed.setdefault("root", f"{data.root.rstrip('/')}-train-{digest}")
    return dataclasses.replace(data, **changed)


def _check_methods(found: SuiteProblems, methods: list[MethodConfig]) -> None:
    from bench.core import registry

    if not methods:
        found.add("methods", "at least one [[methods]] entry is required")
    seen: dict[tuple[str, str], int] = {}
    for i, method in enumerate(methods):
        key = f"methods[{i}]"
        if found.failed(key):
            continue
        try:
            cls = registry.get(method.name)
        except BenchError as err:
            found.add(f"{key}.name", str(err))
            continue
        problems = registry.check_params(cls, method.params)
        if problems:
            found.add(f"{key}.params", "; ".join(problems))
            continue
        # Defaults written out or left out make the same explainer: compare what the adapter will be built with.
        defaults = {k: p.default for k, p in registry.parameters(cls).items() if p.default is not inspect.Parameter.empty}
        identity = (method.name, json.dumps({**defaults, **method.params}, sort_keys=True, default=str))
        if identity in seen:
            found.add(key, f"repeats methods[{seen[identity]}]: {method.name} with the same parameters; remove one or change its params")
        seen.setdefault(identity, i)


def _check_region(found: SuiteProblems, key: str, entry: MetricConfig, cls: type, data: DataConfig) -> None:
    """A region is scored by a mask metric; the synthetic set has the shortcut marker's region when it plants one."""
    if not entry.region:
        return
    if not cls.requires_masks:
        found.add(f"{key}.region", f"{entry.name} reads no mask, so it has no region to score against")
    elif data.source == "synthetic" and not (entry.region == MARKER_REGION and data.synthetic.shortcut):
        have = f"only {MARKER_REGION!r}, with data.synthetic.shortcut = true" if data.synthetic.shortcut is False else repr(MARKER_REGION)
        found.add(f"{key}.region", f"the synthetic set has no region {entry.region!r} (it has {have})")


def _check_metrics(found: SuiteProblems, entries: list[MetricConfig], methods: list[MethodConfig], data: DataConfig) -> list[MetricConfig]:
    if not entries:
        found.add("metrics", "at least one [[metrics]] entry is required")
    columns: dict[str, str] = {}
    metrics = []
    names = [m.name for m in methods]
    for i, entry in enumerate(entries):
        key = f"metrics[{i}]"
        if found.failed(key):
            continue
        for j, name in enumerate(entry.methods):
            if name not in names:
                close = difflib.get_close_matches(str(name), names, n=1)
                hint = f"; did you mean {close[0]!r}?" if close else ""
                found.add(f"{key}.methods[{j}]", f"{name!r} is not a method of this suite{hint}")
        cls = _check_metric(found, key, dataclasses.replace(entry, sweep={}))
        if cls is None or found.failed(f"{key}.params"):
            continue
        _check_region(found, key, entry, cls, data)
        for where, metric in _expand_sweep(found, key, entry, cls):
            if metric.column() in columns:
                found.add(where, f"column {metric.column()!r} appears twice (also {columns[metric.column()]}); give one a label")
            columns.setdefault(metric.column(), where)
            metrics.append(metric)
    return metrics


def _check_settings(found: SuiteProblems, cfg: SuiteConfig) -> None:
    run = cfg.run
    _check_choice(found, "run.device", run.device, DEVICES)
    _check_choice(found, "run.precision", run.precision, tuple(PRECISIONS))
    if run.precision in CUDA_ONLY and run.device == "cpu":
        found.add("run.precision", f"{run.precision} autocast runs on CUDA only and run.device is 'cpu'; use bfloat16 or float32")
    if isinstance(run.target, str):
        _check_choice(found, "run.target", run.target, TARGETS)
    elif isinstance(run.target, bool) or not isinstance(run.target, int) or run.target < 0:
        found.add("run.target", f"{run.target!r} is not one of {list(TARGETS)} or a class index >= 0")
    _check_positive(found, "run.batch_size", run.batch_size)
    _check_positive(found, "run.shard_size", run.shard_size)
    _check_positive(found, "measure.batch_size", cfg.measure.batch_size)
    _check_positive(found, "measure.repeats", cfg.measure.repeats)
    _check_positive(found, "measure.warmup", cfg.measure.warmup, allow_zero=True)
    _check_choice(found, "measure.seeds", cfg.measure.seeds, MEASURED_SEEDS)
    _check_positive(found, "leaderboard.bootstrap", cfg.leaderboard.bootstrap)
    _check_positive(found, "store.maps_limit", cfg.store.maps_limit, allow_zero=True)
    _check_choice(found, "store.maps_dtype", cfg.store.maps_dtype, MAP_DTYPES)
    _check_range(found, "agreement.top_fraction", cfg.agreement.top_fraction, 0, 1, closed_high=True)
    _check_range(found, "leaderboard.confidence", cfg.leaderboard.confidence, 0, 1, closed_high=False)
    if not re.fullmatch(r"[A-Za-z0-9._-]+", cfg.suite.name):
        found.add("suite.name", f"{cfg.suite.name!r}: use letters, digits, '.', '_' and '-' only")


def _check_contrast(found: SuiteProblems, contrast: ContrastConfig, models: list[ModelConfig], metrics: list[MetricConfig]) -> None:
    if not (contrast.positive or contrast.negative or contrast.columns):
        return
    entries = sorted({m.entry for m in models})
    for side in ("positive", "negative"):
        name = getattr(contrast, side)
        if name not in entries:
            close = difflib.get_close_matches(str(name), entries, n=1)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            found.add(f"contrast.{side}", f"{name!r} is not a [[models]] entry of this suite (entries: {', '.join(entries)}){hint}")
        elif any(set(m.factors) - {"seed", "train.seed"} for m in models if m.entry == name):
            found.add(f"contrast.{side}", f"{name!r} sweeps more than the seed; a contrast pairs the seeds of two settings")
    if contrast.positive and contrast.positive == contrast.negative:
        found.add("contrast.negative", "names the same entry as contrast.positive")
    columns = [m.column() for m in metrics]
    if not contrast.columns:
        found.add("contrast.columns", "name at least one metric column whose per-sample scores are compared")
    for j, column in enumerate(contrast.columns):
        if column not in columns:
            found.add(f"contrast.columns[{j}]", f"{column!r} is not a metric column of this suite (columns: {', '.join(columns)})")


def collect_suite(data: dict, file: str) -> tuple[SuiteConfig, SuiteProblems]:
    """The suite as far as it validates, and every error found in it.

    The config is complete only when there are no errors (invalid values stand at their defaults); callers that
    check more before reporting, like bench.core.validation, add their findings and then raise them all together.
    """
    found = SuiteProblems(file)
    cfg = _build(SuiteConfig, data, found, "")
    data_cfg = _check_data(found, cfg.data)
    models = _check_models(found, cfg.models, data_cfg)
    _check_methods(found, cfg.methods)
    metrics = _check_metrics(found, cfg.metrics, cfg.methods, cfg.data)
    _check_settings(found, cfg)
    _check_contrast(found, cfg.contrast, models, metrics)
    return dataclasses.replace(cfg, data=data_cfg, models=models, metrics=metrics, path=file), found


def parse_suite(data: dict, file: str) -> SuiteConfig:
    """A validated SuiteConfig from already-parsed TOML data; SuiteErrors lists every error, each naming file and key."""
    cfg, found = collect_suite(data, file)
    found.raise_if_any()
    return cfg


def read_suite(path: str | Path) -> dict:
    """The TOML data of a suite file; an unreadable file or invalid TOML raises SuiteErrors."""
    file = str(path)
    try:
        raw = Path(path).read_bytes()
    except OSError as err:
        raise SuiteErrors([ConfigError(file, None, f"cannot read suite file: {err.strerror}")]) from err
    try:
        return tomllib.loads(raw.decode("utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as err:
        raise SuiteErrors([ConfigError(file, None, f"not valid TOML: {err}")]) from err


def load_suite(path: str | Path) -> SuiteConfig:
    """Read and validate a suite file (names, types and values; bench.core.validation.probe_suite goes further)."""
    return parse_suite(read_suite(path), str(path))
