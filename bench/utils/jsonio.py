"""Strict JSON (NaN and infinities become null) written atomically."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from bench.utils.atomic_files import write_text_atomic


def strict(value: Any) -> Any:
    """A copy of value with every non-finite float replaced by None."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {str(k): strict(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [strict(v) for v in value]
    return value


def write_json(path: Path, value: Any) -> None:
    """Write value as strict JSON to path via a temporary file and an atomic rename."""
    write_text_atomic(Path(path), json.dumps(strict(value), indent=1, allow_nan=False, sort_keys=False))
