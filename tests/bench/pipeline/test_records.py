"""Typed records: round trips for every kind, refusal of malformed ones, and the migration of schema-1 stores."""

from __future__ import annotations

import dataclasses
import json
import shutil
from pathlib import Path

import pandas as pd
import pytest

from bench.core.config import load_suite
from bench.pipeline.records import (
    SCHEMA_VERSION,
    AgreementRecord,
    AgreementValue,
    CalibrationRecord,
    EvaluateRecord,
    ExplainRecord,
    Failure,
    Implementation,
    ModelInfo,
    RecordFormatError,
    ScoreRecord,
    TimingRecord,
    TimingResult,
    from_dict,
    load_any,
    to_dict,
)
from bench.pipeline.stages import publish

REPO = Path(__file__).resolve().parents[3]
# The faithfulness suite's store as first published (commit 4025eef), of schema 1: one quality record per shard.
SCHEMA_1 = REPO / "tests" / "fixtures" / "schema1-faithfulness"
HEADER = {"key": "k", "suite": "s", "suite_version": 1, "dataset_digest": "d", "device": "cpu"}
MODEL = ModelInfo("m", "fp", "digest", "layer4")
IMPL = Implementation("inhouse.gradcam", "gradcam", "inhouse", "0.1.0")

EXAMPLES = [
    EvaluateRecord(**HEADER, model=MODEL, split="test", sample_ids=["a"], targets=[1], report={"accuracy": 1.0}),
    CalibrationRecord(**HEADER, model=MODEL, forward_ms=1.5, backward_ms=2.5, batch_size=8),
    ExplainRecord(
        **HEADER,
        model=MODEL,
        implementation=IMPL,
        params={"steps": 4},
        shard=0,
        sample_ids=["a", "b"],
        failures=[Failure("explain", ["b"], "boom")],
        diagnostics={"completeness_error": [0.1, None]},
        maps_stored=True,
    ),
    ScoreRecord(
        **HEADER,
        explain_key="e",
        model=MODEL,
        implementation=IMPL,
        params={},
        shard=0,
        metric="road_morf",
        metric_params={"fractions": [0.1, 0.5]},
        column="road",
        sample_ids=["a"],
        values=[None],
        statuses=["undefined"],
        curve="road",
        sweep_param="noise",
        sweep_value=0.01,
    ),
    AgreementRecord(
        **HEADER,
        model=MODEL,
        method="gradcam",
        members=["a", "b"],
        versions={"a": IMPL, "b": IMPL},
        shard=1,
        sample_ids=["x"],
        values=[AgreementValue("a", "b", "pearson", "x", 0.99)],
    ),
    TimingRecord(
        **HEADER,
        model=MODEL,
        implementation=IMPL,
        params={},
        logical_key="l",
        timing=TimingResult(1.0, 0.1, 8, 5, 2, None, {"forward": 1}, 0.5, 0.7, 0.5, 2.0),
    ),
]


@pytest.mark.parametrize("record", EXAMPLES, ids=lambda r: r.kind)
def test_every_kind_round_trips_through_strict_json(record) -> None:
    data = json.loads(json.dumps(to_dict(record), allow_nan=False))
    assert data["schema"] == SCHEMA_VERSION and data["kind"] == record.kind
    assert from_dict(data) == record


def test_malformed_records_are_refused() -> None:
    data = to_dict(EXAMPLES[1])
    with pytest.raises(RecordFormatError, match="unknown fields"):
        from_dict({**data, "surprise": 1})
    with pytest.raises(RecordFormatError, match="schema"):
        from_dict({**data, "schema": 99})
    with pytest.raises(RecordFormatError, match="kind"):
        from_dict({**data, "kind": "quality"})
    with pytest.raises(RecordFormatError, match="forward_ms"):
        from_dict({k: v for k, v in data.items() if k != "forward_ms"})


def test_a_schema_1_quality_record_splits_into_an_explain_and_one_score_per_metric() -> None:
    store = SCHEMA_1 / "records"
    v1 = next(json.loads(p.read_text()) for p in sorted(store.glob("*.json")) if json.loads(p.read_text()).get("kind") == "quality")
    migrated = load_any(v1)
    explain, scores = migrated[0], migrated[1:]
    assert isinstance(explain, ExplainRecord) and explain.sample_ids == v1["sample_ids"]
    assert {s.column for s in scores} == {r["metric"] for r in v1["records"]}
    swept = [s for s in scores if s.sweep_param]
    assert swept and all(s.column == f"{s.curve}@{s.sweep_param}={s.sweep_value}" for s in swept)


def test_a_published_schema_1_store_keeps_loading_and_publishes_the_same_leaderboard(tmp_path) -> None:
    source = SCHEMA_1
    shutil.copytree(source, tmp_path / "synthetic-fundus-faithfulness")
    cfg = load_suite(REPO / "suites" / "synthetic-fundus-faithfulness.toml")
    cfg = dataclasses.replace(cfg, run=dataclasses.replace(cfg.run, results=str(tmp_path)))
    published = publish(cfg)
    assert published.missing == []
    old = pd.read_csv(source / "leaderboard.csv")
    new = pd.read_csv(tmp_path / "synthetic-fundus-faithfulness" / "leaderboard.csv")
    assert set(old.columns) <= set(new.columns)
    order = ["model", "implementation"]
    pd.testing.assert_frame_equal(
        new[old.columns].sort_values(order).reset_index(drop=True),
        old.sort_values(order).reset_index(drop=True),
        check_dtype=False,
        rtol=1e-5,
    )
