"""Executors: worker processes, concurrent runs on one store, shards and merge all give the serial run's records."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pandas as pd
import pytest

from bench.cli import main
from bench.core.errors import BenchError
from bench.pipeline.executors import Shard, parse_shard
from bench.pipeline.stages import Execution, publish, run_suite
from bench.pipeline.store import RecordStore
from bench.pipeline.units import unit_key
from tests.suites import tiny_suite

REPO = Path(__file__).resolve().parents[3]
KEYS = ["model", "implementation", "sample_id", "metric"]


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("BENCH_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache"


def records(cfg) -> pd.DataFrame:
    """Every per-sample value of a run, in a fixed order."""
    return pd.read_csv(cfg.results_dir() / "records.csv").sort_values(KEYS).reset_index(drop=True)


def executed_keys(cfg) -> Counter:
    """How often each unit was run, over every process that wrote to the store."""
    return Counter(k for e in RecordStore(cfg.results_dir() / "records").executions() for k in e["keys"])


def test_two_workers_give_the_serial_records(tmp_path, cache) -> None:
    serial = tiny_suite(tmp_path, results="serial")
    run_suite(serial)
    parallel = tiny_suite(tmp_path, results="workers")
    summary = run_suite(parallel, how=Execution(workers=2))
    assert summary.missing == 0 and summary.ran == summary.planned - 1  # the model was trained by the serial run
    pd.testing.assert_frame_equal(records(parallel), records(serial))
    pids = {e["pid"] for e in RecordStore(parallel.results_dir() / "records").executions()}
    assert len(pids) == 2 and os.getpid() not in pids


def test_two_runs_started_at_once_store_every_unit_once(tmp_path, cache) -> None:
    cfg = tiny_suite(tmp_path, results="shared")
    env = {**os.environ, "BENCH_PROGRESS": "0", "PYTHONPATH": str(REPO)}
    command = [sys.executable, "-m", "bench.cli", "run", cfg.path]
    runs = [subprocess.Popen(command, env=env, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(2)]
    outputs = [r.communicate(timeout=600) for r in runs]
    assert [r.returncode for r in runs] == [0, 0], outputs
    counts = executed_keys(cfg)
    assert set(counts.values()) == {1}
    assert len(list((cache / "models").glob("*/model_card.json"))) == 1 and not list((cache / "models").glob("*.partial"))
    serial = tiny_suite(tmp_path, results="serial")
    run_suite(serial)
    pd.testing.assert_frame_equal(records(cfg), records(serial))
    board = pd.read_csv(cfg.results_dir() / "leaderboard.csv")
    pd.testing.assert_frame_equal(
        board.filter(regex="^(?!.*(ms_per_image|efficiency))"),
        pd.read_csv(serial.results_dir() / "leaderboard.csv").filter(regex="^(?!.*(ms_per_image|efficiency))"),
    )


def test_shards_then_merge_give_the_serial_leaderboard(tmp_path, cache, capsys) -> None:
    cfg = tiny_suite(tmp_path, results="sharded")
    first = run_suite(cfg, how=Execution(shard=Shard(0, 2)))
    assert 0 < first.missing < first.planned
    assert main(["merge", cfg.path]) == 0
    out = capsys.readouterr().out
    assert f"incomplete: {first.missing} of" in out and out.count("(") >= first.missing
    run_suite(cfg, how=Execution(shard=Shard(1, 2)))
    assert main(["merge", cfg.path]) == 0
    assert "complete: all" in capsys.readouterr().out
    assert set(executed_keys(cfg).values()) == {1}
    serial = tiny_suite(tmp_path, results="serial")
    run_suite(serial)
    pd.testing.assert_frame_equal(records(cfg), records(serial))
    assert publish(cfg).missing == []


def test_shard_assignment_covers_every_key_once() -> None:
    keys = [unit_key({"unit": i}) for i in range(300)]
    owners = [[s for s in range(3) if Shard(s, 3).owns(k)] for k in keys]
    assert all(len(o) == 1 for o in owners) and {o[0] for o in owners} == {0, 1, 2}


@pytest.mark.parametrize("text", ["2/2", "-1/2", "a/b", "1", "0/0"])
def test_bad_shard_arguments_are_refused(text: str) -> None:
    with pytest.raises(BenchError, match="--shard"):
        parse_shard(text)


@pytest.mark.parametrize(
    ("environ", "shard"),
    [
        ({"RANK": "3", "WORLD_SIZE": "8"}, Shard(3, 8)),
        ({"SLURM_ARRAY_TASK_ID": "12", "SLURM_ARRAY_TASK_MIN": "10", "SLURM_ARRAY_TASK_COUNT": "4"}, Shard(2, 4)),
    ],
)
def test_shard_auto_reads_torchrun_and_slurm(environ: dict, shard: Shard) -> None:
    assert parse_shard("auto", environ) == shard


def test_shard_auto_without_a_launcher_is_an_error() -> None:
    with pytest.raises(BenchError, match="RANK/WORLD_SIZE"):
        parse_shard("auto", {})


def test_timings_measured_on_another_device_are_published_by_merge(tmp_path, cache) -> None:
    cfg = tiny_suite(tmp_path, measure=True, methods='[[methods]]\nname = "inhouse.gradcam"\n')
    run_suite(cfg)
    described = json.loads((cfg.results_dir() / "plan.json").read_text())
    # The merging machine's plan names its own device in the timing keys; the stored timings were made elsewhere.
    for unit in described["units"]:
        if unit["kind"] in ("calibrate", "timing"):
            unit["key"] = "f" * 24 if unit["kind"] == "timing" else "e" * 24
    published = publish(cfg, described)
    board = pd.read_csv(cfg.results_dir() / "leaderboard.csv").set_index("implementation")
    assert board.loc["inhouse.gradcam", "runtime_ms_median"] > 0
    assert [u["kind"] for u in published.missing] == ["calibrate"]


def test_plan_lists_units_before_training(tmp_path, cache, capsys) -> None:
    cfg = tiny_suite(tmp_path, measure=True)
    assert main(["plan", cfg.path]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith("tiny: 67 units (1 train, 1 evaluate, 12 explain, 48 score, 1 calibrate, 4 timing); 0 stored, 67 to run")
    assert "MiB on disk" in out[1]
    table = [line.split() for line in out[3:]]
    assert Counter(row[0] for row in table) == {"train": 1, "evaluate": 1, "explain": 12, "score": 48, "calibrate": 1, "timing": 4}
    gradcam = next(row for row in table if row[0] == "explain" and row[2] == "inhouse.gradcam")
    assert "1F" in gradcam and gradcam[-2] == "no"
    assert not (cache / "models").exists() or not any((cache / "models").iterdir())
    assert not cfg.results_dir().exists()


def test_ray_tasks_give_the_serial_records(tmp_path, cache, monkeypatch) -> None:
    pytest.importorskip("ray")
    monkeypatch.setenv("RAY_AUTH_MODE", "disabled")
    serial = tiny_suite(tmp_path, results="serial")
    run_suite(serial)
    distributed = tiny_suite(tmp_path, results="ray")
    summary = run_suite(distributed, how=Execution(executor="ray"))
    assert summary.missing == 0
    pd.testing.assert_frame_equal(records(distributed), records(serial))
    assert os.getpid() not in {e["pid"] for e in RecordStore(distributed.results_dir() / "records").executions()}


def test_plan_estimates_the_disk_of_the_maps_it_will_keep(tmp_path, cache) -> None:
    import dataclasses

    from bench.core.config import StoreConfig
    from bench.pipeline.plan_report import map_bytes
    from bench.pipeline.stages import plan, prepare, resolve_device

    cfg = tiny_suite(tmp_path)
    the_plan = plan(cfg, prepare(cfg), resolve_device("cpu"))
    per_sample = 64 * 64 * 4 + 4
    assert map_bytes(the_plan, (64, 64), StoreConfig()) == 4 * 13 * per_sample
    assert map_bytes(the_plan, (64, 64), StoreConfig(maps_dtype="float16")) == 4 * 13 * (64 * 64 * 2 + 4)
    assert map_bytes(the_plan, (64, 64), StoreConfig(maps_limit=10)) == 4 * 10 * per_sample  # the shards within the first 10 samples
    assert map_bytes(the_plan, (64, 64), StoreConfig(maps=False)) == 0
    run_suite(dataclasses.replace(cfg, store=StoreConfig(maps_limit=10)))
    stored = sum(p.stat().st_size for p in (cfg.results_dir() / "records").glob("*.maps.safetensors"))
    assert 4 * 10 * per_sample <= stored < 4 * 10 * per_sample * 1.05  # plus the safetensors headers
