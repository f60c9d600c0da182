"""Claims on units in the store, so that one process works on a unit at a time, whatever the executor."""

from __future__ import annotations

import contextlib
import json
import os
import socket
import time
from pathlib import Path

from bench.utils.atomic_files import write_text_atomic
from bench.utils.file_lock import file_lock


def _alive(owner: dict) -> bool:
    if owner.get("host") != socket.gethostname():
        # A claim from another host cannot be checked from here; it lapses after its time-to-live.
        return time.time() - owner.get("time", 0) < owner.get("ttl", 0)
    try:
        os.kill(int(owner["pid"]), 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class Claims:
    """Claims on units in a directory: one process works on a unit at a time; a dead owner's claim is taken over."""

    def __init__(self, directory: Path, ttl_s: float = 6 * 3600) -> None:
        self.directory = Path(directory)
        self.ttl_s = ttl_s

    def _path(self, key: str) -> Path:
        return self.directory / f"{key}.claim"

    def take(self, key: str) -> bool:
        """Claim key for this process; False while another live process holds it."""
        self.directory.mkdir(parents=True, exist_ok=True)
        owner = {"host": socket.gethostname(), "pid": os.getpid(), "time": time.time(), "ttl": self.ttl_s}
        # Checking a claim and taking it over must be one step, or two processes that both find a dead owner's
        # claim would both take it: a lock on the claims folder makes it one (flock also works across NFS clients).
        with file_lock(self.directory / ".lock"):
            if self.held_by_other(key):
                return False
            write_text_atomic(self._path(key), json.dumps(owner))
        return True

    def held_by_other(self, key: str) -> bool:
        """Whether another live process holds a claim on key."""
        try:
            owner = json.loads(self._path(key).read_text())
        except FileNotFoundError:
            return False
        except (OSError, json.JSONDecodeError):
            # Claims are written whole (temp file and rename), so an unreadable one was damaged: it holds nothing.
            return False
        if owner.get("host") == socket.gethostname() and owner.get("pid") == os.getpid():
            return False
        return _alive(owner)

    def release(self, key: str) -> None:
        """Give up this process's claim on key."""
        with contextlib.suppress(FileNotFoundError):
            self._path(key).unlink()
