"""A run as four stages: prepare (data) -> plan (every unit, nothing trained) -> execute (missing units) -> publish (from the store)."""

from __future__ import annotations

import dataclasses
import json
import platform
import subprocess
import time
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

import pandas as pd
import torch

from bench.core.config import MetricConfig, SuiteConfig
from bench.core.errors import BenchError, ConfigError
from bench.data.layout import REGION_SUFFIX, region_names
from bench.data.suite_data import SuiteData, prepare_data
from bench.metrics import get_metric
from bench.models.precision import check_precision
from bench.pipeline.execute import Job
from bench.pipeline.executors import Shard, pending_phases, pending_training, run_processes, run_ray, run_serial
from bench.pipeline.plan import Plan, plan_suite
from bench.pipeline.records import AgreementRecord, CalibrationRecord, EvaluateRecord, ExplainRecord, ScoreRecord, TimingRecord
from bench.pipeline.store import RecordStore
from bench.pipeline.workspace import Workspace
from bench.reporting.contrast import contrast_table, variant_table
from bench.reporting.publish import implementation_label, write_results, write_study
from bench.reporting.study import StudySettings, run_study
from bench.reporting.tables import (
    StoredRun,
    build_agreement,
    build_leaderboard,
    classifier_by_setting,
    cost_table,
    long_records,
    metric_rank_agreement,
    perturbation_curves,
    prediction_table,
    score_table,
)
from bench.utils.jsonio import write_json
from bench.utils.measure import device_description
from bench.utils.progress import progress

PACKAGES = ("torch", "torchvision", "numpy", "pandas", "captum", "grad-cam", "torchcam", "zennit", "safetensors", "pillow")
MANIFEST = "manifest.json"
PLAN = "plan.json"


@dataclass(frozen=True)
class Execution:
    """How to execute: 'local' with `workers` processes (1: this process) or 'ray'; optionally one shard of the plan."""

    executor: str = "local"
    workers: int = 1
    shard: Shard | None = None
    ray_address: str | None = None


@dataclass(frozen=True)
class Published:
    """What publishing wrote, and how complete the store was."""

    outputs: list[Path]
    planned: int
    missing: list[dict]
    failures: int


@dataclass(frozen=True)
class RunSummary:
    """What a run did: units planned, run and already stored, failures, stale records and the files it wrote."""

    planned: int
    ran: int
    skipped: int
    failures: int
    stale: int
    missing: int
    outputs: list[Path]


def resolve_device(name: str) -> torch.device:
    """'auto' picks CUDA when available; 'cuda' without a GPU is an error."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise BenchError("device 'cuda' requested but torch sees no CUDA device")
    return torch.device(name)


def package_versions() -> dict[str, str | None]:
    """Installed versions of the packages that shape results."""
    versions = {}
    for name in PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    return versions


def git_revision() -> str | None:
    """The current git commit (with '+dirty' when the tree has changes), or None outside a checkout."""
    try:
        rev = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True, check=True, timeout=10).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"], capture_output=True, text=True, timeout=10
        ).stdout.strip()
        return rev + ("+dirty" if dirty else "")
    except (OSError, subprocess.SubprocessError):
        return None


def prepare(cfg: SuiteConfig) -> SuiteData:
    """Stage 1: generate (synthetic, once, under a lock), discover and digest the data set. Models are planned, not prepared here;
    a metric's region that no sample of the explained split has is an error naming it, before any work."""
    data = prepare_data(cfg)
    found = region_names(data.split_refs(cfg.data.split, cfg.data.limit))
    for m in cfg.metrics:
        if m.region and m.region not in found:
            have = ", ".join(found) or "none"
            raise ConfigError(cfg.path, "metrics.region", f"column {m.column()!r}: no sample of the {cfg.data.split!r} split has a "
                              f"{m.region!r} region mask (looked in {data.root}/{m.region}{REGION_SUFFIX}/; regions found: {have})")
    return data


def plan(cfg: SuiteConfig, data: SuiteData, device: torch.device) -> Plan:
    """Stage 2: every unit of the suite, before anything is trained."""
    return plan_suite(cfg, data, data.split_ids(cfg.data.split, cfg.data.limit), device_description(device))


def execute(plan_: Plan, cfg: SuiteConfig, data: SuiteData, device: torch.device, how: Execution = Execution()) -> list:
    """Stage 3: run the plan's missing units (those of this shard only, when sharded); returns the jobs run here."""
    check_precision(cfg.run.precision, device)
    ws = Workspace(cfg, data, device, {ref.name: ref for ref in plan_.models})

    def run(phases: list[list[Job]], alone: list[Job]) -> list[Job]:
        if how.shard is not None:
            phases, alone = [[j for j in phase if how.shard.owns(j.lead.key)] for phase in phases], [j for j in alone if how.shard.owns(j.lead.key)]
        ticks = iter(progress(range(sum(len(p) for p in phases) + len(alone)), desc=f"running {cfg.suite.name}", unit="job"))
        tick = lambda job: next(ticks, None)  # noqa: E731
        if how.executor == "ray":
            ran = run_ray(phases, ws, how.ray_address, tick)
        elif how.workers > 1:
            ran = run_processes(phases, ws, how.workers, tick)
        else:
            ran = run_serial(phases, ws, tick)
        # Calibration and timing run here, after every other job has finished, so that nothing shares their device.
        ran += run_serial([alone], ws, tick)
        for _ in ticks:
            pass
        return ran

    ran = run([pending_training(plan_)], [])
    # Every rank needs every model before it explains (training once, under a lock): only then are the weights
    # digests known that tell records of these weights from records of the same settings trained elsewhere.
    for ref in plan_.models:
        if ref.trained_here:
            ws.train(ref)
    *phases, alone = pending_phases(plan_, ws.store)[1:]
    return ran + run(phases, alone)


def stored_run(described: dict, store: RecordStore, cfg: SuiteConfig) -> tuple[StoredRun, list[dict]]:
    """The stored records a described plan names, typed, and the units still missing (a timing from another device stands in)."""
    units = described["units"]
    records = store.read_all([u["key"] for u in units if u["kind"] != "train"])
    by_logical = (
        {r.logical_key: r for r in store.read_all().values() if isinstance(r, TimingRecord)}
        if any(u["kind"] == "timing" and u["key"] not in records for u in units)
        else {}
    )
    metrics = {m.column(): m for m in cfg.metrics}
    explains, scores, timings, agreements, evaluations, calibrations, missing = [], [], [], [], [], [], []
    for u in units:
        if u["kind"] == "train":
            continue
        record = records.get(u["key"]) or (by_logical.get(u["logical_key"]) if u["kind"] == "timing" else None)
        if record is None:
            missing.append(u)
        elif isinstance(record, ScoreRecord):
            scores.append((metrics.get(u["column"]) or _metric_of(record), record))
        else:
            {
                ExplainRecord: explains,
                TimingRecord: timings,
                AgreementRecord: agreements,
                EvaluateRecord: evaluations,
                CalibrationRecord: calibrations,
            }.get(type(record), []).append(record)
    return StoredRun(explains, scores, timings, agreements, evaluations, calibrations), missing


def _metric_of(record: ScoreRecord) -> MetricConfig:
    """The metric entry a score record was made for, when the plan that named it is gone (a schema-1 store)."""
    return MetricConfig(
        record.metric,
        record.metric_params,
        label=record.column,
        curve=record.curve,
        sweep_param=record.sweep_param,
        sweep_value=record.sweep_value,
    )


def publish(cfg: SuiteConfig, described: dict | None = None) -> Published:
    """Stage 4: the tables, from the store alone (never a model), marked incomplete with what is missing."""
    out_dir = cfg.results_dir()
    described = described if described is not None else load_plan(cfg)
    store = RecordStore(out_dir / "records")
    run, missing = stored_run(described, store, cfg)
    scores, costs = score_table(run, cfg), cost_table(run)
    board = build_leaderboard(run, cfg, scores, costs)
    classifiers = classifier_by_setting(run.evaluations)
    for e in run.evaluations:
        model = next((m for m in described["models"] if m["name"] == e.model.name), None)
        card_path = Path(model["directory"]) / "model_card.json" if model else None
        published = out_dir / "models" / f"{e.model.name}.json"
        # Without the model cache (publishing on another machine), the card published before is kept, not emptied.
        card = (json.loads(card_path.read_text()) if card_path and card_path.is_file()
                else json.loads(published.read_text()) if published.is_file() else {})
        write_json(
            out_dir / "models" / f"{e.model.name}.json",
            {**card, "identity": dataclasses.asdict(e.model), "explained_split": {e.split: e.report},
             # A checkpoint along training is explained, not the one the card's training selected.
             **({"explained_epoch": model["epoch"]} if model and model.get("epoch") else {})},
        )
    context = {
        "samples": described["samples"],
        "dataset_digest": described["dataset_digest"],
        "device": ", ".join(sorted({t.device for t in run.timings})) or "–",
        "classifiers": classifiers,
        "missing": len(missing),
        "planned": sum(u["kind"] != "train" for u in described["units"]),
    }
    records = long_records(run)
    outputs = write_results(
        out_dir,
        board,
        records,
        cfg,
        context,
        build_agreement(run, cfg),
        metric_rank_agreement(board, cfg),
        scores=scores,
        costs=costs,
        seeds=score_table(run, cfg, per_seed=True) if any(s.model.factors for _, s in run.scores) else None,
        perturbation=perturbation_curves(run, cfg),
        predictions=prediction_table(run.evaluations),
        variants=variant_table(run.evaluations),
        contrast=contrast_table(run, cfg),
    )
    outputs += publish_study(cfg, records, described, run)
    failures = sum(len(f.sample_ids) for r in run.all() for f in getattr(r, "failures", []))
    return Published(outputs, context["planned"], missing, failures)


def publish_study(cfg: SuiteConfig, records: pd.DataFrame, described: dict, run: StoredRun) -> list[Path]:
    """The study of the suite's model grids (study.md and its tables), when it has any."""
    if records.empty or not any(m.get("factors") for m in described["models"]):
        return []
    labelled = records.assign(implementation=[implementation_label(a, p) for a, p in zip(records["implementation"], records["params"])])
    baselines = set(labelled.loc[labelled["library"] == "baseline", "implementation"])
    directions = {m.column(): get_metric(m.name).direction for m in cfg.metrics}
    settings = StudySettings(cfg.leaderboard.bootstrap, cfg.leaderboard.confidence, cfg.suite.seed)
    study = run_study(cfg.suite.name, labelled, described, {e.model.name: e.report for e in run.evaluations}, directions, baselines, settings)
    return write_study(cfg.results_dir(), study) if study else []


def load_plan(cfg: SuiteConfig) -> dict:
    """The plan the last run of this suite wrote (plan.json), or the unit list of an older run's manifest."""
    out_dir = cfg.results_dir()
    if (out_dir / PLAN).is_file():
        return json.loads((out_dir / PLAN).read_text())
    if (out_dir / MANIFEST).is_file():
        manifest = json.loads((out_dir / MANIFEST).read_text())
        return _plan_from_v1_manifest(manifest, RecordStore(out_dir / "records"))
    raise BenchError(f"{out_dir}: no {PLAN} or {MANIFEST}; run the suite (or `bench plan`) first")


def _plan_from_v1_manifest(manifest: dict, store: RecordStore) -> dict:
    """A schema-1 run's unit list as a plan: its quality units split into the explain and score records they migrate to."""
    units = []
    for u in manifest["units"]:
        for r in store.read_all([u["key"]]).values():
            column = r.column if isinstance(r, ScoreRecord) else ""
            units.append(
                {"key": r.key, "kind": r.kind, "model": u["model"], "column": column, "logical_key": getattr(r, "logical_key", "")}
            )
    return {
        "suite": manifest["suite"],
        "dataset_digest": manifest["dataset"]["digest"],
        "samples": manifest["dataset"]["samples"],
        "models": [{"name": m["name"], "directory": m.get("directory", "")} for m in manifest["models"]],
        "units": units,
    }


def run_suite(cfg: SuiteConfig, *, device: torch.device | None = None, how: Execution = Execution(), prune: bool = False) -> RunSummary:
    """Prepare, plan, execute what is missing, publish; stored units the plan no longer names are kept unless prune is set."""
    started = time.time()
    device = device or resolve_device(cfg.run.device)
    check_precision(cfg.run.precision, device)
    data = prepare(cfg)
    the_plan = plan(cfg, data, device)
    out_dir = cfg.results_dir()
    described = the_plan.describe()
    write_json(out_dir / PLAN, described)
    ran = execute(the_plan, cfg, data, device, how)
    published = publish(cfg, described)
    store = RecordStore(out_dir / "records")
    planned_keys = {u.key for u in the_plan.units}
    stale = sorted(set(store.keys()) - planned_keys)
    if prune:
        for key in stale:
            store.remove(key)
    ran_units = sum(len(j.keys) for j in ran)
    manifest = {
        "suite": cfg.suite.name,
        "suite_file": cfg.path,
        "fingerprint": cfg.fingerprint(),
        "config": {k: v for k, v in dataclasses.asdict(cfg).items() if k != "path"},
        "dataset": {
            "root": str(data.root),
            "digest": data.digest,
            "explained_split": cfg.data.split,
            "samples": len(the_plan.sample_ids),
            "sample_ids_sha": described["sample_ids_sha"],
        },
        "models": described["models"],
        "plan": PLAN,
        "units": len(the_plan.units),
        "seeds": {"suite": cfg.suite.seed, "training": {m.name: m.train.seed for m in cfg.models}},
        "execution": {"executor": how.executor, "workers": how.workers, "shard": dataclasses.asdict(how.shard) if how.shard else None},
        "versions": package_versions(),
        "torch_build": torch.__version__,
        "cuda": torch.version.cuda,
        "python": platform.python_version(),
        "device": device_description(device),
        "git_revision": git_revision(),
        "ran_units": ran_units,
        "missing_units": len(published.missing),
        "wall_seconds": time.time() - started,
    }
    write_json(out_dir / MANIFEST, manifest)
    return RunSummary(
        len(the_plan.units),
        ran_units,
        len(the_plan.units) - ran_units,
        published.failures,
        0 if prune else len(stale),
        len(published.missing),
        [*published.outputs, out_dir / PLAN, out_dir / MANIFEST],
    )
