"""A suite's data set: generated when the source is a generator, discovered, digested, and loaded split by split."""

from __future__ import annotations

import dataclasses
import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import numpy as np

from bench.core.config import ModelConfig, SuiteConfig, training_data_config
from bench.core.errors import DataError
from bench.data.arrays import ArrayData, ArrayFile, array_refs, read_arrays, write_arrays
from bench.data.images import ImageFiles, SplitData, dataset_digest
from bench.data.layout import SampleRef, discover
from bench.data.synthetic import LABELS, MARKER_REGION, VARIANTS, SyntheticSpec, generate, variant_root
from bench.utils.file_lock import file_lock


class Loader(Protocol):
    """Loads samples into memory (picklable: workers receive it)."""

    def load(self, refs: list[SampleRef], desc: str) -> SplitData: ...


@dataclass(frozen=True)
class Source:
    """What a data source finds: the samples, the class names and how to load them, with the input's layout."""

    refs: list[SampleRef]
    classes: tuple[str, ...]
    loader: Loader
    channels: int
    shape: tuple[int, ...]
    scale: float
    value_range: tuple[float, float] = (0.0, 1.0)
    digest: str = ""
    # Other versions of the test split, by name (the synthetic shortcut set's, differing only in the marker).
    variants: dict[str, list[SampleRef]] = dataclasses.field(default_factory=dict)


@dataclass(frozen=True)
class SuiteData:
    """A suite's data set: where it lies, what its source found (samples, classes, input layout, loader) and its digest."""

    root: Path
    source: Source
    digest: str

    @property
    def refs(self) -> list[SampleRef]:
        """Every sample of the data set."""
        return self.source.refs

    @property
    def classes(self) -> tuple[str, ...]:
        """The class names in index order."""
        return self.source.classes

    @property
    def channels(self) -> int:
        """Channels of one input."""
        return self.source.channels

    @property
    def shape(self) -> tuple[int, ...]:
        """Spatial shape of one input."""
        return self.source.shape

    @property
    def scale(self) -> float:
        """The raw value that stands for 1.0 in pixel space."""
        return self.source.scale

    @property
    def value_range(self) -> tuple[float, float]:
        """The range of pixel-space values."""
        return self.source.value_range

    @property
    def image_size(self) -> int:
        """The side image files are resized to; 0 for array sources, whose inputs keep their shape."""
        loader = self.source.loader
        return loader.size if isinstance(loader, ImageFiles) else 0

    @property
    def rank(self) -> int:
        """Number of spatial axes of one input (1 signals, 2 images, 3 volumes)."""
        return len(self.shape)

    def split_refs(self, name: str, limit: int = 0) -> list[SampleRef]:
        """One split's samples; with limit > 0, that many evenly spaced over it (so every class is drawn)."""
        refs = [r for r in self.refs if r.split == name]
        if not refs:
            raise DataError(self.root, name, f"the data set has no {name!r} split")
        if 0 < limit < len(refs):
            refs = [refs[round(i * (len(refs) - 1) / max(limit - 1, 1))] for i in range(limit)]
        return refs

    def split_ids(self, name: str, limit: int = 0) -> list[str]:
        """The sample ids of split_refs, without decoding any input."""
        return [r.id for r in self.split_refs(name, limit)]

    def split(self, name: str, limit: int = 0) -> SplitData:
        """Load one split (see split_refs)."""
        return self.source.loader.load(self.split_refs(name, limit), f"loading {name}")

    def variant_names(self) -> tuple[str, ...]:
        """The names of the test split's other versions, in the order the source gives them."""
        return tuple(self.source.variants)

    def variant(self, name: str) -> SplitData:
        """One other version of the test split, loaded."""
        return self.source.loader.load(self.source.variants[name], f"loading test ({name})")


def _image_source(cfg: SuiteConfig, refs: list[SampleRef], classes: tuple[str, ...]) -> Source:
    size = cfg.data.image_size
    return Source(refs, classes, ImageFiles(size, cfg.data.channels), cfg.data.channels, (size, size), 255.0)


def folder_refs(cfg: SuiteConfig) -> Source:
    """A class-folder data set (any class names; masks optional), or the samples of its CSV manifest."""
    root = Path(cfg.data.root)
    refs, classes = discover(root, root / cfg.data.manifest if cfg.data.manifest else None, tuple(cfg.data.classes), metric_regions(cfg))
    return _image_source(cfg, refs, classes)


def metric_regions(cfg: SuiteConfig) -> tuple[str, ...]:
    """The further mask regions the suite's metrics score against."""
    return tuple(sorted({m.region for m in cfg.metrics if m.region}))


def synthetic_spec(cfg: SuiteConfig) -> SyntheticSpec:
    """The generator spec a synthetic suite asks for."""
    s = cfg.data.synthetic
    return SyntheticSpec(image_size=cfg.data.image_size, counts=s.counts, seed=s.seed, shortcut=s.shortcut, shortcut_strength=s.shortcut_strength)


def synthetic_refs(cfg: SuiteConfig) -> Source:
    """The synthetic fundus set of the suite, generated once (several workers or runs may start at once: one
    generates under a lock, the others wait and then find it there), read through the folder layout."""
    root = Path(cfg.data.root)
    with file_lock(root.with_name(root.name + ".lock")):
        generate(root, synthetic_spec(cfg))
    regions = (MARKER_REGION,) if cfg.data.synthetic.shortcut else ()
    refs, classes = discover(root, None, LABELS, regions)
    # A set without a test split has no versions of it.
    variants = {v: discover(variant_root(root, v), None, LABELS, regions)[0] for v in VARIANTS if variant_root(root, v).is_dir()} if regions else {}
    return dataclasses.replace(_image_source(cfg, refs, classes), variants=variants)


def textures_refs(cfg: SuiteConfig) -> Source:
    """The generated 8-class texture set (histology format), made once under a lock, read through the folder layout."""
    from bench.data.textures import CLASSES, TextureSpec, generate_textures

    root, t = Path(cfg.data.root), cfg.data.textures
    with file_lock(root.with_name(root.name + ".lock")):
        generate_textures(root, TextureSpec(image_size=cfg.data.image_size, counts=dict(t.counts), seed=t.seed))
    refs, classes = discover(root, None, CLASSES)
    return _image_source(cfg, refs, classes)


def _array_source(path: Path, data: ArrayData) -> Source:
    x = data.x
    scale = 255.0 if x.dtype == np.uint8 else 1.0
    value_range = (0.0, 1.0) if x.dtype == np.uint8 else (float(x.min()), float(x.max()))
    digest = hashlib.sha256(Path(path).read_bytes()).hexdigest()
    return Source(array_refs(path, data), data.classes, ArrayFile(Path(path)), int(x.shape[1]), tuple(int(s) for s in x.shape[2:]),
                  scale, value_range, digest)


def npz_refs(cfg: SuiteConfig) -> Source:
    """The rows of the .npz file at data.root (see bench.data.arrays)."""
    path = Path(cfg.data.root)
    return _array_source(path, read_arrays(path, tuple(cfg.data.classes)))


def mnist1d_refs(cfg: SuiteConfig) -> Source:
    """MNIST1D made offline by the mnist1d package (the published set for seed 42), cached as an .npz under data.root."""
    from bench.data.mnist1d import mnist1d_arrays

    m = cfg.data.mnist1d
    path = Path(cfg.data.root) / f"mnist1d-seed{m.seed}-val{m.val_fraction:g}.npz"
    with file_lock(path.with_name(path.name + ".lock")):
        if not path.is_file():
            made = mnist1d_arrays(seed=m.seed, val_fraction=m.val_fraction)
            write_arrays(path, ArrayData(made.x, made.y, made.masks, made.split, made.classes))
    return _array_source(path, read_arrays(path))


def prepare_data(cfg: SuiteConfig) -> SuiteData:
    """The suite's data set from its source (see bench.data.sources), discovered and digested."""
    from bench.data.sources import DATA_SOURCES

    root = Path(cfg.data.root)
    found: Source = DATA_SOURCES.get(cfg.data.source)(cfg)
    return SuiteData(root, found, found.digest or dataset_digest(found.refs, root))


def training_data(m: ModelConfig, cfg: SuiteConfig, data: SuiteData) -> SuiteData:
    """The data a model entry trains on: the suite's own, or (with train_data) the set its overrides name, prepared."""
    if not m.train_data:
        return data
    return prepare_data(dataclasses.replace(cfg, data=training_data_config(cfg.data, m.train_data)))


@dataclass(frozen=True)
class Layout:
    """What a model must fit in a data set, known before it is generated or decoded: classes, channels, spatial shape."""

    classes: tuple[str, ...]
    channels: int
    shape: tuple[int, ...]


def declared_layout(cfg: SuiteConfig) -> Layout:
    """The data's layout from the suite and a listing of the files (nothing generated or decoded); DataError if unreadable."""
    data, size = cfg.data, (cfg.data.image_size, cfg.data.image_size)
    if data.source == "synthetic":
        return Layout(LABELS, data.channels, size)
    if data.source == "textures":
        from bench.data.textures import CLASSES

        return Layout(CLASSES, data.channels, size)
    if data.source == "mnist1d":
        return Layout(tuple(str(i) for i in range(10)), 1, (40,))
    if data.source == "npz":
        arrays = read_arrays(Path(data.root), tuple(data.classes))
        return Layout(arrays.classes, int(arrays.x.shape[1]), tuple(int(s) for s in arrays.x.shape[2:]))
    root = Path(data.root)
    _, classes = discover(root, root / data.manifest if data.manifest else None, tuple(data.classes))
    return Layout(classes, data.channels, size)
