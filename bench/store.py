"""The record store: one strict-JSON file per finished work unit, written atomically."""

from __future__ import annotations

import json
from pathlib import Path

from bench.errors import DataError
from bench.jsonio import write_json

SCHEMA_VERSION = 1


class RecordStore:
    """Unit records under a directory, keyed by work-unit key."""

    def __init__(self, directory: Path) -> None:
        self.directory = Path(directory)

    def path(self, key: str) -> Path:
        """File that holds the unit with this key."""
        return self.directory / f"{key}.json"

    def has(self, key: str) -> bool:
        """Whether a complete record of this unit, of the current schema, is stored."""
        path = self.path(key)
        if not path.is_file():
            return False
        try:
            return json.loads(path.read_text()).get("schema") == SCHEMA_VERSION
        except (json.JSONDecodeError, OSError):
            return False

    def write(self, key: str, unit: dict) -> None:
        """Store a finished unit (atomically: a crash leaves the old file or none)."""
        write_json(self.path(key), {"schema": SCHEMA_VERSION, "key": key, **unit})

    def read(self, key: str) -> dict:
        """The stored unit with this key."""
        path = self.path(key)
        try:
            unit = json.loads(path.read_text())
        except (OSError, json.JSONDecodeError) as err:
            raise DataError(path, None, f"unreadable record: {err}") from err
        if unit.get("schema") != SCHEMA_VERSION:
            raise DataError(path, "schema", f"record schema {unit.get('schema')!r}, this version reads {SCHEMA_VERSION}")
        return unit

    def keys(self) -> list[str]:
        """Keys of every stored unit."""
        return sorted(p.stem for p in self.directory.glob("*.json")) if self.directory.is_dir() else []
