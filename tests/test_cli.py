"""The bench command: validate, ls and how errors reach the user."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from bench.cli import main
from bench.core.config import load_suite

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(autouse=True)
def _in_repo(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(REPO)
    monkeypatch.setenv("BENCH_PROGRESS", "0")


def test_validate_example_suite(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["validate", "suites/synthetic-fundus.toml"]) == 0
    out, err = capsys.readouterr()
    assert err == ""
    line = out.strip()
    assert line.startswith("suites/synthetic-fundus.toml: ok (")
    cfg = load_suite("suites/synthetic-fundus.toml")
    assert f"{len(cfg.models)} model(s), {len(cfg.methods)} method(s), {len(cfg.metrics)} metric(s)" in line
    assert cfg.fingerprint() in line
    # the fingerprint printed is the suite's own
    match = re.search(r"fingerprint ([0-9a-f]{16})\)", line)
    assert match and match.group(1) == load_suite("suites/synthetic-fundus.toml").fingerprint()


def test_ls_lists_methods_and_metrics(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["ls"]) == 0
    out = capsys.readouterr().out
    lines = out.splitlines()
    sections = [line for line in lines if not line.startswith(" ")]
    assert sections == ["methods:", "metrics:", "architectures (or python:package.module:factory):", "sources:", "suites:"]
    methods = lines[lines.index("methods:") + 1:lines.index("metrics:")]
    metrics = lines[lines.index("metrics:") + 1:lines.index("architectures (or python:package.module:factory):")]
    archs = [line.strip() for line in lines[lines.index("architectures (or python:package.module:factory):") + 1:lines.index("sources:")]]
    for name in ("resnet18", "resnet152", "vgg11", "vgg19_bn", "densenet121", "mobilenet_v3_small", "efficientnet_b0", "convnext_tiny",
                 "zoo:plain_cnn", "zoo:mnist1d_cnn", "zoo:vgg7", "zoo:mnist_2conv"):
        assert name in archs
    assert [line.strip() for line in lines[lines.index("sources:") + 1:lines.index("suites:")]] == ["csv", "folder", "mnist1d", "npz", "synthetic", "textures"]
    suites = lines[lines.index("suites:") + 1:]
    method_names = [line.split()[0] for line in methods]
    assert "inhouse.gradcam" in method_names and "baseline.random" in method_names
    # every built-in loads (a broken one is listed as 'cannot load')
    assert not any("cannot load" in line for line in methods)
    gradcam = next(line for line in methods if line.split()[0] == "inhouse.gradcam")
    assert "method=gradcam" in gradcam and "library=inhouse" in gradcam
    random_line = next(line for line in methods if line.split()[0] == "baseline.random")
    assert "seed=0" in random_line
    metric_names = [line.split()[0] for line in metrics]
    assert "iou_topk" in metric_names
    assert metric_names == sorted(metric_names)
    iou = next(line for line in metrics if line.split()[0] == "iou_topk")
    assert "localisation" in iou and "higher" in iou and "needs masks" in iou
    assert "suites/synthetic-fundus.toml" in [line.strip() for line in suites]


def test_ls_only_metrics(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["ls", "metrics"]) == 0
    out = capsys.readouterr().out
    assert out.splitlines()[0] == "metrics:"
    assert "iou_topk" in out
    assert "inhouse.gradcam" not in out and "methods:" not in out


def test_validate_bad_suite_exits_2_with_error_naming_the_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "broken-suite.toml"
    text = (REPO / "suites" / "synthetic-fundus.toml").read_text().replace("batch_size = 25", "batch_sise = 25")
    assert "batch_sise" in text
    bad.write_text(text)
    assert main(["validate", str(bad)]) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert err.startswith("error: ")
    assert str(bad) in err
    assert "run.batch_sise" in err and "did you mean 'batch_size'" in err


def test_validate_invalid_toml_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "syntax.toml"
    bad.write_text("[suite\nname = 'x'\n")
    assert main(["validate", str(bad)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "syntax.toml" in err and "not valid TOML" in err


def test_validate_missing_file_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    missing = tmp_path / "absent.toml"
    assert main(["validate", str(missing)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and str(missing) in err


def test_validate_stops_at_the_first_bad_suite(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text("unknown = 1\n")
    assert main(["validate", "suites/synthetic-fundus.toml", str(bad)]) == 2
    out, err = capsys.readouterr()
    assert "suites/synthetic-fundus.toml: ok" in out
    assert "error: " in err and "bad.toml" in err


def test_unknown_command_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main(["frobnicate"])
    assert info.value.code == 2
    assert "invalid choice" in capsys.readouterr().err


def test_report_refuses_an_unknown_model_comparison_or_metric_before_drawing(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["report", "suites/synthetic-fundus.toml", "--model", "resnet99"]) == 2
    err = capsys.readouterr().err
    assert "suites/synthetic-fundus.toml: --model: no model 'resnet99'" in err and "resnet18" in err
    missing = tmp_path / "theirs.csv"
    assert main(["report", "suites/synthetic-fundus.toml", "--compare", str(missing)]) == 2
    assert f"{missing}: no such leaderboard" in capsys.readouterr().err
    assert main(["report", "suites/synthetic-fundus.toml", "--metric", "iou_top"]) == 2
    err = capsys.readouterr().err
    assert "--metric: no metric column 'iou_top'" in err and "iou_topk" in err


def test_visualize_filters_refuses_bad_arguments_before_training(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                               capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("BENCH_CACHE", str(tmp_path / "cache"))
    assert main(["visualize-filters", "suites/demo.toml", "--model", "resnet99"]) == 2
    assert "--model" in capsys.readouterr().err
    assert main(["visualize-filters", "suites/demo.toml", "--model", "resnet18w16[seed=0]", "--filters", "0"]) == 2
    assert "--filters" in capsys.readouterr().err
    assert main(["visualize-filters", "suites/demo.toml", "--model", "resnet18w16[seed=0]", "--steps", "0"]) == 2
    assert "--steps" in capsys.readouterr().err
    # validation may note its probe there; nothing is trained
    assert not (tmp_path / "cache" / "models").exists()


def test_visualize_filters_writes_grids_that_the_report_shows(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                             capsys: pytest.CaptureFixture[str]) -> None:
    from tests.suites import tiny_suite

    monkeypatch.setenv("BENCH_CACHE", str(tmp_path / "cache"))
    cfg = tiny_suite(tmp_path)
    assert main(["visualize-filters", cfg.path, "--model", "tiny-resnet", "--layer", "layer5"]) == 2
    assert "--layer" in capsys.readouterr().err and not (cfg.results_dir() / "filters").exists()
    assert main(["run", cfg.path]) == 0
    assert main(["visualize-filters", cfg.path, "--model", "tiny-resnet", "--filters", "3", "--steps", "4"]) == 0
    layers = sorted(p.name for p in (cfg.results_dir() / "filters" / "tiny-resnet").iterdir())
    assert layers == ["layer1", "layer3", "layer4"]
    for layer in layers:
        folder = cfg.results_dir() / "filters" / "tiny-resnet" / layer
        assert sorted(p.name for p in folder.glob("filter-*.png")) == ["filter-000.png", "filter-001.png", "filter-002.png"]
        assert (folder / "grid.png").is_file()
    assert main(["report", cfg.path]) == 0
    page = (cfg.results_dir() / "report" / "index.html").read_text()
    assert "Filters (activation maximisation)" in page and page.count('alt="filters of tiny-resnet') == 3
