"""The explainer registry: lookup, suggestions, parameter checks."""

from __future__ import annotations

import pytest

from bench.core import registry
from bench.core.errors import BenchError
from bench.core.registry import UnknownName


def test_builtins_registered_and_lazy() -> None:
    names = registry.names()
    for name in ("inhouse.gradcam", "baseline.random", "baseline.centre", "baseline.constant"):
        assert name in names
        cls = registry.get(name)
        assert cls.name == name


def test_did_you_mean() -> None:
    with pytest.raises(UnknownName, match=r"did you mean 'inhouse.gradcam'"):
        registry.get("inhouse.gradcm")


def test_check_params() -> None:
    cls = registry.get("inhouse.gradcam")
    assert registry.check_params(cls, {"relu": False}) == []
    problems = registry.check_params(cls, {"rellu": True})
    assert len(problems) == 1 and "did you mean 'relu'" in problems[0]
    assert "must be bool" in registry.check_params(cls, {"relu": 1})[0]
    assert registry.check_params(registry.get("baseline.centre"), {"sigma": 1}) == []


def test_one_registry_type_serves_every_lookup_lazily_and_suggests_names() -> None:
    import sys

    from bench.core.registry import Registry
    from bench.data.sources import DATA_SOURCES
    from bench.metrics import METRICS

    assert all(isinstance(r, Registry) for r in (registry.EXPLAINERS, METRICS, DATA_SOURCES))
    lazy = Registry("thing", lambda: {"json-dumps": "json:dumps", "absent": "bench_no_such_module:x"})
    assert lazy.names() == ["absent", "json-dumps"] and "json-dumps" in lazy
    assert lazy.get("json-dumps") is sys.modules["json"].dumps
    with pytest.raises(UnknownName, match="did you mean 'json-dumps'"):
        lazy.get("json-dump")
    checked = Registry("number", lambda: {"pi": "math:pi"}, check=lambda entry: callable(entry))
    with pytest.raises(BenchError, match="not a valid number"):
        checked.get("pi")
