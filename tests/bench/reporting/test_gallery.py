"""Which samples the gallery shows: evenly spread fixed samples, and best / median / worst by the headline metric."""

from __future__ import annotations

import numpy as np

from bench.reporting.gallery import best_median_worst, display_inputs, fixed_positions


def test_fixed_positions_span_the_split_from_end_to_end() -> None:
    assert fixed_positions(4, 13) == [0, 4, 8, 12]
    assert fixed_positions(4, 2) == [0, 1]
    assert fixed_positions(4, 0) == []


def test_best_median_worst_follow_the_metrics_direction() -> None:
    values = {"a": 0.1, "b": 0.9, "c": 0.5, "d": 0.3, "e": 0.7}
    assert best_median_worst(values, True) == [("best", "b", 0.9), ("median", "c", 0.5), ("worst", "a", 0.1)]
    assert best_median_worst(values, False) == [("best", "a", 0.1), ("median", "c", 0.5), ("worst", "b", 0.9)]
    assert best_median_worst({}, True) == []


def test_inputs_are_shown_as_rgb_in_unit_range_whatever_their_channels() -> None:
    grey = np.full((2, 1, 4, 4), 510.0)
    shown = display_inputs(grey, scale=255.0)
    assert shown.shape == (2, 4, 4, 3) and shown.max() == 1.0
    signals = np.arange(10, dtype=float).reshape(2, 1, 5)
    np.testing.assert_array_equal(display_inputs(signals, scale=1.0), signals[:, 0])
