"""Finding the samples of a class-folder data set: the folder layout or a CSV manifest, with any class names."""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

from bench.core.errors import DataError

SPLITS = ("train", "val", "test")
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".tif", ".tiff")
MANIFEST_COLUMNS = ("split", "label", "image", "mask")
# A folder ROOT/NAME_masks holds the masks of the region NAME ("masks" itself holds the main one).
REGION_SUFFIX = "_masks"


def region_names(refs: list[SampleRef]) -> tuple[str, ...]:
    """The names of the further mask regions any of the samples has."""
    return tuple(sorted({name for r in refs for name, _ in r.regions}))


@dataclass(frozen=True)
class SampleRef:
    """One sample of the data set: its split and class, and where it is (image and mask files, or a row of an array file).

    regions: further named masks of the sample, as (name, file) pairs (e.g. a shortcut marker beside the disc mask).
    """

    id: str
    split: str
    label: int
    image: Path | None
    mask: Path | None
    index: int = -1
    regions: tuple[tuple[str, Path], ...] = ()


def _inside(root: Path, path: Path) -> bool:
    return path.resolve().is_relative_to(root.resolve())


def class_order(found: set[str], classes: tuple[str, ...] | list[str], where: Path, what: str) -> tuple[str, ...]:
    """The class names in index order: as the suite gives them, else sorted; a class the suite does not list is an error."""
    if not classes:
        return tuple(sorted(found))
    unknown = sorted(found - set(classes))
    if unknown:
        raise DataError(where, None, f"{what} {unknown} not among data.classes {list(classes)}")
    return tuple(classes)


def discover_folder(root: Path, classes: tuple[str, ...] | list[str] = (), regions: tuple[str, ...] = ()) -> tuple[list[SampleRef], tuple[str, ...]]:
    """Samples of ROOT/{split}/{class}/NAME.ext with optional masks in ROOT/masks/{split}/{class}/NAME.png, and the classes.

    The masks of each region asked for lie in ROOT/{region}_masks/{split}/{class}/NAME.png; other such folders are left
    alone (so a data set's digest and loading do not change with folders no suite reads). Class index follows `classes`
    when given (e.g. health, glaucoma: the positive class last), else sorted folder names.
    """
    root = Path(root)
    if not root.is_dir():
        raise DataError(root, None, "data root is not a directory")
    found: dict[str, list[Path]] = {}
    for split in SPLITS:
        split_dir = root / split
        if not split_dir.is_dir():
            continue
        for entry in sorted(split_dir.iterdir()):
            if entry.name.startswith("."):
                continue
            if not entry.is_dir():
                raise DataError(entry, None, "unexpected file in split folder; expected one folder per class")
            found.setdefault(entry.name, []).append(entry)
    stray = [paths[0] for name, paths in found.items() if classes and name not in classes]
    if stray:
        raise DataError(stray[0], None, f"unexpected class folder; data.classes lists {list(classes)}")
    order = class_order(set(found), classes, root, "class folders")
    refs = []
    for split in SPLITS:
        for label_index, label in enumerate(order):
            for image in sorted((root / split / label).glob("*")):
                if image.suffix.lower() not in IMAGE_SUFFIXES or image.name.startswith("."):
                    continue
                mask = root / "masks" / split / label / f"{image.stem}.png"
                found_regions = tuple((r, root / f"{r}{REGION_SUFFIX}" / split / label / f"{image.stem}.png") for r in regions)
                refs.append(SampleRef(f"{split}/{label}/{image.stem}", split, label_index, image, mask if mask.is_file() else None,
                                      regions=tuple((r, path) for r, path in found_regions if path.is_file())))
    if not refs:
        raise DataError(root, None, f"no images found in the layout {{{','.join(SPLITS)}}}/CLASS/NAME.{{png,jpg,jpeg,tif}}")
    return refs, order


def discover_manifest(root: Path, manifest: Path, classes: tuple[str, ...] | list[str] = ()) -> tuple[list[SampleRef], tuple[str, ...]]:
    """Samples listed in a CSV manifest with columns split,label,image,mask (paths relative to root, any labels), and the classes."""
    root, manifest = Path(root), Path(manifest)
    try:
        text = manifest.read_text(encoding="utf-8-sig")
    except OSError as err:
        raise DataError(manifest, None, f"cannot read manifest: {err.strerror}") from err
    reader = csv.DictReader(text.splitlines())
    missing = [c for c in MANIFEST_COLUMNS if c not in (reader.fieldnames or []) and c != "mask"]
    if missing:
        raise DataError(manifest, "header", f"missing column(s) {missing}; expected {list(MANIFEST_COLUMNS)}")
    rows, seen = [], set()
    for row in reader:
        line = reader.line_num
        where = lambda column: f"line {line}, column '{column}'"  # noqa: E731
        split, label = (row.get("split") or "").strip(), (row.get("label") or "").strip()
        if split not in SPLITS:
            raise DataError(manifest, where("split"), f"{split!r} is not one of {list(SPLITS)}")
        if not label:
            raise DataError(manifest, where("label"), "empty label")
        if classes and label not in classes:
            raise DataError(manifest, where("label"), f"{label!r} is not one of data.classes {list(classes)}")
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
        rows.append((sample_id, split, label, paths["image"], paths["mask"]))
    if not rows:
        raise DataError(manifest, None, "manifest lists no images")
    order = class_order({r[2] for r in rows}, classes, manifest, "labels")
    return [SampleRef(sid, split, order.index(label), image, mask) for sid, split, label, image, mask in rows], order


def discover(root: Path, manifest: Path | None = None, classes: tuple[str, ...] | list[str] = (),
             regions: tuple[str, ...] = ()) -> tuple[list[SampleRef], tuple[str, ...]]:
    """Samples of a data set and its classes, from its manifest when one is given, else from the folder layout (with the
    region masks asked for)."""
    return discover_manifest(root, manifest, classes) if manifest else discover_folder(root, classes, regions)
