"""Discovery of samples: the ROOT/{split}/{label}/NAME.ext folder layout and the CSV manifest."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench.core.errors import DataError
from bench.data.layout import SampleRef, discover, discover_folder, discover_manifest, region_names
from bench.data.synthetic import LABELS as GLAUCOMA


def _touch(path: Path, data: bytes = b"x") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def _by_id(refs: list[SampleRef]) -> dict[str, SampleRef]:
    assert len({r.id for r in refs}) == len(refs), "sample ids must be unique"
    return {r.id: r for r in refs}


# --------------------------------------------------------------------------- folder layout


@pytest.fixture
def folder_root(tmp_path: Path) -> Path:
    """A small layout with every split, both labels, several suffixes and some masks missing."""
    root = tmp_path / "data"
    _touch(root / "train" / "glaucoma" / "g1.png")
    _touch(root / "train" / "glaucoma" / "g2.jpg")
    _touch(root / "train" / "health" / "h1.jpeg")
    _touch(root / "train" / "health" / "h2.tif")
    _touch(root / "val" / "glaucoma" / "vg.png")
    _touch(root / "val" / "health" / "vh.png")
    _touch(root / "test" / "health" / "th.png")
    # masks: always NAME.png, whatever the image suffix
    _touch(root / "masks" / "train" / "glaucoma" / "g1.png")
    _touch(root / "masks" / "train" / "glaucoma" / "g2.png")
    _touch(root / "masks" / "train" / "health" / "h2.png")
    _touch(root / "masks" / "val" / "health" / "vh.png")
    return root


def test_folder_layout_finds_every_image_with_split_label_and_mask(folder_root: Path) -> None:
    refs = _by_id(discover_folder(folder_root, GLAUCOMA)[0])
    expected = {
        # id: (split, label index, image relative path, mask relative path or None)
        "train/glaucoma/g1": ("train", 1, "train/glaucoma/g1.png", "masks/train/glaucoma/g1.png"),
        "train/glaucoma/g2": ("train", 1, "train/glaucoma/g2.jpg", "masks/train/glaucoma/g2.png"),
        "train/health/h1": ("train", 0, "train/health/h1.jpeg", None),
        "train/health/h2": ("train", 0, "train/health/h2.tif", "masks/train/health/h2.png"),
        "val/glaucoma/vg": ("val", 1, "val/glaucoma/vg.png", None),
        "val/health/vh": ("val", 0, "val/health/vh.png", "masks/val/health/vh.png"),
        "test/health/th": ("test", 0, "test/health/th.png", None),
    }
    assert set(refs) == set(expected)
    for sample_id, (split, label, image, mask) in expected.items():
        ref = refs[sample_id]
        assert ref.split == split, sample_id
        assert ref.label == label, sample_id
        assert ref.image == folder_root / image, sample_id
        assert ref.mask == (folder_root / mask if mask else None), sample_id


def test_folder_layout_finds_the_region_masks_asked_for_by_their_folder(folder_root: Path) -> None:
    _touch(folder_root / "shortcut_masks" / "train" / "glaucoma" / "g2.png")
    _touch(folder_root / "shortcut_masks" / "test" / "health" / "th.png")
    _touch(folder_root / "vessel_masks" / "test" / "health" / "th.png")
    _touch(folder_root / "cup_masks" / "test" / "health" / "th.png")
    # folders no suite asks for are left alone
    assert all(r.regions == () for r in discover_folder(folder_root, GLAUCOMA)[0])
    refs = _by_id(discover_folder(folder_root, GLAUCOMA, ("shortcut", "vessel"))[0])
    assert refs["train/glaucoma/g2"].regions == (("shortcut", folder_root / "shortcut_masks" / "train" / "glaucoma" / "g2.png"),)
    assert [name for name, _ in refs["test/health/th"].regions] == ["shortcut", "vessel"]
    assert refs["train/glaucoma/g1"].regions == ()
    assert region_names(list(refs.values())) == ("shortcut", "vessel")


def test_folder_layout_missing_mask_keeps_image_with_mask_none(tmp_path: Path) -> None:
    root = tmp_path / "d"
    _touch(root / "test" / "glaucoma" / "a.png")
    _touch(root / "test" / "glaucoma" / "b.png")
    _touch(root / "masks" / "test" / "glaucoma" / "a.png")
    # a mask for another split/label with the same name must not be picked up
    _touch(root / "masks" / "test" / "health" / "b.png")
    refs = _by_id(discover_folder(root, GLAUCOMA)[0])
    assert set(refs) == {"test/glaucoma/a", "test/glaucoma/b"}
    assert refs["test/glaucoma/a"].mask == root / "masks" / "test" / "glaucoma" / "a.png"
    assert refs["test/glaucoma/b"].mask is None
    assert refs["test/glaucoma/b"].image == root / "test" / "glaucoma" / "b.png"


def test_folder_layout_ignores_non_image_files_and_hidden_files(tmp_path: Path) -> None:
    root = tmp_path / "d"
    _touch(root / "val" / "health" / "keep.PNG")
    _touch(root / "val" / "health" / "notes.txt")
    _touch(root / "val" / "health" / ".hidden.png")
    _touch(root / "val" / ".DS_Store")
    refs = discover_folder(root, GLAUCOMA)[0]
    assert [r.id for r in refs] == ["val/health/keep"]
    assert refs[0].image.name == "keep.PNG"


def test_folder_layout_unexpected_class_folder_names_the_path(tmp_path: Path) -> None:
    root = tmp_path / "d"
    _touch(root / "train" / "glaucoma" / "a.png")
    _touch(root / "train" / "suspect" / "b.png")
    with pytest.raises(DataError) as info:
        discover_folder(root, GLAUCOMA)[0]
    bad = root / "train" / "suspect"
    assert info.value.file == str(bad)
    assert str(bad) in str(info.value)
    assert "glaucoma" in str(info.value) and "health" in str(info.value)


def test_folder_layout_stray_file_in_split_folder_is_an_error(tmp_path: Path) -> None:
    root = tmp_path / "d"
    _touch(root / "test" / "health" / "a.png")
    _touch(root / "test" / "readme.txt")
    with pytest.raises(DataError) as info:
        discover_folder(root, GLAUCOMA)[0]
    assert str(root / "test" / "readme.txt") in str(info.value)


def test_folder_layout_empty_or_missing_root_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(DataError) as info:
        discover_folder(tmp_path / "nope")
    assert str(tmp_path / "nope") in str(info.value)
    empty = tmp_path / "empty"
    (empty / "train" / "glaucoma").mkdir(parents=True)
    with pytest.raises(DataError) as info:
        discover_folder(empty, GLAUCOMA)[0]
    assert str(empty) in str(info.value)
    assert "no images" in str(info.value)


# --------------------------------------------------------------------------- CSV manifest


@pytest.fixture
def manifest_root(tmp_path: Path) -> Path:
    root = tmp_path / "set"
    for rel in ("imgs/a.png", "imgs/b.jpg", "imgs/c.png", "masks/a.png", "masks/c.png"):
        _touch(root / rel)
    return root


def _write_manifest(root: Path, text: str, name: str = "manifest.csv") -> Path:
    path = root / name
    path.write_text(text, encoding="utf-8")
    return path


def test_manifest_reads_rows_with_relative_paths_and_optional_mask(manifest_root: Path) -> None:
    manifest = _write_manifest(manifest_root, (
        "split,label,image,mask\n"
        "train,glaucoma,imgs/a.png,masks/a.png\n"
        "val,health,imgs/b.jpg,\n"
        "test,health,imgs/c.png,masks/c.png\n"
    ))
    refs = discover_manifest(manifest_root, manifest, GLAUCOMA)[0]
    assert [r.id for r in refs] == ["train/glaucoma/imgs/a", "val/health/imgs/b", "test/health/imgs/c"]
    assert [(r.split, r.label) for r in refs] == [("train", 1), ("val", 0), ("test", 0)]
    assert refs[0].image == manifest_root / "imgs" / "a.png"
    assert refs[0].mask == manifest_root / "masks" / "a.png"
    assert refs[1].image == manifest_root / "imgs" / "b.jpg"
    assert refs[1].mask is None
    assert refs[2].mask == manifest_root / "masks" / "c.png"
    # discover() dispatches to the manifest when one is given
    assert discover(manifest_root, manifest, GLAUCOMA)[0] == refs


def test_manifest_without_mask_column_is_accepted(manifest_root: Path) -> None:
    manifest = _write_manifest(manifest_root, "split,label,image\ntest,glaucoma,imgs/a.png\n")
    refs = discover_manifest(manifest_root, manifest, GLAUCOMA)[0]
    assert len(refs) == 1
    assert refs[0].mask is None and refs[0].label == 1


def test_manifest_with_byte_order_mark_reads_header(manifest_root: Path) -> None:
    path = manifest_root / "bom.csv"
    path.write_bytes("\ufeffsplit,label,image,mask\ntest,health,imgs/a.png,\n".encode("utf-8"))
    refs = discover_manifest(manifest_root, path, GLAUCOMA)[0]
    assert [r.id for r in refs] == ["test/health/imgs/a"]


def _manifest_error(root: Path, text: str) -> tuple[Path, DataError]:
    manifest = _write_manifest(root, text)
    with pytest.raises(DataError) as info:
        discover_manifest(root, manifest, GLAUCOMA)[0]
    assert info.value.file == str(manifest)
    assert str(manifest) in str(info.value)
    return manifest, info.value


def test_manifest_bad_label_names_file_line_and_column(manifest_root: Path) -> None:
    _, err = _manifest_error(manifest_root, (
        "split,label,image,mask\n"
        "train,glaucoma,imgs/a.png,\n"
        "train,glaucom,imgs/b.jpg,\n"
    ))
    assert err.field == "line 3, column 'label'"
    assert "'glaucom'" in str(err)


def test_manifest_bad_split_names_line_and_column(manifest_root: Path) -> None:
    _, err = _manifest_error(manifest_root, "split,label,image,mask\ntraining,health,imgs/a.png,\n")
    assert err.field == "line 2, column 'split'"
    assert "'training'" in str(err)


def test_manifest_path_escaping_root_is_refused(manifest_root: Path) -> None:
    # the file exists, but outside the data root
    _touch(manifest_root.parent / "outside.png")
    _, err = _manifest_error(manifest_root, (
        "split,label,image,mask\n"
        "train,glaucoma,imgs/a.png,\n"
        "test,health,../outside.png,\n"
    ))
    assert err.field == "line 3, column 'image'"
    assert "outside the data root" in str(err)


def test_manifest_mask_escaping_root_is_refused(manifest_root: Path) -> None:
    _touch(manifest_root.parent / "outside_mask.png")
    _, err = _manifest_error(manifest_root, "split,label,image,mask\ntest,health,imgs/a.png,masks/../../outside_mask.png\n")
    assert err.field == "line 2, column 'mask'"
    assert "outside the data root" in str(err)


def test_manifest_absolute_path_is_refused(manifest_root: Path) -> None:
    absolute = manifest_root / "imgs" / "a.png"  # inside the root, but absolute paths are not allowed
    _, err = _manifest_error(manifest_root, f"split,label,image,mask\ntest,health,{absolute},\n")
    assert err.field == "line 2, column 'image'"


def test_manifest_missing_file_names_line_and_column(manifest_root: Path) -> None:
    _, err = _manifest_error(manifest_root, (
        "split,label,image,mask\n"
        "train,glaucoma,imgs/a.png,masks/a.png\n"
        "val,health,imgs/b.jpg,masks/b.png\n"
    ))
    assert err.field == "line 3, column 'mask'"
    assert "masks/b.png" in str(err)

    _, err = _manifest_error(manifest_root, "split,label,image,mask\ntest,health,imgs/zzz.png,\n")
    assert err.field == "line 2, column 'image'"
    assert "imgs/zzz.png" in str(err)


def test_manifest_missing_column_names_the_column(manifest_root: Path) -> None:
    _, err = _manifest_error(manifest_root, "split,image,mask\ntest,imgs/a.png,\n")
    assert err.field == "header"
    assert "'label'" in str(err)


def test_manifest_duplicate_row_names_second_line(manifest_root: Path) -> None:
    _, err = _manifest_error(manifest_root, (
        "split,label,image,mask\n"
        "train,glaucoma,imgs/a.png,\n"
        "test,health,imgs/c.png,\n"
        "train,glaucoma,imgs/a.png,masks/a.png\n"
    ))
    assert err.field == "line 4, column 'image'"
    assert "twice" in str(err)


def test_manifest_empty_image_path_is_an_error(manifest_root: Path) -> None:
    _, err = _manifest_error(manifest_root, "split,label,image,mask\ntest,health,,masks/a.png\n")
    assert err.field == "line 2, column 'image'"


def test_manifest_with_no_rows_is_an_error(manifest_root: Path) -> None:
    _, err = _manifest_error(manifest_root, "split,label,image,mask\n")
    assert "no images" in str(err)


def test_manifest_that_cannot_be_read_names_it(tmp_path: Path) -> None:
    missing = tmp_path / "absent.csv"
    with pytest.raises(DataError) as info:
        discover_manifest(tmp_path, missing, GLAUCOMA)[0]
    assert str(missing) in str(info.value)


def test_manifest_line_number_counts_blank_lines(manifest_root: Path) -> None:
    _, err = _manifest_error(manifest_root, (
        "split,label,image,mask\n"
        "train,glaucoma,imgs/a.png,\n"
        "\n"
        "train,glaucom,imgs/b.jpg,\n"
    ))
    assert err.field == "line 4, column 'label'"
