"""Executors: the same jobs run serially, over local worker processes, as Ray tasks, or as one shard of many."""

from __future__ import annotations

import os
import socket
import time
from collections.abc import Callable, Mapping
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, replace
from multiprocessing import get_context

import torch

from bench.core.config import SuiteConfig
from bench.core.errors import BenchError
from bench.data.suite_data import SuiteData
from bench.models.model_store import is_trained
from bench.pipeline.execute import Job, run_job
from bench.pipeline.plan import Plan
from bench.pipeline.store import RecordStore
from bench.pipeline.units import AFTER_EXPLAIN, ALONE, ModelRef
from bench.pipeline.workspace import Workspace

# How long a process waits before looking again at units another process has claimed.
POLL_S = 0.5


@dataclass(frozen=True)
class Shard:
    """This process's part of a plan split over `count` ranks: the jobs whose lead key hashes to `index`."""

    index: int
    count: int

    def owns(self, key: str) -> bool:
        """Whether the unit with this key belongs to this shard (placement never changes what a unit computes)."""
        return int(key[:12], 16) % self.count == self.index


def parse_shard(text: str, environ: Mapping[str, str] = os.environ) -> Shard:
    """'i/n' (0 <= i < n) as a Shard, or 'auto': torchrun's RANK/WORLD_SIZE or a Slurm array's task id and count."""
    if text == "auto":
        if "RANK" in environ and "WORLD_SIZE" in environ:
            text = f"{environ['RANK']}/{environ['WORLD_SIZE']}"
        elif "SLURM_ARRAY_TASK_ID" in environ and "SLURM_ARRAY_TASK_COUNT" in environ:
            first = int(environ.get("SLURM_ARRAY_TASK_MIN", "0"))
            text = f"{int(environ['SLURM_ARRAY_TASK_ID']) - first}/{environ['SLURM_ARRAY_TASK_COUNT']}"
        else:
            raise BenchError("--shard auto: neither RANK/WORLD_SIZE (torchrun) nor SLURM_ARRAY_TASK_ID/SLURM_ARRAY_TASK_COUNT is set")
    try:
        index, count = (int(p) for p in text.split("/"))
    except ValueError:
        raise BenchError(f"--shard: expected i/n with whole numbers, e.g. 0/4, got {text!r}") from None
    if count < 1 or not 0 <= index < count:
        raise BenchError(f"--shard: need 0 <= i < n, got {text!r}")
    return Shard(index, count)


def refresh(job: Job, store: RecordStore) -> Job | None:
    """The job with only the parts still missing from the store, or None when nothing is."""
    if job.lead.kind == "train":
        return None if is_trained(job.lead.model.directory) else job
    if job.lead.kind != "explain":
        return None if store.has(job.lead.key) else job
    explain_stored = store.has(job.lead.key)
    scores = tuple(s for s in job.scores if not store.has(s.key))
    if explain_stored and not scores:
        return None
    return replace(job, scores=scores, explain_stored=explain_stored)


def pending_training(plan: Plan) -> list[Job]:
    """The plan's models still to train (looked up without reading a record)."""
    return [Job(u) for u in plan.of_kind("train") if not is_trained(u.model.directory)]


def pending_phases(plan: Plan, store: RecordStore) -> list[list[Job]]:
    """The plan's missing work as jobs in four phases: training; explaining and scoring; agreement; then timing alone."""
    scores: dict[str, list] = {}
    for u in plan.of_kind("score"):
        scores.setdefault(u.source_key, []).append(u)
    phases: list[list[Job]] = [[], [], [], []]
    for unit in plan.units:
        if unit.kind == "score":
            continue
        job = refresh(Job(unit, tuple(scores.get(unit.key, ()))), store)
        if job is not None:
            phases[0 if unit.kind == "train" else 3 if unit.kind in ALONE else 2 if unit.kind in AFTER_EXPLAIN else 1].append(job)
    return phases


def _claimed_run(job: Job, ws: Workspace) -> str:
    """Run the job unless another process holds it: 'ran', 'done' (nothing left) or 'busy' (claimed elsewhere)."""
    claims = ws.store.claims
    if not claims.take(job.lead.key):
        return "busy"
    try:
        current = refresh(job, ws.store)
        if current is None:
            return "done"
        began = time.time()
        run_job(current, ws)
        kind = "score" if current.lead.kind == "explain" and current.explain_stored else current.lead.kind
        ws.store.log_execution(
            {
                "kind": kind,
                "keys": current.keys,
                "host": socket.gethostname(),
                "pid": os.getpid(),
                "device": ws.device_text,
                "started": began,
                "seconds": time.time() - began,
            }
        )
        return "ran"
    finally:
        claims.release(job.lead.key)


def _drain(jobs: list[Job], submit: Callable[[list[Job]], list[str]], store: RecordStore) -> list[Job]:
    """Run jobs until each is done here or by another process; returns the jobs this process ran."""
    ran, waiting = [], list(jobs)
    while waiting:
        outcomes = submit(waiting)
        ran += [j for j, o in zip(waiting, outcomes) if o == "ran"]
        waiting = [j for j, o in zip(waiting, outcomes) if o == "busy" and refresh(j, store) is not None]
        if waiting:
            time.sleep(POLL_S)
    return ran


def run_serial(phases: list[list[Job]], ws: Workspace, progress: Callable[[Job], None] = lambda job: None) -> list[Job]:
    """Every phase's jobs in this process, in order."""

    def submit(jobs: list[Job]) -> list[str]:
        outcomes = []
        for job in jobs:
            outcomes.append(_claimed_run(job, ws))
            progress(job)
        return outcomes

    return [job for phase in phases for job in _drain(phase, submit, ws.store)]


_WORKER: dict = {}


def _init_worker(cfg: SuiteConfig, data: SuiteData, refs: dict[str, ModelRef], devices: list[str], threads: int, counter) -> None:  # noqa: ANN001
    with counter.get_lock():
        rank = counter.value
        counter.value += 1
    torch.set_num_threads(threads)
    _WORKER["ws"] = Workspace(cfg, data, torch.device(devices[rank % len(devices)]), refs)


def _worker_run(job: Job) -> str:
    return _claimed_run(job, _WORKER["ws"])


def worker_devices(device: torch.device, workers: int) -> list[str]:
    """One device per worker: the GPUs in turn on CUDA, else the CPU."""
    if device.type == "cuda" and device.index is None:
        return [f"cuda:{i % torch.cuda.device_count()}" for i in range(workers)]
    return [str(device)] * workers


def run_processes(phases: list[list[Job]], ws: Workspace, workers: int, progress: Callable[[Job], None] = lambda job: None) -> list[Job]:
    """The phases' jobs over `workers` local processes (the caller runs timing, which must be alone, in its own process)."""
    if not any(phases):
        return []
    threads = max(1, (os.cpu_count() or 1) // workers)
    context = get_context("spawn")
    counter = context.Value("i", 0)
    ran: list[Job] = []
    with ProcessPoolExecutor(
        workers,
        mp_context=context,
        initializer=_init_worker,
        initargs=(ws.cfg, ws.data, ws.refs, worker_devices(ws.device, workers), threads, counter),
    ) as pool:

        def submit(jobs: list[Job]) -> list[str]:
            outcomes = []
            for job, outcome in zip(jobs, pool.map(_worker_run, jobs)):
                outcomes.append(outcome)
                progress(job)
            return outcomes

        for phase in phases:
            ran += _drain(phase, submit, ws.store)
    return ran


def _ray_task(cfg: SuiteConfig, data: SuiteData, refs: dict[str, ModelRef], device: str, job: Job) -> str:
    """One job in a Ray worker, which keeps its workspace between tasks of the same suite."""
    key = (cfg.fingerprint(), device)
    if _WORKER.get("key") != key:
        _WORKER.update(key=key, ws=Workspace(cfg, data, torch.device(device), refs))
    return _claimed_run(job, _WORKER["ws"])


def run_ray(phases: list[list[Job]], ws: Workspace, address: str | None, progress: Callable[[Job], None] = lambda job: None) -> list[Job]:
    """The phases' jobs as Ray tasks (one per job) on a running cluster, or a local one (timing stays with the caller)."""
    try:
        import ray
    except ImportError:
        raise BenchError("--executor ray needs Ray: pip install 'xai-bench[ray]'") from None
    started = not ray.is_initialized()
    if started:
        ray.init(address=address, include_dashboard=False, log_to_driver=False)
    try:
        gpus = 1 if ws.device.type == "cuda" else 0
        task = ray.remote(num_gpus=gpus)(_ray_task)
        cfg_ref, data_ref, refs_ref = ray.put(ws.cfg), ray.put(ws.data), ray.put(ws.refs)
        device = "cuda" if gpus else "cpu"

        def submit(jobs: list[Job]) -> list[str]:
            outcomes = ray.get([task.remote(cfg_ref, data_ref, refs_ref, device, job) for job in jobs])
            for job in jobs:
                progress(job)
            return outcomes

        return [job for phase in phases for job in _drain(phase, submit, ws.store)]
    finally:
        if started:
            ray.shutdown()
