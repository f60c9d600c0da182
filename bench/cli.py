"""The `bench` command: run, validate, ls, train, leaderboard and data generation."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from bench.errors import BenchError


def _cmd_run(args: argparse.Namespace) -> int:
    from bench.config import load_suite
    from bench.runner import resolve_device, run_suite

    cfg = load_suite(args.suite)
    summary = run_suite(cfg, device=resolve_device(args.device) if args.device else None, prune=args.prune)
    print(f"{cfg.suite.name}: {summary.planned} units planned, {summary.ran} run, {summary.skipped} already stored, "
          f"{summary.failures} failure(s) recorded")
    if summary.stale:
        print(f"  {summary.stale} stored unit(s) are not in this plan and were left out (--prune deletes them)")
    for path in summary.outputs:
        print(f"  wrote {path}")
    return 0


def _cmd_validate(args: argparse.Namespace) -> int:
    from bench.config import load_suite

    for suite in args.suites:
        cfg = load_suite(suite)
        print(f"{suite}: ok ({len(cfg.models)} model(s), {len(cfg.methods)} method(s), {len(cfg.metrics)} metric(s); fingerprint {cfg.fingerprint()})")
    return 0


def _cmd_ls(args: argparse.Namespace) -> int:
    from bench import registry
    from bench.metrics import METRICS

    if args.what in ("methods", "all"):
        print("methods:")
        for name in registry.names():
            try:
                cls = registry.get(name)
                params = ", ".join(f"{k}={p.default!r}" for k, p in registry.parameters(cls).items())
                print(f"  {name:28s} method={cls.method:14s} library={cls.library:10s} {params}")
            except Exception as err:  # a broken plugin must not hide the others
                print(f"  {name:28s} (cannot load: {err})")
    if args.what in ("metrics", "all"):
        print("metrics:")
        for name, cls in sorted(METRICS.items()):
            print(f"  {name:28s} {cls.category:14s} {cls.direction:7s} {'needs masks' if cls.requires_masks else ''}")
    if args.what in ("suites", "all"):
        print("suites:")
        for path in sorted(Path("suites").glob("*.toml")):
            print(f"  {path}")
    return 0


def _cmd_train(args: argparse.Namespace) -> int:
    from bench.config import load_suite
    from bench.model_store import prepare_model
    from bench.runner import resolve_device
    from bench.suite_data import prepare_data

    cfg = load_suite(args.suite)
    device = resolve_device(args.device or cfg.run.device)
    data = prepare_data(cfg)
    for m in cfg.models:
        if args.model and m.name != args.model:
            continue
        identity, _, card = prepare_model(m, cfg, data, device)
        val = card.get("splits", {}).get("val", {})
        print(f"{m.name}: {identity.directory} (epoch {card.get('selected_epoch')}, val accuracy {val.get('accuracy')}, "
              f"val ROC-AUC {val.get('roc_auc')})")
    return 0


def _cmd_check_adapter(args: argparse.Namespace) -> int:
    import json

    from bench.conformance import check_adapter

    checks = check_adapter(args.name, params=json.loads(args.params) if args.params else None)
    for c in checks:
        print(f"{c.status.upper():5s} {c.name}{': ' + c.detail if c.detail else ''}")
    failed = sum(c.status == "fail" for c in checks)
    print(f"{args.name}: {sum(c.status == 'pass' for c in checks)} passed, {failed} failed, {sum(c.status == 'skip' for c in checks)} skipped")
    return 1 if failed else 0


def _cmd_leaderboard(args: argparse.Namespace) -> int:
    from bench.config import load_suite
    from bench.runner import rebuild_leaderboard

    for path in rebuild_leaderboard(load_suite(args.suite)):
        print(f"wrote {path}")
    return 0


def _cmd_synth(args: argparse.Namespace) -> int:
    from bench.data.synthetic import SyntheticSpec, default_counts, generate

    counts = default_counts()
    if args.scale != 1.0:
        counts = {s: {label: max(1, round(n * args.scale)) for label, n in c.items()} for s, c in counts.items()}
    root = generate(Path(args.root), SyntheticSpec(image_size=args.size, counts=counts, seed=args.seed, shortcut=args.shortcut))
    print(f"synthetic fundus set in {root}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the bench command."""
    parser = argparse.ArgumentParser(prog="bench", description="Benchmark explanation methods of image classifiers.")
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("run", help="run a suite (resumes: stored units are skipped) and write its leaderboard")
    p.add_argument("suite")
    p.add_argument("--device", choices=("cpu", "cuda"), help="override the suite's run.device")
    p.add_argument("--prune", action="store_true", help="delete stored units that this plan no longer contains")
    p.set_defaults(func=_cmd_run)
    p = sub.add_parser("validate", help="check suite files without running anything")
    p.add_argument("suites", nargs="+")
    p.set_defaults(func=_cmd_validate)
    p = sub.add_parser("ls", help="list registered methods, metrics and suites")
    p.add_argument("what", nargs="?", choices=("methods", "metrics", "suites", "all"), default="all")
    p.set_defaults(func=_cmd_ls)
    p = sub.add_parser("train", help="train (or reuse the cached) models of a suite")
    p.add_argument("suite")
    p.add_argument("--model", help="only this model entry")
    p.add_argument("--device", choices=("cpu", "cuda"))
    p.set_defaults(func=_cmd_train)
    p = sub.add_parser("check-adapter", help="run the conformance check on a registered adapter")
    p.add_argument("name")
    p.add_argument("--params", help="adapter parameters as a JSON object")
    p.set_defaults(func=_cmd_check_adapter)
    p = sub.add_parser("leaderboard", help="rebuild a suite's published tables from its stored records")
    p.add_argument("suite")
    p.set_defaults(func=_cmd_leaderboard)
    p = sub.add_parser("synth", help="write the synthetic fundus set to a folder")
    p.add_argument("root")
    p.add_argument("--size", type=int, default=224)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--scale", type=float, default=1.0, help="multiply the default counts per split")
    p.add_argument("--shortcut", action="store_true", help="plant a label-correlated marker in the train split")
    p.set_defaults(func=_cmd_synth)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of the bench command."""
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except BenchError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
