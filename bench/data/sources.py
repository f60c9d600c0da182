"""Data sources a suite may name, as a registry of functions (suite config -> sample references), imported on use."""

from __future__ import annotations

from bench.core.registry import Registry

DATA_SOURCES: Registry = Registry("data source", lambda: {"folder": "bench.data.suite_data:folder_refs",
                                                          "synthetic": "bench.data.suite_data:synthetic_refs"})
