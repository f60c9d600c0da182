"""Validation before any work: bad suite values, data folders, checkpoints and command lines fail fast, naming file and key."""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import torch
import torchvision
from PIL import Image
from safetensors.torch import save_file

from bench.cli import main
from bench.core import registry
from bench.core.config import CARD, SuiteErrors, load_suite
from bench.core.errors import BenchError, ConfigError
from bench.core.validation import probe_model, probe_suite, validate_suite
from bench.data.suite_data import prepare_data
from bench.models.builders import ModelSpec, build_model
from bench.models.checkpoint import save_checkpoint

REPO = Path(__file__).resolve().parents[3]

# A valid suite small enough to probe in a fraction of a second; each case below changes one thing in it.
BASE = """
[suite]
name = "probe-test"

[data]
source = "synthetic"
root = "{root}"
image_size = 32
split = "test"

[[models]]
name = "m"
arch = "resnet18"

[models.train]
epochs = 1
batch_size = 4
{methods}
[[metrics]]
name = "iou_topk"

[[metrics]]
name = "iou_threshold"
params = {{ threshold = 0.5 }}

[run]
batch_size = 4
device = "cpu"
results = "{results}"
"""

METHODS = """
[[methods]]
name = "inhouse.gradcam"

[[methods]]
name = "inhouse.integrated_gradients"
params = { steps = 4 }

[[methods]]
name = "inhouse.occlusion"
params = { window = 8, stride = 4 }
"""

# A case writes its input under a temporary folder and returns (the file to check, the file its error must name).
Write = Callable[[Path], tuple[Path, Path]]


@pytest.fixture(autouse=True)
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Where a model would be trained: it must stay empty."""
    monkeypatch.setenv("BENCH_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv("BENCH_TEST_UNSET_VARIABLE", raising=False)
    return tmp_path / "cache"


def _suite_text(tmp: Path, *changes: tuple[str, str], append: str = "", methods: str = METHODS) -> str:
    text = BASE.format(root=tmp / "data", results=tmp / "results", methods=methods)
    for old, new in changes:
        assert text.count(old) == 1, old
        text = text.replace(old, new)
    return text + append


def _write(tmp: Path, text: str) -> tuple[Path, Path]:
    path = tmp / "suite.toml"
    path.write_text(text, encoding="utf-8")
    return path, path


def suite(*changes: tuple[str, str], append: str = "") -> Write:
    """The base suite with each (old, new) text replaced and TOML appended (to [run], unless it opens a table)."""
    return lambda tmp: _write(tmp, _suite_text(tmp, *changes, append=append))


def method(name: str, params: str = "") -> Write:
    """The base suite with one more method entry, methods[3]."""
    return suite(append=f'\n[[methods]]\nname = "{name}"\n' + (f"params = {{ {params} }}\n" if params else ""))


def model_file(key: str, make: Callable[[Path], Path], extra: str = "") -> Write:
    """The base suite with models[0].<key> set to the file or folder that make writes, and extra model keys."""
    def write(tmp: Path) -> tuple[Path, Path]:
        target = make(tmp)
        return _write(tmp, _suite_text(tmp, ('arch = "resnet18"\n', f'arch = "resnet18"\n{key} = "{target}"\n{extra}')))

    return write


def folder(make: Callable[[Path], object], data_extra: str = "") -> Write:
    """A folder-source suite over the data folder that make fills, with extra [data] keys."""
    def write(tmp: Path) -> tuple[Path, Path]:
        make(tmp / "data")
        (tmp / "data").mkdir(exist_ok=True)
        return _write(tmp, _suite_text(tmp, ('source = "synthetic"', f'source = "folder"\nclasses = ["health", "glaucoma"]{data_extra}')))

    return write


def _png(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.full((8, 8, 3), 128, np.uint8)).save(path)
    return path


def _layout(root: Path, splits: tuple[str, ...] = ("train", "val", "test")) -> Path:
    for split in splits:
        for label in ("health", "glaucoma"):
            _png(root / split / label / f"{split}-{label}.png")
    return root


def _manifest(rows: str, header: str = "split,label,image,mask") -> Callable[[Path], None]:
    def make(root: Path) -> None:
        _layout(root)
        (root / "list.csv").write_text(f"{header}\n{rows}\n", encoding="utf-8")

    return make


def _unexpected_class_folder(root: Path) -> None:
    _layout(root)
    (root / "test" / "suspect").mkdir()


def _text_file(name: str) -> Callable[[Path], Path]:
    def make(tmp: Path) -> Path:
        (tmp / name).write_text("not weights at all")
        return tmp / name

    return make


def _pickled_checkpoint(tmp: Path) -> Path:
    torch.save({"state": {"w": torch.zeros(1)}, "args": argparse.Namespace(lr=1)}, tmp / "model.pt")
    return tmp / "model.pt"


def _foreign_safetensors(tmp: Path) -> Path:
    save_file({"encoder.weight": torch.zeros(2, 2)}, str(tmp / "other.safetensors"))
    return tmp / "other.safetensors"


def _dir_without_card(tmp: Path) -> Path:
    (tmp / "run").mkdir()
    save_file({"w": torch.zeros(1)}, str(tmp / "run" / "epoch-001.safetensors"))
    return tmp / "run"


def _card_naming_a_missing_file(tmp: Path) -> Path:
    (tmp / "run").mkdir()
    (tmp / "run" / CARD).write_text(json.dumps({"checkpoint": "epoch-009.safetensors", "model": {"arch": "resnet18"}}))
    return tmp / "run"


def _foreign_state_dict(tmp: Path) -> Path:
    torch.save({"encoder.weight": torch.zeros(2, 2)}, tmp / "imagenet.pth")
    return tmp / "imagenet.pth"


def _unsafe_pickle(tmp: Path) -> Path:
    torch.save({"w": torch.zeros(1), "args": argparse.Namespace(lr=1)}, tmp / "imagenet.pth")
    return tmp / "imagenet.pth"


def _missing_suite(tmp: Path) -> tuple[Path, Path]:
    return tmp / "no-such-suite.toml", tmp / "no-such-suite.toml"


def _validation_message(path: Path) -> str:
    with pytest.raises(ConfigError) as info:
        validate_suite(path)
    return str(info.value)


def _cli(command: str, *options: str) -> Callable[[Path], str]:
    """The error a bench command prints for the suite, after checking it exits with status 2."""
    def run(path: Path) -> str:
        out, err = io.StringIO(), io.StringIO()
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            code = main([command, str(path), *options])
        assert code == 2, out.getvalue()
        assert err.getvalue().startswith("error: ")
        return err.getvalue()

    return run


def bad(write: Write, key: str, *words: str, check: Callable[[Path], str] = _validation_message, id: str) -> object:  # noqa: A002
    """One row of the table: the input, the key its error names, words the message holds, and how it is checked."""
    return pytest.param(write, key, words, check, id=id)


MANIFEST = '\nmanifest = "list.csv"'

CASES = [
    # values that loading the suite judges
    bad(suite(("batch_size = 4\ndevice", "batch_size = -4\ndevice")), "run.batch_size", "> 0", id="negative-batch-size"),
    bad(suite(('device = "cpu"', 'device = "tpu"')), "run.device", "'tpu'", "cuda", id="unknown-device"),
    bad(suite(append='target = "predictd"\n'), "run.target", "did you mean 'predicted'", id="bad-target"),
    bad(suite(('split = "test"', 'split = "testing"')), "data.split", "'testing'", id="bad-split"),
    bad(suite(("image_size = 32", "image_size = 0")), "data.image_size", "> 0", id="zero-image-size"),
    bad(suite(("image_size = 32", "image_size = 32\nlimit = -1")), "data.limit", ">= 0", id="negative-limit"),
    bad(suite(('source = "synthetic"', 'source = "http"')), "data.source", "'http'", id="unknown-source"),
    bad(suite(('root = "', 'root = "${BENCH_TEST_UNSET_VARIABLE}/')), "data.root", "BENCH_TEST_UNSET_VARIABLE", "not set",
        id="unset-variable"),
    bad(suite(append="\n[data.synthetic]\ncounts = { training = { health = 2, glaucoma = 2 } }\n"), "data.synthetic.counts.training",
        "'training'", id="synthetic-split-name"),
    bad(suite(('arch = "resnet18"', 'arch = "resnet19"')), "models[0].arch", "did you mean 'resnet18'", id="unknown-arch"),
    bad(suite(('arch = "resnet18"', 'arch = "resnet18"\ndropout = 1.5')), "models[0].dropout", "[0, 1)", id="dropout"),
    # model sources, preprocessing and the data layout
    bad(suite(('arch = "resnet18"', 'arch = "keras:resnet18"')), "models[0].arch", "unknown model source 'keras'", id="unknown-model-source"),
    bad(suite(('arch = "resnet18"', 'arch = "zoo:vgg8"')), "models[0].arch", "unknown zoo preset 'vgg8'", "vgg7", id="unknown-zoo-preset"),
    bad(suite(('arch = "resnet18"', 'arch = "zoo:vgg7"\narch_params = { widths = [8], pool = "median" }')), "models[0].arch_params",
        "pool", id="bad-zoo-parameter"),
    bad(suite(('arch = "resnet18"', 'arch = "python:no_such_module_here:make"')), "models[0].arch", "cannot import", id="factory-not-importable"),
    bad(suite(('arch = "resnet18"', 'arch = "resnet18"\nnormalise = "minmax"')), "models[0].normalise", "'minmax'", id="bad-normalise"),
    bad(suite(('arch = "resnet18"', 'arch = "resnet18"\nmean = [0.5, 0.5, 0.5]')), "models[0].mean", "together", id="mean-without-std"),
    bad(suite(append="target = 7\n"), "run.target", "outside 0..1", id="target-class-out-of-range"),
    bad(suite(('source = "synthetic"', 'source = "npz"')), "data.root", "no such .npz file", id="npz-root-missing"),
    bad(suite(('source = "synthetic"', 'source = "csv"')), "data.root", "not a directory", id="csv-root-missing"),
    bad(suite(("image_size = 32", "image_size = 32\nchannels = 2")), "data.channels", "1 (grayscale) or 3", id="image-channels"),
    bad(suite(("epochs = 1", "epochs = 0")), "models[0].train.epochs", "> 0", id="zero-epochs"),
    bad(suite(("epochs = 1", 'epochs = 1\nselect = "f1"')), "models[0].train.select", "roc_auc", id="bad-select"),
    bad(suite(("epochs = 1", 'epochs = 1\nlr = "fast"')), "models[0].train.lr", "expected number", id="lr-type"),
    bad(suite(append='\n[[models]]\nname = "m"\n'), "models[1].name", "duplicate", "models[0]", id="duplicate-model"),
    bad(method("inhouse.gradcm"), "methods[3].name", "did you mean 'inhouse.gradcam'", id="unknown-method"),
    bad(suite(("steps = 4", "stepz = 4")), "methods[1].params", "did you mean 'steps'", id="unknown-method-param"),
    bad(suite(("steps = 4", 'steps = "4"')), "methods[1].params", "'steps' must be int", id="method-param-type"),
    bad(method("inhouse.integrated_gradients", "steps = 4"), "methods[3]", "repeats methods[1]", id="duplicate-method"),
    bad(method("inhouse.gradcam", "relu = true"), "methods[3]", "repeats methods[0]", id="duplicate-method-defaults-written"),
    bad(suite(append='\n[[metrics]]\nname = "iou_topkk"\n'), "metrics[2].name", "did you mean 'iou_topk'", id="unknown-metric"),
    bad(suite(("threshold = 0.5", "thresh = 0.5")), "metrics[1].params.thresh", "accepts threshold", id="unknown-metric-param"),
    bad(suite(('name = "iou_topk"', 'name = "iou_topk"\nparams = { k = 3 }')), "metrics[0].params.k", "accepts no parameters",
        id="metric-without-params"),
    bad(suite(("threshold = 0.5", "threshold = 1.5")), "metrics[1].params", "[0, 1]", id="metric-param-range"),
    bad(suite(("threshold = 0.5", 'threshold = "half"')), "metrics[1].params.threshold", "expected number", id="metric-param-type"),
    bad(suite(append='\n[[metrics]]\nname = "randomisation_spearman"\nsweep = { block = [1, 2] }\n'), "metrics[2].sweep.block",
        "did you mean 'blocks'", "accepts blocks, seed", id="sweep-unknown-param"),
    bad(suite(append='\n[[metrics]]\nname = "randomisation_spearman"\nsweep = { blocks = [1, -2] }\n'), "metrics[2].sweep.blocks[1]",
        ">= 0", id="sweep-bad-value"),
    bad(suite(append='\n[[metrics]]\nname = "iou_topk"\n'), "metrics[2]", "appears twice", id="duplicate-metric-column"),
    bad(suite(append="\n[runn]\nbatch_size = 2\n"), "runn", "did you mean 'run'", id="unknown-section"),
    bad(suite(append="\n[leaderboard]\nconfidence = 1.5\n"), "leaderboard.confidence", "(0, 1)", id="confidence"),
    bad(suite(append="\n[measure]\nrepeats = 0\n"), "measure.repeats", "> 0", id="zero-repeats"),
    bad(suite(('name = "probe-test"', 'name = "probe test"')), "suite.name", "letters, digits", id="suite-name"),
    # parameter values that only building and calling the method on the probe judges
    bad(suite(("steps = 4", "steps = 0")), "methods[1].params", "steps must be >= 1", id="ig-zero-steps"),
    bad(method("captum.integrated_gradients", "steps = 0"), "methods[3].params", "steps >= 1", id="captum-ig-zero-steps"),
    bad(method("inhouse.integrated_gradients", 'baseline = "grey"'), "methods[3].params", "unknown reference input 'grey'",
        id="unknown-baseline"),
    bad(method("inhouse.scorecam", 'weights = "softmax"'), "methods[3].params", "weights must be one of", id="scorecam-weights"),
    bad(suite(("window = 8", "window = 64")), "methods[2].params", "window 64 is larger than the input (32x32)", id="occlusion-window"),
    bad(method("captum.occlusion", "window = 40"), "methods[3].params", "larger than the input", id="captum-occlusion-window"),
    bad(method("inhouse.smoothgrad", "samples = 0"), "methods[3].params", "samples >= 1", id="smoothgrad-samples"),
    bad(method("captum.vargrad", "samples = 0"), "methods[3].params", "samples >= 1", id="captum-vargrad-samples"),
    bad(method("inhouse.gradient_shap", "samples = 0"), "methods[3].params", "samples >= 1", id="gradient-shap-samples"),
    bad(method("inhouse.rise", "p = 1.5"), "methods[3].params", "0 < p < 1", id="rise-p"),
    bad(method("inhouse.rise", "cell = 64, masks = 4"), "methods[3].params", "larger than the input", id="rise-cell"),
    bad(method("captum.guided_gradcam", 'interpolate_mode = "linear2"'), "methods[3].params", "interpolate_mode", id="interpolate-mode"),
    bad(method("inhouse.smoothgrad", 'base = "inhouse.salency"'), "methods[3].params", "did you mean 'inhouse.saliency'",
        id="noise-tunnel-base"),
    # models: layers and weights files
    bad(suite(('arch = "resnet18"', 'arch = "resnet18"\ntarget_layer = "layer5"')), "models[0].target_layer", "no layer 'layer5'",
        "layer4", id="target-layer"),
    bad(model_file("checkpoint", _text_file("weights.safetensors")), "models[0].checkpoint", "not a safetensors",
        id="checkpoint-text-file"),
    bad(model_file("checkpoint", _pickled_checkpoint), "models[0].checkpoint", "neither a .safetensors file", id="checkpoint-pickle"),
    bad(model_file("checkpoint", _dir_without_card), "models[0].checkpoint", f"has no {CARD}", id="checkpoint-dir-without-card"),
    bad(model_file("checkpoint", _card_naming_a_missing_file), "models[0].checkpoint", "epoch-009.safetensors",
        id="checkpoint-card-names-a-missing-file"),
    bad(model_file("checkpoint", _foreign_safetensors), "models[0].checkpoint", "does not fit resnet18", "encoder.weight",
        id="checkpoint-of-another-architecture"),
    bad(model_file("checkpoint", lambda tmp: tmp / "gone.safetensors"), "models[0].checkpoint", "no such file", id="checkpoint-missing"),
    bad(model_file("pretrained", _text_file("imagenet.pth")), "models[0].pretrained", "weights_only=True", id="pretrained-text-file"),
    bad(model_file("pretrained", _unsafe_pickle), "models[0].pretrained", "weights_only=True", id="pretrained-unsafe-pickle"),
    bad(model_file("pretrained", _foreign_state_dict), "models[0].pretrained", "does not fit torchvision's resnet18",
        id="pretrained-of-another-architecture"),
    # data folders
    bad(folder(lambda root: root.mkdir()), "data.root", "no images found", id="folder-without-splits"),
    bad(folder(_unexpected_class_folder), "data.root", "suspect", "unexpected class folder", id="folder-with-unknown-class"),
    bad(folder(lambda root: _layout(root, ("test",))), "models[0].train", "['train', 'val']", id="folder-without-train-split"),
    bad(folder(lambda root: _layout(root, ("train", "val"))), "data.split", "no 'test' split", id="folder-without-test-split"),
    bad(folder(_manifest("test,health,../outside.png,"), MANIFEST), "data.manifest", "line 2", "outside the data root",
        id="manifest-path-leaves-root"),
    bad(folder(_manifest("test,sick,test/health/test-health.png,"), MANIFEST), "data.manifest", "line 2", "'sick'",
        id="manifest-bad-label"),
    bad(folder(_manifest("test,health", header="split,label"), MANIFEST), "data.manifest", "missing column", id="manifest-missing-column"),
    bad(folder(lambda root: None, '\nmanifest = "absent.csv"'), "data.manifest", "no such file", id="manifest-missing"),
    # the command line
    bad(_missing_suite, "cannot read suite file", check=_cli("validate"), id="cli-validate-missing-file"),
    bad(suite(('device = "cpu"', 'device = "gpu"')), "run.device", "did you mean 'cpu'", check=_cli("validate"), id="cli-validate"),
    bad(suite(("epochs = 1", "epochs = -1")), "models[0].train.epochs", check=_cli("train"), id="cli-train"),
    bad(suite(("batch_size = 4\ndevice", "batch_size = 0\ndevice")), "run.batch_size", check=_cli("run"), id="cli-run"),
    bad(suite(("batch_size = 4\ndevice", "batch_size = 0\ndevice")), "run.batch_size", check=_cli("plan"), id="cli-plan"),
    bad(suite(("batch_size = 4\ndevice", "batch_size = 0\ndevice")), "run.batch_size", check=_cli("merge"), id="cli-merge"),
    bad(suite(("batch_size = 4\ndevice", "batch_size = 0\ndevice")), "run.batch_size", check=_cli("run", "--workers", "2"), id="cli-run-workers"),
]

# Arguments that are wrong whatever the suite: refused before the suite is even read.
ARGUMENTS = [
    (["--shard", "2/2"], "--shard", "0 <= i < n"),
    (["--shard", "one/two"], "--shard", "whole numbers"),
    (["--workers", "0"], "--workers", "at least 1"),
    (["--executor", "ray", "--workers", "2"], "--workers", "Ray places tasks itself"),
]


@pytest.mark.parametrize(("options", "key", "words"), ARGUMENTS, ids=lambda v: " ".join(v) if isinstance(v, list) else None)
def test_bad_run_arguments_are_named_before_any_work(options: list[str], key: str, words: str, tmp_path: Path, cache: Path) -> None:
    path, _ = suite()(tmp_path)
    message = _cli("run", *options)(path)
    assert key in message and words in message, message
    assert not cache.exists() and not (tmp_path / "results").exists()


@pytest.mark.parametrize(("write", "key", "words", "check"), CASES)
def test_bad_input_is_named_before_any_work(write: Write, key: str, words: tuple[str, ...], check: Callable[[Path], str],
                                            tmp_path: Path, cache: Path) -> None:
    path, named = write(tmp_path)
    message = check(path)
    assert str(named) in message and key in message, message
    for word in words:
        assert word in message, message
    assert not cache.exists(), "nothing may be trained"
    assert not (tmp_path / "results").exists(), "nothing may be written"


def test_the_table_holds_at_least_30_bad_inputs() -> None:
    assert len(CASES) >= 30


def test_corrupt_image_is_named_when_the_data_set_is_loaded_before_training(tmp_path: Path, cache: Path) -> None:
    def corrupt(root: Path) -> None:
        _layout(root)
        (root / "test" / "glaucoma" / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n this is not an image")

    path, _ = folder(corrupt)(tmp_path)
    data = prepare_data(validate_suite(path))  # discovery lists files, decoding happens when a split is loaded
    with pytest.raises(BenchError) as info:
        data.split("test")
    assert str(tmp_path / "data" / "test" / "glaucoma" / "broken.png") in str(info.value)
    assert "cannot decode image" in str(info.value)
    assert not (cache / "models").exists()  # nothing trained (the cache holds only the probe's passed verdict)


def test_three_independent_mistakes_are_reported_together(tmp_path: Path) -> None:
    path, _ = suite(("batch_size = 4\ndevice", "batch_size = -4\ndevice"), ('device = "cpu"', 'device = "tpu"'),
                    ("steps = 4", "steps = 0"))(tmp_path)
    with pytest.raises(SuiteErrors) as info:
        validate_suite(path)
    err = info.value
    assert [e.field for e in err.errors] == ["run.device", "run.batch_size", "methods[1].params"]
    lines = str(err).splitlines()
    assert lines == [f"{path}: 3 errors"] + [f"{path}: {e.field}: {e.message}" for e in err.errors]


def test_loading_reports_every_error_once(tmp_path: Path) -> None:
    path, _ = suite(('arch = "resnet18"', 'arch = "resnet19"\ndropout = 2.0'), ('source = "synthetic"', 'source = "http"'),
                    append='\n[[methods]]\nname = "inhouse.gradcm"\n\n[[metrics]]\nlabel = "x"\n')(tmp_path)
    with pytest.raises(SuiteErrors) as info:
        load_suite(path)
    # metrics[2] lacks its name: reported once, not again as an unknown metric ''
    assert [e.field for e in info.value.errors] == ["metrics[2].name", "data.source", "models[0].arch", "models[0].dropout",
                                                    "methods[3].name"]


def test_an_entry_that_is_not_a_table_keeps_the_others_indices(tmp_path: Path) -> None:
    text = 'methods = ["inhouse.gradcam", { name = "inhouse.gradcm" }]\n' + _suite_text(tmp_path, methods="")
    path, _ = _write(tmp_path, text)
    with pytest.raises(SuiteErrors) as info:
        load_suite(path)
    assert [e.field for e in info.value.errors] == ["methods[0]", "methods[1].name"]
    assert "expected a table, got str" in str(info.value)


def test_valid_suite_passes_and_is_what_load_suite_returns(tmp_path: Path, cache: Path) -> None:
    path, _ = suite()(tmp_path)
    assert validate_suite(path) == load_suite(path)
    probe_suite(load_suite(path))
    assert [p.parent.name for p in cache.rglob("*") if p.is_file()] == ["probe"]  # only the passed verdict is written


def test_fitting_checkpoint_and_imagenet_weights_pass(tmp_path: Path) -> None:
    save_checkpoint(build_model(ModelSpec(batchnorm=False)), tmp_path / "m.safetensors")
    torch.save(torchvision.models.resnet18(weights=None).state_dict(), tmp_path / "imagenet.pth")
    extra = f'batchnorm = false\npretrained = "{tmp_path / "imagenet.pth"}"\ntarget_layer = "layer4.1.conv2"\n'
    path, _ = model_file("checkpoint", lambda tmp: tmp / "m.safetensors", extra)(tmp_path)
    assert validate_suite(path).models[0].checkpoint == str(tmp_path / "m.safetensors")


def test_a_trained_directory_is_checked_against_the_architecture_in_its_card(tmp_path: Path) -> None:
    run = tmp_path / "run"
    run.mkdir()
    save_file({"w": torch.zeros(1)}, str(run / "epoch-001.safetensors"))
    (run / CARD).write_text(json.dumps({"checkpoint": "epoch-001.safetensors", "model": {"arch": "resnet34", "batchnorm": True}}))
    path, _ = model_file("checkpoint", lambda tmp: run, 'target_layer = "layer4.2"\n')(tmp_path)
    validate_suite(path)  # resnet34 has a layer4.2; the entry's own arch, resnet18, has not
    path.write_text(path.read_text().replace('target_layer = "layer4.2"', 'target_layer = "layer4.3"'))
    with pytest.raises(SuiteErrors, match=r"models\[0\]\.target_layer: ResNet has no layer 'layer4.3'"):
        validate_suite(path)


def test_every_registered_adapter_passes_the_probe_with_its_defaults(tmp_path: Path) -> None:
    methods = "".join(f'\n[[methods]]\nname = "{name}"\n' for name in registry.names())
    path, _ = _write(tmp_path, _suite_text(tmp_path, methods=methods))
    assert len(validate_suite(path).methods) == len(registry.names())


@pytest.mark.parametrize("name", ["synthetic-fundus.toml", "synthetic-fundus-all-methods.toml"])
def test_example_suites_pass_the_probe(name: str) -> None:
    cfg = load_suite(REPO / "suites" / name)
    started = time.perf_counter()
    probe_suite(cfg)
    print(f"{name}: probed in {time.perf_counter() - started:.2f} s")


def test_the_probe_leaves_the_global_random_state_alone() -> None:
    state = torch.random.get_rng_state()
    probe_model(32)
    assert torch.equal(state, torch.random.get_rng_state())


def test_config_imports_neither_training_nor_torchvision() -> None:
    code = "import sys, bench.core.config; print(sorted(m for m in ('torchvision', 'bench.models.training') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=REPO).stdout
    assert out.strip() == "[]"


def test_a_passed_probe_is_remembered_until_what_it_checked_changes(tmp_path: Path, cache: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import bench.core.validation as validation

    calls = []
    real = validation._probe
    monkeypatch.setattr(validation, "_probe", lambda cfg, found: (calls.append(cfg.path), real(cfg, found)))
    path, _ = suite()(tmp_path)
    validate_suite(path)
    validate_suite(path)
    assert len(calls) == 1 and list((cache / "probe").glob("*.passed"))
    path.write_text(path.read_text() + '\n[[metrics]]\nname = "sparseness"\n')
    validate_suite(path)
    assert len(calls) == 1  # metrics are checked while loading; the probe's verdict does not depend on them
    path.write_text(path.read_text().replace("steps = 4", "steps = 5"))
    validate_suite(path)
    assert len(calls) == 2
    path.write_text(path.read_text().replace("steps = 5", "steps = 0"))
    with pytest.raises(SuiteErrors):
        validate_suite(path)
    with pytest.raises(SuiteErrors):
        validate_suite(path)  # a failure is never remembered
    assert len(calls) == 4
