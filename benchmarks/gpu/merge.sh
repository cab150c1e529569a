#!/usr/bin/env bash
# Publish a GPU run: copy resnet50_gpu.md / .json / .png from the folder the device tool brought back (its files_at)
# into benchmarks/results/. A dry run's files (CPU figures) are refused.
#
#   bash benchmarks/gpu/merge.sh /work/.device/<...>/files      # then commit benchmarks/results/resnet50_gpu.*
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
[ $# -eq 1 ] || { echo "error: give the folder holding resnet50_gpu.json (the run's --out, as fetched)" >&2; exit 2; }
SRC=$1
[ -d "$SRC" ] || { echo "error: $SRC is not a folder" >&2; exit 2; }
F=$(find "$SRC" -maxdepth 3 -name resnet50_gpu.json | head -n 1)
[ -n "$F" ] || { echo "error: no resnet50_gpu.json under $SRC" >&2; exit 2; }
D=$(dirname "$F")
python3 - "$F" <<'PY' || exit 2
import json, sys
d = json.load(open(sys.argv[1]))
if d.get("dry_run"):
    sys.exit("error: " + sys.argv[1] + " is a dry run on the CPU, not GPU figures; it is not published")
gpu = (d.get("environment") or {}).get("gpu_detail", {}).get("name")
if not gpu:
    sys.exit("error: " + sys.argv[1] + " names no GPU")
ok = [n for n, r in d.get("variants", {}).items() if r.get("cells")]
print(f"{gpu}: {len(ok)} of {len(d.get('variants', {}))} rows measured ({', '.join(ok)})")
PY
mkdir -p "$ROOT/benchmarks/results"
for f in resnet50_gpu.md resnet50_gpu.json resnet50_gpu.png; do
  if [ -f "$D/$f" ]; then cp "$D/$f" "$ROOT/benchmarks/results/$f"; echo "copied $f"; else echo "missing $f"; fi
done
grep -m1 -E 'CUDA-marked tests' "$ROOT/benchmarks/results/resnet50_gpu.md" || echo "(no test summary in the report)"
