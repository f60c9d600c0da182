"""Running suites: resume after an interruption, failure isolation, timing units, rebuild from records."""

from __future__ import annotations

import json

import pandas as pd
import pytest
import torch

import bench.runner as runner
from bench.runner import rebuild_leaderboard, run_suite
from tests.suites import METHODS, tiny_suite

METRIC_COLUMNS = ["iou_topk", "iou_threshold(threshold=0.75)", "pointing_game", "energy_in_mask"]


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("BENCH_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache"


def _quality(board: pd.DataFrame) -> pd.DataFrame:
    keep = [c for c in board.columns if not c.startswith(("runtime", "peak_memory", "efficiency")) and not c.endswith("ms_per_image")]
    return board[keep].sort_values(["model", "implementation"]).reset_index(drop=True)


def test_resume_runs_only_missing_units_and_gives_the_same_leaderboard(tmp_path, cache, monkeypatch) -> None:
    reference_cfg = tiny_suite(tmp_path, results="reference")
    reference = run_suite(reference_cfg)
    assert reference.ran == reference.planned == 4 * 3  # 4 methods x 3 shards of 5, 5, 3 samples

    cfg = tiny_suite(tmp_path, results="interrupted")
    calls = {"n": 0}
    real = runner.run_quality_unit

    def crash_after_five(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] > 5:
            raise KeyboardInterrupt("simulated interruption")
        return real(*args, **kwargs)

    monkeypatch.setattr(runner, "run_quality_unit", crash_after_five)
    with pytest.raises(KeyboardInterrupt):
        run_suite(cfg)
    assert len(list((cfg.results_dir() / "records").glob("*.json"))) == 5

    executed = []

    def counting(unit, *args, **kwargs):
        executed.append(unit.key)
        return real(unit, *args, **kwargs)

    monkeypatch.setattr(runner, "run_quality_unit", counting)
    summary = run_suite(cfg)
    assert (summary.ran, summary.skipped) == (7, 5) and len(set(executed)) == 7
    resumed = pd.read_csv(cfg.results_dir() / "leaderboard.csv")
    fresh = pd.read_csv(reference_cfg.results_dir() / "leaderboard.csv")
    pd.testing.assert_frame_equal(_quality(resumed), _quality(fresh))

    executed.clear()
    again = run_suite(cfg)
    assert again.ran == 0 and executed == [] and again.stale == 0

    smaller = tiny_suite(tmp_path, results="interrupted", methods='[[methods]]\nname = "baseline.random"\n')
    assert run_suite(smaller).stale == 9
    assert run_suite(smaller, prune=True).stale == 0
    assert len(list((cfg.results_dir() / "records").glob("*.json"))) == 3


def test_explainer_failure_is_recorded_and_run_goes_on(tmp_path, cache, monkeypatch) -> None:
    from adapters.baselines import CentrePrior

    original = CentrePrior._attribute

    def flaky(self, x, target, seeds):
        if x.shape[0] == 4 and float(x[0].sum()) > float(x[1].sum()):
            raise RuntimeError("boom on this batch")
        return original(self, x, target, seeds)

    monkeypatch.setattr(CentrePrior, "_attribute", flaky)
    cfg = tiny_suite(tmp_path)
    summary = run_suite(cfg)
    assert summary.failures > 0 and summary.ran == summary.planned
    board = pd.read_csv(cfg.results_dir() / "leaderboard.csv").set_index("implementation")
    assert board.loc["baseline.centre", "failures"] > 0
    assert board.loc["baseline.centre", "iou_topk_n"] == 13 - board.loc["baseline.centre", "failures"]
    gradcam = board.loc["inhouse.gradcam"]
    assert gradcam["failures"] == 0 and gradcam["iou_topk_n"] + gradcam["iou_topk_undefined"] == 13
    failures = [f for p in (cfg.results_dir() / "records").glob("*.json") for f in json.loads(p.read_text())["failures"]]
    assert all("boom on this batch" in f["error"] for f in failures)


def test_timing_units_and_rebuild_from_records(tmp_path, cache) -> None:
    ig = '[[methods]]\nname = "inhouse.integrated_gradients"\nparams = { steps = 4 }\n'
    cfg = tiny_suite(tmp_path, measure=True, methods=METHODS + ig)
    summary = run_suite(cfg)
    assert summary.planned == 5 * 3 + 5
    board = pd.read_csv(cfg.results_dir() / "leaderboard.csv").set_index("implementation")
    assert board.loc["inhouse.integrated_gradients", "completeness_error_mean"] >= 0
    assert board["completeness_error_mean"].notna().sum() == 1
    assert 0 < board.loc["inhouse.gradcam", "efficiency"] < 100 and 0 < board.loc["inhouse.integrated_gradients", "efficiency"] < 100
    board = board.drop(index="inhouse.integrated_gradients")
    assert (board["runtime_ms_median"] > 0).all() and (board["runtime_batch_size"] == 2).all()
    assert board.loc["inhouse.gradcam", "runtime_ms_median"] > board.loc["baseline.constant", "runtime_ms_median"]
    constant = board.loc["baseline.constant"]
    assert constant["iou_topk_undefined"] == 13 and constant["pointing_game_undefined"] == 13 and constant["iou_threshold(threshold=0.75)"] == 0
    before = (cfg.results_dir() / "leaderboard.csv").read_text()
    (cfg.results_dir() / "leaderboard.csv").unlink()
    rebuild_leaderboard(cfg)
    assert (cfg.results_dir() / "leaderboard.csv").read_text() == before
    manifest = json.loads((cfg.results_dir() / "manifest.json").read_text())
    assert manifest["dataset"]["digest"] and manifest["torch_build"] == torch.__version__
    assert len(manifest["units"]) == summary.planned
    records = pd.read_csv(cfg.results_dir() / "records.csv")
    assert set(records["metric"]) == set(METRIC_COLUMNS) and records["dataset_digest"].nunique() == 1


def test_samples_without_masks_count_for_nothing_but_stay_in_the_run(tmp_path, cache) -> None:
    cfg = tiny_suite(tmp_path)
    from bench.suite_data import prepare_data

    data = prepare_data(cfg)
    dropped = [r.mask for r in data.refs if r.split == "test"][:3]
    for mask in dropped:
        mask.unlink()
    run_suite(cfg)
    board = pd.read_csv(cfg.results_dir() / "leaderboard.csv").set_index("implementation")
    assert board.loc["inhouse.gradcam", "samples"] == 13
    random = board.loc["baseline.random"]
    assert random["iou_topk_n"] == 10 and random["iou_topk_undefined"] == 0
    records = pd.read_csv(cfg.results_dir() / "records.csv")
    assert (records["status"] == "no_mask").sum() == 3 * 4 * 4


def test_agreement_units_compare_implementations(tmp_path, cache) -> None:
    methods = "".join(f'[[methods]]\nname = "{m}"\n' for m in ("inhouse.gradcam", "captum.gradcam", "gradcam.gradcam", "baseline.random"))
    cfg = tiny_suite(tmp_path, methods=methods)
    import dataclasses

    from bench.config import AgreementConfig

    cfg = dataclasses.replace(cfg, agreement=AgreementConfig(enabled=True))
    summary = run_suite(cfg)
    assert summary.planned == 4 * 3 + 3  # one agreement unit per shard for the one method with several implementations
    agreement = pd.read_csv(cfg.results_dir() / "agreement.csv")
    assert set(zip(agreement["a"], agreement["b"])) == {("captum.gradcam", "gradcam.gradcam"), ("captum.gradcam", "inhouse.gradcam"),
                                                        ("gradcam.gradcam", "inhouse.gradcam")}
    assert (agreement["samples"] > 0).all()
    assert "## Agreement between implementations" in (cfg.results_dir() / "leaderboard.md").read_text()


def test_sweeps_become_curves_and_road_runs_in_a_suite(tmp_path, cache) -> None:
    extra = '''
[[metrics]]
name = "randomisation_ssim"
sweep = { blocks = [1, 3, 0] }

[[metrics]]
name = "road_morf"
params = { fractions = [0.2, 0.6] }

[[metrics]]
name = "max_sensitivity"
params = { samples = 2 }
'''
    methods = "".join(f'[[methods]]\nname = "{m}"\n' for m in ("inhouse.saliency", "baseline.centre", "baseline.random"))
    cfg = tiny_suite(tmp_path, methods=methods, extra=extra)
    run_suite(cfg)
    board = pd.read_csv(cfg.results_dir() / "leaderboard.csv").set_index("implementation")
    curves = pd.read_csv(cfg.results_dir() / "curves.csv")
    assert list(curves["value"].unique()) == [1, 3, 0]
    for r in curves.itertuples():
        assert r.mean == pytest.approx(board.loc[r.implementation, f"randomisation_ssim@blocks={r.value}"])
    # A map that ignores the model is identical after any randomisation (a seeded random map too: the re-explanation
    # reuses the seeds of the explanation); a gradient map is not.
    for baseline in ("baseline.centre", "baseline.random"):
        assert list(curves[curves["implementation"] == baseline]["mean"]) == pytest.approx([1.0] * 3)
    assert (curves[curves["implementation"] == "inhouse.saliency"]["mean"] < 0.99).all()
    assert board["road_morf(fractions=[0.2, 0.6])"].notna().all()
    assert board.loc["baseline.random", "max_sensitivity(samples=2)"] == 0.0
    assert board.loc["inhouse.saliency", "max_sensitivity(samples=2)"] > 0.0
    records = pd.read_csv(cfg.results_dir() / "records.csv")
    assert json.loads(records[records["metric"].str.startswith("road_morf")]["metric_params"].iloc[0])["noise"] == 0.01
    assert "## Curves" in (cfg.results_dir() / "leaderboard.md").read_text()
