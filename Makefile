# The two commands of the README: `make repro` and `make test`. Both create .venv on first use.
PYTHON ?= python3
VENV := .venv
BIN := $(CURDIR)/$(VENV)/bin
STAMP := $(VENV)/.installed
export PATH := $(BIN):$(PATH)
export DVC_NO_ANALYTICS := 1

.PHONY: install repro test test-fast lint ui seeds bench

install: $(STAMP)

# pawprint runs on Python 3.11 to 3.13; any other stops here, before anything is installed.
PY_OK := import sys; sys.exit(not (3, 11) <= sys.version_info[:2] <= (3, 13))
$(VENV)/bin/python:
	@$(PYTHON) -c '$(PY_OK)' 2>/dev/null || { echo "pawprint needs Python 3.11 to 3.13, and $(PYTHON) is \
	$$($(PYTHON) -V 2>&1); run make with PYTHON=python3.12 (or another in that range)"; exit 2; }
	$(PYTHON) -m venv $(VENV)

# requirements.txt pins the runtime's direct dependencies, requirements-dev.txt adds the test and lint tools;
# constraints.txt pins everything they pull in, so pip never backtracks.
PIP := $(BIN)/python -m pip install --quiet --disable-pip-version-check
$(STAMP): requirements.txt constraints.txt pyproject.toml | $(VENV)/bin/python
	$(PIP) -r requirements.txt -c constraints.txt
	$(PIP) --no-deps -e .
	@touch $@

DEV_STAMP := $(VENV)/.installed-dev
$(DEV_STAMP): requirements-dev.txt $(STAMP)
	$(PIP) -r requirements-dev.txt -c constraints.txt
	@touch $@

repro: $(STAMP)
	dvc repro

# One test worker per core (at most 4), sharing the reproduced pipeline; an idle worker takes tests from a busy
# one (tests/conftest.py orders them for that). XDIST= runs them in one process.
XDIST ?= -n logical --maxprocesses 4 --dist worksteal
test: $(DEV_STAMP)
	python -m pytest -q $(XDIST)

test-fast: $(DEV_STAMP)
	python -m pytest -q $(XDIST) -m "not slow"

lint: $(DEV_STAMP)
	ruff check . && ruff format --check .

# The MLflow UI on this repository's store, on 127.0.0.1 only (HOST=0.0.0.0 to share it on the network).
HOST ?= 127.0.0.1
PORT ?= 5000
MLRUNS ?= $(CURDIR)/mlruns
ui: $(STAMP)
	MLFLOW_SERVER_ENABLE_JOB_EXECUTION=false mlflow ui --backend-store-uri sqlite:///$(MLRUNS)/mlflow.db \
		--default-artifact-root $(MLRUNS)/artifacts --host $(HOST) --port $(PORT) --workers 1

# Three seeds of the whole pipeline as DVC experiments, then the mean test accuracy per method.
seeds: $(STAMP)
	pawprint seeds

# Images per second of every stage: project vs plain PyTorch vs model only, on a folder of photos:
# make bench DATA=path/to/PetImages
bench: $(STAMP)
	@test -n "$(DATA)" || { echo "make bench needs DATA=<a folder of class folders>, e.g. path/to/PetImages"; exit 2; }
	pawprint bench --data "$(DATA)"
	pawprint bench --data "$(DATA)" --sizes 32 --students small_cnn mobilenet_v2 --stages train_baseline distill_cached evaluate \
		--preset cifar10 --out reports/bench-32px.json    # the studies' students at CIFAR-10's size and augmentation
