"""The .npz array source: validation field by field, references per split, loading rows, atomic writing."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from bench.core.errors import DataError
from bench.data.arrays import ArrayData, ArrayFile, array_refs, read_arrays, write_arrays


def _save(path: Path, **arrays: np.ndarray) -> Path:
    np.savez(path, **arrays)
    return path


def _signals(n: int = 10, length: int = 12, channels: int = 2) -> dict[str, np.ndarray]:
    gen = np.random.default_rng(0)
    split = np.array(["train"] * 6 + ["val"] * 2 + ["test"] * 2)[:n]
    return {"x": gen.normal(size=(n, channels, length)).astype(np.float32), "y": np.arange(n) % 3,
            "masks": gen.random((n, length)) > 0.5, "split": split, "classes": np.array(["a", "b", "c"])}


def test_rows_load_with_their_labels_masks_and_splits(tmp_path: Path) -> None:
    arrays = _signals()
    path = _save(tmp_path / "d.npz", **arrays)
    data = read_arrays(path)
    assert data.classes == ("a", "b", "c")
    refs = array_refs(path, data)
    assert [r.split for r in refs] == ["train"] * 6 + ["val"] * 2 + ["test"] * 2
    test = [r for r in refs if r.split == "test"]
    loaded = ArrayFile(path).load(test, "test")
    np.testing.assert_array_equal(loaded.inputs.numpy(), arrays["x"][8:])
    assert loaded.labels.tolist() == arrays["y"][8:].tolist() == [r.label for r in test]
    np.testing.assert_array_equal(loaded.masks.numpy(), arrays["masks"][8:])
    assert loaded.has_mask.all() and loaded.ids == [r.id for r in test]


def test_a_2d_x_is_one_channel_and_a_missing_split_is_a_fixed_60_20_20(tmp_path: Path) -> None:
    path = _save(tmp_path / "d.npz", x=np.zeros((50, 7), np.float32), y=np.zeros(50, np.int64))
    data = read_arrays(path)
    assert data.x.shape == (50, 1, 7) and data.classes == ("0",) and data.masks is None
    assert [int((data.split == s).sum()) for s in ("train", "val", "test")] == [30, 10, 10]
    assert np.array_equal(read_arrays(path).split, data.split)
    loaded = ArrayFile(path).load(array_refs(path, data)[:3], "x")
    assert not loaded.has_mask.any() and loaded.masks.shape == (3, 7)


@pytest.mark.parametrize(("change", "field", "words"), [
    (lambda a: a.pop("y"), "y", "required"),
    (lambda a: a.update(y=np.arange(10) + 1), "y", "row 2 has class 3, outside 0..2"),
    (lambda a: a.update(y=np.zeros(9, np.int64)), "y", "10 integer class indices"),
    (lambda a: a.update(x=np.where(np.arange(12) == 3, np.nan, a["x"])), "x", "NaN"),
    (lambda a: a.update(x=np.zeros((10,), np.float32)), "x", "(N, C, *S)"),
    (lambda a: a.update(masks=np.zeros((10, 11), bool)), "masks", "one mask per input"),
    (lambda a: a.update(split=np.array(["train"] * 9 + ["holdout"])), "split", "row 9 is 'holdout'"),
    (lambda a: a.update(extra=np.zeros(1)), "extra", "unknown array"),
])
def test_every_bad_field_is_named_with_the_file(tmp_path: Path, change, field: str, words: str) -> None:
    arrays = _signals()
    change(arrays)
    path = _save(tmp_path / "d.npz", **arrays)
    with pytest.raises(DataError) as info:
        read_arrays(path)
    assert info.value.file == str(path) and info.value.field == field and words in str(info.value)


def test_unreadable_file_and_class_mismatch_are_named(tmp_path: Path) -> None:
    broken = tmp_path / "broken.npz"
    broken.write_bytes(b"PK\x03\x04 not really a zip")
    with pytest.raises(DataError, match="not a readable .npz"):
        read_arrays(broken)
    path = _save(tmp_path / "d.npz", **_signals())
    with pytest.raises(DataError, match="differ from data.classes"):
        read_arrays(path, ("x", "y", "z"))


def test_write_then_read_is_the_identity_and_leaves_no_partial_file(tmp_path: Path) -> None:
    a = _signals()
    data = ArrayData(a["x"], a["y"].astype(np.int64), a["masks"], a["split"], ("a", "b", "c"))
    path = write_arrays(tmp_path / "sub" / "d.npz", data)
    back = read_arrays(path)
    for name in ("x", "y", "masks", "split"):
        np.testing.assert_array_equal(getattr(back, name), getattr(data, name))
    assert back.classes == data.classes and [p.name for p in path.parent.iterdir()] == ["d.npz"]
    assert torch.equal(ArrayFile(path).load(array_refs(path, back), "all").labels, torch.from_numpy(data.y))
