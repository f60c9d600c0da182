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
