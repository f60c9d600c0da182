"""Errors that name the file and the field at fault."""

from __future__ import annotations

from pathlib import Path


class BenchError(Exception):
    """Base class for every error the harness reports to a user."""


class InputError(BenchError):
    """Bad user input: a suite file, a data file or a manifest, with the field at fault."""

    def __init__(self, file: str | Path, field: str | None, message: str) -> None:
        self.file, self.field, self.message = str(file), field, message
        where = f"{self.file}: {field}: " if field else f"{self.file}: "
        super().__init__(where + message)


class ConfigError(InputError):
    """A suite file that does not validate."""


class DataError(InputError):
    """A data set, image, mask or manifest that cannot be read."""
