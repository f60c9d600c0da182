"""End to end beyond binary RGB images: MNIST1D signals with a 1-D CNN, and eight texture classes with VGG-7 and VGG-11-BN."""

from __future__ import annotations

import pandas as pd
import pytest

from bench.core.config import parse_suite
from bench.pipeline.records import EvaluateRecord, ExplainRecord
from bench.pipeline.stages import run_suite
from bench.pipeline.store import RecordStore


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("BENCH_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache"


def _suite(tmp_path, data: dict, models: list[dict], methods: list[dict], metrics: list[dict], target="label"):
    return parse_suite({"suite": {"name": "any"}, "data": data, "models": models, "methods": methods, "metrics": metrics,
                        "run": {"results": str(tmp_path / "results"), "device": "cpu", "batch_size": 16, "shard_size": 20, "target": target},
                        "measure": {"enabled": False}, "agreement": {"enabled": True}}, str(tmp_path / "any.toml"))


@pytest.mark.slow
def test_mnist1d_signals_run_with_every_method_family_and_pytorch_grad_cam_refuses_1d(tmp_path, cache) -> None:
    train = {"epochs": 2, "batch_size": 100, "lr": 0.01, "augment": False, "select": "accuracy"}
    cfg = _suite(tmp_path, {"source": "mnist1d", "root": str(tmp_path / "mnist1d"), "limit": 20},
                 [{"name": "cnn", "arch": "zoo:mnist1d_cnn", "normalise": "none", "train": train}],
                 [{"name": "inhouse.gradcam"}, {"name": "captum.gradcam"}, {"name": "gradcam.gradcam"},
                  {"name": "inhouse.integrated_gradients", "params": {"steps": 8}},
                  {"name": "inhouse.integrated_gradients", "params": {"steps": 8, "channel_reduction": "abs_sum"}},
                  {"name": "inhouse.occlusion", "params": {"window": 5, "stride": 1}}],
                 [{"name": "drop_rate", "params": {"fraction": 0.3}}, {"name": "pointing_game"}])
    summary = run_suite(cfg)
    assert summary.ran == summary.planned
    board = pd.read_csv(cfg.results_dir() / "leaderboard.csv").set_index("implementation")
    assert board.loc["gradcam.gradcam", "failures"] > 0
    assert (board.drop("gradcam.gradcam")["failures"] == 0).all()
    assert board.loc["inhouse.gradcam", "pointing_game_n"] == 20
    records = RecordStore(cfg.results_dir() / "records").read_all().values()
    refusal = [f.error for r in records if isinstance(r, ExplainRecord) and r.implementation.adapter == "gradcam.gradcam" for f in r.failures]
    assert refusal and all("NotSupported" in e and "spatial dimensions" in e for e in refusal)
    report = next(r.report for r in records if isinstance(r, EvaluateRecord))
    assert report["num_classes"] == 10 and len(report["confusion_matrix"]) == 10 and "tpr" not in report
    ig = board.loc["inhouse.integrated_gradients"].set_index("params")["drop_rate(fraction=0.3)"]
    signed, absolute = ig['{"steps": 8}'], ig['{"channel_reduction": "abs_sum", "steps": 8}']
    assert signed != absolute  # one input channel: the signed map and its magnitude rank the samples differently
    markdown = (cfg.results_dir() / "leaderboard.md").read_text()
    assert "Confusion matrix" in markdown and "`inhouse.integrated_gradients(channel_reduction=abs_sum,steps=8)`" in markdown


@pytest.mark.slow
def test_eight_texture_classes_with_vgg7_and_torchvision_vgg(tmp_path, cache) -> None:
    train = {"epochs": 1, "batch_size": 16, "select": "accuracy"}
    cfg = _suite(tmp_path, {"source": "textures", "root": str(tmp_path / "textures"), "image_size": 32,
                            "textures": {"counts": {"train": 2, "val": 1, "test": 2}}},
                 [{"name": "vgg7", "arch": "zoo:vgg7", "arch_params": {"batchnorm": True, "widths": [8, 8, 16, 16, 16, 16]}, "train": train},
                  {"name": "vgg11", "arch": "vgg11_bn", "train": train}],
                 [{"name": "inhouse.cam"}, {"name": "inhouse.gradcam"}, {"name": "gradcam.gradcam"}, {"name": "baseline.random"}],
                 [{"name": "energy_in_mask"}, {"name": "increase_rate", "params": {"fraction": 0.3}}], target=3)
    summary = run_suite(cfg)
    assert summary.ran == summary.planned
    board = pd.read_csv(cfg.results_dir() / "leaderboard.csv").set_index(["model", "implementation"])
    assert board.loc[("vgg7", "inhouse.cam"), "failures"] == 0
    assert board.loc[("vgg11", "inhouse.cam"), "failures"] > 0  # a flatten head: CAM is undefined and says so
    assert board.loc[("vgg11", "inhouse.gradcam"), "energy_in_mask_n"] == 16
    records = RecordStore(cfg.results_dir() / "records").read_all().values()
    evaluate = [r for r in records if isinstance(r, EvaluateRecord)]
    assert {r.model.name for r in evaluate} == {"vgg7", "vgg11"} and all(set(r.targets) == {3} for r in evaluate)
    assert all(r.report["num_classes"] == 8 and sum(map(sum, r.report["confusion_matrix"])) == 16 for r in evaluate)
