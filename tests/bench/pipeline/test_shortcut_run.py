"""A shortcut suite end to end: a model trained with the marker and a control trained without, scored against the marker's
region, evaluated on the test split's versions, and told apart per method by ROC-AUC."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image
from sklearn.metrics import roc_auc_score

from bench.core.config import load_suite
from bench.pipeline.records import EvaluateRecord
from bench.pipeline.stages import run_suite
from bench.pipeline.store import RecordStore

SUITE = """
[suite]
name = "tiny-shortcut"

[data]
source = "synthetic"
root = "{root}"
image_size = 64
split = "test"

[data.synthetic]
shortcut = true
shortcut_strength = 1.0
counts = {{ train = {{ glaucoma = 8, health = 8 }}, val = {{ glaucoma = 4, health = 4 }}, test = {{ glaucoma = 5, health = 5 }} }}

[[models]]
name = "shortcut"
sweep = {{ seed = [0, 1] }}

[models.train]
epochs = 1
batch_size = 8

[[models]]
name = "control"
sweep = {{ seed = [0, 1] }}
train_data = {{ synthetic = {{ shortcut = false }} }}

[models.train]
epochs = 1
batch_size = 8

[[methods]]
name = "inhouse.gradcam"

[[methods]]
name = "baseline.random"

[[metrics]]
name = "energy_in_mask"
region = "shortcut"
label = "marker_energy"

[[metrics]]
name = "energy_in_mask"

[[metrics]]
name = "pointing_game"
region = "shortcut"
label = "points_at_marker"

[run]
batch_size = 4
shard_size = 5
device = "cpu"
results = "{results}"

[measure]
enabled = false

[contrast]
positive = "shortcut"
negative = "control"
columns = ["marker_energy", "points_at_marker"]
"""


@pytest.fixture(scope="module")
def ran(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    tmp = tmp_path_factory.mktemp("shortcut-run")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("BENCH_CACHE", str(tmp / "cache"))
        mp.setenv("BENCH_PROGRESS", "0")
        path = tmp / "tiny-shortcut.toml"
        path.write_text(SUITE.format(root=tmp / "data", results=tmp / "results"))
        cfg = load_suite(path)
        summary = run_suite(cfg)
    assert summary.failures == 0 and summary.missing == 0
    return tmp, cfg.results_dir()


def test_the_control_trains_on_the_same_images_without_any_marker(ran: tuple[Path, Path]) -> None:
    tmp, out = ran
    cards = {p.stem: json.loads(p.read_text()) for p in (out / "models").glob("*.json")}
    shortcut_root, control_root = Path(cards["shortcut[seed=0]"]["data_root"]), Path(cards["control[seed=0]"]["data_root"])
    assert shortcut_root == tmp / "data" and control_root != shortcut_root
    assert (shortcut_root / "shortcut_masks" / "train").is_dir() and not (control_root / "shortcut_masks").exists()
    # same draws: a train image without a marker in the shortcut set (a healthy one, at strength 1) is byte-equal in both
    name = "train/health/train-health-0000.png"
    assert (shortcut_root / name).read_bytes() == (control_root / name).read_bytes()
    assert cards["shortcut[seed=0]"]["dataset_digest"] != cards["control[seed=0]"]["dataset_digest"]
    # seeds of one entry share the data, so only the seed tells their trainings apart
    assert cards["control[seed=1]"]["dataset_digest"] == cards["control[seed=0]"]["dataset_digest"]


def test_every_model_is_evaluated_on_each_version_of_the_whole_test_split(ran: tuple[Path, Path]) -> None:
    _, out = ran
    evaluations = [r for r in RecordStore(out / "records").read_all().values() if isinstance(r, EvaluateRecord)]
    assert len(evaluations) == 4
    for e in evaluations:
        assert list(e.variants) == ["test", "correlated", "removed", "moved"]
        assert all(report["n"] == 10 for report in e.variants.values())
    variants = pd.read_csv(out / "variants.csv")
    assert set(variants["model"]) == {"shortcut", "control"} and set(variants["seeds"]) == {2}
    # the table's mean is the mean of the seeds' accuracies
    for (setting, variant), group in variants.groupby(["model", "variant"]):
        found = [e.variants[variant]["accuracy"] for e in evaluations if e.model.setting == setting]
        assert group["accuracy"].item() == pytest.approx(np.mean(found))
        assert group["accuracy_sd"].item() == pytest.approx(np.std(found, ddof=1))
    assert "## Accuracy on versions of the test split" in (out / "leaderboard.md").read_text()


def test_marker_energy_is_the_map_energy_on_the_marker_files(ran: tuple[Path, Path]) -> None:
    tmp, out = ran
    records = pd.read_csv(out / "records.csv").set_index(["model", "implementation", "metric", "sample_id"])
    store = RecordStore(out / "records")
    checked = 0
    for e in (r for r in store.read_all().values() if r.kind == "explain"):
        maps = store.read_maps(e.key, list(e.sample_ids), "float32")
        for sid, m in zip(e.sample_ids, maps, strict=True):
            split, label, stem = sid.split("/")
            # METRICS.md: the map's positive part min-max normalised; a constant one (a one-epoch model's Grad-CAM may be) is undefined
            m = np.clip(m.numpy().astype(np.float64), 0, None)
            positive = (m - m.min()) / (m.max() - m.min()) if m.max() > m.min() else np.zeros_like(m)
            total = positive.sum() or np.nan
            for column, folder in (("marker_energy", "shortcut_masks"), ("energy_in_mask", "masks")):
                mask = np.asarray(Image.open(tmp / "data" / folder / split / label / f"{stem}.png")) > 0
                value = records.loc[(e.model.name, e.implementation.adapter, column, sid), "value"]
                assert value == pytest.approx(positive[mask].sum() / total, abs=1e-4, nan_ok=True), (e.model.name, column, sid)
                checked += 1
    assert checked == 4 * 2 * 10 * 2


def test_the_contrast_is_the_mean_roc_auc_of_the_seed_pairs(ran: tuple[Path, Path]) -> None:
    _, out = ran
    contrast = pd.read_csv(out / "contrast.csv")
    records = pd.read_csv(out / "records.csv")
    assert len(contrast) == 4
    assert set(zip(contrast["implementation"], contrast["column"])) == {
        (i, c) for i in ("inhouse.gradcam", "baseline.random") for c in ("marker_energy", "points_at_marker")}
    for _, r in contrast.iterrows():
        aucs, sides = [], {"shortcut": [], "control": []}
        for seed in (0, 1):
            values = {}
            for model in sides:
                rows = records[(records["model"] == f"{model}[seed={seed}]") & (records["implementation"] == r["implementation"])
                               & (records["metric"] == r["column"]) & (records["status"] == "ok")]
                values[model] = rows.set_index("sample_id")["value"]
                sides[model].append(values[model].mean())
            shared = values["shortcut"].index.intersection(values["control"].index)
            y = np.r_[np.ones(len(shared)), np.zeros(len(shared))]
            aucs.append(roc_auc_score(y, np.r_[values["shortcut"][shared], values["control"][shared]]))
        assert r["roc_auc"] == pytest.approx(np.mean(aucs))
        assert r["roc_auc_min"] == pytest.approx(min(aucs))
        assert r["positive_mean"] == pytest.approx(np.mean(sides["shortcut"]))
        assert r["negative_mean"] == pytest.approx(np.mean(sides["control"]))
        assert r["seeds"] == 2
    assert "## Telling shortcut from control" in (out / "leaderboard.md").read_text()


def test_a_region_no_explained_sample_has_is_named_before_any_work(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from bench.core.errors import ConfigError
    from bench.data.synthetic import SyntheticSpec, generate

    monkeypatch.setenv("BENCH_CACHE", str(tmp_path / "cache"))
    root = generate(tmp_path / "folder", SyntheticSpec(image_size=32, counts={s: {"glaucoma": 2, "health": 2} for s in ("train", "val", "test")}))
    path = tmp_path / "folder-suite.toml"
    path.write_text(f"""
[suite]
name = "folder-regions"
[data]
source = "folder"
root = "{root}"
classes = ["health", "glaucoma"]
image_size = 32
[[models]]
name = "m"
[[methods]]
name = "baseline.centre"
[[metrics]]
name = "energy_in_mask"
region = "vessels"
[run]
device = "cpu"
results = "{tmp_path / 'results'}"
""")
    with pytest.raises(ConfigError) as info:
        run_suite(load_suite(path))
    assert info.value.field == "metrics.region" and "'vessels'" in str(info.value) and "regions found: none" in str(info.value)
    assert not (tmp_path / "results").exists() and not (tmp_path / "cache").exists()
