"""Decoding images and masks: colour modes, 16-bit rescaling, nearest-neighbour masks, errors and the data set digest."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from bench.core.errors import DataError
from bench.data.images import dataset_digest, load_split, read_image, read_mask
from bench.data.layout import SampleRef, discover_folder
from bench.data.synthetic import LABELS


def _save(array: np.ndarray, path: Path, mode: str | None = None) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    image = Image.fromarray(array) if mode is None else Image.fromarray(array).convert(mode)
    image.save(path)
    return path


# --------------------------------------------------------------------------- read_image


def test_grayscale_image_becomes_three_identical_channels(tmp_path: Path) -> None:
    gray = np.arange(64, dtype=np.uint8).reshape(8, 8) * 3 + 7
    path = _save(gray, tmp_path / "g.png")
    assert Image.open(path).mode == "L"
    out = read_image(path, 8)
    assert out.shape == (8, 8, 3)
    assert out.dtype == np.uint8
    for channel in range(3):
        np.testing.assert_array_equal(out[..., channel], gray)


def test_rgba_image_loads_as_rgb_with_alpha_dropped_and_colour_kept(tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    rgb = rng.integers(0, 256, (6, 6, 3), dtype=np.uint8)
    alpha = np.zeros((6, 6), np.uint8)
    alpha[:, 3:] = 255  # half fully transparent: its colour must survive anyway
    path = _save(np.dstack([rgb, alpha]), tmp_path / "rgba.png")
    assert Image.open(path).mode == "RGBA"
    out = read_image(path, 6)
    assert out.shape == (6, 6, 3)
    np.testing.assert_array_equal(out, rgb)


def test_rgb_image_is_resized_to_the_input_size(tmp_path: Path) -> None:
    colour = np.zeros((10, 20, 3), np.uint8)
    colour[...] = (10, 200, 90)
    out = read_image(_save(colour, tmp_path / "c.jpg"), 7)
    assert out.shape == (7, 7, 3)
    # a uniform image stays uniform (JPEG may shift a value by a few levels)
    assert np.abs(out.astype(int) - np.array([10, 200, 90])).max() <= 3


def test_16_bit_image_is_rescaled_not_clipped(tmp_path: Path) -> None:
    values = np.array([[0, 1000], [4000, 20000]], dtype=np.uint16)
    path = tmp_path / "deep.png"
    Image.fromarray(values).save(path)
    assert Image.open(path).mode.startswith("I;16")
    out = read_image(path, 2)
    assert out.shape == (2, 2, 3)
    for channel in range(3):
        np.testing.assert_array_equal(out[..., 0], out[..., channel])
    got = out[..., 0].astype(int)
    # every value above 255: clipping would give 0 / 255 / 255 / 255
    assert len(np.unique(got)) == 4
    assert got[0, 0] == 0 and got[1, 1] == 255
    # proportional to the 16-bit values, with the peak mapped to 255
    expected = values.astype(float) / values.max() * 255
    assert np.abs(got - expected).max() <= 1


def test_16_bit_image_with_small_values_uses_the_full_range(tmp_path: Path) -> None:
    # values that a plain cast would keep dark: the peak must still become white
    values = np.full((4, 4), 300, dtype=np.uint16)
    values[:, :2] = 150
    path = tmp_path / "deep2.png"
    Image.fromarray(values).save(path)
    got = read_image(path, 4)[..., 1].astype(int)
    np.testing.assert_array_equal(got[:, 2:], 255)
    assert np.abs(got[:, :2] - 127.5).max() <= 1


def test_corrupt_image_raises_data_error_with_path(tmp_path: Path) -> None:
    path = tmp_path / "sub dir" / "broken.png"
    path.parent.mkdir()
    path.write_bytes(np.random.default_rng(0).bytes(512))
    with pytest.raises(DataError) as info:
        read_image(path, 8)
    assert str(path) in str(info.value)
    assert info.value.file == str(path)
    with pytest.raises(DataError) as info:
        read_mask(path, 8)
    assert str(path) in str(info.value)


def test_truncated_png_raises_data_error_with_path(tmp_path: Path) -> None:
    good = _save(np.random.default_rng(2).integers(0, 256, (32, 32, 3), dtype=np.uint8), tmp_path / "good.png")
    data = good.read_bytes()
    path = tmp_path / "truncated.png"
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(DataError) as info:
        read_image(path, 8)
    assert str(path) in str(info.value)


def test_missing_image_file_raises_data_error_with_path(tmp_path: Path) -> None:
    path = tmp_path / "absent.png"
    with pytest.raises(DataError) as info:
        read_image(path, 8)
    assert str(path) in str(info.value)


# --------------------------------------------------------------------------- read_mask


def test_mask_downscaled_nearest_neighbour_left_half(tmp_path: Path) -> None:
    mask = np.zeros((8, 8), np.uint8)
    mask[:, :4] = 255
    out = read_mask(_save(mask, tmp_path / "m.png"), 4)
    expected = np.zeros((4, 4), bool)
    expected[:, :2] = True
    assert out.dtype == bool
    np.testing.assert_array_equal(out, expected)


def test_mask_upscaled_nearest_neighbour_has_hard_edges(tmp_path: Path) -> None:
    mask = np.zeros((4, 4), np.uint8)
    mask[1, 2] = 255
    mask[3, 0] = 255
    out = read_mask(_save(mask, tmp_path / "m.png"), 8)
    # nearest neighbour at exactly 2x: every source pixel becomes a 2x2 block, nothing in between
    expected = np.kron(mask > 0, np.ones((2, 2), bool))
    np.testing.assert_array_equal(out, expected)


def test_mask_left_half_upscaled_to_odd_size(tmp_path: Path) -> None:
    mask = np.array([[255, 0], [255, 0]], np.uint8)
    out = read_mask(_save(mask, tmp_path / "m.png"), 6)
    expected = np.zeros((6, 6), bool)
    expected[:, :3] = True
    np.testing.assert_array_equal(out, expected)


def test_non_square_mask_is_resized_to_the_square_input(tmp_path: Path) -> None:
    mask = np.zeros((4, 8), np.uint8)  # 8 wide, 4 tall
    mask[:2, :] = 255  # top half
    out = read_mask(_save(mask, tmp_path / "m.png"), 4)
    expected = np.zeros((4, 4), bool)
    expected[:2, :] = True
    np.testing.assert_array_equal(out, expected)


@pytest.mark.parametrize("mode", ["L", "1", "I;16", "RGB", "RGBA", "LA"])
def test_any_non_zero_mask_pixel_is_inside_for_common_modes(tmp_path: Path, mode: str) -> None:
    pattern = np.zeros((4, 4), bool)
    pattern[0, 1] = pattern[2, 3] = pattern[3, 0] = True
    if mode == "L":
        array = pattern.astype(np.uint8)  # value 1, not 255
    elif mode == "1":
        array = None
    elif mode == "I;16":
        array = pattern.astype(np.uint16)  # value 1 in 16 bits
    elif mode == "RGB":
        array = np.dstack([pattern.astype(np.uint8) * 3] * 3)
    elif mode == "RGBA":
        array = np.dstack([pattern.astype(np.uint8) * 2] * 3 + [np.full((4, 4), 255, np.uint8)])
    else:  # LA: gray value 1, opaque everywhere
        array = np.dstack([pattern.astype(np.uint8), np.full((4, 4), 255, np.uint8)])
    path = tmp_path / f"mask_{mode.replace(';', '_')}.png"
    if mode == "1":
        Image.fromarray(pattern).save(path)
    else:
        Image.fromarray(array).save(path)
    assert Image.open(path).mode.startswith(mode if mode != "I;16" else "I")
    np.testing.assert_array_equal(read_mask(path, 4), pattern)


def test_rgb_mask_pixel_non_zero_in_one_channel_is_inside(tmp_path: Path) -> None:
    array = np.zeros((4, 4, 3), np.uint8)
    array[0, 0] = (0, 0, 1)
    array[1, 1] = (1, 0, 0)
    path = _save(array, tmp_path / "m.png")
    expected = np.zeros((4, 4), bool)
    expected[0, 0] = expected[1, 1] = True
    np.testing.assert_array_equal(read_mask(path, 4), expected)


# --------------------------------------------------------------------------- load_split


def test_load_split_stacks_images_labels_and_masks(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BENCH_PROGRESS", "0")
    rng = np.random.default_rng(3)
    img_a = rng.integers(0, 256, (8, 8, 3), dtype=np.uint8)
    img_b = rng.integers(0, 256, (8, 8), dtype=np.uint8)  # grayscale
    mask_a = np.zeros((8, 8), np.uint8)
    mask_a[2:5, 1:7] = 255
    refs = [
        SampleRef("test/glaucoma/a", "test", 1, _save(img_a, tmp_path / "a.png"), _save(mask_a, tmp_path / "ma.png")),
        SampleRef("test/health/b", "test", 0, _save(img_b, tmp_path / "b.png"), None),
    ]
    data = load_split(refs, 8)
    assert len(data) == 2
    assert data.ids == ["test/glaucoma/a", "test/health/b"]
    assert data.inputs.dtype == torch.uint8
    assert tuple(data.inputs.shape) == (2, 3, 8, 8)
    np.testing.assert_array_equal(data.inputs[0].permute(1, 2, 0).numpy(), img_a)
    for channel in range(3):
        np.testing.assert_array_equal(data.inputs[1, channel].numpy(), img_b)
    assert data.labels.tolist() == [1, 0]
    assert data.labels.dtype == torch.long
    assert data.has_mask.tolist() == [True, False]
    assert data.masks.dtype == torch.bool
    assert tuple(data.masks.shape) == (2, 8, 8)
    np.testing.assert_array_equal(data.masks[0].numpy(), mask_a > 0)
    assert not data.masks[1].any()

    picked = data.subset(torch.tensor([1]))
    assert picked.ids == ["test/health/b"]
    assert picked.has_mask.tolist() == [False]
    assert picked.labels.tolist() == [0]


def test_load_split_resizes_images_and_masks_to_size(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BENCH_PROGRESS", "0")
    mask = np.zeros((16, 16), np.uint8)
    mask[:, :8] = 1
    refs = [SampleRef("val/glaucoma/x", "val", 1, _save(np.full((12, 12, 3), 90, np.uint8), tmp_path / "x.png"),
                      _save(mask, tmp_path / "mx.png"))]
    data = load_split(refs, 4)
    assert tuple(data.inputs.shape) == (1, 3, 4, 4)
    assert (data.inputs == 90).all()
    expected = np.zeros((4, 4), bool)
    expected[:, :2] = True
    np.testing.assert_array_equal(data.masks[0].numpy(), expected)


def test_load_split_with_corrupt_image_raises_data_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BENCH_PROGRESS", "0")
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"not a png at all")
    refs = [SampleRef("test/health/bad", "test", 0, bad, None)]
    with pytest.raises(DataError) as info:
        load_split(refs, 4)
    assert str(bad) in str(info.value)


def test_load_split_refuses_empty_list() -> None:
    with pytest.raises(ValueError):
        load_split([], 4)


# --------------------------------------------------------------------------- dataset_digest


def _digest_tree(root: Path) -> None:
    files = {
        "train/glaucoma/a.png": b"image a",
        "train/health/b.png": b"image b",
        "test/health/c.png": b"image c",
        "masks/train/glaucoma/a.png": b"mask a",
    }
    for rel, data in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)


def _digest(root: Path) -> str:
    return dataset_digest(discover_folder(root, LABELS)[0], root)


def test_dataset_digest_is_stable(tmp_path: Path) -> None:
    root = tmp_path / "one"
    _digest_tree(root)
    first = _digest(root)
    assert len(first) == 64 and int(first, 16) >= 0
    assert _digest(root) == first
    # order of the refs does not matter
    assert dataset_digest(list(reversed(discover_folder(root, LABELS)[0])), root) == first
    # a new modification time alone does not change it
    os.utime(root / "train" / "health" / "b.png", (1_000_000, 1_000_000))
    assert _digest(root) == first
    # the same files under another root give the same digest (relative paths only)
    other = tmp_path / "elsewhere" / "two"
    shutil.copytree(root, other)
    assert _digest(other) == first


def test_dataset_digest_changes_when_file_bytes_change(tmp_path: Path) -> None:
    root = tmp_path / "d"
    _digest_tree(root)
    before = _digest(root)
    image = root / "test" / "health" / "c.png"
    image.write_bytes(b"image C")
    changed = _digest(root)
    assert changed != before
    image.write_bytes(b"image c")
    assert _digest(root) == before
    (root / "masks" / "train" / "glaucoma" / "a.png").write_bytes(b"mask A")
    assert _digest(root) not in (before, changed)


def test_dataset_digest_changes_when_file_is_renamed(tmp_path: Path) -> None:
    root = tmp_path / "d"
    _digest_tree(root)
    before = _digest(root)
    (root / "train" / "health" / "b.png").rename(root / "train" / "health" / "b2.png")
    renamed = _digest(root)
    assert renamed != before
    # moving the same bytes to the other class is also a change
    (root / "train" / "health" / "b2.png").rename(root / "train" / "glaucoma" / "b2.png")
    assert _digest(root) not in (before, renamed)


def test_dataset_digest_changes_when_a_mask_is_added(tmp_path: Path) -> None:
    root = tmp_path / "d"
    _digest_tree(root)
    before = _digest(root)
    (root / "masks" / "test" / "health").mkdir(parents=True)
    (root / "masks" / "test" / "health" / "c.png").write_bytes(b"mask c")
    assert _digest(root) != before


def test_dataset_digest_changes_when_a_region_mask_is_added(tmp_path: Path) -> None:
    root = tmp_path / "d"
    _digest_tree(root)
    before = _digest(root)
    (root / "shortcut_masks" / "test" / "health").mkdir(parents=True)
    (root / "shortcut_masks" / "test" / "health" / "c.png").write_bytes(b"marker c")
    # a region no suite asks for leaves the digest as it was
    assert _digest(root) == before
    regional = lambda: dataset_digest(discover_folder(root, LABELS, ("shortcut",))[0], root)  # noqa: E731
    with_region = regional()
    assert with_region != before
    (root / "shortcut_masks" / "test" / "health" / "c.png").write_bytes(b"marker C")
    assert regional() not in (before, with_region)


def test_load_split_stacks_region_masks_where_samples_have_them(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BENCH_PROGRESS", "0")
    marker = np.zeros((8, 8), np.uint8)
    marker[5:7, 0:2] = 255
    image = np.full((8, 8, 3), 90, np.uint8)
    refs = [
        SampleRef("test/glaucoma/a", "test", 1, _save(image, tmp_path / "a.png"), None, regions=(("shortcut", _save(marker, tmp_path / "ra.png")),)),
        SampleRef("test/health/b", "test", 0, _save(image, tmp_path / "b.png"), None),
    ]
    data = load_split(refs, 8)
    masks, has = data.region("shortcut")
    assert has.tolist() == [True, False] and masks.dtype == torch.bool
    np.testing.assert_array_equal(masks[0].numpy(), marker > 0)
    assert not masks[1].any()
    # an unknown region is absent everywhere; "" is the main mask
    assert not data.region("vessel")[1].any() and data.region("")[1] is data.has_mask
    picked = data.subset(torch.tensor([0]))
    assert picked.region("shortcut")[1].tolist() == [True]
