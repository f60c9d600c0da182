"""Running suites through the stages: resume, interruption, re-scoring stored maps, failure isolation, timing, publishing."""

from __future__ import annotations

import dataclasses
import json

import pandas as pd
import pytest
import torch

import bench.pipeline.execute as execute
from bench.core.config import AgreementConfig, StoreConfig
from bench.pipeline.stages import publish, run_suite
from bench.pipeline.store import RecordStore
from tests.suites import METHODS, tiny_suite

METRIC_COLUMNS = ["iou_topk", "iou_threshold(threshold=0.75)", "pointing_game", "energy_in_mask"]
EXTRA_METRIC = '[[metrics]]\nname = "sparseness"\n'


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("BENCH_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache"


def quality(board: pd.DataFrame) -> pd.DataFrame:
    """The leaderboard without the columns that measure time or memory."""
    keep = [c for c in board.columns if not c.startswith(("runtime", "peak_memory", "efficiency")) and not c.endswith(("ms_per_image", "_efficiency"))]
    return board[keep].sort_values(["model", "implementation"]).reset_index(drop=True)


@pytest.fixture
def explain_calls(monkeypatch):
    """Every shard the run explains (re-explanations by metrics are not counted)."""
    calls = []
    real = execute._explain_shard

    def counting(samples, *args, **kwargs):
        calls.append(tuple(samples.ids))
        return real(samples, *args, **kwargs)

    monkeypatch.setattr(execute, "_explain_shard", counting)
    return calls


def test_resume_runs_only_missing_units_and_gives_the_same_leaderboard(tmp_path, cache, monkeypatch) -> None:
    reference_cfg = tiny_suite(tmp_path, results="reference")
    reference = run_suite(reference_cfg)
    # 1 train + 1 evaluate + 4 methods x 3 shards (5, 5, 3 samples) x (1 explain + 4 scores)
    assert reference.ran == reference.planned == 2 + 4 * 3 * 5

    cfg = tiny_suite(tmp_path, results="interrupted")
    calls = {"n": 0}
    real = execute.run_explain_job

    def crash_after_five(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] > 5:
            raise KeyboardInterrupt("simulated interruption")
        return real(*args, **kwargs)

    monkeypatch.setattr(execute, "run_explain_job", crash_after_five)
    with pytest.raises(KeyboardInterrupt):
        run_suite(cfg)
    store = RecordStore(cfg.results_dir() / "records")
    assert len(store.keys()) == 1 + 5 * 5

    # Publishing an interrupted run shows what is stored, marked incomplete, and never raises.
    published = publish(cfg)
    assert len(published.missing) == 7 * 5
    assert "**Incomplete:** 35 of 61 planned units" in (cfg.results_dir() / "leaderboard.md").read_text()

    monkeypatch.setattr(execute, "run_explain_job", real)
    summary = run_suite(cfg)
    assert summary.ran == 7 * 5 and summary.missing == 0
    resumed = pd.read_csv(cfg.results_dir() / "leaderboard.csv")
    fresh = pd.read_csv(reference_cfg.results_dir() / "leaderboard.csv")
    pd.testing.assert_frame_equal(quality(resumed), quality(fresh))
    assert "Incomplete" not in (cfg.results_dir() / "leaderboard.md").read_text()

    again = run_suite(cfg)
    assert again.ran == 0 and again.stale == 0

    smaller = tiny_suite(tmp_path, results="interrupted", methods='[[methods]]\nname = "baseline.random"\n')
    assert run_suite(smaller).stale == 3 * 3 * 5
    assert run_suite(smaller, prune=True).stale == 0
    assert len(RecordStore(cfg.results_dir() / "records").keys()) == 1 + 3 * 5


def test_adding_a_metric_scores_stored_maps_and_explains_nothing(tmp_path, cache, explain_calls) -> None:
    cfg = tiny_suite(tmp_path)
    run_suite(cfg)
    before = pd.read_csv(cfg.results_dir() / "leaderboard.csv")
    explain_calls.clear()

    bigger = tiny_suite(tmp_path, extra=EXTRA_METRIC)
    summary = run_suite(bigger)
    assert explain_calls == [] and summary.ran == 4 * 3
    after = pd.read_csv(bigger.results_dir() / "leaderboard.csv")
    assert after["sparseness"].notna().all()
    pd.testing.assert_frame_equal(quality(after)[quality(before).columns], quality(before))

    # Adding a method explains only that method.
    more = tiny_suite(tmp_path, extra=EXTRA_METRIC, methods=METHODS + '[[methods]]\nname = "inhouse.saliency"\n')
    run_suite(more)
    assert len(explain_calls) == 3


def test_scores_from_stored_maps_equal_scores_from_fresh_maps(tmp_path, cache, explain_calls) -> None:
    kept = tiny_suite(tmp_path, results="kept", extra=EXTRA_METRIC)
    run_suite(kept)
    rescored = tiny_suite(tmp_path, results="rescored")
    run_suite(rescored)
    explain_calls.clear()
    run_suite(tiny_suite(tmp_path, results="rescored", extra=EXTRA_METRIC))
    assert explain_calls == []
    pd.testing.assert_frame_equal(
        quality(pd.read_csv(kept.results_dir() / "leaderboard.csv")), quality(pd.read_csv(rescored.results_dir() / "leaderboard.csv"))
    )


def test_without_stored_maps_a_new_metric_re_explains(tmp_path, cache, explain_calls) -> None:
    cfg = dataclasses.replace(tiny_suite(tmp_path), store=StoreConfig(maps=False))
    run_suite(cfg)
    assert not list((cfg.results_dir() / "records").glob("*.safetensors"))
    explain_calls.clear()
    run_suite(dataclasses.replace(tiny_suite(tmp_path, extra=EXTRA_METRIC), store=StoreConfig(maps=False)))
    assert len(explain_calls) == 4 * 3


def test_stored_maps_are_the_canonical_maps_in_float16_when_asked(tmp_path, cache) -> None:
    cfg = dataclasses.replace(
        tiny_suite(tmp_path, methods='[[methods]]\nname = "inhouse.gradcam"\n'), store=StoreConfig(maps_dtype="float16")
    )
    run_suite(cfg)
    store = RecordStore(cfg.results_dir() / "records")
    explains = [r for r in store.read_all().values() if r.kind == "explain"]
    assert len(explains) == 3 and all(r.maps_stored for r in explains)
    from safetensors.torch import load_file

    tensors = load_file(str(store.maps_path(explains[0].key)))
    assert tensors["maps"].dtype == torch.float16 and tensors["maps"].shape == (len(explains[0].sample_ids), 64, 64)
    assert store.read_maps(explains[0].key, list(reversed(explains[0].sample_ids)), "float16") is None  # another order is not these maps
    assert store.read_maps(explains[0].key, explains[0].sample_ids, "float32") is None  # nor another precision


def test_float32_maps_give_the_scores_of_unquantised_maps_and_differ_from_float16_only_by_rounding(tmp_path, cache) -> None:
    half = dataclasses.replace(tiny_suite(tmp_path, results="half"), store=StoreConfig(maps_dtype="float16"))
    run_suite(half)
    full = tiny_suite(tmp_path, results="full")
    run_suite(full)
    from safetensors.torch import load_file

    sidecar = next((full.results_dir() / "records").glob("*.maps.safetensors"))
    assert load_file(str(sidecar))["maps"].dtype == torch.float32
    a, b = quality(pd.read_csv(half.results_dir() / "leaderboard.csv")), quality(pd.read_csv(full.results_dir() / "leaderboard.csv"))
    for column in ("iou_topk", "energy_in_mask"):
        assert (a[column] - b[column]).abs().max() < 1e-2


def test_records_of_other_weights_with_the_same_settings_are_recomputed(tmp_path, cache, explain_calls) -> None:
    cfg = tiny_suite(tmp_path)
    first = run_suite(cfg)
    # Another machine trains the same settings into other weights: its records are not this model's.
    from safetensors.torch import load_file, save_file

    card = next(cache.glob("models/*/model_card.json"))
    weights = card.parent / json.loads(card.read_text())["checkpoint"]
    state = load_file(str(weights))
    save_file({k: v + 0.01 if v.is_floating_point() else v for k, v in state.items()}, str(weights))
    explain_calls.clear()
    again = run_suite(cfg)
    assert again.ran == first.ran - 1 and len(explain_calls) == 4 * 3  # everything but training
    digests = {r.model.digest for r in RecordStore(cfg.results_dir() / "records").read_all().values()}
    from bench.models.checkpoint import file_digest

    assert digests == {file_digest(weights)}


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
    failures = [f for r in RecordStore(cfg.results_dir() / "records").read_all().values() for f in getattr(r, "failures", [])]
    assert failures and all("boom on this batch" in f.error for f in failures)


def test_timing_units_and_rebuild_from_records(tmp_path, cache) -> None:
    ig = '[[methods]]\nname = "inhouse.integrated_gradients"\nparams = { steps = 4 }\n'
    cfg = tiny_suite(tmp_path, measure=True, methods=METHODS + ig)
    summary = run_suite(cfg)
    assert summary.planned == 2 + 5 * 3 * 5 + 1 + 5  # + one calibration and one timing unit per method
    board = pd.read_csv(cfg.results_dir() / "leaderboard.csv").set_index("implementation")
    assert board.loc["inhouse.integrated_gradients", "completeness_error_mean"] >= 0
    assert board["completeness_error_mean"].notna().sum() == 1
    assert 0 < board.loc["inhouse.gradcam", "efficiency"] < 100 and 0 < board.loc["inhouse.integrated_gradients", "efficiency"] < 100
    board = board.drop(index="inhouse.integrated_gradients")
    assert (board["runtime_ms_median"] > 0).all() and (board["runtime_batch_size"] == 2).all()
    assert board.loc["inhouse.gradcam", "runtime_ms_median"] > board.loc["baseline.constant", "runtime_ms_median"]
    constant = board.loc["baseline.constant"]
    assert (
        constant["iou_topk_undefined"] == 13
        and constant["pointing_game_undefined"] == 13
        and constant["iou_threshold(threshold=0.75)"] == 0
    )
    before = (cfg.results_dir() / "leaderboard.csv").read_text()
    (cfg.results_dir() / "leaderboard.csv").unlink()
    publish(cfg)
    assert (cfg.results_dir() / "leaderboard.csv").read_text() == before
    manifest = json.loads((cfg.results_dir() / "manifest.json").read_text())
    assert manifest["dataset"]["digest"] and manifest["torch_build"] == torch.__version__
    assert manifest["units"] == summary.planned
    records = pd.read_csv(cfg.results_dir() / "records.csv")
    assert set(records["metric"]) == set(METRIC_COLUMNS) and records["dataset_digest"].nunique() == 1
    costs = pd.read_csv(cfg.results_dir() / "costs.csv")
    runtime = costs[(costs["implementation"] == "inhouse.gradcam") & (costs["cost"] == "runtime_ms_median")]["value"]
    assert len(runtime) == 1 and runtime.iloc[0] == pytest.approx(board.loc["inhouse.gradcam", "runtime_ms_median"])
    assert set(costs["cost"]) >= {"runtime_ms_median", "peak_memory_mib", "efficiency", "explain_ms_per_image", "metric_ms_per_image"}


def test_scores_table_is_tidy_and_the_leaderboard_is_its_view(tmp_path, cache) -> None:
    cfg = tiny_suite(tmp_path)
    run_suite(cfg)
    scores = pd.read_csv(cfg.results_dir() / "scores.csv")
    board = pd.read_csv(cfg.results_dir() / "leaderboard.csv").set_index("implementation")
    assert {
        "model",
        "implementation",
        "method",
        "library",
        "version",
        "metric",
        "metric_params",
        "mean",
        "ci_low",
        "ci_high",
        "n",
        "undefined",
        "rank",
    } <= set(scores.columns)
    assert len(scores) == 4 * len(METRIC_COLUMNS)
    for r in scores.itertuples():
        assert board.loc[r.implementation, f"{r.column}_n"] == r.n
        if r.n:
            assert board.loc[r.implementation, r.column] == pytest.approx(r.mean)


def test_samples_without_masks_count_for_nothing_but_stay_in_the_run(tmp_path, cache) -> None:
    cfg = tiny_suite(tmp_path)
    from bench.data.suite_data import prepare_data

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


def test_agreement_units_compare_implementations_from_their_stored_maps(tmp_path, cache, explain_calls) -> None:
    methods = "".join(f'[[methods]]\nname = "{m}"\n' for m in ("inhouse.gradcam", "captum.gradcam", "gradcam.gradcam", "baseline.random"))
    cfg = dataclasses.replace(tiny_suite(tmp_path, methods=methods), agreement=AgreementConfig(enabled=True))
    summary = run_suite(cfg)
    assert len(explain_calls) == 4 * 3  # the explain units only: agreement reads their maps
    assert summary.planned == 2 + 4 * 3 * 5 + 3  # one agreement unit per shard for the one method with several implementations
    agreement = pd.read_csv(cfg.results_dir() / "agreement.csv")
    assert set(zip(agreement["a"], agreement["b"])) == {
        ("captum.gradcam", "gradcam.gradcam"),
        ("captum.gradcam", "inhouse.gradcam"),
        ("gradcam.gradcam", "inhouse.gradcam"),
    }
    assert (agreement["samples"] > 0).all()
    assert "## Agreement between implementations" in (cfg.results_dir() / "leaderboard.md").read_text()

    # Without stored maps agreement explains the members itself, with their explain units' seeds: the same numbers.
    unstored = dataclasses.replace(cfg, store=StoreConfig(maps=False), run=dataclasses.replace(cfg.run, results=str(tmp_path / "unstored")))
    run_suite(unstored)
    assert len(explain_calls) == 4 * 3 * 2 + 3 * 3
    pd.testing.assert_frame_equal(pd.read_csv(unstored.results_dir() / "agreement.csv"), agreement)


def test_sweeps_become_curves_and_road_runs_in_a_suite(tmp_path, cache) -> None:
    extra = """
[[metrics]]
name = "randomisation_ssim"
sweep = { blocks = [1, 3, 0] }

[[metrics]]
name = "road_morf"
params = { fractions = [0.2, 0.6] }

[[metrics]]
name = "max_sensitivity"
params = { samples = 2 }
"""
    methods = "".join(f'[[methods]]\nname = "{m}"\n' for m in ("inhouse.saliency", "baseline.centre", "baseline.random"))
    cfg = tiny_suite(tmp_path, methods=methods, extra=extra)
    run_suite(cfg)
    board = pd.read_csv(cfg.results_dir() / "leaderboard.csv").set_index("implementation")
    published = pd.read_csv(cfg.results_dir() / "curves.csv")
    assert set(published["kind"]) == {"sweep", "perturbation"}
    road = published[(published["kind"] == "perturbation") & (published["implementation"] == "inhouse.saliency")]
    assert road["value"].tolist() == pytest.approx([0.2, 0.6]) and set(road["parameter"]) == {"fraction"}
    # ROAD's summary is the mean of its curve's points.
    assert road["mean"].mean() == pytest.approx(board.loc["inhouse.saliency", "road_morf(fractions=[0.2, 0.6])"], abs=1e-5)
    curves = published[published["kind"] == "sweep"]
    assert list(curves["value"].unique()) == [1, 3, 0]
    assert set(curves["parameter"]) == {"blocks"} and set(curves["curve"]) == {"randomisation_ssim"}
    for r in curves.itertuples():
        assert r.mean == pytest.approx(board.loc[r.implementation, f"randomisation_ssim@blocks={r.value:g}"])
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
    scores = pd.read_csv(cfg.results_dir() / "scores.csv")
    swept = scores[scores["sweep_param"] == "blocks"]
    assert sorted(swept["sweep_value"].unique()) == [0, 1, 3] and set(swept["metric"]) == {"randomisation_ssim"}


def test_leaderboard_of_a_suite_never_run_names_the_folder(tmp_path, cache, capsys) -> None:
    from bench.cli import main

    cfg = tiny_suite(tmp_path)
    assert main(["leaderboard", cfg.path]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and str(cfg.results_dir()) in err and "plan.json" in err


def test_a_damaged_record_is_named_when_publishing_and_recomputed_by_the_next_run(tmp_path, cache, capsys) -> None:
    from bench.cli import main

    cfg = tiny_suite(tmp_path, methods='[[methods]]\nname = "baseline.centre"\n')
    run_suite(cfg)
    store = RecordStore(cfg.results_dir() / "records")
    damaged = store.path(next(r.key for r in store.read_all().values() if r.kind == "score"))
    damaged.write_text('{"kind": "score", "schema": 2, "key": "truncated')
    assert main(["leaderboard", cfg.path]) == 2
    assert str(damaged) in capsys.readouterr().err
    assert run_suite(cfg).ran == 1
    assert publish(cfg).missing == []


@pytest.mark.gpu
@pytest.mark.slow
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_a_suite_on_cuda_publishes_the_cpu_leaderboard(tmp_path, cache) -> None:
    extra = '[[metrics]]\nname = "deletion_auc"\nparams = { steps = 10 }\n'
    on_cpu = tiny_suite(tmp_path, results="cpu", extra=extra)
    run_suite(on_cpu)  # trains the model on the CPU; the CUDA run reuses it from the cache, so the weights are the same
    on_gpu = tiny_suite(tmp_path, results="gpu", extra=extra)
    on_gpu = dataclasses.replace(on_gpu, run=dataclasses.replace(on_gpu.run, device="cuda"))
    run_suite(on_gpu)
    assert json.loads((on_gpu.results_dir() / "manifest.json").read_text())["device"].startswith("cuda")
    columns = [m.column() for m in on_cpu.metrics]
    a = pd.read_csv(on_cpu.results_dir() / "leaderboard.csv").set_index("implementation")[columns]
    b = pd.read_csv(on_gpu.results_dir() / "leaderboard.csv").set_index("implementation")[columns]
    pd.testing.assert_frame_equal(a.sort_index(), b.sort_index(), atol=0.02, rtol=0)


def _run_at(tmp_path, precision: str, results: str, device: str = "cpu"):
    ig = '[[methods]]\nname = "inhouse.integrated_gradients"\nparams = { steps = 4 }\n[[methods]]\nname = "gradcam.gradcam"\n'
    cfg = tiny_suite(tmp_path, results=results, methods=METHODS + ig, extra='[[metrics]]\nname = "deletion_auc"\nparams = { steps = 10 }\n')
    cfg = dataclasses.replace(cfg, run=dataclasses.replace(cfg.run, precision=precision, device=device))
    run_suite(cfg)
    return cfg, pd.read_csv(cfg.results_dir() / "leaderboard.csv").set_index("implementation")


def test_a_bfloat16_run_is_its_own_units_records_its_agreement_with_float32_and_stays_close(tmp_path, cache) -> None:
    full_cfg, full = _run_at(tmp_path, "float32", "f32")
    half_cfg, half = _run_at(tmp_path, "bfloat16", "bf16")
    assert not set(RecordStore(full_cfg.results_dir() / "records").keys()) & set(RecordStore(half_cfg.results_dir() / "records").keys())
    assert "float32_spearman_mean" not in full and (half["failures"] == 0).all()
    # CAMs barely move in bfloat16; IG sums few gradients of a barely trained model, so it moves more, but stays ranked alike.
    for cam in ("inhouse.gradcam", "gradcam.gradcam"):
        assert half.loc[cam, "float32_spearman_mean"] > 0.99 and half.loc[cam, "float32_relative_error_mean"] < 0.02
    assert half.loc["inhouse.integrated_gradients", "float32_spearman_mean"] > 0.8
    assert half.loc["baseline.random", "float32_relative_error_mean"] == 0
    columns = [m.column() for m in full_cfg.metrics]
    pd.testing.assert_frame_equal(full[columns].sort_index(), half[columns].sort_index(), atol=0.05, rtol=0)
    assert "### bfloat16 against float32" in (half_cfg.results_dir() / "leaderboard.md").read_text()


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_a_float16_run_on_cuda_stays_close_to_float32(tmp_path, cache) -> None:
    full_cfg, full = _run_at(tmp_path, "float32", "f32")
    _, half = _run_at(tmp_path, "float16", "f16", device="cuda")
    assert (half["failures"] == 0).all() and (half.loc[["inhouse.gradcam", "gradcam.gradcam"], "float32_spearman_mean"] > 0.99).all()
    columns = [m.column() for m in full_cfg.metrics]
    pd.testing.assert_frame_equal(full[columns].sort_index(), half[columns].sort_index(), atol=0.05, rtol=0)
