"""Shared fixtures: a quiet environment for every test."""

from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def _quiet(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BENCH_PROGRESS", "0")
