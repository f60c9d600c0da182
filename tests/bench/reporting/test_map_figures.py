"""Gallery figures: the stated scaling (per map, or shared over a row) and panels that decode as images."""

from __future__ import annotations

import io

import numpy as np
from PIL import Image

from bench.reporting.map_figures import Cell, map_grid, scaled


def test_each_map_is_scaled_by_its_own_range_or_by_the_rows() -> None:
    a, b = np.array([[0.0, 1.0], [2.0, 4.0]]), np.array([[10.0, 20.0], [np.nan, 30.0]])
    own = scaled([a, b], shared=False)
    np.testing.assert_allclose(own[0], a / 4)
    np.testing.assert_allclose(own[1], [[0.0, 0.5], [np.nan, 1.0]])
    common = scaled([a, b], shared=True)
    np.testing.assert_allclose(common[0], a / 30)
    np.testing.assert_allclose(common[1], b / 30)


def test_constant_missing_and_all_nan_maps() -> None:
    constant, empty = np.full((2, 2), 3.0), np.full((2, 2), np.nan)
    out = scaled([constant, None, empty], shared=False)
    np.testing.assert_array_equal(out[0], np.zeros((2, 2)))
    assert out[1] is None and out[2] is None


def test_a_grid_of_images_and_signals_decodes_and_shows_the_map() -> None:
    rng = np.random.default_rng(0)
    image, mask = rng.random((32, 32, 3)), np.zeros((32, 32), dtype=bool)
    mask[8:20, 8:20] = True
    heat = np.zeros((32, 32))
    heat[10:18, 10:18] = 1.0
    signal = np.sin(np.linspace(0, 6, 40))
    rows = [[Cell(image, mask, title="input"), Cell(image, mask, heat, "map", "ρ 0.5"), Cell(image, mask, np.full((32, 32), np.nan), "failed")],
            [Cell(signal, None, title="signal"), Cell(signal, None, np.linspace(0, 1, 40), "signal map")]]
    picture = np.asarray(Image.open(io.BytesIO(map_grid(rows, shared=False, note="per map"))).convert("RGB"), dtype=float)
    assert picture.shape[0] > 200 and picture.shape[1] > 300 and picture.std() > 20
