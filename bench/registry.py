"""The one registry of explainers: built-in adapters plus those that packages declare as entry points."""

from __future__ import annotations

import difflib
import importlib
import inspect
from functools import cache
from importlib.metadata import entry_points

from bench.errors import BenchError
from bench.explainer import Explainer

ENTRY_POINT_GROUP = "xai_bench.adapters"
# Arguments every adapter takes that are not method parameters.
_RESERVED = ("self", "model", "target_layer")


class UnknownName(BenchError):
    """A name not in a registry; the message suggests the closest ones."""


def suggest(name: str, known: list[str], kind: str) -> UnknownName:
    """An UnknownName error with 'did you mean' candidates."""
    close = difflib.get_close_matches(name, known, n=3, cutoff=0.5)
    hint = f"; did you mean {' or '.join(repr(c) for c in close)}?" if close else ""
    return UnknownName(f"unknown {kind} {name!r}{hint} (known: {', '.join(sorted(known))})")


@cache
def _table() -> dict[str, str]:
    from adapters import BUILTIN

    table = dict(BUILTIN)
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        table.setdefault(ep.name, ep.value)
    return table


def names() -> list[str]:
    """Every registered explainer name, sorted."""
    return sorted(_table())


def get(name: str) -> type[Explainer]:
    """The Explainer class registered as name (imported on first use)."""
    table = _table()
    if name not in table:
        raise suggest(name, list(table), "method")
    module_name, _, attr = table[name].partition(":")
    cls = getattr(importlib.import_module(module_name), attr)
    if not (isinstance(cls, type) and issubclass(cls, Explainer)):
        raise BenchError(f"{table[name]} registered as {name!r} is not an Explainer subclass")
    return cls


def parameters(cls: type[Explainer]) -> dict[str, inspect.Parameter]:
    """The method parameters an adapter accepts (keyword arguments of its constructor)."""
    signature = inspect.signature(cls.__init__)
    return {k: p for k, p in signature.parameters.items() if k not in _RESERVED and p.kind in (p.KEYWORD_ONLY, p.POSITIONAL_OR_KEYWORD)}


def check_params(cls: type[Explainer], params: dict) -> list[str]:
    """Problems with params for cls: unknown names and values whose type differs from the default's."""
    allowed = parameters(cls)
    problems = []
    for key, value in params.items():
        if key not in allowed:
            close = difflib.get_close_matches(key, list(allowed), n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            problems.append(f"unknown parameter {key!r}{hint}; {cls.name} accepts {sorted(allowed) or 'no parameters'}")
            continue
        default = allowed[key].default
        if default is inspect.Parameter.empty or default is None:
            continue
        expected = float if isinstance(default, float) else type(default)
        ok = isinstance(value, expected) and not (expected is not bool and isinstance(value, bool))
        if expected is float and isinstance(value, int) and not isinstance(value, bool):
            ok = True
        if not ok:
            problems.append(f"parameter {key!r} must be {expected.__name__}, got {type(value).__name__} {value!r}")
    return problems
