"""Typed records: what each kind of unit stores, with a schema version and the migration from older schemas."""

from __future__ import annotations

import dataclasses
import functools
import json
import types
import typing
from dataclasses import dataclass, field
from typing import Any, ClassVar

SCHEMA_VERSION = 2


@dataclass(frozen=True)
class Implementation:
    """How a record names the implementation it measured."""

    adapter: str
    method: str
    library: str
    version: str
    output: str = "raw"


@dataclass(frozen=True)
class ModelInfo:
    """The explained model: its suite name, the key part that identifies it before training, weights digest and layer;
    for a model of a grid, its setting (the name without the seed) and the factor values it was made with."""

    name: str
    fingerprint: str
    digest: str
    target_layer: str
    setting: str = ""
    factors: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Failure:
    """Samples a stage could not process, and why."""

    stage: str
    sample_ids: list[str]
    error: str
    metric: str = ""
    implementation: str = ""


@dataclass(frozen=True, kw_only=True)
class Record:
    """Fields every unit record shares."""

    kind: ClassVar[str]
    schema: int = SCHEMA_VERSION
    key: str
    suite: str
    suite_version: int
    dataset_digest: str
    device: str


@dataclass(frozen=True, kw_only=True)
class EvaluateRecord(Record):
    """The classifier on the explained split: its report and the class each sample is explained for."""

    kind: ClassVar[str] = "evaluate"
    model: ModelInfo
    split: str
    sample_ids: list[str]
    targets: list[int]
    report: dict[str, Any]
    # Per sample: the true class and the class probabilities (what ROC curves and per-class figures are drawn from).
    labels: list[int] = field(default_factory=list)
    probabilities: list[list[float]] = field(default_factory=list)
    # The classifier report on the whole test split ("test") and on each of its other versions (e.g. a shortcut marker
    # removed or moved): what a model's reliance on a feature does to its accuracy.
    variants: dict[str, dict[str, Any]] = field(default_factory=dict)


@dataclass(frozen=True, kw_only=True)
class CalibrationRecord(Record):
    """Milliseconds per sample of one forward and one backward pass of a model on this device."""

    kind: ClassVar[str] = "calibrate"
    model: ModelInfo
    forward_ms: float
    backward_ms: float
    batch_size: int


@dataclass(frozen=True, kw_only=True)
class ExplainRecord(Record):
    """One implementation's maps of one shard: which samples, failures, diagnostics and cost; maps live in a sidecar."""

    kind: ClassVar[str] = "explain"
    model: ModelInfo
    implementation: Implementation
    params: dict[str, Any]
    shard: int
    sample_ids: list[str]
    failures: list[Failure] = field(default_factory=list)
    diagnostics: dict[str, list[float | None]] = field(default_factory=dict)
    explain_seconds: float = 0.0
    maps_stored: bool = False


@dataclass(frozen=True, kw_only=True)
class ScoreRecord(Record):
    """One metric on one explain unit's maps: a value and status per sample."""

    kind: ClassVar[str] = "score"
    explain_key: str
    model: ModelInfo
    implementation: Implementation
    params: dict[str, Any]
    shard: int
    metric: str
    metric_params: dict[str, Any]
    column: str
    sample_ids: list[str]
    values: list[float | None]
    statuses: list[str]
    seconds: float = 0.0
    curve: str = ""
    sweep_param: str = ""
    sweep_value: Any = None
    failures: list[Failure] = field(default_factory=list)
    # A curve metric's per-sample curve (None where the value is not ok) and the fraction perturbed at each point.
    curve_x: list[float] = field(default_factory=list)
    curve_points: list[list[float] | None] = field(default_factory=list)
    # The further mask region a mask metric was scored against ("" for the main mask).
    region: str = ""


@dataclass(frozen=True)
class AgreementValue:
    """One agreement measure between two implementations on one sample."""

    a: str
    b: str
    measure: str
    sample_id: str
    value: float | None


@dataclass(frozen=True, kw_only=True)
class AgreementRecord(Record):
    """Every pair of implementations of one method compared sample by sample on one shard."""

    kind: ClassVar[str] = "agreement"
    model: ModelInfo
    method: str
    members: list[str]
    versions: dict[str, Implementation]
    shard: int
    sample_ids: list[str]
    values: list[AgreementValue] = field(default_factory=list)
    failures: list[Failure] = field(default_factory=list)


@dataclass(frozen=True)
class TimingResult:
    """Median and IQR of ms per sample, peak memory, declared passes and the efficiency against them."""

    median_ms: float
    iqr_ms: float
    batch_size: int
    repeats: int
    warmup: int
    peak_memory_mib: float | None
    passes: dict[str, int]
    forward_ms: float
    backward_ms: float
    ideal_ms: float
    efficiency: float | None


@dataclass(frozen=True, kw_only=True)
class TimingRecord(Record):
    """One implementation timed alone on its device; `logical_key` is the key without the device."""

    kind: ClassVar[str] = "timing"
    model: ModelInfo
    implementation: Implementation
    params: dict[str, Any]
    logical_key: str
    timing: TimingResult | None = None
    failures: list[Failure] = field(default_factory=list)


RECORD_TYPES: dict[str, type[Record]] = {
    cls.kind: cls for cls in (EvaluateRecord, CalibrationRecord, ExplainRecord, ScoreRecord, AgreementRecord, TimingRecord)
}


class RecordFormatError(ValueError):
    """A stored record that does not match its schema."""


def to_dict(record: Record) -> dict:
    """The record as plain JSON-able data, kind first."""
    return {"kind": record.kind, **dataclasses.asdict(record)}


@functools.cache
def _hints(tp: type) -> dict[str, Any]:
    return typing.get_type_hints(tp)


@functools.cache
def _holds_dataclass(tp: Any) -> bool:
    """Whether values of type tp contain dataclasses to rebuild (plain JSON values are taken as they are)."""
    return dataclasses.is_dataclass(tp) or any(_holds_dataclass(a) for a in typing.get_args(tp))


def _build(tp: Any, value: Any) -> Any:
    if not _holds_dataclass(tp):
        return value
    origin = typing.get_origin(tp)
    if dataclasses.is_dataclass(tp) and isinstance(value, dict):
        hints = _hints(tp)
        unknown = set(value) - set(hints)
        if unknown:
            raise RecordFormatError(f"{tp.__name__}: unknown fields {sorted(unknown)}")
        try:
            return tp(**{k: _build(hints[k], v) for k, v in value.items()})
        except TypeError as err:
            raise RecordFormatError(f"{tp.__name__}: {err}") from None
    if origin is list and isinstance(value, list):
        (item,) = typing.get_args(tp)
        return [_build(item, v) for v in value]
    if origin is dict and isinstance(value, dict):
        _, item = typing.get_args(tp)
        return {k: _build(item, v) for k, v in value.items()}
    if origin in (typing.Union, types.UnionType):
        for option in typing.get_args(tp):
            if dataclasses.is_dataclass(option) and isinstance(value, dict):
                return _build(option, value)
    return value


def from_dict(data: dict) -> Record:
    """A typed record from stored data of the current schema."""
    data = dict(data)
    kind = data.pop("kind", None)
    if kind not in RECORD_TYPES:
        raise RecordFormatError(f"unknown record kind {kind!r}")
    if data.get("schema") != SCHEMA_VERSION:
        raise RecordFormatError(f"record schema {data.get('schema')!r}, this version reads {SCHEMA_VERSION}")
    return _build(RECORD_TYPES[kind], data)


def _v1_header(unit: dict) -> dict:
    return {
        "key": unit["key"],
        "suite": unit["suite"],
        "suite_version": unit["suite_version"],
        "dataset_digest": unit["dataset_digest"],
        "device": unit.get("device", ""),
    }


def _v1_model(unit: dict) -> ModelInfo:
    m = unit["model"]
    return ModelInfo(m["name"], m["digest"], m["digest"], m["target_layer"])


def _v1_failures(unit: dict) -> list[Failure]:
    return [
        Failure(f["stage"], list(f["sample_ids"]), f["error"], f.get("metric", ""), f.get("implementation", ""))
        for f in unit.get("failures", [])
    ]


def migrate_v1(unit: dict) -> list[Record]:
    """Schema 1 (one 'quality' record per shard holding every metric) as schema-2 records: an explain record and one score per metric."""
    header, model = _v1_header(unit), _v1_model(unit)
    if unit["kind"] == "agreement":
        values = [AgreementValue(r["a"], r["b"], r["measure"], r["sample_id"], r["value"]) for r in unit["records"]]
        return [
            AgreementRecord(
                **header,
                model=model,
                method=unit["method"],
                members=list(unit["members"]),
                versions={k: Implementation(**v) for k, v in unit["versions"].items()},
                shard=unit["shard"],
                sample_ids=list(unit["sample_ids"]),
                values=values,
                failures=_v1_failures(unit),
            )
        ]
    impl = Implementation(**unit["implementation"])
    if unit["kind"] == "timing":
        t = unit.get("timing")
        timing = (
            None
            if t is None
            else TimingResult(
                t["median_ms"],
                t["iqr_ms"],
                t["batch_size"],
                t["repeats"],
                t["warmup"],
                t["peak_memory_mib"],
                t["passes"],
                t["pass_ms"]["forward"],
                t["pass_ms"]["backward"],
                t["ideal_ms"],
                t["efficiency"],
            )
        )
        return [
            TimingRecord(
                **header,
                model=model,
                implementation=impl,
                params=unit["params"],
                logical_key=unit["key"],
                timing=timing,
                failures=_v1_failures(unit),
            )
        ]
    ids = list(unit["sample_ids"])
    explain_failures = [f for f in _v1_failures(unit) if f.stage != "metric"]
    explain = ExplainRecord(
        **header,
        model=model,
        implementation=impl,
        params=unit["params"],
        shard=unit["shard"],
        sample_ids=ids,
        failures=explain_failures,
        diagnostics=unit.get("diagnostics", {}),
        explain_seconds=unit.get("explain_seconds", 0.0),
    )
    by_column: dict[str, list[dict]] = {}
    for r in unit["records"]:
        by_column.setdefault(r["metric"], []).append(r)
    seconds = unit.get("metric_seconds_by_metric", {})
    scores: list[Record] = []
    for column, rows in by_column.items():
        curve, _, sweep = column.partition("@")
        param, _, raw = sweep.partition("=")
        sweep_value = json.loads(raw) if raw else None
        scores.append(
            ScoreRecord(
                **{**header, "key": f"{unit['key']}:{column}"},
                explain_key=unit["key"],
                model=model,
                implementation=impl,
                params=unit["params"],
                shard=unit["shard"],
                metric=rows[0]["metric_name"],
                metric_params=rows[0]["metric_params"],
                column=column,
                sample_ids=[r["sample_id"] for r in rows],
                values=[r["value"] for r in rows],
                statuses=[r["status"] for r in rows],
                seconds=seconds.get(column, 0.0),
                curve=curve if sweep else "",
                sweep_param=param,
                sweep_value=sweep_value,
                failures=[f for f in _v1_failures(unit) if f.stage == "metric" and f.metric == column],
            )
        )
    return [explain, *scores]


def load_any(data: dict) -> list[Record]:
    """Typed records from stored data of any schema this version knows (older ones migrated)."""
    if data.get("schema") == 1:
        return migrate_v1(data)
    return [from_dict(data)]
