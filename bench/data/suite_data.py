"""A suite's data set: generated when synthetic, discovered, digested, and loaded split by split."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from bench.core.config import SuiteConfig
from bench.core.errors import DataError
from bench.data.images import SplitData, dataset_digest, load_split
from bench.data.layout import SampleRef, discover
from bench.data.synthetic import SyntheticSpec, generate
from bench.utils.file_lock import file_lock


@dataclass(frozen=True)
class SuiteData:
    """The samples of a suite's data set, its digest and the input size."""

    root: Path
    refs: list[SampleRef]
    digest: str
    image_size: int

    def split_refs(self, name: str, limit: int = 0) -> list[SampleRef]:
        """One split's samples; with limit > 0, that many evenly spaced over it (so every class is drawn)."""
        refs = [r for r in self.refs if r.split == name]
        if not refs:
            raise DataError(self.root, name, f"the data set has no {name!r} split")
        if 0 < limit < len(refs):
            refs = [refs[round(i * (len(refs) - 1) / max(limit - 1, 1))] for i in range(limit)]
        return refs

    def split_ids(self, name: str, limit: int = 0) -> list[str]:
        """The sample ids of split_refs, without decoding any image."""
        return [r.id for r in self.split_refs(name, limit)]

    def split(self, name: str, limit: int = 0) -> SplitData:
        """Load one split (see split_refs)."""
        return load_split(self.split_refs(name, limit), self.image_size, desc=f"loading {name}")


def synthetic_spec(cfg: SuiteConfig) -> SyntheticSpec:
    """The generator spec a synthetic suite asks for."""
    s = cfg.data.synthetic
    return SyntheticSpec(image_size=cfg.data.image_size, counts=s.counts, seed=s.seed, shortcut=s.shortcut, shortcut_strength=s.shortcut_strength)


def synthetic_refs(cfg: SuiteConfig) -> list[SampleRef]:
    """The synthetic fundus set of the suite, generated once (several workers or runs may start at once: one
    generates under a lock, the others wait and then find it there), read through the folder layout."""
    root = Path(cfg.data.root)
    with file_lock(root.with_name(root.name + ".lock")):
        generate(root, synthetic_spec(cfg))
    return folder_refs(cfg)


def folder_refs(cfg: SuiteConfig) -> list[SampleRef]:
    """The samples of a class-folder data set, or of its CSV manifest."""
    root = Path(cfg.data.root)
    return discover(root, root / cfg.data.manifest if cfg.data.manifest else None)


def prepare_data(cfg: SuiteConfig) -> SuiteData:
    """The suite's data set from its source (see bench.data.sources), discovered and digested."""
    from bench.data.sources import DATA_SOURCES

    root = Path(cfg.data.root)
    refs = DATA_SOURCES.get(cfg.data.source)(cfg)
    return SuiteData(root, refs, dataset_digest(refs, root), cfg.data.image_size)
