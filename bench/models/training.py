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
from bench.models.checkpoint import file_digest, load_checkpoint, save_checkpoint
from bench.models.classifier_metrics import classifier_report
from bench.models.resnet import ModelSpec, build_model, normalise
from bench.utils.atomic_files import unique_suffix
from bench.utils.jsonio import write_json
from bench.utils.progress import progress

TRAINER_VERSION = 2
# CARD, SELECT_KEYS and TrainConfig are defined in bench.core.config, which checks suite files without importing torch;
# training code may keep importing them from here.


def _augment(x: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    """Random flips and brightness/contrast jitter, batched, on the device."""
    n = x.shape[0]
    flip_h = torch.rand(n, generator=gen, device="cpu").to(x.device) < 0.5
    flip_v = torch.rand(n, generator=gen, device="cpu").to(x.device) < 0.5
    x = torch.where(flip_h.view(-1, 1, 1, 1), x.flip(3), x)
    x = torch.where(flip_v.view(-1, 1, 1, 1), x.flip(2), x)
    gain = (0.85 + 0.3 * torch.rand(n, 1, 1, 1, generator=gen)).to(x.device)
    return (x.float() * gain).clamp(0, 255)


@torch.no_grad()
def predict(model: nn.Module, images: torch.Tensor, *, batch_size: int, device: torch.device, desc: str | None = None) -> torch.Tensor:
    """Softmax probabilities (N, classes) of model over uint8 images, batched on device."""
    model.eval()
    out = []
    starts = range(0, len(images), batch_size)
    for start in progress(starts, desc=desc, unit="batch") if desc else starts:
        out.append(torch.softmax(model(normalise(images[start:start + batch_size].to(device))), dim=1).cpu())
    return torch.cat(out)


def evaluate(model: nn.Module, split: SplitData, *, batch_size: int, device: torch.device) -> dict:
    """Classifier report plus mean cross-entropy on one split."""
    probs = predict(model, split.images, batch_size=batch_size, device=device)
    loss = float(nn.functional.nll_loss(torch.log(probs.clamp_min(1e-12)), split.labels))
    return {**classifier_report(probs[:, 1], split.labels), "loss": loss}


def _score(report: dict, key: str) -> float:
    value = report[key]
    if math.isnan(value):
        return -math.inf
    return -value if key == "loss" else value


def train(spec: ModelSpec, config: TrainConfig, train_split: SplitData, val_split: SplitData, out_dir: Path, *,
          device: torch.device, test_split: SplitData | None = None, extra_card: dict | None = None) -> Path:
    """Train, checkpoint every epoch, select on val, and write the model card (test is reported, never used)."""
    if config.select not in SELECT_KEYS:
        raise ValueError(f"select must be one of {SELECT_KEYS}, got {config.select!r}")
    out_dir = Path(out_dir)
    # Unique per host and process, so concurrent trainers never delete each other's staging directory.
    staging = out_dir.with_name(f"{out_dir.name}.{unique_suffix()}.partial")
    staging.mkdir(parents=True)
    torch.manual_seed(config.seed)
    gen = torch.Generator().manual_seed(config.seed)
    model = build_model(spec).to(device)
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
            x = train_split.images[index].to(device)
            x = _augment(x, gen) if config.augment else x.float()
            loss = nn.functional.cross_entropy(model(normalise(x)), train_split.labels[index].to(device))
            optimiser.zero_grad(set_to_none=True)
            loss.backward()
            optimiser.step()
            schedule.step()
            losses.append(float(loss.detach()))
        model.eval()
        val = evaluate(model, val_split, batch_size=2 * config.batch_size, device=device)
        name = f"epoch-{epoch:03d}.safetensors"
        save_checkpoint(model, staging / name, {"epoch": str(epoch)})
        history.append({"epoch": epoch, "checkpoint": name, "train_loss": sum(losses) / len(losses), "val": val})
    best = max(history, key=lambda h: (_score(h["val"], config.select), h["epoch"]))
    load_checkpoint(model, staging / best["checkpoint"])
    card = {
        "trainer_version": TRAINER_VERSION,
        "model": asdict(spec),
        "train": asdict(config),
        "selected_epoch": best["epoch"],
        "checkpoint": best["checkpoint"],
        "checkpoint_sha256": file_digest(staging / best["checkpoint"]),
        "history": history,
        "splits": {"train": evaluate(model, train_split, batch_size=2 * config.batch_size, device=device), "val": best["val"],
                   **({"test": evaluate(model, test_split, batch_size=2 * config.batch_size, device=device)} if test_split else {})},
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


def load_trained(model_dir: Path) -> tuple[nn.Module, dict]:
    """The selected checkpoint of a trained model directory, built and loaded, with its card."""
    model_dir = Path(model_dir)
    card = json.loads((model_dir / CARD).read_text())
    model = build_model(ModelSpec(**{**card["model"], "pretrained": None}))
    load_checkpoint(model, model_dir / card["checkpoint"])
    return model.eval(), card
