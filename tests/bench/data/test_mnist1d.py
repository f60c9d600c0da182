"""MNIST-1D from the `mnist1d` package: the published set, template masks, determinism, global RNG and the val split.

Reference values below were read from the published file `mnist1d_data.pkl` of github.com/greydanus/mnist1d at
commit 7878d96082abd200c546a07a4101fa90b30fdf7e (the pickle was last changed in 9f13bb4, 2021-02-11). Its README
says the procedurally generated set should match that frozen file exactly; with mnist1d 0.0.2.post1, numpy 2.4
and scipy 1.17 make_dataset(get_dataset_args()) equals it to 8.9e-16 (labels exactly). No published template
masks exist: masks are checked against the package's own pipeline run without noise.
"""

from __future__ import annotations

import random

import numpy as np
import pytest

pytest.importorskip("mnist1d")

import bench.data.mnist1d as m1d  # noqa: E402
from bench.data.mnist1d import COVER_THRESHOLD, QUIET, dataset_args, mnist1d_arrays, split_labels  # noqa: E402

# --- from the published mnist1d_data.pkl (see the module docstring) ---
PUB_Y_FIRST = [2, 6, 4, 5, 6, 6, 6, 0, 3, 1, 6, 9, 4, 3, 4, 5, 1, 9, 0, 3]  # data["y"][:20]
PUB_Y_LAST = [6, 8, 5, 4, 8]  # data["y"][-5:]
PUB_Y_TEST_FIRST = [2, 6, 3, 9, 4, 3, 1, 9, 5, 2]  # data["y_test"][:10]
PUB_Y_TEST_LAST = [2, 5, 9, 6, 4]  # data["y_test"][-5:]
PUB_TRAIN_COUNTS = [398, 396, 411, 394, 394, 402, 401, 404, 402, 398]  # np.bincount(data["y"])
PUB_TEST_COUNTS = [102, 104, 89, 106, 106, 98, 99, 96, 98, 102]  # np.bincount(data["y_test"])
PUB_X = {  # (row in our train+test order, first 5 values, last 5 values)
    0: ([-0.3320056674, -0.4719103657, -0.7786970763, -1.0097408265, -0.8823525654],
        [0.019500918, -0.3282141545, -0.7167304978, -0.9619582525, -0.8901663885]),  # data["x"][0]
    3999: ([-0.6939948036, -0.275321693, 0.2926796786, 0.5559517811, 0.8783497008],
           [-0.8775626556, -0.8137443926, -1.2162451343, -1.4649417006, -1.6509928568]),  # data["x"][3999]
    4000: ([-0.0787707805, -0.2107317059, -0.0917513811, 0.2826711174, 0.3260581535],
           [-0.601945065, 0.4195910612, 1.1341626437, 0.8463298174, 0.3461328867]),  # data["x_test"][0]
    4999: ([-0.5193287078, -0.6987227647, -1.2810376907, -2.1610148482, -2.3894211343],
           [-0.0986460926, 0.4472328851, 0.6598756471, 0.8777343498, 1.1931518368]),  # data["x_test"][999]
}
PUB_ABS_SUM = {"train": 118338.29510719894, "test": 29977.877540866408}  # np.abs(data[k]).sum()
PUB_POS_SUM = {"train": 19388.11334187731, "test": 7565.977652536864}  # (data[k] * np.arange(40)).sum()

SMALL = 300  # samples in the quick runs (30 per class; the package splits 240 / 60)


def _flat_background(x: np.ndarray) -> np.ndarray:
    """|x - background| for a noise- and shear-free set: the padding is exactly 0 before the package
    standardises, so it maps to one value shared by every padded sample, the most frequent value in x."""
    values, counts = np.unique(x, return_counts=True)
    return np.abs(x - values[counts.argmax()])


def _quiet_signal(args) -> np.ndarray:
    """The package's own data set for `args` with noise and shear off (the same random draws: only scales are 0)."""
    from mnist1d.data import make_dataset

    others = {k: v for k, v in vars(args).items() if k not in ("seed", "url")}
    quiet = dataset_args(args.seed, **(others | {"corr_noise_scale": 0.0, "iid_noise_scale": 0.0, "shear_scale": 0.0}))
    with m1d._KeptGlobalRandom():
        data = make_dataset(quiet)
    return np.concatenate([data["x"], data["x_test"]])


def _dilate(mask: np.ndarray) -> np.ndarray:
    out = mask.copy()
    out[:, 1:] |= mask[:, :-1]
    out[:, :-1] |= mask[:, 1:]
    return out


def _check_masks_against_quiet_signal(masks: np.ndarray, quiet_x: np.ndarray) -> None:
    """Without noise and shear the signal is flat (the padding value) off the template and deviates on it."""
    structured = _flat_background(quiet_x) > 1e-13
    assert (masks <= structured).all(), "mask true where the noise-free signal is flat"
    # off the mask the signal deviates at most on the one sample next to it (the template's interpolated edge)
    assert (structured <= _dilate(masks)).all(), "noise-free signal structured beyond the mask's edge"
    dev = _flat_background(quiet_x)
    off_share = (dev**2 * ~masks).sum(1) / (dev**2).sum(1)
    assert off_share.max() < 0.01, "more than 1% of a template's energy lies outside its mask"
    # one contiguous run per sample
    starts = masks[:, 0].astype(int) + (np.diff(masks.astype(int), axis=1) == 1).sum(1)
    assert (starts == 1).all()


@pytest.fixture(scope="module")
def small():
    args = dataset_args(42, num_samples=SMALL)
    return args, m1d._generate(args)


@pytest.fixture(scope="module")
def published():
    return mnist1d_arrays()


# ---------------------------------------------------------------- quick tests on a small set


def test_small_set_matches_package_make_dataset(small):
    from mnist1d.data import make_dataset

    args, (x, y, cover, n_train) = small
    data = make_dataset(dataset_args(42, num_samples=SMALL))
    assert n_train == 240 and x.shape == (SMALL, 40) and cover.shape == (SMALL, 40)
    np.testing.assert_array_equal(x, np.concatenate([data["x"], data["x_test"]]))
    np.testing.assert_array_equal(y, np.concatenate([data["y"], data["y_test"]]))
    assert ((cover >= 0) & (cover <= 1)).all()


def test_cover_support_is_exactly_where_the_noise_free_signal_deviates(small):
    """The replayed indicator is non-zero exactly where the package's noise-free signal leaves the padding value."""
    args, (_, _, cover, _) = small
    structured = _flat_background(_quiet_signal(args)) > 1e-13
    np.testing.assert_array_equal(cover > 0, structured)


def test_masks_match_noise_free_signal_and_a_shift_breaks_it(small):
    args, (_, _, cover, _) = small
    masks = cover >= COVER_THRESHOLD
    quiet_x = _quiet_signal(args)
    _check_masks_against_quiet_signal(masks, quiet_x)
    for shift in (1, -1):  # the check notices a mask one sample off
        with pytest.raises(AssertionError):
            _check_masks_against_quiet_signal(np.roll(masks, shift, axis=1), quiet_x)


def test_noise_lies_off_the_template(small):
    """Correlated noise is added only on the padding: turning it off changes x only off the template support."""
    args, (x, _, cover, _) = small
    no_corr = m1d._generate(dataset_args(42, num_samples=SMALL, corr_noise_scale=0.0))[0]
    # the package re-standardises the set, so compare after undoing an affine map fitted on the template support
    on = cover >= 1.0 - 1e-12
    a, b = np.polyfit(no_corr[on], x[on], 1)
    np.testing.assert_allclose(a * no_corr[on] + b, x[on], atol=1e-9)
    assert np.abs(a * no_corr[cover == 0] + b - x[cover == 0]).mean() > 0.05


def test_generation_is_deterministic_and_seeded(small):
    args, (x, y, cover, _) = small
    x2, y2, cover2, _ = m1d._generate(dataset_args(42, num_samples=SMALL))
    np.testing.assert_array_equal(x, x2)
    np.testing.assert_array_equal(y, y2)
    np.testing.assert_array_equal(cover, cover2)
    x7, _, cover7, _ = m1d._generate(dataset_args(7, num_samples=SMALL))
    assert not np.allclose(x, x7) and not np.array_equal(cover, cover7)


def test_generation_needs_no_network(monkeypatch):
    import socket

    import requests

    def refuse(*args, **kwargs):
        raise AssertionError("network used")

    monkeypatch.setattr(socket, "socket", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(requests, "get", refuse)
    x, *_ = m1d._generate(dataset_args(42, num_samples=50))
    assert x.shape == (50, 40)


def test_global_random_states_are_left_alone():
    np.random.seed(123)
    random.seed(456)
    expected_np, expected_py = np.random.rand(3), random.random()
    np.random.seed(123)
    random.seed(456)
    m1d._generate(dataset_args(3, num_samples=50))
    np.testing.assert_array_equal(np.random.rand(3), expected_np)
    assert random.random() == expected_py


def test_replay_mismatch_is_an_error_and_keeps_random_state(monkeypatch):
    real = m1d._template_cover

    def off_by_one(args, templates):
        cover, labels = real(args, templates)
        return cover, np.roll(labels, 1)

    monkeypatch.setattr(m1d, "_template_cover", off_by_one)
    before = np.random.get_state()
    with pytest.raises(RuntimeError, match="replay"):
        m1d._generate(dataset_args(42, num_samples=50))
    assert all(np.array_equal(a, b) for a, b in zip(before, np.random.get_state()))


def test_split_labels_carve_val_from_the_end_of_train():
    split = split_labels(4000, 1000, 0.1)
    assert split.shape == (5000,)
    assert (split[:3600] == "train").all() and (split[3600:4000] == "val").all() and (split[4000:] == "test").all()
    assert (split_labels(4000, 1000) != "val").all()
    assert split_labels(10, 2, 0.25).tolist() == ["train"] * 7 + ["val"] * 3 + ["test"] * 2  # 2.5 rounds up
    assert split_labels(10, 2, 0.04).tolist() == ["train"] * 10 + ["test"] * 2
    for bad in (-0.1, 1.0, 1.5):
        with pytest.raises(ValueError):
            split_labels(10, 2, bad)


def test_bad_arguments_fail_fast():
    with pytest.raises(ValueError, match="val_fraction"):
        mnist1d_arrays(val_fraction=1.0)
    with pytest.raises(ValueError, match="unknown"):
        dataset_args(42, num_sample=10)
    with pytest.raises(ValueError, match="shuffle_seq"):
        m1d._generate(dataset_args(42, num_samples=20, shuffle_seq=True))


def test_missing_package_is_a_clear_error(monkeypatch):
    monkeypatch.setitem(__import__("sys").modules, "mnist1d.data", None)
    with pytest.raises(ImportError, match="pip install mnist1d"):
        mnist1d_arrays()


def test_quiet_settings_name_package_arguments():
    assert set(QUIET) <= set(vars(dataset_args()))


# ---------------------------------------------------------------- the full published set


@pytest.mark.slow
def test_published_shapes_dtypes_and_counts(published):
    a = published
    assert a.x.shape == (5000, 1, 40) and a.x.dtype == np.float32
    assert a.y.shape == (5000,) and a.y.dtype == np.int64
    assert a.masks.shape == (5000, 40) and a.masks.dtype == np.bool_
    assert a.split.shape == (5000,) and a.split.dtype.kind == "U"
    assert a.classes == tuple("0123456789")
    assert (a.split[:4000] == "train").all() and (a.split[4000:] == "test").all()
    assert np.bincount(a.y[:4000]).tolist() == PUB_TRAIN_COUNTS
    assert np.bincount(a.y[4000:]).tolist() == PUB_TEST_COUNTS
    assert 6 <= a.masks.sum(1).min() and a.masks.sum(1).max() <= 10


@pytest.mark.slow
def test_published_reference_values(published):
    a = published
    assert a.y[:20].tolist() == PUB_Y_FIRST and a.y[3995:4000].tolist() == PUB_Y_LAST
    assert a.y[4000:4010].tolist() == PUB_Y_TEST_FIRST and a.y[-5:].tolist() == PUB_Y_TEST_LAST
    x = a.x[:, 0, :].astype(np.float64)
    for row, (first, last) in PUB_X.items():
        np.testing.assert_allclose(x[row, :5], first, atol=1e-6)
        np.testing.assert_allclose(x[row, -5:], last, atol=1e-6)
    for part, rows in (("train", slice(0, 4000)), ("test", slice(4000, 5000))):
        np.testing.assert_allclose(np.abs(x[rows]).sum(), PUB_ABS_SUM[part], rtol=1e-6)
        np.testing.assert_allclose((x[rows] * np.arange(40)).sum(), PUB_POS_SUM[part], rtol=1e-6)
    np.testing.assert_allclose(x.mean(), 0.0, atol=1e-6)
    np.testing.assert_allclose(x.std(), 1.0, atol=1e-6)


@pytest.mark.slow
def test_published_masks_match_noise_free_signal(published):
    _check_masks_against_quiet_signal(published.masks, _quiet_signal(dataset_args(42)))


@pytest.mark.slow
def test_published_val_split_and_determinism(published):
    state = np.random.get_state()
    b = mnist1d_arrays(val_fraction=0.1)
    assert all(np.array_equal(u, v) for u, v in zip(state, np.random.get_state()))
    np.testing.assert_array_equal(b.x, published.x)
    np.testing.assert_array_equal(b.y, published.y)
    np.testing.assert_array_equal(b.masks, published.masks)
    assert (b.split[:3600] == "train").all() and (b.split[3600:4000] == "val").all() and (b.split[4000:] == "test").all()
