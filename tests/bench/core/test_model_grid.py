"""Model grids in suite files: expansion, generated names, recorded factors and errors that name the sweep."""

from __future__ import annotations

import pytest

from bench.core.config import SuiteErrors, parse_suite

BASE = {"suite": {"name": "g"}, "data": {"source": "synthetic", "root": "/tmp/unused"}, "methods": [{"name": "inhouse.gradcam"}],
        "metrics": [{"name": "iou_topk"}]}


def _models(**entry):
    return parse_suite({**BASE, "models": [{"name": "r", **entry}]}, "suite.toml").models


def test_a_full_grid_crosses_every_factor_and_replicates_over_seeds() -> None:
    models = _models(sweep={"arch": ["resnet18", "resnet34"], "dropout": [0.0, 0.5], "weight_decay": [0.0, 1e-3], "seed": [0, 1, 2]})
    assert len(models) == 2 * 2 * 2 * 3
    first = models[0]
    assert first.name == "r[arch=resnet18,dropout=0.0,weight_decay=0.0,seed=0]" and first.setting == "r[arch=resnet18,dropout=0.0,weight_decay=0.0]"
    assert first.factors == {"arch": "resnet18", "dropout": 0.0, "weight_decay": 0.0, "seed": 0}
    last = models[-1]
    assert (last.arch, last.dropout, last.train.weight_decay, last.train.seed) == ("resnet34", 0.5, 1e-3, 2)
    assert len({m.setting for m in models}) == 8 and len({m.name for m in models}) == 24
    assert all(m.entry == "r" and m.design == "grid" and m.varied == "" and not m.sweep for m in models)


def test_one_at_a_time_varies_each_factor_around_the_entry_and_skips_the_base_value() -> None:
    models = _models(design="one_at_a_time", dropout=0.1, sweep={"dropout": [0.1, 0.5], "batchnorm": [False], "seed": [0, 1]}, epochs=[2, 4],
                     train={"epochs": 4})
    settings = list(dict.fromkeys(m.setting for m in models))
    assert settings == ["r[base]", "r[dropout=0.5]", "r[batchnorm=false]", "r[epoch=2]", "r[epoch=4]"]
    by = {m.name: m for m in models}
    base, varied = by["r[base,seed=1]"], by["r[batchnorm=false,seed=0]"]
    assert (base.dropout, base.batchnorm, base.train.seed, base.checkpoint_epoch, base.varied) == (0.1, True, 1, 0, "")
    assert (varied.dropout, varied.batchnorm, varied.varied) == (0.1, False, "batchnorm")
    assert varied.factors == {"dropout": 0.1, "batchnorm": False, "epoch": None, "seed": 0}
    epoch = by["r[epoch=2,seed=0]"]
    assert (epoch.checkpoint_epoch, epoch.varied, epoch.factors["epoch"], epoch.train.epochs) == (2, "epoch", 2, 4)


def test_epochs_all_and_arch_params_and_train_fields_spelled_with_their_table() -> None:
    models = _models(arch="zoo:plain_cnn", epochs="all", train={"epochs": 3}, sweep={"arch_params.width": [8, 16], "train.lr": [0.1]})
    assert [m.name for m in models][:3] == ["r[arch_params.width=8,lr=0.1,epoch=1]", "r[arch_params.width=8,lr=0.1,epoch=2]",
                                          "r[arch_params.width=8,lr=0.1,epoch=3]"]
    assert models[-1].arch_params == {"width": 16} and models[-1].train.lr == 0.1 and models[-1].checkpoint_epoch == 3


def test_an_entry_without_sweep_is_unchanged() -> None:
    (model,) = _models()
    assert (model.name, model.setting, model.factors, model.checkpoint_epoch) == ("r", "r", {}, 0)


@pytest.mark.parametrize(
    ("entry", "key", "message"),
    [
        ({"sweep": {"epochs": [1, 2]}}, "models[0].sweep.epochs", "write train.epochs"),
        ({"sweep": {"colour": [1]}}, "models[0].sweep.colour", "not a model or training field"),
        ({"sweep": {"dropout": 0.5}}, "models[0].sweep.dropout", "non-empty array"),
        ({"sweep": {"dropout": [0.5, 0.5]}}, "models[0].sweep.dropout", "repeats a value"),
        ({"sweep": {"dropout": [0.0, 1.5]}}, "models[0].sweep.dropout", "must lie in [0, 1)"),
        ({"sweep": {"dropout": ["high"]}}, "models[0].sweep.dropout[0]", "expected number"),
        ({"sweep": {"arch": ["resnet18", "resnet99"]}}, "models[0].sweep.arch", "resnet99"),
        ({"sweep": {"weight_decay": [-1.0]}}, "models[0].sweep.weight_decay", ">= 0"),
        ({"design": "random"}, "models[0].design", "one_at_a_time"),
        ({"epochs": [0, 9], "train": {"epochs": 6}}, "models[0].epochs", "outside 1..6"),
        ({"epochs": "some"}, "models[0].epochs", '"all"'),
        ({"epochs": [2], "sweep": {"train.epochs": [2, 4]}}, "models[0].epochs", "one training length"),
    ],
)
def test_bad_sweeps_name_the_entry_and_factor(entry: dict, key: str, message: str) -> None:
    with pytest.raises(SuiteErrors) as err:
        _models(**entry)
    assert any(e.field == key and message in e.message for e in err.value.errors), str(err.value)


def test_every_mistake_of_a_sweep_is_reported_at_once() -> None:
    with pytest.raises(SuiteErrors) as err:
        _models(sweep={"colour": [1], "dropout": [2.0], "lr": "fast"})
    assert {e.field for e in err.value.errors} == {"models[0].sweep.colour", "models[0].sweep.dropout", "models[0].sweep.lr"}


def test_generated_names_must_not_collide_with_other_entries() -> None:
    with pytest.raises(SuiteErrors, match="duplicate model name 'r\\[seed=0\\]'"):
        parse_suite({**BASE, "models": [{"name": "r", "sweep": {"seed": [0, 1]}}, {"name": "r[seed=0]"}]}, "suite.toml")


def test_the_committed_study_suites_expand_to_their_stated_grids() -> None:
    from bench.core.config import collect_suite, read_suite

    for path, models, settings, seeds in (("suites/influence.toml", 18, 6, 3), ("suites/glaucoma-influence.toml", 70, 14, 5)):
        cfg, found = collect_suite(read_suite(path), path)
        assert all(e.field == "data.root" for e in found.errors), [str(e) for e in found.errors]
        assert len(cfg.models) == models and len({m.setting for m in cfg.models}) == settings
        assert {len([m for m in cfg.models if m.setting == s]) for s in {m.setting for m in cfg.models}} == {seeds}
