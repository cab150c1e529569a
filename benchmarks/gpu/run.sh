#!/usr/bin/env bash
# One GPU session's work in one command: install resnet-opt beside the machine's own torch, run the CUDA-marked
# tests, a CUDA smoke run of the CLI (train with AMP, export pt2 for CUDA, bench), then the ResNet-50 GPU benchmark
# (benchmarks/gpu/resnet50_gpu.py). Every step has its own time limit and the whole run stays within --total seconds
# (480 on a GPU); a failed step is logged and the next one runs; the result files are always written.
#
#   bash benchmarks/gpu/run.sh --out "$OUT"             # on the GPU machine (README, "GPU benchmark")
#   bash benchmarks/gpu/run.sh --dry-run                # here, on the CPU: every step at tiny sizes
#   bash benchmarks/gpu/run.sh --dry-run --fresh-venv   # the same in a stand-in venv with torch 2.13 (another minor)
#
# Files in --out (8 at most come back from the GPU machine; these are 7): resnet50_gpu.md / .json / .png, tests.log
# (pytest -m cuda), smoke_bench.md (the CLI bench report), steps.tsv (each step's budget, time and status) and
# run.log (everything printed).
#
# Needs benchmarks/gpu/wheels/ (git-ignored; `bash benchmarks/gpu/fetch-wheels.sh` fills it): installed with
# `pip install --no-index --no-deps --target` into a temporary folder put on PYTHONPATH, with the working tree
# itself, so neither the machine's torch nor any of its packages is touched and nothing comes from the network.
set -uo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$ROOT"
OUT=benchmarks/gpu/out
DRY=0
FRESH=0
PY=${PYTHON:-}
TOTAL=
WHEELS=${WHEELS_DIR:-benchmarks/gpu/wheels}
EPOCHS=
STANDIN=${RESNET_OPT_GPU_STANDIN:-${XDG_CACHE_HOME:-$HOME/.cache}/resnet-opt/gpu-standin-venv}
ORIG_ARGS="$*"

usage() { sed -n '2,17p' "$0" | sed 's/^# \{0,1\}//'; }
die() { echo "error: $*" >&2; exit 2; }
while [ $# -gt 0 ]; do
  case "$1" in
    --out) [ $# -ge 2 ] || die "--out needs a folder"; OUT=$2; shift 2 ;;
    --out=*) OUT=${1#--out=}; shift ;;
    --dry-run) DRY=1; shift ;;
    --fresh-venv) FRESH=1; shift ;;
    --python) [ $# -ge 2 ] || die "--python needs an interpreter"; PY=$2; shift 2 ;;
    --total) [ $# -ge 2 ] || die "--total needs seconds"; TOTAL=$2; shift 2 ;;
    --epochs) [ $# -ge 2 ] || die "--epochs needs a number"; EPOCHS=$2; shift 2 ;;
    -h|--help) usage; exit 0 ;;
    *) die "unknown option '$1' (see --help)" ;;
  esac
done
[ "$FRESH" = 1 ] && [ "$DRY" = 0 ] && die "--fresh-venv belongs to --dry-run (the GPU machine has its own python3)"
[ -z "$TOTAL" ] && { [ "$DRY" = 1 ] && TOTAL=900 || TOTAL=480; }
case "$TOTAL" in ''|*[!0-9]*) die "--total must be whole seconds, got '$TOTAL'" ;; esac
[ -z "$EPOCHS" ] && { [ "$DRY" = 1 ] && EPOCHS=1 || EPOCHS=4; }
case "$EPOCHS" in ''|*[!0-9]*|0) die "--epochs must be a positive whole number, got '$EPOCHS'" ;; esac
ls "$WHEELS"/*.whl >/dev/null 2>&1 || die "no wheels in $WHEELS: run 'bash benchmarks/gpu/fetch-wheels.sh' first (and carry that folder)"

mkdir -p "$OUT" || die "cannot create $OUT"
OUT=$(cd "$OUT" && pwd)
rm -f "$OUT"/{resnet50_gpu.md,resnet50_gpu.json,resnet50_gpu.png,tests.log,smoke_bench.md,steps.tsv,run.log}
exec > >(tee -a "$OUT/run.log") 2>&1
WORK=$(mktemp -d "${TMPDIR:-/tmp}/resnet-opt-gpu.XXXXXX")
cleanup() { rm -rf "$WORK"; }
trap cleanup EXIT
START=$(date +%s)
export PYTHONUNBUFFERED=1

# ---------------------------------------------------------------------------------------------- the plan
if [ "$DRY" = 1 ]; then
  MODE="DRY RUN on the CPU (tiny sizes; measures no GPU)"
  DEV=cpu; DEPTH=18; SIZE=32; DATA=digits; AMP=bf16; BENCH_BS=1,2; THREADS="--threads 2"; BENCH_T="--iterations 3 --warmup 1 --time-budget 0.5 --limit 60"
  B_INSTALL=60; B_TESTS=180; B_TRAIN=150; B_EXPORT=300; B_BENCH=150; B_REPORT=60; B_MIN_BENCHMARK=60
  TRAIN_EXTRA="--limit 8 --batch-size 8"   # half-precision training on a CPU without AVX-512 BF16 is slow
else
  MODE="GPU run"
  DEV=cuda; DEPTH=50; SIZE=224; DATA=digits:224; AMP=bf16; BENCH_BS=1,64; THREADS=""; BENCH_T="--iterations 20 --warmup 3 --time-budget 2"
  B_INSTALL=30; B_TESTS=110; B_TRAIN=70; B_EXPORT=150; B_BENCH=45; B_REPORT=20; B_MIN_BENCHMARK=60
  TRAIN_EXTRA="--batch-size 64"
fi
if [ "$FRESH" = 1 ]; then
  PY=$STANDIN/bin/python
elif [ -z "$PY" ]; then
  if [ "$DRY" = 1 ] && [ -x .venv/bin/python ]; then PY=.venv/bin/python; else PY=python3; fi
fi
CMDLINE="bash benchmarks/gpu/run.sh${ORIG_ARGS:+ $ORIG_ARGS}"
RUN=$WORK/r$DEPTH; PT2=$WORK/r$DEPTH-pt2; SITE=$WORK/site
echo "== resnet-opt $MODE: $CMDLINE"
echo "   total limit ${TOTAL} s; python: $PY; wheels: $(ls "$WHEELS"/*.whl | xargs -n1 basename | tr '\n' ' ')"
echo "   results: $OUT"
printf '   %-14s %8s  %s\n' step "budget" "what"
[ "$FRESH" = 1 ] && printf '   %-14s %8s  %s\n' standin-venv "600 s" "build or reuse $STANDIN (torch 2.13.0 + the GPU machine's packages; not timed in the total)"
printf '   %-14s %8s  %s\n' install "$B_INSTALL s" "pip install --no-index --no-deps --target (the wheels); PYTHONPATH=tree:site; torch untouched"
printf '   %-14s %8s  %s\n' tests "$B_TESTS s" "pytest -m cuda tests (-> tests.log)"
printf '   %-14s %8s  %s\n' smoke-train "$B_TRAIN s" "resnet-opt train --depth $DEPTH --data $DATA --epochs $EPOCHS --amp $AMP --device $DEV"
printf '   %-14s %8s  %s\n' smoke-export "$B_EXPORT s" "resnet-opt export pt2 --device $DEV (that model)"
printf '   %-14s %8s  %s\n' smoke-bench "$B_BENCH s" "resnet-opt bench (model + .pt2) --backends $DEV --batch-sizes $BENCH_BS (-> smoke_bench.md)"
printf '   %-14s %8s  %s\n' benchmark "the rest" "benchmarks/gpu/resnet50_gpu.py: all that is left of ${TOTAL} s less the report's ${B_REPORT} s (at least ${B_MIN_BENCHMARK} s)"
printf '   %-14s %8s  %s\n' report "$B_REPORT s" "resnet50_gpu.md + .png again, with the steps and the test summary"

printf 'step\tbudget_s\tseconds\tstatus\trc\tnote\n' > "$OUT/steps.tsv"
FAILED=0
# run_step NAME BUDGET NOTE CMD... : time-boxed, logged, recorded in steps.tsv; never stops the script
run_step() {
  local name=$1 budget=$2 note=$3; shift 3
  local t0 rc status
  echo
  echo "== step $name (budget ${budget} s, $(( $(date +%s) - START )) s into the run): $*"
  t0=$(date +%s)
  timeout -k 10 "$budget" "$@"
  rc=$?
  local took=$(( $(date +%s) - t0 ))
  case $rc in
    0) status=ok ;;
    124|137) status="timeout"; FAILED=1 ;;
    *) status="failed"; FAILED=1 ;;
  esac
  echo "== step $name: $status (rc $rc) in ${took} s"
  printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$name" "$budget" "$took" "$status" "$rc" "$note" >> "$OUT/steps.tsv"
  return $rc
}
skip_step() {  # NAME WHY BUDGET [expected]: an expected skip (a stand-in venv's known gap) does not fail the run
  echo; echo "== step $1: skipped ($2)"
  printf '%s\t%s\t0\tskipped\t-\t%s\n' "$1" "$3" "$2" >> "$OUT/steps.tsv"
  [ "${4:-}" = expected ] || FAILED=1
}

# ---------------------------------------------------------------------------------------------- the stand-in venv
if [ "$FRESH" = 1 ]; then
  # The GPU machine in miniature: a venv with a torch of ANOTHER minor version than the project's (2.13.0, the CPU
  # wheel on this machine's disk) and the packages the GPU machine has, never the project or its own deps. Built
  # once, reused while its recipe is unchanged; our wheels go to a temporary --target folder, never into it.
  REQ="torch==2.13.0 numpy onnx==1.23.* onnxruntime==1.30.0 onnxscript==0.7.2 safetensors scikit-learn matplotlib pillow pytest hypothesis typer rich"
  build_standin() {
    set -e
    if [ -x "$STANDIN/bin/python" ] && [ "$(cat "$STANDIN/.recipe" 2>/dev/null)" = "$REQ" ]; then
      echo "reusing $STANDIN"; return 0
    fi
    rm -rf "$STANDIN"; mkdir -p "$(dirname "$STANDIN")"
    python3 -m venv "$STANDIN"
    "$STANDIN/bin/python" -m pip install -q $REQ
    echo "$REQ" > "$STANDIN/.recipe"
  }
  export -f build_standin; export STANDIN REQ
  run_step standin-venv 600 "torch 2.13.0 stand-in venv" bash -c build_standin \
    || echo "(the stand-in venv could not be built; the steps below will fail)"
  START=$(date +%s)  # the GPU timeline starts here
fi

# ---------------------------------------------------------------------------------------------- install
install_wheels() {
  set -e
  local before after
  before=$("$PY" -c 'import torch; print(torch.__version__, torch.__file__)')
  "$PY" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --target "$SITE" "$WHEELS"/*.whl
  export PYTHONPATH="$ROOT:$SITE${PYTHONPATH:+:$PYTHONPATH}"
  after=$("$PY" -c 'import torch; print(torch.__version__, torch.__file__)')
  [ "$before" = "$after" ] || { echo "error: the install changed torch: $before -> $after"; return 1; }
  echo "torch untouched: $after"
  "$PY" - <<'EOF'
import importlib, importlib.metadata as md, sys
import torch
import resnet_opt
print(f"python {sys.version.split()[0]} at {sys.executable}")
print(f"torch {torch.__version__} (CUDA {torch.version.cuda}; GPU: "
      f"{torch.cuda.get_device_name(0) if torch.cuda.is_available() else 'none visible'})")
print(f"resnet_opt from {resnet_opt.__file__}")
for name, mod in [("torchvision", "torchvision"), ("onnx", "onnx"), ("onnxruntime", "onnxruntime"),
                  ("onnxscript", "onnxscript"), ("typer", "typer"), ("rich", "rich"), ("safetensors", "safetensors"),
                  ("scikit-learn", "sklearn"), ("matplotlib", "matplotlib"), ("pytest", "pytest"),
                  ("hypothesis", "hypothesis"), ("torch-pruning", "torch_pruning")]:
    try:
        m = importlib.import_module(mod)
        where = "carried" if "/site/" in (getattr(m, "__file__", "") or "") else "the machine's"
        try:
            ver = md.version(name)
        except md.PackageNotFoundError:  # onnxruntime-gpu is named so
            ver = md.version(name + "-gpu")
        print(f"  {name} {ver} ({where})")
    except Exception as e:  # noqa: BLE001 - listed, not fatal: the steps that need it say so
        print(f"  {name}: NOT importable ({type(e).__name__}: {str(e).splitlines()[0][:120] if str(e) else ''})")
EOF
  "$PY" -m resnet_opt --version
  # torchao loads compiled kernels: in a process of its own, so a build that does not fit this torch costs this
  # line only (no step below needs it; quantize --target torch would say so)
  "$PY" -c 'import importlib.metadata as md, torchao; print("  torchao", md.version("torchao"), "(carried)")' \
    || echo "  torchao: does not import with this torch (exit $?); only quantize --target torch needs it"
}
export -f install_wheels; export PY SITE WHEELS ROOT
run_step install "$B_INSTALL" "wheels: $(ls "$WHEELS"/*.whl | wc -l)" bash -c install_wheels
export PYTHONPATH="$ROOT:$SITE${PYTHONPATH:+:$PYTHONPATH}"

# ---------------------------------------------------------------------------------------------- tests
IGNORES=()
NO_TV=0
if ! "$PY" -c "import torchvision" >/dev/null 2>&1; then
  NO_TV=1
  # a torch without a matching torchvision (the CPU stand-in's 2.13 wheel): leave out the modules that import it
  for f in $(grep -l -E '^(import|from) torchvision' tests/*.py); do IGNORES+=("--ignore=$f"); done
  echo "(torchvision does not import with this torch: leaving out ${IGNORES[*]:-nothing})"
fi
run_step tests "$B_TESTS" "pytest -m cuda" bash -c "'$PY' -m pytest -m cuda -q -rs -p no:cacheprovider \
  --continue-on-collection-errors tests ${IGNORES[*]:-} > '$OUT/tests.log' 2>&1; rc=\$?; tail -n 25 '$OUT/tests.log'; exit \$rc"

# ---------------------------------------------------------------------------------------------- CLI smoke
BVARIANTS=()
if [ "$FRESH" = 1 ] && [ "$NO_TV" = 1 ]; then
  # PyPI's torchvision for torch 2.13 links the CUDA torch, not the CPU wheel the stand-in has; the digits data
  # needs torchvision's transforms, so these steps cannot run there (the GPU machine has torchvision 0.26)
  WHY="the stand-in venv has no torchvision for torch 2.13's CPU wheel, and the digits data needs it"
  skip_step smoke-train "$WHY" "$B_TRAIN" expected
  skip_step smoke-export "$WHY" "$B_EXPORT" expected
  skip_step smoke-bench "$WHY" "$B_BENCH" expected
  RUN=""; PT2=""
  BVARIANTS=(--variants eager-fp32,eager-fp16-cl,eager-bf16-cl,compile-cudagraphs,compile-max-autotune)
else
run_step smoke-train "$B_TRAIN" "AMP $AMP, $EPOCHS epoch(s)" \
  "$PY" -m resnet_opt train --depth "$DEPTH" --data "$DATA" --epochs "$EPOCHS" --amp "$AMP" --device "$DEV" \
  $TRAIN_EXTRA $THREADS --out "$RUN"
if [ ! -f "$RUN/config.json" ] || [ ! -f "$RUN/model.safetensors" ]; then
  RUN=""; PT2=""
  skip_step smoke-export "no model folder from smoke-train" "$B_EXPORT"
  skip_step smoke-bench "no model folder from smoke-train" "$B_BENCH"
else
  [ -f "$RUN/config.json" ] && echo "(model folder: $RUN)"
  run_step smoke-export "$B_EXPORT" "pt2 for $DEV" \
    "$PY" -m resnet_opt export pt2 --model "$RUN" --device "$DEV" --data "$DATA" $THREADS --out "$PT2"
  [ -f "$PT2/model.pt2" ] || PT2=""
  SMOKE_ARTS=("$RUN"); [ -n "$PT2" ] && SMOKE_ARTS+=("$PT2")
  run_step smoke-bench "$B_BENCH" "bench --backends $DEV" \
    "$PY" -m resnet_opt bench "${SMOKE_ARTS[@]}" --backends "$DEV" --batch-sizes "$BENCH_BS" --data "$DATA" \
    $BENCH_T $THREADS --report "$WORK/smoke-bench"
  [ -f "$WORK/smoke-bench/report.md" ] && cp "$WORK/smoke-bench/report.md" "$OUT/smoke_bench.md"
fi
fi

# ---------------------------------------------------------------------------------------------- benchmark
LEFT=$(( TOTAL - ($(date +%s) - START) - B_REPORT ))
[ "$LEFT" -lt "$B_MIN_BENCHMARK" ] && LEFT=$B_MIN_BENCHMARK
BARGS=(--out "$OUT" --budget $(( LEFT - 15 )) --command "$CMDLINE" --depth "$DEPTH" --size "$SIZE" "${BVARIANTS[@]}")
[ -n "$RUN" ] && BARGS+=(--model "$RUN")
[ -n "$PT2" ] && BARGS+=(--pt2 "$PT2")
[ "$DRY" = 1 ] && BARGS+=(--dry-run)
run_step benchmark "$LEFT" "ResNet-$DEPTH rows" "$PY" benchmarks/gpu/resnet50_gpu.py "${BARGS[@]}"

# ---------------------------------------------------------------------------------------------- report
echo
echo "== report ($(( $(date +%s) - START )) s into the run)"
if [ -f "$OUT/resnet50_gpu.json" ]; then
  timeout -k 5 "$B_REPORT" "$PY" benchmarks/gpu/resnet50_gpu.py --rerender --out "$OUT" || FAILED=1
else
  echo "no resnet50_gpu.json: the benchmark step wrote nothing"; FAILED=1
fi
echo
echo "== steps"
column -t -s $'\t' "$OUT/steps.tsv" 2>/dev/null || cat "$OUT/steps.tsv"
echo "tests: $(grep -E '^=*\s*[0-9]+ (passed|failed|skipped|deselected|error)|no tests ran' "$OUT/tests.log" 2>/dev/null | tail -n 1)"
if [ -f "$OUT/resnet50_gpu.md" ]; then
  echo
  sed -n '/^## Summary/,/^## Every batch size/p' "$OUT/resnet50_gpu.md" | sed '$d'
fi
echo "== done in $(( $(date +%s) - START )) s; files in $OUT: $(ls "$OUT" | tr '\n' ' ')"
exit $FAILED
