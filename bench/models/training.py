"""Training a classifier on the train split, selecting on val, with per-epoch checkpoints and a model card."""

from __future__ import annotations

import json
import math
import os
import shutil
import time
from dataclasses import asdict
from pathlib import Path

import torch
from torch import nn

from bench.core.config import CARD, SELECT_KEYS, TrainConfig
from bench.data.images import SplitData
from bench.models.builders import ModelSpec, build_model
from bench.models.checkpoint import file_digest, load_checkpoint, save_checkpoint
from bench.models.classifier_metrics import classifier_report
from bench.models.preprocessing import PRESETS, Preprocessing, attach, preprocessing_of
from bench.utils.atomic_files import unique_suffix
from bench.utils.jsonio import write_json
from bench.utils.progress import progress

TRAINER_VERSION = 2
# CARD, SELECT_KEYS and TrainConfig are defined in bench.core.config, which checks suite files without importing torch;
# training code may keep importing them from here.


def _augment(x: torch.Tensor, gen: torch.Generator, preprocessing: Preprocessing) -> torch.Tensor:
    """Random flips along every spatial axis and a gain jitter clamped to the value range, batched, on the device (raw units)."""
    n = x.shape[0]
    # Last axis first: for images the horizontal flip, then the vertical one, as the trainer has always drawn them.
    for axis in range(x.ndim - 1, 1, -1):
        flip = torch.rand(n, generator=gen, device="cpu").to(x.device) < 0.5
        x = torch.where(flip.view(-1, *[1] * (x.ndim - 1)), x.flip(axis), x)
    gain = (0.85 + 0.3 * torch.rand(n, *[1] * (x.ndim - 1), generator=gen)).to(x.device)
    low, high = (v * preprocessing.scale for v in preprocessing.value_range)
    return (x.float() * gain).clamp(low, high)


@torch.no_grad()
def predict(model: nn.Module, inputs: torch.Tensor, *, batch_size: int, device: torch.device, desc: str | None = None) -> torch.Tensor:
    """Softmax probabilities (N, classes) of model over raw inputs, normalised by the model's preprocessing, batched on device."""
    model.eval()
    preprocessing = preprocessing_of(model)
    out = []
    starts = range(0, len(inputs), batch_size)
    for start in progress(starts, desc=desc, unit="batch") if desc else starts:
        out.append(torch.softmax(model(preprocessing.normalise(inputs[start:start + batch_size].to(device))), dim=1).cpu())
    return torch.cat(out)


def evaluate(model: nn.Module, split: SplitData, *, batch_size: int, device: torch.device, classes: tuple[str, ...] | None = None) -> dict:
    """Classifier report plus mean cross-entropy on one split."""
    probs = predict(model, split.inputs, batch_size=batch_size, device=device)
    loss = float(nn.functional.nll_loss(torch.log(probs.clamp_min(1e-12)), split.labels))
    return {**classifier_report(probs, split.labels, classes), "loss": loss}


def _score(report: dict, key: str) -> float:
    value = report[key]
    if math.isnan(value):
        return -math.inf
    return -value if key == "loss" else value


def train(spec: ModelSpec, preprocessing: Preprocessing, config: TrainConfig, train_split: SplitData, val_split: SplitData, out_dir: Path, *,
          device: torch.device, test_split: SplitData | None = None, classes: tuple[str, ...] | None = None,
          extra_card: dict | None = None) -> Path:
    """Train, checkpoint every epoch, select on val, and write the model card (test is reported, never used)."""
    if config.select not in SELECT_KEYS:
        raise ValueError(f"select must be one of {SELECT_KEYS}, got {config.select!r}")
    out_dir = Path(out_dir)
    # Unique per host and process, so concurrent trainers never delete each other's staging directory.
    staging = out_dir.with_name(f"{out_dir.name}.{unique_suffix()}.partial")
    staging.mkdir(parents=True)
    torch.manual_seed(config.seed)
    gen = torch.Generator().manual_seed(config.seed)
    model = attach(build_model(spec).to(device), preprocessing)
    optimiser = torch.optim.AdamW(model.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    steps_per_epoch = math.ceil(len(train_split) / config.batch_size)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimiser, max_lr=config.lr, total_steps=config.epochs * steps_per_epoch, pct_start=0.2)
    history, started = [], time.time()
    for epoch in range(1, config.epochs + 1):
        model.train()
        order = torch.randperm(len(train_split), generator=gen)
        losses = []
        bar = progress(range(steps_per_epoch), desc=f"train epoch {epoch}/{config.epochs}", unit="batch")
        for step in bar:
            index = order[step * config.batch_size:(step + 1) * config.batch_size]
            x = train_split.inputs[index].to(device)
            x = _augment(x, gen, preprocessing) if config.augment else x.float()
            loss = nn.functional.cross_entropy(model(preprocessing.normalise(x)), train_split.labels[index].to(device))
            optimiser.zero_grad(set_to_none=True)
            loss.backward()
            optimiser.step()
            schedule.step()
            losses.append(float(loss.detach()))
        model.eval()
        val = evaluate(model, val_split, batch_size=2 * config.batch_size, device=device, classes=classes)
        name = epoch_checkpoint(epoch)
        save_checkpoint(model, staging / name, {"epoch": str(epoch)})
        history.append({"epoch": epoch, "checkpoint": name, "train_loss": sum(losses) / len(losses), "val": val})
    best = max(history, key=lambda h: (_score(h["val"], config.select), h["epoch"]))
    load_checkpoint(model, staging / best["checkpoint"])
    card = {
        "trainer_version": TRAINER_VERSION,
        "model": asdict(spec),
        "preprocessing": preprocessing.to_dict(),
        "classes": list(classes) if classes else None,
        "train": asdict(config),
        "selected_epoch": best["epoch"],
        "checkpoint": best["checkpoint"],
        "checkpoint_sha256": file_digest(staging / best["checkpoint"]),
        "history": history,
        "splits": {"train": evaluate(model, train_split, batch_size=2 * config.batch_size, device=device, classes=classes), "val": best["val"],
                   **({"test": evaluate(model, test_split, batch_size=2 * config.batch_size, device=device, classes=classes)}
                      if test_split else {})},
        "train_seconds": time.time() - started,
        "device": str(device),
        "torch": torch.__version__,
        **(extra_card or {}),
    }
    write_json(staging / CARD, card)
    if out_dir.exists():
        shutil.rmtree(out_dir)
    os.replace(staging, out_dir)
    return out_dir


def epoch_checkpoint(epoch: int) -> str:
    """The file name of the checkpoint saved after an epoch."""
    return f"epoch-{epoch:03d}.safetensors"


def checkpoint_file(card: dict, epoch: int = 0) -> str:
    """The checkpoint a model card's training selected, or the one saved after `epoch`."""
    return epoch_checkpoint(epoch) if epoch else card["checkpoint"]


def card_preprocessing(card: dict) -> Preprocessing:
    """The preprocessing a model card recorded; cards from before it was recorded are ImageNet-normalised 8-bit RGB images."""
    if "preprocessing" in card:
        return Preprocessing.from_dict(card["preprocessing"])
    mean, std = PRESETS["imagenet"]
    return Preprocessing(channels=3, rank=2, scale=255.0, mean=mean, std=std, name="imagenet")


def load_trained(model_dir: Path, epoch: int = 0) -> tuple[nn.Module, dict]:
    """A trained model directory's selected checkpoint (or that of `epoch`), built and loaded with its preprocessing attached, and its card."""
    model_dir = Path(model_dir)
    card = json.loads((model_dir / CARD).read_text())
    model = build_model(ModelSpec.from_card(card["model"]))
    load_checkpoint(model, model_dir / checkpoint_file(card, epoch))
    return attach(model, card_preprocessing(card)).eval(), card
