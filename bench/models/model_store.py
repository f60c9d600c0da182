"""Models of a suite: loaded from a checkpoint, or trained once under a lock and cached by a fingerprint."""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import asdict
from pathlib import Path

import torch
from torch import nn

from bench.core.config import ModelConfig, SuiteConfig
from bench.core.errors import InputError
from bench.data.images import SplitData
from bench.data.suite_data import SuiteData, training_data
from bench.models.builders import ModelSpec, build_model
from bench.models.checkpoint import file_digest, load_checkpoint
from bench.models.preprocessing import Preprocessing, attach, resolve
from bench.models.training import CARD, TRAINER_VERSION, checkpoint_file, load_trained, train
from bench.utils.file_lock import file_lock


def cache_dir() -> Path:
    """Where trained models are cached: $BENCH_CACHE, else .cache/bench in the working directory."""
    return Path(os.environ.get("BENCH_CACHE", ".cache/bench"))


def model_spec(m: ModelConfig, data: SuiteData) -> ModelSpec:
    """The architecture part of a model entry, sized for the data (classes, channels, input shape)."""
    return ModelSpec(arch=m.arch, num_classes=len(data.classes), dropout=m.dropout, batchnorm=m.batchnorm, pretrained=m.pretrained or None,
                     params=dict(m.arch_params), channels=data.channels, input_shape=tuple(data.shape))


def normalisation(m: ModelConfig) -> str:
    """The entry's normalisation with "auto" decided: ImageNet statistics for ImageNet weights, else the train split's."""
    if m.normalise != "auto":
        return m.normalise
    return "imagenet" if m.pretrained else "dataset"


def preprocessing_for(m: ModelConfig, data: SuiteData, train_split: SplitData | None = None) -> Preprocessing:
    """The preprocessing of a model entry on the data; "dataset" statistics come from the train split (loaded if not given)."""
    choice = normalisation(m)
    train_pixels = None
    if choice == "dataset" and not (m.mean and m.std):
        train_pixels = (train_split or data.split("train")).inputs.float() / data.scale
    return resolve(choice, channels=data.channels, rank=data.rank, scale=data.scale, value_range=data.value_range,
                   train_pixels=train_pixels, mean=tuple(m.mean), std=tuple(m.std))


# The identity of models trained before the suite could choose a source, a normalisation or the input layout: leaving
# these out at their former meaning keeps those models' fingerprints, and the published records made from them, valid.
_FORMER = {"params": {}, "channels": 3, "normalise": "imagenet", "mean": [], "std": [], "shape": None}


def training_fingerprint(m: ModelConfig, data: SuiteData) -> str:
    """Hash of everything a trained model depends on: architecture, input layout and statistics, training, data and trainer version."""
    pretrained = file_digest(Path(m.pretrained)) if m.pretrained else None
    spec = model_spec(m, data)
    core = {k: v for k, v in asdict(spec).items() if k in ("arch", "num_classes", "dropout", "batchnorm", "pretrained")}
    added = {"params": dict(m.arch_params), "channels": data.channels, "normalise": normalisation(m), "mean": list(m.mean),
             "std": list(m.std), "shape": None if data.image_size else list(data.shape)}
    core |= {k: v for k, v in added.items() if v != _FORMER[k]}
    identity = {"spec": core | {"pretrained": pretrained}, "train": asdict(m.train), "data": data.digest,
                "size": data.image_size, "trainer": TRAINER_VERSION}
    return hashlib.sha256(json.dumps(identity, sort_keys=True).encode()).hexdigest()[:16]


def checkpoint_weights(path: Path, epoch: int = 0) -> Path:
    """The weights file of a checkpoint entry: the file itself, or the selected epoch (or `epoch`) of a `bench train` directory."""
    if path.is_dir():
        if not (path / CARD).is_file():
            raise InputError(path, "checkpoint", f"no {CARD}: point at a model directory made by `bench train` or a .safetensors file")
        # The card is read only when it decides: an epoch's checkpoint is named by the epoch alone.
        return path / checkpoint_file({} if epoch else json.loads((path / CARD).read_text()), epoch)
    return path


def is_trained(directory: Path) -> bool:
    """Whether a model directory holds a finished training (its card is written last)."""
    return (Path(directory) / CARD).is_file()


def ensure_trained(m: ModelConfig, directory: Path, data: SuiteData, device: torch.device) -> Path:
    """Train the model into directory unless it is there; concurrent callers wait on a lock and train it once."""
    directory = Path(directory)
    if is_trained(directory):
        return directory
    with file_lock(directory.with_name(directory.name + ".lock")):
        if not is_trained(directory):
            has_test = any(r.split == "test" for r in data.refs)
            train_split = data.split("train")
            train(model_spec(m, data), preprocessing_for(m, data, train_split), m.train, train_split, data.split("val"), directory, device=device,
                  test_split=data.split("test") if has_test else None, classes=data.classes,
                  extra_card={"dataset_digest": data.digest, "image_size": data.image_size, "data_root": str(data.root)})
    return directory


def load_model(m: ModelConfig, directory: Path, trained_here: bool, data: SuiteData) -> tuple[nn.Module, dict, Path]:
    """(model in eval mode with its preprocessing attached, model card, weights file) of a trained directory or a checkpoint entry."""
    path = Path(directory) if trained_here else Path(m.checkpoint)
    if path.is_dir():
        model, card = load_trained(path, m.checkpoint_epoch)
        return model, card, path / checkpoint_file(card, m.checkpoint_epoch)
    spec, preprocessing = model_spec(m, data), preprocessing_for(m, data)
    model = attach(load_checkpoint(build_model(spec), path), preprocessing)
    return model.eval(), {"model": asdict(spec), "preprocessing": preprocessing.to_dict(), "checkpoint": path.name}, path


def prepare_model(m: ModelConfig, cfg: SuiteConfig, data: SuiteData, device: torch.device) -> tuple[nn.Module, dict, Path]:
    """(model on device, card, weights file) for one model entry, training it first if needed."""
    from bench.pipeline.plan import model_ref

    trained_on = training_data(m, cfg, data)
    ref = model_ref(m, trained_on)
    if ref.trained_here:
        ensure_trained(m, Path(ref.directory), trained_on, device)
    model, card, weights = load_model(m, Path(ref.directory), ref.trained_here, data)
    return model.to(device).eval(), card, weights
