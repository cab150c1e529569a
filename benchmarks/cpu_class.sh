#!/usr/bin/env bash
# Issue 23's CPU measurements on the CPU this runs on, in one command: every result file is written beside the other
# CPUs' files under benchmarks/results/, named with this CPU's tag. For a session on a CPU class not yet published
# (an AMX Xeon, an AVX2-only CPU), or a second CPU of a class (give it a --tag of its own). ~25 min on 2 cores.
#
#   bash benchmarks/cpu_class.sh [--tag TAG] [--work DIR]   # TAG: auto (default: the CPU's own tag) or your own
#   bash benchmarks/cpu_class.sh --print [--tag TAG]        # only print the commands it would run
#
# Runs, in order, each under `flock /tmp/resnet-opt-cpu.lock` (benchmarks need a quiet machine: nothing else may run
# beside them): resnet50_cpu.py (every path and peer, the U8S8/FP32/BF16 peaks, the targets table), ov_layer_profile.py
# (where the U8S8 peak goes, layer by layer), pt2_vs_fx.py (the PT2E .pt2 against FX TorchScript, paired, and the
# per-call cost of each convolution operator), harness_overhead.py (the bench harness against a bare loop), and
# qat_speed.py (QAT against PTQ INT8, after training the digits ResNet-18 it needs). A failed step is logged and the
# next one runs; the summary lists each step's status and time (also in WORK/steps.tsv). `make demo` is not run here:
# its report is read off the console (README, "Measured").
set -uo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
TAG=auto
WORK=/tmp/resnet-opt-cpu-class
PRINT=0
PY=${PYTHON:-$ROOT/.venv/bin/python}
CLI=$(dirname "$PY")/resnet-opt
LOCK=/tmp/resnet-opt-cpu.lock

usage() { sed -n '2,8p' "$0" | sed 's/^# \{0,1\}//'; }
die() { echo "error: $*" >&2; exit 2; }
while [ $# -gt 0 ]; do
  case "$1" in
    --tag) [ $# -ge 2 ] || die "--tag needs a value"; TAG=$2; shift 2 ;;
    --tag=*) TAG=${1#--tag=}; shift ;;
    --work) [ $# -ge 2 ] || die "--work needs a folder"; WORK=$2; shift 2 ;;
    --work=*) WORK=${1#--work=}; shift ;;
    --print) PRINT=1; shift ;;
    -h|--help) usage; exit 0 ;;
    *) die "unknown argument $1 (see --help)" ;;
  esac
done
case "$WORK" in
  ""|*[[:space:]]*) die "--work must be a folder path without spaces, got '$WORK'" ;;
esac
case "$TAG" in
  ""|*[!A-Za-z0-9._-]*) die "--tag must be letters, digits, '.', '_' or '-', got '$TAG'" ;;
esac

# name | command (run from the repository root)
STEPS=(
  "resnet50_cpu|$PY benchmarks/resnet50_cpu.py --tag $TAG --rounds 6 --iterations 90 --time-budget 20"
  "ov_layer_profile|$PY benchmarks/ov_layer_profile.py --work $WORK/prof --rounds 9 --runs 200 --tag $TAG"
  "pt2_vs_fx|$PY benchmarks/pt2_vs_fx.py --work $WORK/pf --rounds 31 --tag $TAG"
  "harness_overhead|$PY benchmarks/harness_overhead.py --work $WORK/harness --rounds 9 --runs 100 --tag $TAG"
  "train_digits_r18|$CLI train --depth 18 --data digits --epochs 8 --threads 2 --out $WORK/digits-r18"
  "qat_speed|$PY benchmarks/qat_speed.py --model $WORK/digits-r18 --depth 50 --work $WORK/qatwork --rounds 11 --tag $TAG"
)

if [ "$PRINT" = 1 ]; then
  for s in "${STEPS[@]}"; do echo "flock $LOCK ${s#*|}"; done
  exit 0
fi
[ -x "$PY" ] || die "no interpreter at $PY: run \`make install\` first (or set PYTHON)"
mkdir -p "$WORK" || die "cannot create $WORK"
TSV=$WORK/steps.tsv
printf 'step\tseconds\tstatus\trc\n' > "$TSV"
for s in "${STEPS[@]}"; do
  name=${s%%|*}; cmd=${s#*|}
  if [ "$name" = train_digits_r18 ] && [ -f "$WORK/digits-r18/manifest.json" -o -f "$WORK/digits-r18/config.json" ]; then
    printf '%s\t0\treused\t0\n' "$name" >> "$TSV"; continue
  fi
  echo "== $name: flock $LOCK $cmd"
  t0=$(date +%s)
  flock "$LOCK" $cmd > "$WORK/$name.log" 2>&1
  rc=$?
  dt=$(( $(date +%s) - t0 ))
  status=ok; [ $rc -eq 0 ] || status=failed
  printf '%s\t%s\t%s\t%s\n' "$name" "$dt" "$status" "$rc" >> "$TSV"
  tail -n 3 "$WORK/$name.log" | sed 's/^/   /'
  [ $rc -eq 0 ] || echo "   ($name failed with exit $rc: $WORK/$name.log)"
done
echo "== done; steps (also $TSV):"
column -t -s $'\t' "$TSV" 2>/dev/null || cat "$TSV"
echo "result files: benchmarks/results/*-$( [ "$TAG" = auto ] && echo '<this CPU tag>' || echo "$TAG" ).md"
grep -q $'\tfailed\t' "$TSV" && exit 1
exit 0
