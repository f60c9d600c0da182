"""Suites with model grids: planned trainings, shared checkpoints along training, leaderboards over seeds, the study."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from bench.core.config import load_suite
from bench.data.suite_data import prepare_data
from bench.models.checkpoint import file_digest
from bench.pipeline.plan import model_ref, plan_suite
from bench.pipeline.stages import run_suite
from tests.suites import tiny_suite

GRID = 'design = "one_at_a_time"\nsweep = { seed = [0, 1] }\nepochs = [1]\n'


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("BENCH_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache"


def _grid_suite(tmp_path):
    """The tiny suite with its model replicated over two seeds and explained after epoch 1 of 2 as well."""
    path = Path(tiny_suite(tmp_path, model=GRID).path)
    path.write_text(path.read_text().replace("[models.train]\nepochs = 1", "[models.train]\nepochs = 2"))
    return load_suite(path)


def _plan(cfg):
    data = prepare_data(cfg)
    return plan_suite(cfg, data, data.split_ids("test"), "cpu")


def test_checkpoints_along_one_training_share_it_and_seeds_train_apart(tmp_path, cache) -> None:
    cfg = _grid_suite(tmp_path)
    plan = _plan(cfg)
    refs = {m.name: m for m in plan.models}
    assert list(refs) == ["tiny-resnet[base,seed=0]", "tiny-resnet[base,seed=1]", "tiny-resnet[epoch=1,seed=0]", "tiny-resnet[epoch=1,seed=1]"]
    base, early, other_seed = refs["tiny-resnet[base,seed=0]"], refs["tiny-resnet[epoch=1,seed=0]"], refs["tiny-resnet[base,seed=1]"]
    assert early.fingerprint == base.fingerprint and early.directory == base.directory
    # Outside a plan too (bench train plans one model at a time), a checkpoint finds the training it belongs to.
    data = prepare_data(cfg)
    assert model_ref(early.config, data).directory == model_ref(base.config, data).directory == base.directory
    assert other_seed.fingerprint != base.fingerprint
    assert len(plan.of_kind("train")) == 2
    explains = {(u.model.name, u.method.name, u.shard): u.key for u in plan.of_kind("explain")}
    assert explains[(early.name, "inhouse.gradcam", 0)] != explains[(base.name, "inhouse.gradcam", 0)]


def test_timing_the_first_seed_times_each_setting_once_with_the_same_keys(tmp_path, cache) -> None:
    every = _plan(tiny_suite(tmp_path, model=GRID, measure=True))
    path = Path(tiny_suite(tmp_path, model=GRID, measure=True).path)
    path.write_text(path.read_text().replace("[measure]\n", '[measure]\nseeds = "first"\n'))
    first = _plan(load_suite(path))
    timed = lambda plan: {(u.model.name, u.key) for u in plan.units if u.kind in ("calibrate", "timing")}  # noqa: E731
    assert {name for name, _ in timed(every)} == {"tiny-resnet[base,seed=0]", "tiny-resnet[base,seed=1]", "tiny-resnet[epoch=1,seed=0]",
                                                   "tiny-resnet[epoch=1,seed=1]"}
    assert {name for name, _ in timed(first)} == {"tiny-resnet[base,seed=0]", "tiny-resnet[epoch=1,seed=0]"}
    assert timed(first) < timed(every)
    untimed = lambda plan: [u.key for u in plan.units if u.kind not in ("calibrate", "timing")]  # noqa: E731
    assert untimed(first) == untimed(every)


def test_an_entry_without_a_grid_keeps_its_unit_keys(tmp_path, cache) -> None:
    plain = _plan(tiny_suite(tmp_path))
    spelled = _plan(tiny_suite(tmp_path, model='design = "grid"\nsweep = {}\nepochs = []'))
    assert [u.key for u in plain.units] == [u.key for u in spelled.units]


def test_a_grid_run_publishes_means_over_seeds_the_per_seed_breakdown_and_the_study(tmp_path, cache) -> None:
    cfg = _grid_suite(tmp_path)
    torch.manual_seed(0)
    run_suite(cfg)
    out = cfg.results_dir()
    board = pd.read_csv(out / "leaderboard.csv")
    seeds = pd.read_csv(out / "seeds.csv")
    assert sorted(board["model"].unique()) == ["tiny-resnet[base]", "tiny-resnet[epoch=1]"] and set(board["seeds"]) == {2}
    row = board[(board["model"] == "tiny-resnet[base]") & (board["implementation"] == "baseline.random")].iloc[0]
    per_seed = seeds[(seeds["implementation"] == "baseline.random") & (seeds["column"] == "iou_topk")
                     & seeds["model"].str.startswith("tiny-resnet[base,")]
    assert len(per_seed) == 2 and row["iou_topk"] == pytest.approx(per_seed["mean"].mean())
    assert row["iou_topk_seed_sd"] == pytest.approx(np.std(per_seed["mean"], ddof=1))
    assert row["iou_topk_ci_low"] <= row["iou_topk"] <= row["iou_topk_ci_high"]
    records = pd.read_csv(out / "records.csv")
    assert {"setting", "factor.seed", "factor.epoch"} <= set(records.columns)
    study = pd.read_csv(out / "study.csv")
    assert set(study["factor"]) == {"epoch"} and set(study["level"]) == {"selected", "1"}
    assert (out / "study.md").read_text().startswith("# Study: tiny")
    plan = json.loads((out / "plan.json").read_text())
    early = next(m for m in plan["models"] if m["name"] == "tiny-resnet[epoch=1,seed=0]")
    explain = next(json.loads(p.read_text()) for p in (out / "records").rglob("*.json")
                   if '"explain"' in p.read_text() and "tiny-resnet[epoch=1,seed=0]" in p.read_text())
    assert explain["model"]["digest"] == file_digest(Path(early["directory"]) / "epoch-001.safetensors")
