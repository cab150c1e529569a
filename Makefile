# Two set-up commands on a fresh machine: `make demo` and `make test`.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
PIP    := $(VENV)/bin/pip
STAMP  := $(VENV)/.installed
DEMO_OUT ?= demo-out

.PHONY: demo test install clean bench

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip
	$(PIP) install --quiet -e '.[test]'
	touch $(STAMP)

install: $(STAMP)

# Main job on the embedded default (scikit-learn digits): train a ResNet-18 and evaluate it.
demo: $(STAMP)
	$(VENV)/bin/resnet-opt train --depth 18 --data digits --epochs 8 --threads 2 --out $(DEMO_OUT)/digits-r18
	$(VENV)/bin/resnet-opt eval --model $(DEMO_OUT)/digits-r18 --data digits

test: $(STAMP)
	$(PY) -m pytest -q

clean:
	rm -rf $(VENV) $(DEMO_OUT) .pytest_cache
