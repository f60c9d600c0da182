"""Claims: one process per unit, a dead owner's claim taken over once, a live one respected."""

from __future__ import annotations

import json
import multiprocessing
import os
import socket
import subprocess
import sys

from bench.pipeline.claims import Claims


def _dead_pid() -> int:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def _take(directory: str, key: str, barrier, results) -> None:  # noqa: ANN001 - multiprocessing primitives
    barrier.wait()
    results.put((os.getpid(), Claims(directory).take(key)))
    barrier.wait()  # stay alive until every process has tried: a claim of a process that ended may be taken over


def test_a_live_claim_is_respected_and_a_dead_one_taken_over(tmp_path) -> None:
    claims = Claims(tmp_path)
    assert claims.take("k") and claims.take("k")  # this process may take its own claim again
    (tmp_path / "k.claim").write_text(json.dumps({"host": socket.gethostname(), "pid": os.getppid(), "time": 0, "ttl": 0}))
    assert claims.held_by_other("k") and not claims.take("k")
    (tmp_path / "k.claim").write_text(json.dumps({"host": socket.gethostname(), "pid": _dead_pid(), "time": 0, "ttl": 0}))
    assert not claims.held_by_other("k") and claims.take("k")
    (tmp_path / "k.claim").write_text(json.dumps({"host": "elsewhere", "pid": 1, "time": 0, "ttl": 60}))
    assert not claims.held_by_other("k")  # another host's claim past its time-to-live lapses
    claims.release("k")
    assert not (tmp_path / "k.claim").exists()


def test_many_processes_taking_over_one_dead_claim_at_once_get_it_once(tmp_path) -> None:
    (tmp_path / "k.claim").write_text(json.dumps({"host": socket.gethostname(), "pid": _dead_pid(), "time": 0, "ttl": 0}))
    context = multiprocessing.get_context("fork")
    barrier, results = context.Barrier(8), context.Queue()
    workers = [context.Process(target=_take, args=(str(tmp_path), "k", barrier, results)) for _ in range(8)]
    for w in workers:
        w.start()
    outcomes = [results.get(timeout=60) for _ in workers]
    for w in workers:
        w.join()
    winners = [pid for pid, took in outcomes if took]
    assert len(winners) == 1
    assert json.loads((tmp_path / "k.claim").read_text())["pid"] == winners[0]
