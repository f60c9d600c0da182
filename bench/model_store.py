"""Models of a suite: loaded from a checkpoint, or trained once and cached by a fingerprint."""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import asdict
from pathlib import Path

import torch
from torch import nn

from bench.config import ModelConfig, SuiteConfig
from bench.errors import InputError
from bench.layers import default_layer
from bench.models.checkpoint import file_digest, load_checkpoint
from bench.models.resnet import ModelSpec, build_model
from bench.plan import PreparedModel
from bench.suite_data import SuiteData
from bench.training import CARD, TRAINER_VERSION, load_trained, train


def cache_dir() -> Path:
    """Where trained models are cached: $BENCH_CACHE, else .cache/bench in the working directory."""
    return Path(os.environ.get("BENCH_CACHE", ".cache/bench"))


def model_spec(m: ModelConfig) -> ModelSpec:
    """The architecture part of a model entry."""
    return ModelSpec(arch=m.arch, dropout=m.dropout, batchnorm=m.batchnorm, pretrained=m.pretrained or None)


def training_fingerprint(m: ModelConfig, data: SuiteData) -> str:
    """Hash of everything a trained model depends on: architecture, training, data and trainer version."""
    pretrained = file_digest(Path(m.pretrained)) if m.pretrained else None
    identity = {"spec": asdict(model_spec(m)) | {"pretrained": pretrained}, "train": asdict(m.train), "data": data.digest,
                "size": data.image_size, "trainer": TRAINER_VERSION}
    return hashlib.sha256(json.dumps(identity, sort_keys=True).encode()).hexdigest()[:16]


def _load_checkpoint(m: ModelConfig, file: str) -> tuple[nn.Module, dict, Path]:
    path = Path(m.checkpoint)
    if path.is_dir():
        if not (path / CARD).is_file():
            raise InputError(file, f"models.{m.name}.checkpoint", f"{path} has no {CARD}: point at a model directory made by `bench train` or a .safetensors file")
        model, card = load_trained(path)
        return model, card, path / card["checkpoint"]
    model = load_checkpoint(build_model(model_spec(m)), path)
    return model, {"model": asdict(model_spec(m)), "checkpoint": path.name}, path


def prepare_model(m: ModelConfig, cfg: SuiteConfig, data: SuiteData, device: torch.device) -> tuple[PreparedModel, nn.Module, dict]:
    """(identity, model in eval mode on device, model card) for one model entry; trains it if needed."""
    if m.checkpoint:
        model, card, weights = _load_checkpoint(m, cfg.path)
        directory = weights.parent
    else:
        directory = cache_dir() / "models" / f"{m.name}-{training_fingerprint(m, data)}"
        if not (directory / CARD).is_file():
            has_test = any(r.split == "test" for r in data.refs)
            train(model_spec(m), m.train, data.split("train"), data.split("val"), directory, device=device,
                  test_split=data.split("test") if has_test else None,
                  extra_card={"dataset_digest": data.digest, "image_size": data.image_size, "data_root": str(data.root)})
        model, card = load_trained(directory)
        weights = directory / card["checkpoint"]
    layer = m.target_layer or default_layer(model)
    prepared = PreparedModel(m.name, file_digest(weights), layer, str(directory))
    return prepared, model.to(device).eval(), card
