# Two set-up commands on a fresh machine: `make demo` and `make test`.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
PIP    := $(VENV)/bin/pip
STAMP  := $(VENV)/.installed
DEMO_OUT ?= demo-out

.PHONY: demo test quickstart gpu-dry-run install clean bench cpp fashion-data

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip
	$(PIP) install --quiet -e '.[test,openvino,serve]'
	touch $(STAMP)

install: $(STAMP)

# Fashion-MNIST, the second real data set, from Debian's dataset-fashion-mnist (30 MB): installed when missing and
# we run as root with apt-get; elsewhere the tests that need it skip with the reason.
FASHION := /usr/share/datasets/fashion-mnist/t10k-labels-idx1-ubyte.gz
fashion-data:
	@if [ ! -e $(FASHION) ] && [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	  echo "installing dataset-fashion-mnist (apt-get)"; \
	  export DEBIAN_FRONTEND=noninteractive; \
	  apt-get install -y -q dataset-fashion-mnist >/dev/null 2>&1 || \
	  { apt-get update -q >/dev/null 2>&1 && apt-get install -y -q dataset-fashion-mnist >/dev/null 2>&1; } || \
	  echo "note: could not install dataset-fashion-mnist; the tests that need it will skip"; \
	fi

# Main job on the embedded default (scikit-learn digits): train a ResNet-18, prune + fine-tune, fuse, quantize,
# export (TorchScript, ONNX FP32, ONNX INT8), validate, benchmark, and print the comparison of every variant.
# Pruning follows the measured best practice (benchmarks/results/prune_digits_r18.md: ratio 0.3 = 2.17x fewer MACs,
# taylor importance, 5 epochs of distilled fine-tune: +0.28..+0.56 pt top-1 over 3 seeds; INT8 costs 0.00 pt on
# digits, quantize_targets.md).
demo: $(STAMP) fashion-data
	$(VENV)/bin/resnet-opt pipeline --depth 18 --data digits --epochs 8 --prune 0.3 --finetune-epochs 5 --distill --importance taylor --threads 2 --overwrite --out $(DEMO_OUT)

test: $(STAMP) fashion-data
	$(PY) -m pytest -q -m "not readme and not gpu_dry_run"

# The GPU script's dry run (benchmarks/gpu/run.sh --dry-run: every step at tiny sizes on the CPU, ~2.5 min on 2 cores),
# so that a lent GPU's 15 minutes never find a broken script: tests/test_gpu_script.py. CI runs it after `make test`.
gpu-dry-run: $(STAMP)
	$(PY) -m pytest -q -m gpu_dry_run tests/test_gpu_script.py

# Every line of the README's CLI quick start, in order, in a fresh folder (slow settings made small; ~6 min on 2
# cores): tests/test_quickstart.py. CI runs it after `make test`.
quickstart: $(STAMP) fashion-data
	$(PY) -m pytest -q -m readme tests/test_quickstart.py

# The C++ runner (cpp/): installs the two header-only Debian packages it needs when missing (apt-get, root), then
# compiles against the venv's torch wheel; the binary is copied to build/resnet-opt-runner.
cpp: $(STAMP)
	mkdir -p build
	$(PY) -m resnet_opt build-runner --install-deps --out build/resnet-opt-runner

clean:
	rm -rf $(VENV) $(DEMO_OUT) .pytest_cache
