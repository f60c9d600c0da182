"""The one registry type, and the registry of explainers: built-in adapters plus those packages declare as entry points.

Metrics (bench.metrics.METRICS), model architectures (bench.models.architectures.ARCHITECTURES) and data sources
(bench.data.sources.DATA_SOURCES) are instances of the same Registry.
"""

from __future__ import annotations

import difflib
import importlib
import inspect
from collections.abc import Callable, Iterator, Mapping
from importlib.metadata import entry_points
from typing import TYPE_CHECKING, Generic, TypeVar

from bench.core.errors import BenchError

if TYPE_CHECKING:
    from torch import nn

    from bench.core.explainer import Explainer

ENTRY_POINT_GROUP = "xai_bench.adapters"
# Arguments every adapter takes that are not method parameters.
_RESERVED = ("self", "model", "target_layer")

T = TypeVar("T")


class UnknownName(BenchError):
    """A name not in a registry; the message suggests the closest ones."""


def suggest(name: str, known: list[str], kind: str) -> UnknownName:
    """An UnknownName error with 'did you mean' candidates."""
    close = difflib.get_close_matches(name, known, n=3, cutoff=0.5)
    hint = f"; did you mean {' or '.join(repr(c) for c in close)}?" if close else ""
    return UnknownName(f"unknown {kind} {name!r}{hint} (known: {', '.join(sorted(known))})")


class Registry(Generic[T]):
    """Names to entries, each an object or a lazy 'module:attr' string imported on first use.

    `builtins` is called on first lookup, so that a registry can name entries in packages that import this one;
    `group` adds the entry points other packages declare; `check` refuses an entry of the wrong type.
    """

    def __init__(
        self,
        kind: str,
        builtins: Callable[[], Mapping[str, T | str]],
        *,
        group: str | None = None,
        check: Callable[[object], bool] | None = None,
    ) -> None:
        self.kind, self._builtins, self.group, self._check = kind, builtins, group, check
        self._table: dict[str, T | str] | None = None

    def _entries(self) -> dict[str, T | str]:
        if self._table is None:
            table = dict(self._builtins())
            if self.group:
                for ep in entry_points(group=self.group):
                    table.setdefault(ep.name, ep.value)
            self._table = table
        return self._table

    def names(self) -> list[str]:
        """Every registered name, sorted, without importing any entry."""
        return sorted(self._entries())

    def __contains__(self, name: object) -> bool:
        return name in self._entries()

    def __getitem__(self, name: str) -> T:
        return self.get(name)

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())

    def __len__(self) -> int:
        return len(self._entries())

    def get(self, name: str) -> T:
        """The entry registered as name (imported on first use); an unknown name suggests the closest ones."""
        table = self._entries()
        if name not in table:
            raise suggest(name, list(table), self.kind)
        entry = table[name]
        if isinstance(entry, str):
            module_name, _, attr = entry.partition(":")
            entry = getattr(importlib.import_module(module_name), attr)
            if self._check is not None and not self._check(entry):
                raise BenchError(f"{table[name]} registered as {self.kind} {name!r} is not a valid {self.kind}")
            table[name] = entry
        return entry

    def values(self) -> Iterator[T]:
        """Every entry, imported, in name order."""
        return (self.get(name) for name in self.names())

    def items(self) -> Iterator[tuple[str, T]]:
        """(name, entry) for every name, importing each."""
        return ((name, self.get(name)) for name in self.names())


def _builtin_adapters() -> dict[str, str]:
    from adapters import BUILTIN

    return BUILTIN


def _is_explainer(entry: object) -> bool:
    from bench.core.explainer import Explainer

    return isinstance(entry, type) and issubclass(entry, Explainer)


EXPLAINERS: Registry[type[Explainer]] = Registry("method", _builtin_adapters, group=ENTRY_POINT_GROUP, check=_is_explainer)


def names() -> list[str]:
    """Every registered explainer name, sorted."""
    return EXPLAINERS.names()


def get(name: str) -> type[Explainer]:
    """The Explainer class registered as name (imported on first use)."""
    return EXPLAINERS.get(name)


def parameters(cls: type[Explainer]) -> dict[str, inspect.Parameter]:
    """The method parameters an adapter accepts (keyword arguments of its constructor)."""
    signature = inspect.signature(cls.__init__)
    return {k: p for k, p in signature.parameters.items() if k not in _RESERVED and p.kind in (p.KEYWORD_ONLY, p.POSITIONAL_OR_KEYWORD)}


# Parameters every method entry may set, taken by the harness rather than the adapter: channel_reduction overrides
# how the adapter's raw map is reduced over input channels (e.g. "abs_sum", as tf-explain's IG does).
HARNESS_PARAMS = ("channel_reduction",)


def adapter_params(params: dict) -> dict:
    """The parameters an adapter is built with: params without the harness's own."""
    return {k: v for k, v in params.items() if k not in HARNESS_PARAMS}


def build(name: str, model: nn.Module, params: dict, *, target_layer: str | None = None) -> Explainer:
    """The adapter registered as name, built on model with params; harness parameters are applied to it."""
    cls = get(name)
    explainer = cls(model, target_layer=target_layer, **adapter_params(params))
    reduction = params.get("channel_reduction")
    # Its name is checked with the suite (check_params) and again where it is applied (canonicalize).
    if reduction is not None:
        if explainer.channel_reduction is None:
            explainer.close()
            raise ValueError(f"channel_reduction applies to methods whose raw map has an input-channel axis; {name}'s has none")
        explainer.channel_reduction = reduction
    return explainer


def check_params(cls: type[Explainer], params: dict) -> list[str]:
    """Problems with params for cls: unknown names and values whose type differs from the default's."""
    from bench.core.explainer import CHANNEL_REDUCTIONS

    allowed = parameters(cls)
    problems = []
    reduction = params.get("channel_reduction")
    if reduction is not None and reduction not in CHANNEL_REDUCTIONS:
        problems.append(f"parameter 'channel_reduction' must be one of {list(CHANNEL_REDUCTIONS)}, got {reduction!r}")
    for key, value in adapter_params(params).items():
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
