"""Files written atomically under temp names that no other process on any host will make."""

from __future__ import annotations

import os
import secrets
import socket
from pathlib import Path


def unique_suffix() -> str:
    """A name part unique to this host, process and call: host, pid and a random token."""
    return f"{socket.gethostname()}.{os.getpid()}.{secrets.token_hex(4)}"


def temp_path(path: Path) -> Path:
    """A hidden sibling of path to write before an atomic rename onto it."""
    return path.with_name(f".{path.name}.{unique_suffix()}.tmp")


def write_bytes_atomic(path: Path, data: bytes) -> None:
    """Write data to path so that readers see the old file or the whole new one, never a part."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = temp_path(path)
    try:
        tmp.write_bytes(data)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def write_text_atomic(path: Path, text: str) -> None:
    """write_bytes_atomic for UTF-8 text."""
    write_bytes_atomic(path, text.encode())
