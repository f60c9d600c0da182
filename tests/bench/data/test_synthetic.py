"""The synthetic fundus generator: layout, determinism, the label rule, disc masks, shortcut markers and caching."""

from __future__ import annotations

import json
import math
import os
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from bench.data.layout import SPLITS, discover_folder
from bench.data.synthetic import LABELS, STAMP, VARIANTS, SyntheticSpec, generate, render_fundus, variant_root

SIZE = 64
COUNTS = {"train": {"glaucoma": 3, "health": 3}, "val": {"glaucoma": 2, "health": 1}, "test": {"glaucoma": 1, "health": 2}}
OLD = 1_000_000_000  # a modification time far in the past


@pytest.fixture(autouse=True)
def _quiet(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BENCH_PROGRESS", "0")


def _spec(**overrides) -> SyntheticSpec:
    return SyntheticSpec(**({"image_size": SIZE, "counts": COUNTS, "seed": 0} | overrides))


def _files(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def _marker_like(image: np.ndarray) -> np.ndarray:
    """Pixels coloured like the shortcut marker (cyan: green far above red); fundus colours are red-dominant."""
    red, green = image[..., 0].astype(int), image[..., 1].astype(int)
    return green > red + 60


@pytest.fixture(scope="module")
def plain_set(tmp_path_factory: pytest.TempPathFactory) -> Path:
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("BENCH_PROGRESS", "0")
        return generate(tmp_path_factory.mktemp("plain") / "set", _spec())


@pytest.fixture(scope="module")
def shortcut_set(tmp_path_factory: pytest.TempPathFactory) -> Path:
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("BENCH_PROGRESS", "0")
        return generate(tmp_path_factory.mktemp("shortcut") / "set", _spec(shortcut=True, shortcut_strength=1.0))


# --------------------------------------------------------------------------- layout


def test_generate_writes_the_folder_layout_with_one_mask_per_image(plain_set: Path) -> None:
    refs = discover_folder(plain_set, LABELS)[0]
    expected_ids = {f"{s}/{label}/{s}-{label}-{i:04d}" for s in SPLITS for label in LABELS for i in range(COUNTS[s][label])}
    assert {r.id for r in refs} == expected_ids
    assert len(refs) == sum(n for per in COUNTS.values() for n in per.values())
    for ref in refs:
        assert ref.label == LABELS.index(ref.id.split("/")[1])
        assert ref.image == plain_set / ref.split / LABELS[ref.label] / f"{ref.image.stem}.png"
        assert ref.mask == plain_set / "masks" / ref.split / LABELS[ref.label] / f"{ref.image.stem}.png"
        with Image.open(ref.image) as image:
            assert (image.mode, image.size) == ("RGB", (SIZE, SIZE))
        with Image.open(ref.mask) as mask:
            assert mask.size == (SIZE, SIZE)
            values = np.asarray(mask)
        assert set(np.unique(values)) == {0, 255}
    # exactly one mask per image, nothing else
    mask_files = sorted(p.relative_to(plain_set / "masks").as_posix() for p in (plain_set / "masks").rglob("*.png"))
    assert mask_files == sorted(r.mask.relative_to(plain_set / "masks").as_posix() for r in refs)
    assert sorted(p.name for p in plain_set.iterdir()) == sorted(["masks", STAMP, *SPLITS])
    assert not plain_set.with_name(plain_set.name + ".partial").exists()
    stamp = json.loads((plain_set / STAMP).read_text())
    assert stamp["fingerprint"] == _spec().fingerprint()


def test_generate_is_deterministic(plain_set: Path, tmp_path: Path) -> None:
    again = generate(tmp_path / "again", _spec())
    first, second = _files(plain_set), _files(again)
    assert set(first) == set(second)
    assert all(first[name] == second[name] for name in first)


def test_another_seed_gives_other_images(plain_set: Path, tmp_path: Path) -> None:
    other = generate(tmp_path / "other", _spec(seed=1))
    name = "test/health/test-health-0000.png"
    assert (other / name).read_bytes() != (plain_set / name).read_bytes()


def test_spec_fingerprint_is_stable_and_sensitive() -> None:
    assert _spec().fingerprint() == _spec().fingerprint()
    assert _spec().fingerprint() != _spec(seed=1).fingerprint()
    assert _spec().fingerprint() != _spec(image_size=32).fingerprint()
    assert _spec().fingerprint() != _spec(shortcut=True).fingerprint()


# --------------------------------------------------------------------------- label rule and disc mask


@pytest.mark.parametrize("seed", range(12))
def test_cup_ratio_follows_the_clinical_rule(seed: int) -> None:
    spec = SyntheticSpec(image_size=SIZE)
    _, _, _, glaucoma = render_fundus(np.random.default_rng(seed), "glaucoma", spec)
    _, _, _, health = render_fundus(np.random.default_rng(1000 + seed), "health", spec)
    assert glaucoma.cup_ratio >= 0.6
    assert health.cup_ratio <= 0.45
    assert 0.0 < health.cup_ratio < glaucoma.cup_ratio < 1.0
    assert not glaucoma.shortcut and not health.shortcut


@pytest.mark.parametrize("seed", range(8))
def test_mask_is_the_optic_disc(seed: int) -> None:
    """The mask is the ellipse ((x-cx)^2 + ((y-cy)/s)^2 < r^2) with a vertical stretch s in [1.03, 1.12].

    Checks, with r and the centre from FundusParams and s unknown within its range:
    - every pixel within r of the centre is inside (the circle of radius r lies inside the ellipse, s >= 1);
    - no pixel is more than r away horizontally or more than 1.12 r away at all;
    - the centroid is the centre within 0.5 px (the pixel set is nearly symmetric about it);
    - the pixel count lies between the areas pi r^2 * 1.03 and pi r^2 * 1.12, widened by the lattice-point bounds
      for a convex region (Nosarzewska: N > A - P/2; Bokowski-Hadwiger-Wills: N < A + P/2 + 1), with the
      perimeter bounded by P <= 2 pi * 1.12 r.
    """
    size = 128
    _, mask, marker, params = render_fundus(np.random.default_rng(seed), ("glaucoma", "health")[seed % 2], SyntheticSpec(image_size=size))
    assert marker is None
    assert mask.shape == (size, size) and mask.dtype == bool
    cx, cy = params.disc_centre
    r = params.disc_radius
    yy, xx = np.mgrid[0:size, 0:size].astype(float)
    dist = np.hypot(xx - cx, yy - cy)
    assert mask[dist < r].all()
    assert not mask[dist >= 1.12 * r].any()
    assert not mask[np.abs(xx - cx) >= r].any()

    ys, xs = np.nonzero(mask)
    assert abs(xs.mean() - cx) < 0.5
    assert abs(ys.mean() - cy) < 0.5

    half_perimeter = math.pi * 1.12 * r
    low = math.pi * r * r * 1.03 - half_perimeter
    high = math.pi * r * r * 1.12 + half_perimeter + 1
    assert low < mask.sum() < high


def test_disc_is_bright_in_the_image() -> None:
    image, mask, _, _ = render_fundus(np.random.default_rng(5), "health", SyntheticSpec(image_size=128))
    gray = image.astype(float).mean(axis=-1)
    # disc and cup colours are far brighter than the red-brown background
    assert gray[mask].mean() > gray[~mask].mean() + 40


# --------------------------------------------------------------------------- shortcut markers


def _shortcut_files(root: Path) -> set[str]:
    base = root / "shortcut_masks"
    return {p.relative_to(base).as_posix() for p in base.rglob("*.png")} if base.exists() else set()


def _marked(split: str, label: str) -> set[str]:
    return {f"{split}/{label}/{split}-{label}-{i:04d}.png" for i in range(COUNTS[split][label])}


def test_shortcut_markers_follow_the_label_before_test_and_go_on_every_test_image(shortcut_set: Path) -> None:
    every_test = _marked("test", "glaucoma") | _marked("test", "health")
    assert _shortcut_files(shortcut_set) == _marked("train", "glaucoma") | _marked("val", "glaucoma") | every_test
    for ref in discover_folder(shortcut_set, LABELS)[0]:
        image = np.asarray(Image.open(ref.image))
        if ref.split == "test" or LABELS[ref.label] == "glaucoma":
            marker = np.asarray(Image.open(shortcut_set / "shortcut_masks" / ref.split / LABELS[ref.label] / ref.image.name)) > 0
            assert marker.any()
            # the planted square is visible in the image where its mask says, and only there
            # (a blur of up to 1.5 px may soften the edges of the 4x4 square, not its centre)
            assert _marker_like(image)[marker].any(), ref.id
            assert not _marker_like(image)[~marker].any(), ref.id
        else:
            assert not _marker_like(image).any(), ref.id


def test_shortcut_strength_zero_marks_only_health_before_test(tmp_path: Path) -> None:
    root = generate(tmp_path / "inverse", _spec(shortcut=True, shortcut_strength=0.0))
    every_test = _marked("test", "glaucoma") | _marked("test", "health")
    assert _shortcut_files(root) == _marked("train", "health") | _marked("val", "health") | every_test


def test_the_shortcut_fingerprint_changed_with_the_layout_and_no_other_did() -> None:
    # Version-1 fingerprints, as written before the shortcut layout changed: sets without a shortcut keep theirs.
    assert SyntheticSpec().fingerprint() == "2609afa7f07406d2"
    assert SyntheticSpec(image_size=64, seed=3).fingerprint() == "9cc9109e0dad6cd0"
    # a shortcut set's carries its layout's version, so a set written in the old layout is generated again
    assert SyntheticSpec(shortcut=True).fingerprint() == "c11183d21868e492"


def _centroid(mask: np.ndarray) -> np.ndarray:
    ys, xs = np.nonzero(mask)
    return np.array([xs.mean(), ys.mean()])


def test_test_variants_differ_from_the_explained_image_only_in_the_marker(shortcut_set: Path) -> None:
    explained = discover_folder(shortcut_set, LABELS)[0]
    tests = [r for r in explained if r.split == "test"]
    variants = {v: {r.id: r for r in discover_folder(variant_root(shortcut_set, v), LABELS)[0]} for v in VARIANTS}
    for ref in tests:
        image = np.asarray(Image.open(ref.image)).astype(int)
        marker = np.asarray(Image.open(shortcut_set / "shortcut_masks" / "test" / LABELS[ref.label] / ref.image.name)) > 0
        removed = np.asarray(Image.open(variants["removed"][ref.id].image)).astype(int)
        correlated = np.asarray(Image.open(variants["correlated"][ref.id].image)).astype(int)
        moved = np.asarray(Image.open(variants["moved"][ref.id].image)).astype(int)
        assert not _marker_like(removed.astype(np.uint8)).any(), ref.id
        # strength 1: glaucoma images carry the marker in both label-correlated variants, health images in neither
        if LABELS[ref.label] == "glaucoma":
            np.testing.assert_array_equal(correlated, image)
            moved_mask = variant_root(shortcut_set, "moved") / "shortcut_masks" / "test" / "glaucoma" / ref.image.name
            moved_marker = np.asarray(Image.open(moved_mask)) > 0
            # moved through the field's centre: the square's centre mirrors the training one about the image centre (+-3 px jitter)
            assert np.abs(_centroid(moved_marker) + _centroid(marker) - SIZE).max() < 0.1 * SIZE
            far = ~(marker | moved_marker)
            far = far & np.roll(far, 2, 0) & np.roll(far, -2, 0) & np.roll(far, 2, 1) & np.roll(far, -2, 1)
            np.testing.assert_array_equal(moved[far], image[far])
        else:
            np.testing.assert_array_equal(correlated, removed)
            np.testing.assert_array_equal(moved, removed)
        far = ~marker & np.roll(~marker, 2, 0) & np.roll(~marker, -2, 0) & np.roll(~marker, 2, 1) & np.roll(~marker, -2, 1)
        np.testing.assert_array_equal(removed[far], image[far])
        assert np.abs(removed[marker] - image[marker]).max() > 60


def test_no_shortcut_markers_without_the_option(plain_set: Path) -> None:
    assert not (plain_set / "shortcut_masks").exists()
    assert not (plain_set / "shortcut_variants").exists()
    for ref in discover_folder(plain_set, LABELS)[0]:
        assert not _marker_like(np.asarray(Image.open(ref.image))).any(), ref.id


@pytest.mark.parametrize("marker_at", ["in_place", "moved"])
def test_render_fundus_shortcut_marker(marker_at: str) -> None:
    spec = SyntheticSpec(image_size=SIZE)
    image, _, marker, params = render_fundus(np.random.default_rng(3), "health", spec, marker_at)
    assert params.shortcut is True
    assert marker is not None and marker.shape == (SIZE, SIZE)
    ys, xs = np.nonzero(marker)
    # a filled axis-aligned square, below the centre in place and above it moved
    side = xs.max() - xs.min() + 1
    assert ys.max() - ys.min() + 1 == side and marker.sum() == side * side
    assert (ys.mean() > SIZE / 2) == (marker_at == "in_place")
    assert _marker_like(image)[marker].mean() >= 0.5


# --------------------------------------------------------------------------- caching and refusal


def _age(root: Path) -> None:
    for path in root.rglob("*"):
        if path.is_file():
            os.utime(path, (OLD, OLD))


def test_generate_again_with_same_spec_rewrites_nothing(tmp_path: Path) -> None:
    root = generate(tmp_path / "cached", _spec())
    before = _files(root)
    _age(root)
    assert generate(root, _spec()) == root
    assert _files(root) == before
    for path in root.rglob("*"):
        if path.is_file():
            assert path.stat().st_mtime == OLD, path


def test_generate_with_another_spec_regenerates(tmp_path: Path) -> None:
    root = generate(tmp_path / "regen", _spec())
    _age(root)
    smaller = {"train": {"glaucoma": 1, "health": 1}, "val": {"glaucoma": 1, "health": 1}, "test": {"glaucoma": 1, "health": 1}}
    new_spec = _spec(seed=7, counts=smaller)
    generate(root, new_spec)
    assert json.loads((root / STAMP).read_text())["fingerprint"] == new_spec.fingerprint()
    refs = discover_folder(root, LABELS)[0]
    # the old, larger set is gone, not merged
    assert len(refs) == 6
    assert not (root / "train" / "glaucoma" / "train-glaucoma-0002.png").exists()
    assert not (root / "masks" / "train" / "glaucoma" / "train-glaucoma-0002.png").exists()
    for path in root.rglob("*"):
        if path.is_file():
            assert path.stat().st_mtime != OLD, path
    # and it is the new spec's set
    fresh = generate(tmp_path / "fresh", new_spec)
    assert _files(fresh) == _files(root)


def test_generate_refuses_a_foreign_non_empty_folder(tmp_path: Path) -> None:
    root = tmp_path / "mine"
    root.mkdir()
    (root / "thesis.txt").write_text("do not delete")
    with pytest.raises(FileExistsError) as info:
        generate(root, _spec())
    assert str(root) in str(info.value)
    assert sorted(p.name for p in root.iterdir()) == ["thesis.txt"]
    assert (root / "thesis.txt").read_text() == "do not delete"


def test_generate_accepts_an_existing_empty_folder(tmp_path: Path) -> None:
    root = tmp_path / "empty"
    root.mkdir()
    generate(root, _spec(counts={"test": {"glaucoma": 1, "health": 1}}))
    assert {r.id for r in discover_folder(root, LABELS)[0]} == {"test/glaucoma/test-glaucoma-0000", "test/health/test-health-0000"}
