"""The generators' shared steps: a stamped set is reused, a foreign folder refused, staging replaces the set only on success."""

from __future__ import annotations

import json

import pytest

from bench.data.generated import already_generated, staged


def test_stamp_decides_and_a_foreign_folder_is_refused(tmp_path) -> None:
    root = tmp_path / "set"
    assert not already_generated(root, "stamp.json", "abc", "test set")
    root.mkdir()
    (root / "stamp.json").write_text(json.dumps({"fingerprint": "abc"}))
    assert already_generated(root, "stamp.json", "abc", "test set")
    assert not already_generated(root, "stamp.json", "other", "test set")
    foreign = tmp_path / "mine"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("keep me")
    with pytest.raises(FileExistsError, match="not a test set made by bench"):
        already_generated(foreign, "stamp.json", "abc", "test set")
    assert (foreign / "notes.txt").read_text() == "keep me"


def test_staging_replaces_the_set_on_success_and_leaves_it_on_failure(tmp_path) -> None:
    root = tmp_path / "set"
    with staged(root) as staging:
        (staging / "a.txt").write_text("first")
    assert (root / "a.txt").read_text() == "first"
    with pytest.raises(RuntimeError), staged(root) as staging:
        (staging / "a.txt").write_text("half")
        raise RuntimeError("generator failed")
    assert (root / "a.txt").read_text() == "first"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["set"]
