#!/bin/bash
# The heavily-pruned PTQ vs QAT rows of benchmarks/results/qat_digits.md (one seed). MODEL: a digits ResNet-18
# trained 8 epochs at 32 px (resnet-opt train --depth 18 --data digits --epochs 8 --seed 0 --out MODEL).
cd "$(dirname "$0")/.."
R=.venv/bin/resnet-opt
M=${MODEL:-/tmp/qatw/r18-32-s0}
for ratio in 0.7 0.9; do
  P=/tmp/prq/pr$ratio
  rm -rf $P $P-ptq $P-qat
  mkdir -p /tmp/prq
  echo "== prune $ratio"; $R prune --model $M --ratio $ratio --importance taylor --data digits --finetune-epochs 3 --latency-runs 1 --out $P --json > $P.prune.json 2>/tmp/prq/err.txt; echo rc=$?
  python3 -c "import json;d=json.load(open('$P.prune.json'));print('pruned top1', d['after']['top1'], 'macs', d['before']['macs'], '->', d['after']['macs'])"
  echo "== ptq"; $R quantize --model $P --eval-size 360 --latency-runs 1 --min-agreement 0 --out $P-ptq --json > $P.ptq.json 2>>/tmp/prq/err.txt; echo rc=$?
  python3 -c "import json;d=json.load(open('$P.ptq.json'));print('ptq', d['fp32_top1'], '->', d['int8_top1'], 'drop', d['top1_drop'])"
  echo "== qat"; $R qat --model $P --epochs 3 --latency-runs 1 --min-agreement 0 --out $P-qat --json > $P.qat.json 2>>/tmp/prq/err.txt; echo rc=$?
  python3 -c "import json;d=json.load(open('$P.qat.json'));print('qat', d['fp32_top1'], '->', d['int8_top1'], 'drop', d['top1_drop'])"
done
