"""Finding the samples of a glaucoma-style data set: the folder layout or a CSV manifest."""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

from bench.core.errors import DataError

SPLITS = ("train", "val", "test")
# Class index follows this order: 0 = health, 1 = glaucoma (the positive class).
LABELS = ("health", "glaucoma")
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".tif", ".tiff")
MANIFEST_COLUMNS = ("split", "label", "image", "mask")


@dataclass(frozen=True)
class SampleRef:
    """One image of the data set: where it is, its split and class, and its mask if it has one."""

    id: str
    split: str
    label: int
    image: Path
    mask: Path | None


def _inside(root: Path, path: Path) -> bool:
    return path.resolve().is_relative_to(root.resolve())


def discover_folder(root: Path) -> list[SampleRef]:
    """Samples of ROOT/{split}/{label}/NAME.ext with masks in ROOT/masks/{split}/{label}/NAME.png."""
    root = Path(root)
    if not root.is_dir():
        raise DataError(root, None, "data root is not a directory")
    refs = []
    for split in SPLITS:
        split_dir = root / split
        if not split_dir.is_dir():
            continue
        for entry in sorted(split_dir.iterdir()):
            if entry.name.startswith("."):
                continue
            if not entry.is_dir() or entry.name not in LABELS:
                raise DataError(entry, None, f"unexpected entry in split folder; expected class folders {list(LABELS)}")
        for label_index, label in enumerate(LABELS):
            for image in sorted((split_dir / label).glob("*")):
                if image.suffix.lower() not in IMAGE_SUFFIXES or image.name.startswith("."):
                    continue
                mask = root / "masks" / split / label / f"{image.stem}.png"
                refs.append(SampleRef(f"{split}/{label}/{image.stem}", split, label_index, image, mask if mask.is_file() else None))
    if not refs:
        raise DataError(root, None, f"no images found in the layout {{{','.join(SPLITS)}}}/{{{','.join(LABELS)}}}/NAME.{{png,jpg,jpeg,tif}}")
    return refs


def discover_manifest(root: Path, manifest: Path) -> list[SampleRef]:
    """Samples listed in a CSV manifest with columns split,label,image,mask (paths relative to root)."""
    root, manifest = Path(root), Path(manifest)
    try:
        text = manifest.read_text(encoding="utf-8-sig")
    except OSError as err:
        raise DataError(manifest, None, f"cannot read manifest: {err.strerror}") from err
    reader = csv.DictReader(text.splitlines())
    missing = [c for c in MANIFEST_COLUMNS if c not in (reader.fieldnames or []) and c != "mask"]
    if missing:
        raise DataError(manifest, "header", f"missing column(s) {missing}; expected {list(MANIFEST_COLUMNS)}")
    refs, seen = [], set()
    for row in reader:
        line = reader.line_num
        where = lambda column: f"line {line}, column '{column}'"  # noqa: E731
        split, label = (row.get("split") or "").strip(), (row.get("label") or "").strip()
        if split not in SPLITS:
            raise DataError(manifest, where("split"), f"{split!r} is not one of {list(SPLITS)}")
        if label not in LABELS:
            raise DataError(manifest, where("label"), f"{label!r} is not one of {list(LABELS)}")
        paths = {}
        for column in ("image", "mask"):
            value = (row.get(column) or "").strip()
            if not value:
                if column == "image":
                    raise DataError(manifest, where(column), "empty path")
                paths[column] = None
                continue
            path = root / value
            if Path(value).is_absolute() or not _inside(root, path):
                raise DataError(manifest, where(column), f"{value!r} lies outside the data root {root}")
            if not path.is_file():
                raise DataError(manifest, where(column), f"{value!r}: no such file under {root}")
            paths[column] = path
        sample_id = f"{split}/{label}/{Path(row['image'].strip()).with_suffix('').as_posix()}"
        if sample_id in seen:
            raise DataError(manifest, where("image"), f"{row['image']!r} is listed twice")
        seen.add(sample_id)
        refs.append(SampleRef(sample_id, split, LABELS.index(label), paths["image"], paths["mask"]))
    if not refs:
        raise DataError(manifest, None, "manifest lists no images")
    return refs


def discover(root: Path, manifest: Path | None = None) -> list[SampleRef]:
    """Samples of a data set, from its manifest when one is given, else from the folder layout."""
    return discover_manifest(root, manifest) if manifest else discover_folder(root)
