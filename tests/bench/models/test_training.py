"""Training on a tiny synthetic set: checkpoints per epoch, safe format, selection, model card."""

from __future__ import annotations

import json

import pytest
import torch
from safetensors.torch import load_file

from bench.data.images import load_split
from bench.data.layout import discover_folder
from bench.data.synthetic import LABELS, SyntheticSpec, generate
from bench.models.builders import ModelSpec
from bench.models.checkpoint import file_digest
from bench.models.preprocessing import Preprocessing, preprocessing_of, resolve
from bench.models.training import TrainConfig, evaluate, load_trained, train


@pytest.fixture(scope="module")
def splits(tmp_path_factory):
    root = tmp_path_factory.mktemp("synth")
    counts = {"train": {"glaucoma": 8, "health": 8}, "val": {"glaucoma": 4, "health": 4}}
    generate(root, SyntheticSpec(image_size=64, counts=counts))
    refs = discover_folder(root, LABELS)[0]
    return {s: load_split([r for r in refs if r.split == s], 64) for s in ("train", "val")}


def test_checkpoints_per_epoch_card_and_selection(tmp_path, splits) -> None:
    preprocessing = resolve("imagenet", channels=3, rank=2, scale=255.0, value_range=(0.0, 1.0))
    out = train(ModelSpec(), preprocessing, TrainConfig(epochs=2, batch_size=8, select="loss"), splits["train"], splits["val"], tmp_path / "m",
                device=torch.device("cpu"), classes=LABELS, extra_card={"dataset_digest": "abc"})
    card = json.loads((out / "model_card.json").read_text())
    files = sorted(p.name for p in out.glob("*.safetensors"))
    assert files == ["epoch-001.safetensors", "epoch-002.safetensors"]
    for name in files:  # safetensors: loadable without any pickle
        assert "fc.1.weight" in load_file(str(out / name))
    best = min(card["history"], key=lambda h: h["val"]["loss"])
    assert card["selected_epoch"] == best["epoch"] and card["checkpoint_sha256"] == file_digest(out / card["checkpoint"])
    for split in ("train", "val"):
        for key in ("accuracy", "roc_auc", "tpr", "fpr"):
            assert key in card["splits"][split]
    assert card["dataset_digest"] == "abc" and card["train"]["epochs"] == 2
    assert card["classes"] == list(LABELS) and Preprocessing.from_dict(card["preprocessing"]) == preprocessing
    model, _ = load_trained(out)
    assert preprocessing_of(model) == preprocessing
    assert evaluate(model, splits["val"], batch_size=8, device=torch.device("cpu"))["loss"] == pytest.approx(best["val"]["loss"], rel=1e-4)
    assert not any(p.name.endswith(".partial") for p in tmp_path.iterdir())
