"""The record store: one strict-JSON file per finished unit, maps in a safetensors sidecar written before it."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import load_file, save

from bench.core.errors import DataError
from bench.pipeline import map_codec
from bench.pipeline.claims import Claims
from bench.pipeline.records import SCHEMA_VERSION, Record, RecordFormatError, load_any, to_dict
from bench.utils.atomic_files import write_bytes_atomic
from bench.utils.jsonio import write_json

EXECUTION_LOG = "executions.jsonl"


class RecordStore:
    """Unit records under a directory, keyed by unit key; the record file is the marker that a unit is done."""

    def __init__(self, directory: Path, expected_digest: Callable[[str], str | None] | None = None) -> None:
        self.directory = Path(directory)
        self.claims = Claims(self.directory / ".claims")
        # Keys name a model by its training fingerprint, known before training; a record made with other weights
        # (the same settings trained on another machine) does not count as stored once this model's weights exist.
        self.expected_digest = expected_digest

    def path(self, key: str) -> Path:
        """File that holds the unit with this key."""
        return self.directory / f"{key}.json"

    def maps_path(self, key: str) -> Path:
        """Sidecar that holds an explain unit's maps."""
        return self.directory / f"{key}.maps.safetensors"

    def has(self, key: str) -> bool:
        """Whether a complete record of this unit, of the current schema and made with the expected weights, is stored."""
        try:
            data = json.loads(self.path(key).read_text())
        except (OSError, json.JSONDecodeError):
            return False
        if data.get("schema") != SCHEMA_VERSION:
            return False
        model = data.get("model") or {}
        want = self.expected_digest(model.get("name", "")) if self.expected_digest else None
        return want is None or model.get("digest") == want

    def write(self, record: Record) -> None:
        """Store a finished unit atomically: a crash leaves the old file or none."""
        write_json(self.path(record.key), to_dict(record))

    def read(self, key: str) -> Record:
        """The stored unit with this key (of the current schema)."""
        records = self._load(self.path(key))
        if len(records) != 1 or records[0].key != key:
            raise DataError(self.path(key), "schema", "an older record that splits into several: read it with read_all")
        return records[0]

    def _load(self, path: Path) -> list[Record]:
        try:
            return load_any(json.loads(path.read_text()))
        except (OSError, json.JSONDecodeError) as err:
            raise DataError(path, None, f"unreadable record: {err}") from err
        except (RecordFormatError, KeyError, TypeError) as err:
            raise DataError(path, "schema", f"not a record this version reads: {err}") from err

    def read_all(self, keys: list[str] | None = None) -> dict[str, Record]:
        """Stored records by key (of the given unit keys, else all), older schemas migrated; missing keys are left out."""
        paths = [self.path(k) for k in keys] if keys is not None else sorted(self.directory.glob("*.json"))
        out: dict[str, Record] = {}
        for path in paths:
            if path.is_file():
                out.update({r.key: r for r in self._load(path)})
        return out

    def write_maps(self, key: str, sample_ids: list[str], maps: torch.Tensor, dtype: str) -> None:
        """Store an explain unit's canonical maps (before its record, which marks the unit done)."""
        stored, scale = map_codec.encode(maps.cpu(), dtype)
        blob = save(
            {"maps": stored.contiguous(), "scale": scale.contiguous()},
            metadata={"sample_ids": json.dumps(sample_ids), "codec": str(map_codec.CODEC_VERSION), "dtype": dtype},
        )
        write_bytes_atomic(self.maps_path(key), blob)

    def read_maps(self, key: str, sample_ids: list[str], dtype: str) -> torch.Tensor | None:
        """The stored maps of these samples in this order, or None when the sidecar is absent, unreadable or holds others."""
        path = self.maps_path(key)
        if not path.is_file():
            return None
        try:
            with safe_open(str(path), framework="pt") as handle:
                meta = handle.metadata() or {}
            if (meta.get("codec"), meta.get("dtype")) != (str(map_codec.CODEC_VERSION), dtype) or json.loads(
                meta.get("sample_ids", "[]")
            ) != list(sample_ids):
                return None
            tensors = load_file(str(path))
        except (SafetensorError, OSError, json.JSONDecodeError):
            return None
        return map_codec.decode(tensors["maps"], tensors["scale"])

    def log_execution(self, entry: dict) -> None:
        """Append one line to the execution log (which process ran which units, when, for how long)."""
        self.directory.mkdir(parents=True, exist_ok=True)
        line = (json.dumps(entry) + "\n").encode()
        # One write of an O_APPEND descriptor: lines of concurrent processes never interleave.
        fd = os.open(self.directory / EXECUTION_LOG, os.O_WRONLY | os.O_CREAT | os.O_APPEND)
        try:
            os.write(fd, line)
        finally:
            os.close(fd)

    def executions(self) -> list[dict]:
        """Every line of the execution log."""
        path = self.directory / EXECUTION_LOG
        return [json.loads(line) for line in path.read_text().splitlines() if line] if path.is_file() else []

    def keys(self) -> list[str]:
        """Keys of every stored unit file."""
        return sorted(p.stem for p in self.directory.glob("*.json")) if self.directory.is_dir() else []

    def remove(self, key: str) -> None:
        """Delete a unit's record and maps."""
        self.path(key).unlink(missing_ok=True)
        self.maps_path(key).unlink(missing_ok=True)
