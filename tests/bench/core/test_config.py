"""Suite files: loading the example suite, error messages that name file and key, env expansion and fingerprints."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import torch
from safetensors.torch import save_file

from bench.core.config import SuiteConfig, load_suite, parse_suite
from bench.core.errors import ConfigError

REPO = Path(__file__).resolve().parents[3]
EXAMPLE = REPO / "suites" / "synthetic-fundus.toml"


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(value, list):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{ " + ", ".join(f"{k} = {_toml_value(v)}" for k, v in value.items()) + " }"
    raise TypeError(value)


def to_toml(data: dict) -> str:
    """A small TOML writer: top-level tables, arrays of tables, inline tables below that."""
    lines = []
    for key, value in data.items():
        if isinstance(value, dict):
            lines.append(f"[{key}]")
            lines.extend(f"{k} = {_toml_value(v)}" for k, v in value.items())
        elif isinstance(value, list) and value and all(isinstance(v, dict) for v in value):
            for item in value:
                lines.append(f"[[{key}]]")
                lines.extend(f"{k} = {_toml_value(v)}" for k, v in item.items())
        else:
            lines.insert(0, f"{key} = {_toml_value(value)}")
        lines.append("")
    return "\n".join(lines)


def minimal_suite(root: Path) -> dict:
    """A minimal valid suite over an existing folder data root."""
    return {
        "suite": {"name": "tiny"},
        "data": {"source": "folder", "root": str(root)},
        "models": [{"name": "m"}],
        "methods": [{"name": "baseline.random"}],
        "metrics": [{"name": "iou_topk"}],
    }


@pytest.fixture
def data_root(tmp_path: Path) -> Path:
    root = tmp_path / "data"
    root.mkdir()
    return root


def write_suite(tmp_path: Path, data: dict | str, name: str = "suite.toml") -> Path:
    path = tmp_path / name
    path.write_text(data if isinstance(data, str) else to_toml(data), encoding="utf-8")
    return path


def config_error(path: Path) -> ConfigError:
    with pytest.raises(ConfigError) as info:
        load_suite(path)
    err = info.value
    assert err.file == str(path)
    assert str(err).startswith(str(path))
    return err


# --------------------------------------------------------------------------- valid suites


def test_example_suite_loads() -> None:
    cfg = load_suite(EXAMPLE)
    assert isinstance(cfg, SuiteConfig)
    assert cfg.path == str(EXAMPLE)
    assert cfg.suite.name == "synthetic-fundus"
    assert cfg.data.source == "synthetic"
    assert cfg.data.image_size == 224
    assert cfg.data.synthetic.counts["val"] == {"glaucoma": 40, "health": 60}
    assert [m.name for m in cfg.models] == ["resnet18[seed=0]", "resnet18[seed=1]", "resnet18[seed=2]"]
    assert {m.setting for m in cfg.models} == {"resnet18"} and [m.train.seed for m in cfg.models] == [0, 1, 2]
    assert cfg.models[0].train.lr == 0.002
    names = [m.name for m in cfg.methods]
    assert names[0] == "inhouse.gradcam" and names[-3:] == ["baseline.random", "baseline.centre", "baseline.constant"]
    assert len(names) == len(set(names)) == 19
    assert [m.column() for m in cfg.metrics][:5] == ["iou_topk", "iou@0.5", "iou@0.75", "pointing_game", "pointing_game@15px"]
    assert cfg.run.batch_size == 25
    assert cfg.results_dir() == Path("results") / "synthetic-fundus"


def test_minimal_suite_loads_with_defaults(tmp_path: Path, data_root: Path) -> None:
    path = write_suite(tmp_path, minimal_suite(data_root))
    cfg = load_suite(path)
    assert cfg.data.root == str(data_root)
    assert cfg.data.image_size == 224
    assert cfg.run.batch_size == 16 and cfg.run.device == "auto"
    assert cfg.models[0].arch == "resnet18"
    assert cfg.methods[0].params == {}
    assert cfg.leaderboard.confidence == 0.95


def test_integer_accepted_where_float_expected(tmp_path: Path, data_root: Path) -> None:
    suite = minimal_suite(data_root)
    suite["models"][0]["train"] = {"lr": 1}
    cfg = load_suite(write_suite(tmp_path, suite))
    assert cfg.models[0].train.lr == 1.0 and isinstance(cfg.models[0].train.lr, float)


# --------------------------------------------------------------------------- unknown keys and types


def test_unknown_top_level_key(tmp_path: Path, data_root: Path) -> None:
    suite = minimal_suite(data_root)
    suite["runn"] = {"batch_size": 4}
    err = config_error(write_suite(tmp_path, suite))
    assert err.field == "runn"
    assert "unknown key" in str(err)
    assert "did you mean 'run'?" in str(err)


def test_unknown_nested_key_suggests_close_name(tmp_path: Path, data_root: Path) -> None:
    suite = minimal_suite(data_root)
    suite["run"] = {"batch_sise": 4}
    err = config_error(write_suite(tmp_path, suite))
    assert err.field == "run.batch_sise"
    assert "did you mean 'batch_size'?" in str(err)


def test_unknown_key_inside_array_of_tables(tmp_path: Path, data_root: Path) -> None:
    suite = minimal_suite(data_root)
    suite["models"][0]["train"] = {"batch_sise": 4}
    err = config_error(write_suite(tmp_path, suite))
    assert err.field == "models[0].train.batch_sise"
    assert "did you mean 'batch_size'?" in str(err)


def test_unknown_key_without_close_match_has_no_suggestion(tmp_path: Path, data_root: Path) -> None:
    suite = minimal_suite(data_root)
    suite["run"] = {"zzzzzz": 4}
    err = config_error(write_suite(tmp_path, suite))
    assert err.field == "run.zzzzzz"
    assert "did you mean" not in str(err)
    assert "batch_size" in str(err)  # the allowed keys are listed


def test_wrong_type_string_for_integer(tmp_path: Path, data_root: Path) -> None:
    suite = minimal_suite(data_root)
    suite["run"] = {"batch_size": "16"}
    err = config_error(write_suite(tmp_path, suite))
    assert err.field == "run.batch_size"
    assert "expected integer" in str(err)
    assert "'16'" in str(err)


def test_wrong_type_boolean_for_integer(tmp_path: Path, data_root: Path) -> None:
    suite = minimal_suite(data_root)
    suite["data"]["image_size"] = True
    err = config_error(write_suite(tmp_path, suite))
    assert err.field == "data.image_size"
    assert "expected integer" in str(err)


def test_missing_required_key(tmp_path: Path, data_root: Path) -> None:
    suite = minimal_suite(data_root)
    suite["suite"] = {"version": 2}
    err = config_error(write_suite(tmp_path, suite))
    assert err.field == "suite.name"
    assert "required" in str(err)


# --------------------------------------------------------------------------- methods and metrics


def test_unknown_method_suggests_the_close_one(tmp_path: Path, data_root: Path) -> None:
    suite = minimal_suite(data_root)
    suite["methods"].append({"name": "inhouse.gradcm"})
    err = config_error(write_suite(tmp_path, suite))
    assert err.field == "methods[1].name"
    assert "'inhouse.gradcm'" in str(err)
    assert "did you mean 'inhouse.gradcam'" in str(err)


def test_unknown_method_parameter(tmp_path: Path, data_root: Path) -> None:
    suite = minimal_suite(data_root)
    suite["methods"][0]["params"] = {"seeed": 3}
    err = config_error(write_suite(tmp_path, suite))
    assert err.field == "methods[0].params"
    assert "unknown parameter 'seeed'" in str(err)
    assert "did you mean 'seed'" in str(err)


def test_method_parameter_of_wrong_type(tmp_path: Path, data_root: Path) -> None:
    suite = minimal_suite(data_root)
    suite["methods"][0]["params"] = {"seed": "3"}
    err = config_error(write_suite(tmp_path, suite))
    assert err.field == "methods[0].params"
    assert "'seed'" in str(err) and "int" in str(err)


def test_known_method_parameter_is_kept(tmp_path: Path, data_root: Path) -> None:
    suite = minimal_suite(data_root)
    suite["methods"] = [{"name": "baseline.centre", "params": {"sigma": 1}}]
    cfg = load_suite(write_suite(tmp_path, suite))
    assert cfg.methods[0].params == {"sigma": 1}


def test_unknown_metric_name(tmp_path: Path, data_root: Path) -> None:
    suite = minimal_suite(data_root)
    suite["metrics"] = [{"name": "iou_topkk"}]
    err = config_error(write_suite(tmp_path, suite))
    assert err.field == "metrics[0].name"
    assert "'iou_topkk'" in str(err)
    assert "did you mean 'iou_topk'" in str(err)


def test_unknown_metric_parameter(tmp_path: Path, data_root: Path) -> None:
    suite = minimal_suite(data_root)
    suite["metrics"] = [{"name": "iou_topk"}, {"name": "iou_threshold", "params": {"thresh": 0.5}}]
    err = config_error(write_suite(tmp_path, suite))
    assert err.field == "metrics[1].params.thresh"
    assert "threshold" in str(err)


def test_metric_parameter_out_of_range(tmp_path: Path, data_root: Path) -> None:
    suite = minimal_suite(data_root)
    suite["metrics"] = [{"name": "iou_threshold", "params": {"threshold": 1.5}}]
    err = config_error(write_suite(tmp_path, suite))
    assert err.field == "metrics[0].params"
    assert "1.5" in str(err)


def test_duplicate_metric_column(tmp_path: Path, data_root: Path) -> None:
    suite = minimal_suite(data_root)
    suite["metrics"] = [
        {"name": "iou_threshold", "params": {"threshold": 0.5}},
        {"name": "iou_topk"},
        {"name": "iou_threshold", "params": {"threshold": 0.5}},
    ]
    err = config_error(write_suite(tmp_path, suite))
    assert err.field == "metrics[2]"
    assert "'iou_threshold(threshold=0.5)'" in str(err)
    assert "twice" in str(err)


def test_duplicate_metric_resolved_by_label(tmp_path: Path, data_root: Path) -> None:
    suite = minimal_suite(data_root)
    suite["metrics"] = [{"name": "iou_topk"}, {"name": "iou_topk", "label": "iou_topk_again"}]
    cfg = load_suite(write_suite(tmp_path, suite))
    assert [m.column() for m in cfg.metrics] == ["iou_topk", "iou_topk_again"]


# --------------------------------------------------------------------------- data root


def test_folder_source_with_missing_root(tmp_path: Path) -> None:
    missing = tmp_path / "no-such-dir"
    err = config_error(write_suite(tmp_path, minimal_suite(missing)))
    assert err.field == "data.root"
    assert str(missing) in str(err)


def test_folder_source_with_missing_manifest(tmp_path: Path, data_root: Path) -> None:
    suite = minimal_suite(data_root)
    suite["data"]["manifest"] = "list.csv"
    err = config_error(write_suite(tmp_path, suite))
    assert err.field == "data.manifest"
    (data_root / "list.csv").write_text("split,label,image,mask\n")
    assert load_suite(write_suite(tmp_path, suite)).data.manifest == "list.csv"


def test_synthetic_source_does_not_need_an_existing_root(tmp_path: Path) -> None:
    suite = minimal_suite(tmp_path / "later")
    suite["data"]["source"] = "synthetic"
    cfg = load_suite(write_suite(tmp_path, suite))
    assert cfg.data.root == str(tmp_path / "later")


def test_env_variable_in_root_is_expanded(tmp_path: Path, data_root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BENCH_TEST_DATA", str(data_root.parent))
    suite = minimal_suite(data_root)
    suite["data"]["root"] = "${BENCH_TEST_DATA}/" + data_root.name
    cfg = load_suite(write_suite(tmp_path, suite))
    assert cfg.data.root == str(data_root.parent) + "/" + data_root.name
    assert Path(cfg.data.root) == data_root


def test_unset_env_variable_in_root_is_named(tmp_path: Path, data_root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("BENCH_TEST_UNSET_VAR", raising=False)
    suite = minimal_suite(data_root)
    suite["data"]["root"] = "${BENCH_TEST_UNSET_VAR}/data"
    err = config_error(write_suite(tmp_path, suite))
    assert err.field == "data.root"
    assert "BENCH_TEST_UNSET_VAR" in str(err)
    assert "not set" in str(err)


def test_env_variable_in_checkpoint_is_expanded(tmp_path: Path, data_root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    weights, imagenet = tmp_path / "weights.safetensors", tmp_path / "imagenet.pth"
    save_file({"w": torch.zeros(1)}, str(weights))
    torch.save({"w": torch.zeros(1)}, imagenet)
    monkeypatch.setenv("BENCH_TEST_WEIGHTS", str(tmp_path))
    suite = minimal_suite(data_root)
    suite["models"][0]["checkpoint"] = "${BENCH_TEST_WEIGHTS}/weights.safetensors"
    suite["models"][0]["pretrained"] = "$BENCH_TEST_WEIGHTS/imagenet.pth"
    cfg = load_suite(write_suite(tmp_path, suite))
    # stored expanded, like data.root: the model store opens these paths as they are
    assert cfg.models[0].checkpoint == str(weights)
    assert cfg.models[0].pretrained == str(imagenet)


def test_unset_env_variable_in_checkpoint_is_named(tmp_path: Path, data_root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("BENCH_TEST_UNSET_VAR", raising=False)
    suite = minimal_suite(data_root)
    suite["models"][0]["checkpoint"] = "${BENCH_TEST_UNSET_VAR}/w.safetensors"
    err = config_error(write_suite(tmp_path, suite))
    assert err.field == "models[0].checkpoint"
    assert "BENCH_TEST_UNSET_VAR" in str(err)


def test_missing_checkpoint_file(tmp_path: Path, data_root: Path) -> None:
    suite = minimal_suite(data_root)
    suite["models"][0]["checkpoint"] = str(tmp_path / "nope.safetensors")
    err = config_error(write_suite(tmp_path, suite))
    assert err.field == "models[0].checkpoint"
    assert "nope.safetensors" in str(err)


# --------------------------------------------------------------------------- TOML syntax and reading


def test_invalid_toml_syntax(tmp_path: Path, data_root: Path) -> None:
    text = to_toml(minimal_suite(data_root)) + "\n[run\nbatch_size = 4\n"
    err = config_error(write_suite(tmp_path, text))
    assert err.field is None
    assert "not valid TOML" in str(err)


def test_missing_suite_file(tmp_path: Path) -> None:
    err = config_error(tmp_path / "absent.toml")
    assert "cannot read" in str(err)


def test_parse_suite_names_the_given_file(data_root: Path) -> None:
    suite = minimal_suite(data_root)
    suite["run"] = {"device": "tpu"}
    with pytest.raises(ConfigError) as info:
        parse_suite(suite, "virtual.toml")
    assert str(info.value).startswith("virtual.toml: run.device: ")


@pytest.mark.parametrize("run, message", [
    ({"precision": "int8"}, "run.precision: "),
    ({"precision": "float16", "device": "cpu"}, "run.precision: float16 autocast runs on CUDA only"),
])
def test_a_precision_the_device_cannot_run_is_refused_naming_the_field(data_root: Path, run: dict, message: str) -> None:
    suite = minimal_suite(data_root)
    suite["run"] = run
    with pytest.raises(ConfigError) as info:
        parse_suite(suite, "virtual.toml")
    assert str(info.value).startswith(f"virtual.toml: {message}")


def test_bfloat16_is_accepted_on_the_cpu(data_root: Path) -> None:
    suite = minimal_suite(data_root)
    suite["run"] = {"precision": "bfloat16", "device": "cpu"}
    assert parse_suite(suite, "virtual.toml").run.precision == "bfloat16"


# --------------------------------------------------------------------------- fingerprint


def test_fingerprint_is_stable_and_ignores_the_file_path(tmp_path: Path, data_root: Path) -> None:
    suite = minimal_suite(data_root)
    first = load_suite(write_suite(tmp_path, suite, "a.toml"))
    second = load_suite(write_suite(tmp_path, suite, "b.toml"))
    assert first.path != second.path
    assert first.fingerprint() == second.fingerprint()
    assert first.fingerprint() == load_suite(tmp_path / "a.toml").fingerprint()
    assert len(first.fingerprint()) == 16


def test_fingerprint_same_for_defaults_written_out(tmp_path: Path, data_root: Path) -> None:
    suite = minimal_suite(data_root)
    explicit = copy.deepcopy(suite)
    explicit["run"] = {"batch_size": 16, "device": "auto"}
    assert load_suite(write_suite(tmp_path, suite, "a.toml")).fingerprint() == load_suite(write_suite(tmp_path, explicit, "b.toml")).fingerprint()


@pytest.mark.parametrize("change", [
    lambda s: s["run"].__setitem__("batch_size", 8),
    lambda s: s["methods"][0].__setitem__("params", {"seed": 1}),
    lambda s: s["metrics"].__setitem__(0, {"name": "iou_threshold", "params": {"threshold": 0.25}}),
    lambda s: s["models"][0].__setitem__("train", {"lr": 0.01}),
    lambda s: s["suite"].__setitem__("seed", 1),
], ids=["run.batch_size", "method param", "metric param", "train lr", "suite seed"])
def test_fingerprint_changes_with_a_parameter(tmp_path: Path, data_root: Path, change) -> None:
    suite = minimal_suite(data_root)
    suite["run"] = {"batch_size": 16}
    base = load_suite(write_suite(tmp_path, suite, "a.toml")).fingerprint()
    changed = copy.deepcopy(suite)
    change(changed)
    assert load_suite(write_suite(tmp_path, changed, "b.toml")).fingerprint() != base


def test_metric_sweep_expands_into_one_curve(tmp_path: Path, data_root: Path) -> None:
    suite = minimal_suite(data_root)
    suite["metrics"] = [{"name": "iou_topk"}, {"name": "randomisation_spearman", "params": {"seed": 3}, "sweep": {"blocks": [1, 2, 0]}}]
    cfg = load_suite(write_suite(tmp_path, suite))
    assert [m.column() for m in cfg.metrics] == ["iou_topk", "randomisation_spearman(seed=3)@blocks=1",
                                                 "randomisation_spearman(seed=3)@blocks=2", "randomisation_spearman(seed=3)@blocks=0"]
    assert [m.params for m in cfg.metrics[1:]] == [{"seed": 3, "blocks": b} for b in (1, 2, 0)]
    assert {m.curve for m in cfg.metrics} == {"", "randomisation_spearman(seed=3)"}
    assert [(m.sweep_param, m.sweep_value) for m in cfg.metrics[1:]] == [("blocks", 1), ("blocks", 2), ("blocks", 0)]
    assert load_suite(write_suite(tmp_path, suite)).fingerprint() == cfg.fingerprint()


@pytest.mark.parametrize(("sweep", "field", "words"), [
    ({"blocks": [1, -2]}, "metrics[0].sweep.blocks[1]", ">= 0"),
    ({"block": [1]}, "metrics[0].sweep.block", "unknown parameter"),
    ({"blocks": []}, "metrics[0].sweep.blocks", "non-empty array"),
    ({"blocks": [1], "seed": [0, 1]}, "metrics[0].sweep", "one parameter"),
])
def test_bad_metric_sweep_is_named(tmp_path: Path, data_root: Path, sweep: dict, field: str, words: str) -> None:
    suite = minimal_suite(data_root)
    suite["metrics"] = [{"name": "randomisation_spearman", "sweep": sweep}]
    err = config_error(write_suite(tmp_path, suite))
    assert err.field == field
    assert words in str(err)


# --------------------------------------------------------------------------- regions, training data and contrasts


def _shortcut_suite(root: Path, shortcut: bool = True) -> dict:
    suite = minimal_suite(root)
    suite["data"] = {"source": "synthetic", "root": str(root), "synthetic": {"shortcut": shortcut}}
    suite["models"] = [{"name": "shortcut"}, {"name": "control", "train_data": {"synthetic": {"shortcut": False}}}]
    suite["metrics"] = [{"name": "energy_in_mask", "region": "shortcut", "label": "marker_energy"}, {"name": "energy_in_mask"}]
    return suite


def test_a_shortcut_suite_with_a_control_loads(tmp_path: Path) -> None:
    suite = _shortcut_suite(tmp_path / "data")
    suite["contrast"] = {"positive": "shortcut", "negative": "control", "columns": ["marker_energy"]}
    cfg = load_suite(write_suite(tmp_path, suite))
    assert cfg.metrics[0].region == "shortcut" and cfg.metrics[1].column() == "energy_in_mask"
    assert cfg.models[1].train_data == {"synthetic": {"shortcut": False}}
    assert cfg.contrast.columns == ["marker_energy"]


def test_an_unlabelled_region_metric_gets_its_own_column(tmp_path: Path) -> None:
    suite = _shortcut_suite(tmp_path / "data")
    del suite["metrics"][0]["label"]
    assert load_suite(write_suite(tmp_path, suite)).metrics[0].column() == "energy_in_mask[shortcut]"


@pytest.mark.parametrize(("change", "field", "words"), [
    (lambda s: s["data"]["synthetic"].update(shortcut=False), "metrics[0].region", "with data.synthetic.shortcut = true"),
    (lambda s: s["metrics"][0].update(region="vessels"), "metrics[0].region", "no region 'vessels'"),
    (lambda s: s["metrics"].__setitem__(0, {"name": "sparseness", "region": "shortcut"}), "metrics[0].region", "reads no mask"),
    (lambda s: s["models"][1].update(train_data={"root": "elsewhere"}), "models[1].train_data.root", "not a training-data option"),
    (lambda s: s["models"][1].update(train_data={"synthetic": {"shortcat": False}}), "models[1].train_data.synthetic.shortcat", "did you mean 'shortcut'"),
    (lambda s: s["models"][1].update(train_data={"synthetic": {"shortcut": "no"}}), "models[1].train_data.synthetic.shortcut", "expected boolean"),
    (lambda s: s["models"][1].update(train_data={"synthetic": {"counts": {"trian": {"glaucoma": 2}}}}), "models[1].train_data.synthetic.counts.trian",
     "did you mean 'train'"),
    (lambda s: s.update(contrast={"positive": "shortcut", "negative": "contrl", "columns": ["marker_energy"]}), "contrast.negative", "did you mean 'control'"),
    (lambda s: s.update(contrast={"positive": "shortcut", "negative": "shortcut", "columns": ["marker_energy"]}), "contrast.negative", "same entry"),
    (lambda s: s.update(contrast={"positive": "shortcut", "negative": "control", "columns": ["marker"]}), "contrast.columns[0]", "not a metric column"),
    (lambda s: s.update(contrast={"positive": "shortcut", "negative": "control"}), "contrast.columns", "at least one"),
])
def test_bad_regions_training_data_and_contrasts_are_named(tmp_path: Path, change, field: str, words: str) -> None:
    suite = _shortcut_suite(tmp_path / "data")
    change(suite)
    err = config_error(write_suite(tmp_path, suite))
    assert err.field == field and words in str(err), str(err)


def test_a_folder_model_may_train_on_another_root(tmp_path: Path, data_root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from bench.core.config import training_data_config

    suite = minimal_suite(data_root)
    suite["models"][0]["train_data"] = {"root": "$OTHER_ROOT"}
    monkeypatch.setenv("OTHER_ROOT", str(tmp_path / "other"))
    err = config_error(write_suite(tmp_path, suite))
    assert err.field == "models[0].train_data.root" and "not a directory" in str(err)
    (tmp_path / "other").mkdir()
    cfg = load_suite(write_suite(tmp_path, suite))
    assert training_data_config(cfg.data, cfg.models[0].train_data).root == str(tmp_path / "other")
    suite["models"][0]["train_data"]["manifest"] = "train.csv"
    err = config_error(write_suite(tmp_path, suite))
    assert err.field == "models[0].train_data.manifest" and "no such file" in str(err)


def test_training_data_with_other_generator_options_gets_its_own_root(tmp_path: Path) -> None:
    from bench.core.config import training_data_config

    cfg = load_suite(write_suite(tmp_path, _shortcut_suite(tmp_path / "data")))
    shortcut, control = (training_data_config(cfg.data, m.train_data) for m in cfg.models)
    assert shortcut == cfg.data
    assert control.synthetic.shortcut is False and control.synthetic.counts == cfg.data.synthetic.counts
    assert control.root.startswith(str(tmp_path / "data") + "-train-") and control.root != cfg.data.root
    # the same options find the same folder again
    assert training_data_config(cfg.data, {"synthetic": {"shortcut": False}}).root == control.root


def test_a_contrast_entry_must_vary_by_seed_only(tmp_path: Path) -> None:
    suite = _shortcut_suite(tmp_path / "data")
    suite["models"][0]["sweep"] = {"seed": [0, 1], "dropout": [0.0, 0.5]}
    suite["contrast"] = {"positive": "shortcut", "negative": "control", "columns": ["marker_energy"]}
    err = config_error(write_suite(tmp_path, suite))
    assert err.field == "contrast.positive" and "more than the seed" in str(err)
