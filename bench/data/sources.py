"""Data sources a suite may name, as a registry of functions (suite config -> Source), imported on use."""

from __future__ import annotations

from bench.core.registry import Registry

DATA_SOURCES: Registry = Registry("data source", lambda: {
    "folder": "bench.data.suite_data:folder_refs",
    "csv": "bench.data.suite_data:folder_refs",
    "synthetic": "bench.data.suite_data:synthetic_refs",
    "textures": "bench.data.suite_data:textures_refs",
    "npz": "bench.data.suite_data:npz_refs",
    "mnist1d": "bench.data.suite_data:mnist1d_refs",
})
# Sources whose root is a directory the harness fills (generated once, then read like any other source).
GENERATED = ("synthetic", "textures", "mnist1d")
