"""A suite's data: generation on first use, digest, evenly spaced limits."""

from __future__ import annotations

from bench.data.suite_data import prepare_data
from tests.suites import tiny_suite


def test_limit_spreads_over_the_split_and_digest_is_stable(tmp_path) -> None:
    cfg = tiny_suite(tmp_path)
    data = prepare_data(cfg)
    everything = data.split("test")
    subset = data.split("test", limit=4)
    assert subset.ids == [everything.ids[i] for i in (0, 4, 8, 12)]
    assert set(subset.labels.tolist()) == {0, 1}
    assert prepare_data(cfg).digest == data.digest


def _suite(tmp_path, data: dict):
    from bench.core.config import parse_suite

    return parse_suite({"suite": {"name": "s"}, "data": data, "models": [{"name": "m"}], "methods": [{"name": "baseline.random"}],
                        "metrics": [{"name": "energy_in_mask"}], "run": {"results": str(tmp_path / "results")}}, "s.toml")


def _png(path, value: int, size: int = 8):
    import numpy as np
    from PIL import Image

    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.full((size, size, 3), value, np.uint8)).save(path)


def test_class_folders_with_any_names_sorted_or_in_the_given_order(tmp_path) -> None:
    from bench.data.suite_data import Layout, declared_layout

    root = tmp_path / "d"
    for split in ("train", "val", "test"):
        for value, name in enumerate(("zebra", "apple", "mango")):
            _png(root / split / name / f"{name}-1.png", 40 * value)
    _png(root / "masks" / "test" / "apple" / "apple-1.png", 255)
    data = prepare_data(_suite(tmp_path, {"root": str(root), "image_size": 4}))
    assert data.classes == ("apple", "mango", "zebra") and data.channels == 3 and data.shape == (4, 4)
    test = data.split("test")
    assert dict(zip(test.ids, test.labels.tolist())) == {"test/apple/apple-1": 0, "test/mango/mango-1": 1, "test/zebra/zebra-1": 2}
    assert test.has_mask.tolist() == [True, False, False]
    ordered = _suite(tmp_path, {"root": str(root), "image_size": 4, "classes": ["zebra", "mango", "apple"], "channels": 1})
    data = prepare_data(ordered)
    assert data.classes == ("zebra", "mango", "apple") and data.split("test").inputs.shape == (3, 1, 4, 4)
    assert declared_layout(ordered) == Layout(data.classes, data.channels, data.shape)


def test_csv_manifest_with_any_labels_and_a_mislabelled_row_named(tmp_path) -> None:
    from bench.core.errors import DataError

    root = tmp_path / "d"
    rows = ["split,label,image,mask"]
    for split in ("train", "val", "test"):
        for name in ("cat", "dog"):
            _png(root / "img" / f"{split}-{name}.png", 100)
            rows.append(f"{split},{name},img/{split}-{name}.png,")
    (root / "list.csv").write_text("\n".join(rows) + "\n")
    data = prepare_data(_suite(tmp_path, {"source": "csv", "root": str(root), "manifest": "list.csv", "image_size": 4}))
    assert data.classes == ("cat", "dog") and len(data.split("test")) == 2
    (root / "list.csv").write_text("\n".join(rows + ["test,bird,img/test-cat.png,"]) + "\n")
    cfg = _suite(tmp_path, {"source": "csv", "root": str(root), "manifest": "list.csv", "classes": ["cat", "dog"]})
    try:
        prepare_data(cfg)
    except DataError as err:
        assert "list.csv" in str(err) and "line 8" in str(err) and "'bird'" in str(err)
    else:
        raise AssertionError("a label outside data.classes must be an error")


def test_npz_source_gives_signals_with_their_layout_and_digest(tmp_path) -> None:
    import numpy as np

    x = np.random.default_rng(0).normal(size=(20, 1, 16)).astype(np.float32)
    np.savez(tmp_path / "s.npz", x=x, y=np.arange(20) % 4, masks=np.ones((20, 16), bool))
    cfg = _suite(tmp_path, {"source": "npz", "root": str(tmp_path / "s.npz")})
    data = prepare_data(cfg)
    assert data.classes == ("0", "1", "2", "3") and data.channels == 1 and data.shape == (16,) and data.rank == 1
    assert data.scale == 1.0 and data.value_range == (float(x.min()), float(x.max()))
    assert data.image_size == 0 and prepare_data(cfg).digest == data.digest
    np.savez(tmp_path / "s.npz", x=x + 1, y=np.arange(20) % 4)
    assert prepare_data(cfg).digest != data.digest


def test_texture_source_generates_eight_classes_once(tmp_path) -> None:
    cfg = _suite(tmp_path, {"source": "textures", "root": str(tmp_path / "t"), "image_size": 32,
                            "textures": {"counts": {"train": 1, "val": 1, "test": 2}}})
    data = prepare_data(cfg)
    assert len(data.classes) == 8 and len(data.split("test")) == 16 and data.split("test").has_mask.all()
    assert prepare_data(cfg).digest == data.digest
