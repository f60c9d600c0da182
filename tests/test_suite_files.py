"""The committed suite files of the mission: the real-data glaucoma suite validates on a folder laid out like the real
set, holds the six core methods in every library that has them, and its scale twin differs only in the data."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench.cli import main
from bench.core import registry
from bench.core.config import load_suite
from bench.data.synthetic import SyntheticSpec, generate
from bench.metrics import get_metric

REPO = Path(__file__).resolve().parents[1]
CORE = {"cam", "gradcam", "gradcam++", "scorecam", "integrated_gradients", "occlusion"}


def _core_implementations() -> set[str]:
    """Every registered core-method adapter of the libraries the mission wraps."""
    return {name for name in registry.names()
            if registry.get(name).method in CORE and registry.get(name).library in {"inhouse", "captum", "grad-cam", "torchcam"}}


@pytest.fixture
def glaucoma_root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    counts = {split: {"glaucoma": 2, "health": 2} for split in ("train", "val", "test")}
    root = generate(tmp_path / "glaucoma", SyntheticSpec(image_size=32, counts=counts, seed=0))
    monkeypatch.setenv("GLAUCOMA_ROOT", str(root))
    monkeypatch.chdir(REPO)
    return root


def test_the_glaucoma_suite_validates_on_a_folder_like_the_real_one(glaucoma_root: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["validate", "suites/glaucoma.toml"]) == 0
    assert "suites/glaucoma.toml: ok" in capsys.readouterr().out


def test_the_glaucoma_suite_runs_each_core_method_in_every_library_that_has_it(glaucoma_root: Path) -> None:
    cfg = load_suite(REPO / "suites" / "glaucoma.toml")
    missing = _core_implementations() - {m.name for m in cfg.methods}
    assert not missing, f"{sorted(missing)} are missing from suites/glaucoma.toml"
    families = {registry.get(m.name).library for m in cfg.methods}
    assert {"inhouse", "captum", "grad-cam", "torchcam", "baseline"} <= families
    categories = {m.name for m in cfg.metrics}
    assert {"deletion_auc", "insertion_auc", "road_morf", "average_drop", "max_sensitivity", "pointing_game"} <= categories
    assert cfg.measure.enabled and cfg.agreement.enabled


def test_the_scale_suite_is_the_glaucoma_suite_on_synthetic_data_of_the_real_size(glaucoma_root: Path) -> None:
    real, scale = load_suite(REPO / "suites" / "glaucoma.toml"), load_suite(REPO / "suites" / "glaucoma-scale.toml")
    assert (real.models, real.methods, real.metrics, real.run, real.measure, real.agreement) == \
        (scale.models, scale.methods, scale.metrics, scale.run, scale.measure, scale.agreement)
    sizes = {split: sum(c.values()) for split, c in scale.data.synthetic.counts.items()}
    assert sizes == {"train": 4793, "val": 159, "test": 1415} and scale.data.image_size == 224


@pytest.mark.parametrize("suite", ["demo.toml", "mission-full.toml"])
def test_the_default_suite_and_its_full_size_twin_hold_the_mission(suite: str) -> None:
    cfg = load_suite(REPO / "suites" / suite)
    listed = {m.name for m in cfg.methods}
    assert _core_implementations() <= listed
    assert {registry.get(m.name).library for m in cfg.methods} >= {"baseline"}
    families = {get_metric(m.name).category for m in cfg.metrics}
    assert {"localisation", "faithfulness", "robustness"} <= families
    assert {"average_drop", "increase_in_confidence", "deletion_auc", "insertion_auc", "road_morf", "road_lerf",
            "max_sensitivity"} <= {m.name for m in cfg.metrics}
    assert cfg.measure.enabled and cfg.measure.memory and cfg.agreement.enabled
    assert sorted(m.train.seed for m in cfg.models) == [0, 1, 2]


def test_the_demo_differs_from_the_full_suite_only_in_the_scaled_down_settings() -> None:
    demo, full = load_suite(REPO / "suites" / "demo.toml"), load_suite(REPO / "suites" / "mission-full.toml")
    assert [m.name for m in demo.methods] == [m.name for m in full.methods]
    assert [m.name for m in demo.metrics] == [m.name for m in full.metrics]
    assert demo.data.limit == 8 and full.data.limit == 0
    assert demo.models[0].arch_params == {"width": 16} and full.models[0].arch_params == {}
    assert demo.data.synthetic == full.data.synthetic and demo.data.root == full.data.root


def test_make_demo_runs_the_demo_suite() -> None:
    assert "SUITE ?= suites/demo.toml" in (REPO / "Makefile").read_text()


def test_every_committed_suite_validates(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, glaucoma_root: Path) -> None:
    suites = sorted(str(p.relative_to(REPO)) for p in (REPO / "suites").glob("*.toml"))
    assert main(["validate", *suites]) == 0, capsys.readouterr().err


def test_the_shortcut_suite_contrasts_a_marker_model_with_a_control_that_saw_the_marker_uncorrelated() -> None:
    cfg = load_suite(REPO / "suites" / "shortcut.toml")
    assert cfg.data.synthetic.shortcut and cfg.data.synthetic.shortcut_strength == 1.0
    entries = {m.entry: m for m in cfg.models}
    assert entries["shortcut"].train_data == {} and entries["control"].train_data == {"synthetic": {"shortcut_strength": 0.5}}
    # the two entries differ in their training data alone
    same = lambda m: (m.arch, m.arch_params, m.train, m.target_layer, m.normalise)  # noqa: E731
    assert same(entries["shortcut"]) == same(entries["control"])
    assert (cfg.contrast.positive, cfg.contrast.negative) == ("shortcut", "control")
    regions = {m.column(): m.region for m in cfg.metrics}
    assert all(regions[c] == "shortcut" for c in cfg.contrast.columns)
    assert {m.name for m in cfg.metrics if not m.region} == {"energy_in_mask", "pointing_game"}
