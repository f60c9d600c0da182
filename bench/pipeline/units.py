"""Work units: pure descriptions of one piece of a suite's work, each with a stable key."""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass

from bench.core.config import MethodConfig, MetricConfig, ModelConfig
from bench.metrics import CurveMetric, get_metric

# Execution order of the kinds: a kind never reads what a later one produces.
KINDS = ("train", "evaluate", "explain", "score", "agreement", "calibrate", "timing")
# Kinds that measure cost and so run alone on their device, after everything else.
ALONE = ("calibrate", "timing")
# Kinds that read what explain units store, and so run in a phase after them.
AFTER_EXPLAIN = ("agreement",)


@dataclass(frozen=True)
class ModelRef:
    """A model of the plan, known before training: fingerprint (training settings or weights file) and where it lives."""

    name: str
    fingerprint: str
    config: ModelConfig
    trained_here: bool
    directory: str


@dataclass(frozen=True)
class Unit:
    """One unit of work. `source_key` names the unit whose output it reads (a score's explain unit, a timing's calibration);
    `logical_key` is a timing's key without the device."""

    key: str
    kind: str
    model: ModelRef
    method: MethodConfig | None = None
    metric: MetricConfig | None = None
    shard: int = 0
    sample_ids: tuple[str, ...] = ()
    members: tuple[MethodConfig, ...] = ()
    source_key: str = ""
    logical_key: str = ""
    # The method family whose implementations an agreement unit compares, and the explain units of those members.
    family: str = ""
    member_keys: tuple[str, ...] = ()

    def describe(self) -> dict:
        """The unit as plain data (what plan.json stores and `bench plan` prints)."""
        return {
            "key": self.key,
            "kind": self.kind,
            "model": self.model.name,
            "method": self.method.name if self.method else self.family,
            "params": self.method.params if self.method else {},
            "metric": self.metric.name if self.metric else "",
            "metric_params": self.metric.params if self.metric else {},
            "column": self.metric.column() if self.metric else "",
            "shard": self.shard,
            "samples": len(self.sample_ids),
            "members": [m.name for m in self.members],
            "source_key": self.source_key,
            "logical_key": self.logical_key,
        }


def params_label(name: str, params: dict) -> str:
    """A name with its parameters, as tables and the plan show it: name(k=v,...), or the name alone."""
    if not params:
        return name
    return f"{name}({','.join(f'{k}={v}' for k, v in sorted(params.items()))})"


def method_label(method: MethodConfig) -> str:
    """How a method entry is named in tables and the plan: the adapter, with its parameters if any."""
    return params_label(method.name, method.params)


def unit_key(identity: dict) -> str:
    """A short stable hash of everything that determines a unit's result."""
    blob = json.dumps(identity, sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:24]


def method_identity(method: MethodConfig) -> dict:
    """The part of a key that names an implementation and its parameters."""
    return asdict(method)


def metric_identity(metric: MetricConfig) -> dict:
    """The part of a key that names a metric: its name and parameters, not its column label."""
    identity = {"name": metric.name, "params": metric.params}
    if metric.region:
        identity["region"] = metric.region
    # Records of curve metrics made before their curves were stored do not count as done: the report draws the curves.
    if issubclass(get_metric(metric.name), CurveMetric):
        identity["stores"] = "curves"
    return identity
