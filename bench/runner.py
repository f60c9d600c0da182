"""Running a suite: prepare data and models, plan, skip stored units, run the rest, publish."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import platform
import subprocess
import time
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

import torch

from bench.classifier_metrics import classifier_report
from bench.config import SuiteConfig
from bench.jsonio import write_json
from bench.leaderboard import build_agreement, build_leaderboard, long_records, metric_rank_agreement
from bench.model_store import prepare_model
from bench.models.resnet import normalise
from bench.plan import plan_units
from bench.progress import progress
from bench.publish import write_results
from bench.store import RecordStore
from bench.suite_data import prepare_data
from bench.training import predict
from bench.units import UnitInputs, model_pass_ms, run_agreement_unit, run_quality_unit, run_timing_unit

PACKAGES = ("torch", "torchvision", "numpy", "pandas", "captum", "grad-cam", "safetensors", "pillow")
MANIFEST = "manifest.json"



@dataclass(frozen=True)
class RunSummary:
    """What a run did: units planned, run and skipped, failures, and the files it wrote."""

    planned: int
    ran: int
    skipped: int
    failures: int
    stale: int
    outputs: list[Path]


def unit_runner(kind: str):  # noqa: ANN201 - returns one of the run_*_unit functions
    """The function that executes units of this kind (looked up at call time)."""
    return {"quality": run_quality_unit, "timing": run_timing_unit, "agreement": run_agreement_unit}[kind]


def resolve_device(name: str) -> torch.device:
    """'auto' picks CUDA when available; 'cuda' without a GPU is an error."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise RuntimeError("device 'cuda' requested but torch sees no CUDA device")
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
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], capture_output=True, text=True, timeout=10).stdout.strip()
        return rev + ("+dirty" if dirty else "")
    except (OSError, subprocess.SubprocessError):
        return None


def device_description(device: torch.device) -> str:
    """The device in words (GPU name, or CPU and thread count)."""
    if device.type == "cuda":
        return f"cuda:{torch.cuda.get_device_name(device)}"
    return f"cpu:{platform.processor() or platform.machine()} ({torch.get_num_threads()} threads)"


def run_suite(cfg: SuiteConfig, *, device: torch.device | None = None, prune: bool = False) -> RunSummary:
    """Run every unit of the suite that is not stored yet, then rebuild the leaderboard and manifest.

    Stored units that the plan no longer contains (another model, data set or setting) are kept
    unless prune is set; they never enter the leaderboard.
    """
    started = time.time()
    device = device or resolve_device(cfg.run.device)
    data = prepare_data(cfg)
    prepared = [prepare_model(m, cfg, data, device) for m in cfg.models]
    split = data.split(cfg.data.split, cfg.data.limit)
    out_dir = cfg.results_dir()
    store = RecordStore(out_dir / "records")
    units = plan_units(cfg, [p for p, _, _ in prepared], split.ids, data.digest, device_description(device))
    todo = [u for u in units if not store.has(u.key)]

    classifiers, inputs = {}, {}
    for identity, model, card in prepared:
        probs = predict(model, split.images, batch_size=cfg.run.batch_size, device=device, desc=f"predicting with {identity.name}")
        classifiers[identity.name] = classifier_report(probs[:, 1], split.labels)
        targets = split.labels if cfg.run.target == "label" else probs.argmax(1)
        inputs[identity.name] = (model, targets)
        write_json(out_dir / "models" / f"{identity.name}.json", {**card, "identity": dataclasses.asdict(identity),
                                                                  "explained_split": {cfg.data.split: classifiers[identity.name]}})
    index = {sid: i for i, sid in enumerate(split.ids)}
    pass_ms: dict[str, dict[str, float]] = {}
    for unit in progress(todo, desc=f"running {cfg.suite.name}", unit="unit"):
        model, targets = inputs[unit.model.name]
        picked = torch.tensor([index[s] for s in unit.sample_ids], dtype=torch.long)
        unit_inputs = UnitInputs(model, split.subset(picked), targets[picked], device)
        if unit.kind == "timing":
            if unit.model.name not in pass_ms:
                # Measured once per model and run; it also warms caches so that the first timed method pays no start-up cost.
                pass_ms[unit.model.name] = model_pass_ms(model, normalise(unit_inputs.samples.images.to(device)),
                                                         unit_inputs.targets.to(device), device=device, repeats=5)
            unit_inputs.pass_ms = pass_ms[unit.model.name]
        store.write(unit.key, unit_runner(unit.kind)(unit, cfg, unit_inputs, data.digest))

    stored = [store.read(u.key) for u in units]
    board = build_leaderboard(stored, cfg)
    context = {"samples": len(split), "dataset_digest": data.digest, "device": device_description(device), "classifiers": classifiers}
    outputs = write_results(out_dir, board, long_records(stored), cfg, context, build_agreement(stored, cfg), metric_rank_agreement(board, cfg))
    manifest = {
        "suite": cfg.suite.name, "suite_file": cfg.path, "fingerprint": cfg.fingerprint(),
        "config": {k: v for k, v in dataclasses.asdict(cfg).items() if k != "path"},
        "dataset": {"root": str(data.root), "digest": data.digest, "explained_split": cfg.data.split, "samples": len(split),
                    "sample_ids_sha": hashlib.sha256("\n".join(split.ids).encode()).hexdigest()},
        "models": [dataclasses.asdict(p) for p, _, _ in prepared], "classifiers": classifiers,
        "units": [{"key": u.key, "kind": u.kind, "model": u.model.name, "method": u.method.name, "shard": u.shard} for u in units],
        "seeds": {"suite": cfg.suite.seed, "training": {m.name: m.train.seed for m in cfg.models}},
        "versions": package_versions(), "torch_build": torch.__version__, "cuda": torch.version.cuda, "python": platform.python_version(), "device": device_description(device),
        "git_revision": git_revision(), "ran_units": len(todo), "skipped_units": len(units) - len(todo),
        "wall_seconds": time.time() - started,
    }
    write_json(out_dir / MANIFEST, manifest)
    stale = sorted(set(store.keys()) - {u.key for u in units})
    if prune:
        for key in stale:
            store.path(key).unlink()
    failures = sum(len(u.get("failures", [])) for u in stored)
    return RunSummary(len(units), len(todo), len(units) - len(todo), failures, 0 if prune else len(stale), [*outputs, out_dir / MANIFEST])


def rebuild_leaderboard(cfg: SuiteConfig) -> list[Path]:
    """Rebuild the published tables from the records the last run's manifest lists, without any model."""
    out_dir = cfg.results_dir()
    manifest = json.loads((out_dir / MANIFEST).read_text())
    store = RecordStore(out_dir / "records")
    stored = [store.read(u["key"]) for u in manifest["units"]]
    context = {"samples": manifest["dataset"]["samples"], "dataset_digest": manifest["dataset"]["digest"],
               "device": manifest["device"], "classifiers": manifest["classifiers"]}
    board = build_leaderboard(stored, cfg)
    return write_results(out_dir, board, long_records(stored), cfg, context, build_agreement(stored, cfg), metric_rank_agreement(board, cfg))
