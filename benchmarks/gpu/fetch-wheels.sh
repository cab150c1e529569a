#!/usr/bin/env bash
# Fill benchmarks/gpu/wheels/ (git-ignored) with the wheels the GPU machine lacks, for `run.sh` to install there
# offline with `pip install --no-index --no-deps --target`. Run it here, where PyPI is reachable:
#
#     bash benchmarks/gpu/fetch-wheels.sh          # then carry benchmarks/gpu/wheels (README: "GPU benchmark")
#
# The GPU machine (one H200; Python 3.12, torch 2.11 + CUDA 13, torchvision 0.26, onnx, onnxscript, a CPU-only
# onnxruntime 1.30, typer, rich, safetensors, scikit-learn, matplotlib, pytest, hypothesis; no network) has every
# dependency of the project but these two. Both are the versions the project is tested with (pyproject.toml):
#   torch-pruning  pure Python (prune stage)
#   torchao        PT2E INT8 (quantize --target torch); cp310-abi3: one wheel for Python 3.10+, and it loads its
#                  kernels on torch >= 2.11 only (older torch: Python parts only)
# Not carried: onnxruntime-gpu (hundreds of MB, built per CUDA major; the CUDA onnxruntime rows are skipped with the
# reason), tritonclient and openvino (optional extras; their tests skip), torch/torchvision (the machine's own).
set -euo pipefail
cd "$(dirname "$0")"
DEST=${WHEELS_DIR:-wheels}
PY=${PYTHON:-python3}
# name==version  platform tags (pure wheels need none)
WHEELS=(
  "torch-pruning==1.6.1"
  "torchao==0.18.0"
)
mkdir -p "$DEST"
for spec in "${WHEELS[@]}"; do
  name=${spec%%==*}
  stem=$(echo "$name" | tr - _)
  ver=${spec##*==}
  if compgen -G "$DEST/${stem}-${ver}-*.whl" >/dev/null; then
    echo "have $(basename "$(compgen -G "$DEST/${stem}-${ver}-*.whl" | head -1)")"
    continue
  fi
  # one version of each: an older wheel of the same package would stop the install there
  rm -f "$DEST/${stem}"-*.whl
  "$PY" -m pip download --quiet --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
    --platform manylinux_2_28_x86_64 --platform manylinux_2_24_x86_64 --platform manylinux_2_17_x86_64 \
    --platform manylinux2014_x86_64 --platform any -d "$DEST" "$spec"
  echo "got $(basename "$(compgen -G "$DEST/${stem}-${ver}-*.whl" | head -1)")"
done
total=$(du -sk "$DEST" | cut -f1)
echo "wheels in benchmarks/gpu/$DEST: $(ls "$DEST"/*.whl | wc -l) files, $((total / 1024)) MiB (the working tree that travels may hold 64 MiB in all)"
if [ "$total" -gt $((48 * 1024)) ]; then
  echo "error: the wheel set is over 48 MiB; the tree and the wheels together must stay under 64 MiB" >&2
  exit 1
fi
