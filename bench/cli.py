"""The `bench` command: run, plan, merge, validate, ls, train, leaderboard and data generation."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from bench.core.errors import BenchError, InputError


def _execution(args: argparse.Namespace):  # noqa: ANN202 - an Execution
    from bench.pipeline.executors import parse_shard
    from bench.pipeline.stages import Execution

    if args.workers < 1:
        raise BenchError(f"--workers: need at least 1, got {args.workers}")
    if args.executor == "ray" and args.workers != 1:
        raise BenchError("--workers applies to the local executor; Ray places tasks itself")
    return Execution(args.executor, args.workers, parse_shard(args.shard) if args.shard else None, args.ray_address)


def _cmd_run(args: argparse.Namespace) -> int:
    from bench.core.validation import validate_suite
    from bench.pipeline.stages import resolve_device, run_suite

    how = _execution(args)
    cfg = validate_suite(args.suite)
    summary = run_suite(cfg, device=resolve_device(args.device) if args.device else None, how=how, prune=args.prune)
    print(f"{cfg.suite.name}: {summary.planned} units planned, {summary.ran} run, {summary.skipped} already stored or left to other shards, "
          f"{summary.failures} failure(s) recorded")
    if summary.missing:
        print(f"  incomplete: {summary.missing} unit(s) are not stored (other shards, or failures); `bench merge` lists them")
    if summary.stale:
        print(f"  {summary.stale} stored unit(s) are not in this plan and were left out (--prune deletes them)")
    for path in summary.outputs:
        print(f"  wrote {path}")
    from bench.reporting.html_report import write_report

    print(f"  wrote {write_report(cfg)}")
    return 0


def _cmd_plan(args: argparse.Namespace) -> int:
    from bench.core.validation import validate_suite
    from bench.pipeline.plan_report import plan_lines
    from bench.pipeline.stages import plan, prepare, resolve_device
    from bench.pipeline.store import RecordStore

    cfg = validate_suite(args.suite)
    device = resolve_device(args.device or cfg.run.device)
    data = prepare(cfg)
    the_plan = plan(cfg, data, device)
    store = RecordStore(cfg.results_dir() / "records")
    for line in plan_lines(the_plan, store, data=data, maps=cfg.store, passes=not args.no_passes):
        print(line)
    return 0


def _cmd_merge(args: argparse.Namespace) -> int:
    from bench.core.validation import validate_suite
    from bench.pipeline.stages import plan, prepare, publish, resolve_device

    cfg = validate_suite(args.suite)
    the_plan = plan(cfg, prepare(cfg), resolve_device(args.device or cfg.run.device))
    published = publish(cfg, the_plan.describe())
    for path in published.outputs:
        print(f"wrote {path}")
    if published.missing:
        print(f"incomplete: {len(published.missing)} of {published.planned} units missing:")
        for u in published.missing:
            what = " ".join(x for x in (u["method"], u["column"], f"shard {u['shard']}" if u["kind"] in ("explain", "score", "agreement") else "") if x)
            print(f"  {u['kind']:10s} {u['model']} {what} ({u['key']})")
    else:
        print(f"complete: all {published.planned} units stored")
    return 0


def _cmd_validate(args: argparse.Namespace) -> int:
    from bench.core.validation import validate_suite

    for suite in args.suites:
        cfg = validate_suite(suite)
        print(f"{suite}: ok ({len(cfg.models)} model(s), {len(cfg.methods)} method(s), {len(cfg.metrics)} metric(s); fingerprint {cfg.fingerprint()})")
    return 0


def _cmd_ls(args: argparse.Namespace) -> int:
    from bench.core import registry
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
    if args.what in ("architectures", "all"):
        from bench.models.architectures import architecture_names

        print("architectures (or python:package.module:factory):")
        for name in architecture_names():
            print(f"  {name}")
    if args.what in ("sources", "all"):
        from bench.data.sources import DATA_SOURCES

        print("sources:")
        for name in DATA_SOURCES.names():
            print(f"  {name}")
    if args.what in ("suites", "all"):
        print("suites:")
        for path in sorted(Path("suites").glob("*.toml")):
            print(f"  {path}")
    return 0


def _cmd_train(args: argparse.Namespace) -> int:
    from bench.core.validation import validate_suite
    from bench.models.model_store import prepare_model
    from bench.pipeline.stages import prepare, resolve_device

    cfg = validate_suite(args.suite)
    device = resolve_device(args.device or cfg.run.device)
    data = prepare(cfg)
    for m in cfg.models:
        if args.model and m.name != args.model:
            continue
        _, card, weights = prepare_model(m, cfg, data, device)
        val = card.get("splits", {}).get("val", {})
        if m.checkpoint_epoch:
            print(f"{m.name}: {weights} (the checkpoint after epoch {m.checkpoint_epoch} of this training)")
            continue
        print(f"{m.name}: {weights.parent} (epoch {card.get('selected_epoch')}, val accuracy {val.get('accuracy')}, "
              f"val ROC-AUC {val.get('roc_auc')})")
    return 0


def _cmd_check_adapter(args: argparse.Namespace) -> int:
    import json

    from bench.core.conformance import FAMILIES, check_adapter, check_on_architecture

    params = json.loads(args.params) if args.params else None
    archs = list(FAMILIES) if args.families else (args.arch or [])
    checks = [check_on_architecture(args.name, arch, params=params) for arch in archs] if archs else check_adapter(args.name, params=params)
    for c in checks:
        print(f"{c.status.upper():5s} {c.name}{': ' + c.detail if c.detail else ''}")
    failed = sum(c.status == "fail" for c in checks)
    print(f"{args.name}: {sum(c.status == 'pass' for c in checks)} passed, {failed} failed, {sum(c.status == 'skip' for c in checks)} skipped")
    return 1 if failed else 0


def _cmd_leaderboard(args: argparse.Namespace) -> int:
    from bench.core.config import load_suite
    from bench.pipeline.stages import publish

    # Only the suite's own keys: publishing needs neither the data set nor a model.
    published = publish(load_suite(args.suite))
    for path in published.outputs:
        print(f"wrote {path}")
    if published.missing:
        print(f"incomplete: {len(published.missing)} of {published.planned} planned units are not stored; the tables show what is")
    return 0


def _cmd_report(args: argparse.Namespace) -> int:
    from bench.core.config import load_suite
    from bench.reporting.html_report import write_report

    cfg = load_suite(args.suite)
    if not (cfg.results_dir() / "leaderboard.csv").is_file():
        raise BenchError(f"{cfg.results_dir()}: no leaderboard.csv; run the suite (or `bench leaderboard`) first")
    names = [m.name for m in cfg.models]
    if args.model is not None and args.model not in names:
        raise InputError(args.suite, "--model", f"no model {args.model!r} in this suite (it has {', '.join(names)})")
    compare = Path(args.compare) if args.compare else None
    if compare is not None:
        from bench.reporting.compare import read_board

        read_board(compare)  # a bad comparison file is named before the gallery is drawn
    from bench.reporting.html_report import metric_entry

    metric_entry(cfg, args.metric)
    path = write_report(cfg, model=args.model, compare=compare, metric=args.metric)
    print(f"wrote {path} ({path.stat().st_size / 2**20:.1f} MiB)")
    return 0


def _cmd_compare(args: argparse.Namespace) -> int:
    from bench.reporting.compare import compare_cells, compare_markdown, rank_changes, read_board

    a, b = read_board(args.a), read_board(args.b)
    print(compare_markdown(a, b, limit=args.limit))
    if args.csv:
        cells = compare_cells(a, b).merge(rank_changes(a, b), on=["model", "implementation", "column"], how="left")
        cells.to_csv(args.csv, index=False, float_format="%.6g")
        print(f"wrote {args.csv}")
    return 0


def _cmd_visualize_filters(args: argparse.Namespace) -> int:
    from bench.core.validation import validate_suite
    from bench.models.filter_visualization import AscentSettings, layer_filters, maximise_filters, spread_layers
    from bench.models.layers import resolve_layer
    from bench.models.model_store import prepare_model
    from bench.pipeline.stages import prepare, resolve_device
    from bench.reporting.filter_grids import activation_gain, layer_dir, write_filter_images

    cfg = validate_suite(args.suite)
    names = [m.name for m in cfg.models]
    if args.model not in names:
        raise InputError(args.suite, "--model", f"no model {args.model!r} in the suite (models: {', '.join(names)})")
    if args.filters < 1:
        raise InputError(args.suite, "--filters", f"must be >= 1, got {args.filters}")
    if args.size < 0:
        raise InputError(args.suite, "--size", f"must be >= 1 (or 0: the data's input size), got {args.size}")
    try:
        settings = AscentSettings(steps=args.steps, seed=args.seed)
    except ValueError as err:
        raise InputError(args.suite, "--steps", str(err)) from err
    device = resolve_device(args.device or cfg.run.device)
    data = prepare(cfg)
    if len(data.shape) != 2:
        raise InputError(args.suite, "data", f"filter images are drawn for 2-D inputs; this data set's inputs have shape {data.shape}")
    model, _, _ = prepare_model(next(m for m in cfg.models if m.name == args.model), cfg, data, device)
    layers = args.layer or spread_layers(model)
    counts = {}
    for layer in layers:
        try:
            counts[resolve_layer(model, layer)[0]] = layer_filters(model, layer)
        except (BenchError, ValueError) as err:
            raise InputError(args.suite, "--layer", str(err)) from err
    for layer, count in counts.items():
        filters = list(range(min(args.filters, count)))
        size = tuple(data.shape) if not args.size else (args.size, args.size)
        found = maximise_filters(model, layer, filters, (data.channels, *size), settings)
        grid = write_filter_images(layer_dir(cfg.results_dir(), args.model, found.layer), found, settings, {"model": args.model, "size": list(size)})
        print(f"{args.model} {found.layer}: {len(filters)} of {count} filters, {activation_gain(found.activation, found.grey_activation)} "
              f"-> {grid}")
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
    p.add_argument("--workers", type=int, default=1, help="local worker processes, one device each (timing runs alone afterwards)")
    p.add_argument("--executor", choices=("local", "ray"), default="local", help="run units here or as Ray tasks (pip install 'xai-bench[ray]')")
    p.add_argument("--ray-address", help="address of a running Ray cluster (default: start a local one)")
    p.add_argument("--shard", help="i/n, or auto (torchrun's RANK/WORLD_SIZE, a Slurm array's task id/count): run only this rank's part of the plan; then `bench merge`")
    p.set_defaults(func=_cmd_run)
    p = sub.add_parser("plan", help="print every unit of a suite (kind, model, method, shard, passes, stored) without running any")
    p.add_argument("suite")
    p.add_argument("--device", choices=("cpu", "cuda"))
    p.add_argument("--no-passes", action="store_true", help="skip the probe call that declares each method's passes")
    p.set_defaults(func=_cmd_plan)
    p = sub.add_parser("merge", help="publish a suite from its store (after sharded runs) and list the units still missing")
    p.add_argument("suite")
    p.add_argument("--device", choices=("cpu", "cuda"))
    p.set_defaults(func=_cmd_merge)
    p = sub.add_parser("validate", help="check suite files without running anything")
    p.add_argument("suites", nargs="+")
    p.set_defaults(func=_cmd_validate)
    p = sub.add_parser("ls", help="list registered methods, metrics, architectures, data sources and suites")
    p.add_argument("what", nargs="?", choices=("methods", "metrics", "architectures", "sources", "suites", "all"), default="all")
    p.set_defaults(func=_cmd_ls)
    p = sub.add_parser("train", help="train (or reuse the cached) models of a suite")
    p.add_argument("suite")
    p.add_argument("--model", help="only this model entry")
    p.add_argument("--device", choices=("cpu", "cuda"))
    p.set_defaults(func=_cmd_train)
    p = sub.add_parser("check-adapter", help="run the conformance check on a registered adapter")
    p.add_argument("name")
    p.add_argument("--params", help="adapter parameters as a JSON object")
    p.add_argument("--arch", action="append", help="instead: explain once on this untrained classifier (repeatable), e.g. vgg11_bn, zoo:vgg7")
    p.add_argument("--families", action="store_true", help="instead: explain once on each model family of bench.core.conformance.FAMILIES")
    p.set_defaults(func=_cmd_check_adapter)
    p = sub.add_parser("leaderboard", help="rebuild a suite's published tables from its stored records")
    p.add_argument("suite")
    p.set_defaults(func=_cmd_leaderboard)
    p = sub.add_parser("report", help="write results/SUITE/report/index.html, one self-contained page, from the published tables")
    p.add_argument("suite")
    p.add_argument("--model", help="the model whose maps the gallery shows (default: the first with stored maps)")
    p.add_argument("--compare", help="add a section comparing this leaderboard with another (a leaderboard.csv or results folder)")
    p.add_argument("--metric", help="leaderboard column that ranks the gallery's samples and is the quality axis of the cost figures "
                                    "(default: the suite's first metric)")
    p.set_defaults(func=_cmd_report)
    p = sub.add_parser("compare", help="two leaderboards side by side: cells of B outside A's CIs, rank changes")
    p.add_argument("a", help="the reference: a leaderboard.csv or a results folder (e.g. a published one)")
    p.add_argument("b", help="the leaderboard to check against it (e.g. your own run)")
    p.add_argument("--csv", help="also write every compared cell, with its status and ranks, to this CSV")
    p.add_argument("--limit", type=int, default=40, help="rows per table in the printed comparison")
    p.set_defaults(func=_cmd_compare)
    p = sub.add_parser("synth", help="write the synthetic fundus set to a folder")
    p.add_argument("root")
    p.add_argument("--size", type=int, default=224)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--scale", type=float, default=1.0, help="multiply the default counts per split")
    p.add_argument("--shortcut", action="store_true", help="plant a label-correlated marker in train and val, one on every test image, "
                                                           "and write the test split's versions (correlated, removed, moved)")
    p.set_defaults(func=_cmd_synth)
    p = sub.add_parser("visualize-filters", help="activation maximisation: per filter of a model layer, the input that maximises its mean "
                                                 "activation, as images and a grid under results/SUITE/filters/ (and in the report)")
    p.add_argument("suite")
    p.add_argument("--model", required=True, help="a model of the suite (trained first if it is not cached)")
    p.add_argument("--layer", action="append", help="a layer name (repeatable; default: an early, a middle and the last block)")
    p.add_argument("--filters", type=int, default=16, help="the first N filters of each layer")
    p.add_argument("--steps", type=int, default=256, help="gradient-ascent steps (default 256)")
    p.add_argument("--size", type=int, default=0, help="side of the optimised images (default: the data's input size)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", choices=("cpu", "cuda"))
    p.set_defaults(func=_cmd_visualize_filters)
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
