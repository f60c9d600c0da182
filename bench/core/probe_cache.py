"""A passed probe, remembered: the key covers everything its verdict depends on, so a suite whose methods, models
and data settings, library versions and harness source are unchanged is not probed again (the probe imports every
explanation library it calls, seconds that a run which only scores stored maps would otherwise pay each time)."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
from importlib import metadata
from importlib.metadata import entry_points
from pathlib import Path

import bench
from bench.core.config import SuiteConfig
from bench.core.registry import ENTRY_POINT_GROUP
from bench.utils.atomic_files import write_text_atomic

PACKAGES = ("torch", "torchvision", "captum", "grad-cam", "safetensors")
_SOURCES = (Path(bench.__file__).parent, Path(bench.__file__).parent.parent / "adapters")


def _version(name: str) -> str | None:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None


def _file_state(path: str) -> list | None:
    if not path or not os.path.exists(path):
        return None
    stat = os.stat(path)
    return [path, stat.st_size, stat.st_mtime_ns]


def _source_digest() -> str:
    digest = hashlib.sha256()
    for root in _SOURCES:
        for path in sorted(root.rglob("*.py")):
            digest.update(str(path.relative_to(root.parent)).encode())
            digest.update(path.read_bytes())
    return digest.hexdigest()


def probe_key(cfg: SuiteConfig) -> str:
    """A hash of what the probe's verdict on cfg depends on (not the metrics, which it only constructs while loading)."""
    identity = {
        "methods": [dataclasses.asdict(m) for m in cfg.methods],
        "models": [{**dataclasses.asdict(m), "files": [_file_state(m.checkpoint), _file_state(m.pretrained)]} for m in cfg.models],
        "data": {k: v for k, v in dataclasses.asdict(cfg.data).items() if k != "synthetic"} | {"manifest_state": _file_state(
            str(Path(cfg.data.root) / cfg.data.manifest) if cfg.data.manifest else "")},
        "versions": {name: _version(name) for name in PACKAGES},
        "plugins": sorted(f"{ep.name}={ep.value}" for ep in entry_points(group=ENTRY_POINT_GROUP)),
        "source": _source_digest(),
    }
    return hashlib.sha256(json.dumps(identity, sort_keys=True, default=str).encode()).hexdigest()[:24]


def _marker(cfg: SuiteConfig) -> Path:
    from bench.models.model_store import cache_dir

    return cache_dir() / "probe" / f"{probe_key(cfg)}.passed"


def passed_before(cfg: SuiteConfig) -> bool:
    """Whether the probe has passed on exactly this suite, libraries and source before."""
    return _marker(cfg).is_file()


def remember_pass(cfg: SuiteConfig) -> None:
    """Record that the probe passed on cfg (only passes are remembered: errors are always reported afresh)."""
    write_text_atomic(_marker(cfg), cfg.path + "\n")
