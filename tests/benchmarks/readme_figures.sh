#!/usr/bin/env bash
# Measures every figure the README gives for the run pipeline, on a fresh clone of this repository's HEAD:
# make demo, make test, a full run of the default suite, the same with one metric added, a run with nothing to do,
# --workers 2, float16 maps, and `bench plan` with no data and no model. Takes about 15 minutes on 2 cores.
#   bash tests/benchmarks/readme_figures.sh [OUT]      (OUT defaults to /tmp/readme-figures; it is emptied first)
set -u
repo=$(cd "$(dirname "$0")/../.." && pwd)
out=${1:-/tmp/readme-figures}
rm -rf "$out" && mkdir -p "$out/suites" "$out/logs"
git clone -q "$repo" "$out/clone" && cd "$out/clone"
log() { echo "$(date +%T) $*" | tee -a "$out/figures.log"; }
log "revision $(git rev-parse --short HEAD); load $(cut -d' ' -f1-3 /proc/loadavg); $(nproc) cores"
timed() {  # name, command...: wall seconds of the command, its exit status and summary line
    local name=$1 start
    shift
    start=$(date +%s.%N)
    BENCH_PROGRESS=0 "$@" > "$out/logs/$name.log" 2>&1
    log "$name: rc=$? $(echo "$(date +%s.%N) - $start" | bc) s; $(grep -E 'units planned|units \(|passed' "$out/logs/$name.log" | tail -1)"
}
suite() {  # file, results folder: the default suite writing to another results folder
    sed "s#^shard_size = 50#&\nresults = \"$2\"#" suites/synthetic-fundus.toml > "$1"
}
timed make-demo make demo
timed make-test make test
log "torch $(.venv/bin/python -c 'import torch; print(torch.__version__)')"
suite "$out/suites/full.toml" "$out/results/full"
timed full .venv/bin/bench run "$out/suites/full.toml"
sed 's#^\[run\]#[[metrics]]\nname = "iou_threshold"\nparams = { threshold = 0.25 }\nlabel = "iou@0.25"\n\n[run]#' "$out/suites/full.toml" > "$out/suites/plus.toml"
.venv/bin/bench validate "$out/suites/plus.toml" > /dev/null  # the probe's verdict is remembered, as after any first run
timed add-a-metric .venv/bin/bench run "$out/suites/plus.toml"
timed nothing-to-do .venv/bin/bench run "$out/suites/plus.toml"
suite "$out/suites/workers.toml" "$out/results/workers"
timed workers-2 .venv/bin/bench run "$out/suites/workers.toml" --workers 2
suite "$out/suites/float16.toml" "$out/results/float16"
printf '\n[store]\nmaps_dtype = "float16"\n' >> "$out/suites/float16.toml"
timed float16 .venv/bin/bench run "$out/suites/float16.toml"
suite "$out/suites/plan.toml" "$out/results/plan"
sed -i "s#^root = \".cache/data/synthetic-fundus\"#root = \"$out/plan-data/synthetic-fundus\"#" "$out/suites/plan.toml"
BENCH_CACHE="$out/plan-cache" timed plan-fresh .venv/bin/bench plan "$out/suites/plan.toml"
log "models trained by bench plan: $(find "$out/plan-cache" -name model_card.json | wc -l)"
.venv/bin/python "$repo/tests/benchmarks/readme_figures.py" "$out" | tee -a "$out/figures.log"
