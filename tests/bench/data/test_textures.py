"""The texture set generator: layout, determinism, caching, exact masks, and that the class is in the texture."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from bench.data.layout import SPLITS, discover_folder
from bench.data.textures import CLASSES, STAMP, TextureSpec, generate_textures, render_texture

SIZE = 64  # small images keep the tests fast; the layout test checks the default 150-pixel size
COUNTS = {"train": 2, "val": 1, "test": 1}
OLD = 1_000_000_000  # a modification time far in the past
CHANCE = 1 / len(CLASSES)


def _spec(**overrides) -> TextureSpec:
    return TextureSpec(**({"image_size": SIZE, "counts": COUNTS, "seed": 0} | overrides))


def _files(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def _age(root: Path) -> None:
    for path in root.rglob("*"):
        if path.is_file():
            os.utime(path, (OLD, OLD))


@pytest.fixture(scope="module")
def small_set(tmp_path_factory: pytest.TempPathFactory) -> Path:
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("BENCH_PROGRESS", "0")
        return generate_textures(tmp_path_factory.mktemp("textures") / "set", _spec())


# --------------------------------------------------------------------------- layout


def test_generate_writes_the_kather_layout_with_one_mask_per_image(tmp_path: Path) -> None:
    spec = TextureSpec(counts=COUNTS)  # default image size: 150 x 150 like the Kather tiles
    root = generate_textures(tmp_path / "set", spec)
    refs, order = discover_folder(root, CLASSES)
    assert order == CLASSES
    expected = {f"{s}/{c}/{s}-{c}-{i:04d}" for s in SPLITS for c in CLASSES for i in range(COUNTS[s])}
    assert {r.id for r in refs} == expected
    for split in SPLITS:
        for index in range(len(CLASSES)):
            assert sum(r.split == split and r.label == index for r in refs) == COUNTS[split]
    for ref in refs:
        assert ref.mask == root / "masks" / ref.split / CLASSES[ref.label] / f"{ref.image.stem}.png"
        with Image.open(ref.image) as image:
            assert (image.mode, image.size) == ("RGB", (150, 150))
            pixels = np.asarray(image)
        assert pixels.dtype == np.uint8 and pixels.shape == (150, 150, 3)
        with Image.open(ref.mask) as mask_file:
            values = np.asarray(mask_file)
        assert values.shape == (150, 150)
        assert set(np.unique(values)) == {0, 255}
        assert 0.25 <= (values == 255).mean() <= 0.60
    masks = sorted(p.relative_to(root / "masks").as_posix() for p in (root / "masks").rglob("*") if p.is_file())
    assert masks == sorted(r.mask.relative_to(root / "masks").as_posix() for r in refs)
    assert sorted(p.name for p in root.iterdir()) == sorted(["masks", STAMP, *SPLITS])
    assert not list(tmp_path.glob("*.partial"))
    stamp = json.loads((root / STAMP).read_text())
    assert stamp["fingerprint"] == spec.fingerprint()
    assert stamp["classes"] == list(CLASSES)


def test_default_spec_is_kather_sized() -> None:
    spec = TextureSpec()
    assert spec.image_size == 150
    assert spec.counts == {"train": 40, "val": 10, "test": 10}
    assert len(CLASSES) == 8 and len(set(CLASSES)) == 8


@pytest.mark.parametrize("size", [SIZE, 150])
def test_render_texture_gives_uint8_rgb_and_a_boolean_mask_of_25_to_60_percent(size: int) -> None:
    for seed in range(3):
        for index in range(len(CLASSES)):
            image, mask = render_texture(np.random.default_rng([seed, index]), index, size)
            assert image.dtype == np.uint8 and image.shape == (size, size, 3)
            assert mask.dtype == np.bool_ and mask.shape == (size, size)
            assert 0.25 <= mask.mean() <= 0.60


def test_render_texture_rejects_an_unknown_class() -> None:
    with pytest.raises(ValueError):
        render_texture(np.random.default_rng(0), len(CLASSES), SIZE)


# --------------------------------------------------------------------------- determinism and fingerprint


def test_generate_is_deterministic(small_set: Path, tmp_path: Path) -> None:
    first, second = _files(small_set), _files(generate_textures(tmp_path / "again", _spec()))
    assert set(first) == set(second)
    assert all(first[name] == second[name] for name in first)


def test_another_seed_gives_other_images(small_set: Path, tmp_path: Path) -> None:
    other = generate_textures(tmp_path / "other", _spec(seed=1))
    images = [name for name in _files(small_set) if name.endswith(".png") and not name.startswith("masks/")]
    assert images
    assert all((other / name).read_bytes() != (small_set / name).read_bytes() for name in images)


def test_spec_fingerprint_is_stable_and_sensitive() -> None:
    assert _spec().fingerprint() == _spec().fingerprint()
    assert _spec().fingerprint() != _spec(seed=1).fingerprint()
    assert _spec().fingerprint() != _spec(image_size=32).fingerprint()
    assert _spec().fingerprint() != _spec(counts={"train": 2, "val": 1, "test": 2}).fingerprint()


# --------------------------------------------------------------------------- caching and refusal


def test_generate_again_with_same_spec_rewrites_nothing(tmp_path: Path) -> None:
    root = generate_textures(tmp_path / "cached", _spec())
    before = _files(root)
    _age(root)
    assert generate_textures(root, _spec()) == root
    assert _files(root) == before
    assert all(p.stat().st_mtime == OLD for p in root.rglob("*") if p.is_file())


def test_generate_with_another_spec_replaces_the_set(tmp_path: Path) -> None:
    root = generate_textures(tmp_path / "regen", _spec())
    new_spec = _spec(seed=3, counts={"test": 1})
    generate_textures(root, new_spec)
    assert json.loads((root / STAMP).read_text())["fingerprint"] == new_spec.fingerprint()
    # the old, larger set is gone, not merged
    assert {r.id for r in discover_folder(root, CLASSES)[0]} == {f"test/{c}/test-{c}-0000" for c in CLASSES}
    assert not (root / "masks" / "train").exists()
    assert _files(root) == _files(generate_textures(tmp_path / "fresh", new_spec))


def test_generate_refuses_a_foreign_non_empty_folder(tmp_path: Path) -> None:
    root = tmp_path / "mine"
    root.mkdir()
    (root / "thesis.txt").write_text("do not delete")
    with pytest.raises(FileExistsError) as info:
        generate_textures(root, _spec())
    assert str(root) in str(info.value)
    assert sorted(p.name for p in root.iterdir()) == ["thesis.txt"]
    assert (root / "thesis.txt").read_text() == "do not delete"
    assert not list(tmp_path.glob("*.partial"))


def test_generate_accepts_an_existing_empty_folder(tmp_path: Path) -> None:
    root = tmp_path / "empty"
    root.mkdir()
    generate_textures(root, _spec(counts={"val": 1}))
    assert len(discover_folder(root, CLASSES)[0]) == len(CLASSES)


def test_generate_rejects_an_unknown_split_and_leaves_nothing(tmp_path: Path) -> None:
    with pytest.raises(ValueError):
        generate_textures(tmp_path / "bad", _spec(counts={"training": 1}))
    assert list(tmp_path.iterdir()) == []


# --------------------------------------------------------------------------- the mask is exactly the class region


@pytest.mark.parametrize("seed", range(6))
def test_only_the_masked_region_depends_on_the_class(seed: int) -> None:
    """With the same random stream every class gets the same background, blob and colours: only the blob differs.

    Pixels outside the mask are byte-identical across classes, pixels inside differ, and the blob's mean RGB agrees
    across classes to within 1.0 grey level (of 255): the texture is zero-mean inside the blob by construction, so
    only rounding and (rare) clipping move it.
    """
    renders = [render_texture(np.random.default_rng(seed), index, SIZE) for index in range(len(CLASSES))]
    mask = renders[0][1]
    means = []
    for image, other_mask in renders:
        assert np.array_equal(other_mask, mask)
        assert np.array_equal(image[~mask], renders[0][0][~mask])
        means.append(image[mask].astype(np.float64).mean(0))
    for a in range(len(CLASSES)):
        for b in range(a + 1, len(CLASSES)):
            inside_a, inside_b = renders[a][0][mask].astype(int), renders[b][0][mask].astype(int)
            assert np.abs(inside_a - inside_b).mean() > 3.0, (CLASSES[a], CLASSES[b])
    assert np.ptp(np.array(means), axis=0).max() < 1.0


# --------------------------------------------------------------------------- the class is in the texture


def _spectrum_features(image: np.ndarray, region: np.ndarray, radial_bins: int = 10, angular_bins: int = 12) -> np.ndarray:
    """Log radial power spectrum and rotation-aligned angular spectrum of the grey image restricted to region.

    Independent of the generator's code: an FFT of the mean-removed region (zero elsewhere), its power summed in
    log-spaced frequency rings and in orientation sectors, the sectors rolled so the strongest comes first (the
    textures take random orientations), each part normalised to sum 1 so contrast and region size drop out.
    """
    size = image.shape[0]
    grey = image.astype(np.float64).mean(-1)
    centred = np.where(region, grey - grey[region].mean(), 0.0)
    power = np.abs(np.fft.fft2(centred)) ** 2
    fy, fx = np.meshgrid(np.fft.fftfreq(size), np.fft.fftfreq(size), indexing="ij")
    radius, angle = np.hypot(fx, fy), np.mod(np.arctan2(fy, fx), np.pi)
    nonzero = radius > 0
    radial = np.histogram(radius[nonzero], np.geomspace(1 / size, 0.75, radial_bins + 1), weights=power[nonzero])[0]
    # orientation only above the lowest rings, where the region's outline dominates the spectrum
    band = radius > 3 / size
    angular = np.histogram(angle[band], np.linspace(0, np.pi, angular_bins + 1), weights=power[band])[0]
    angular = np.roll(angular, -int(np.argmax(angular)))
    return np.log(np.concatenate([radial / radial.sum(), angular / angular.sum()]) + 1e-6)


def _features(stream: int, per_class: int) -> dict[str, np.ndarray]:
    inside, outside, colour, labels = [], [], [], []
    for index in range(len(CLASSES)):
        for i in range(per_class):
            image, mask = render_texture(np.random.default_rng([stream, index, i]), index, SIZE)
            inside.append(_spectrum_features(image, mask))
            outside.append(_spectrum_features(image, ~mask))
            colour.append(image[mask].astype(np.float64).mean(0))
            labels.append(index)
    return {"inside": np.array(inside), "outside": np.array(outside), "colour": np.array(colour), "label": np.array(labels)}


@pytest.fixture(scope="module")
def features() -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """Features of 25 training and 15 held-out images per class (disjoint random streams)."""
    return _features(100, 25), _features(200, 15)


def _held_out_accuracy(features: tuple[dict[str, np.ndarray], dict[str, np.ndarray]], kind: str) -> float:
    train, test = features
    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=5000))
    model.fit(train[kind], train["label"])
    return float(model.score(test[kind], test["label"]))


def test_spectrum_of_the_masked_region_separates_the_classes(features) -> None:
    assert _held_out_accuracy(features, "inside") > 0.8


def test_mean_colour_of_the_masked_region_does_not(features) -> None:
    assert _held_out_accuracy(features, "colour") < 0.35  # chance is 0.125


def test_spectrum_outside_the_mask_does_not(features) -> None:
    assert _held_out_accuracy(features, "outside") < 0.3  # chance is 0.125: the background is class-independent


@pytest.mark.slow
def test_a_small_cnn_learns_the_classes_in_a_few_epochs() -> None:
    """A 4-layer conv net with batch norm, trained 8 epochs on 40 images per class at 64 px, beats chance by far on held-out images."""
    import torch
    from torch import nn

    def tensors(stream: int, per_class: int) -> tuple[torch.Tensor, torch.Tensor]:
        images, labels = [], []
        for index in range(len(CLASSES)):
            for i in range(per_class):
                images.append(render_texture(np.random.default_rng([stream, index, i]), index, SIZE)[0])
                labels.append(index)
        return torch.tensor(np.stack(images)).permute(0, 3, 1, 2).float() / 255 - 0.5, torch.tensor(labels)

    torch.manual_seed(0)
    x_train, y_train = tensors(300, 40)
    x_test, y_test = tensors(400, 10)
    layers: list[nn.Module] = []
    for width_in, width_out in ((3, 16), (16, 32), (32, 32), (32, 64)):
        layers += [nn.Conv2d(width_in, width_out, 3, padding=1, bias=False), nn.BatchNorm2d(width_out), nn.ReLU(), nn.MaxPool2d(2)]
    net = nn.Sequential(*layers, nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(64, len(CLASSES)))
    epochs, batch = 8, 32
    steps = epochs * -(-len(y_train) // batch)
    optimiser = torch.optim.Adam(net.parameters(), lr=3e-3)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimiser, max_lr=3e-3, total_steps=steps)
    for _ in range(epochs):
        net.train()
        order = torch.randperm(len(y_train))
        for start in range(0, len(y_train), batch):
            chosen = order[start:start + batch]
            loss = nn.functional.cross_entropy(net(x_train[chosen]), y_train[chosen])
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
            schedule.step()
    net.eval()
    with torch.no_grad():
        accuracy = (net(x_test).argmax(1) == y_test).float().mean().item()
    assert accuracy > 0.6
