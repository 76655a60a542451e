# Set-up and the two entry points: `make run` (main job on the organism) and `make test`.
# Each target creates the virtual environment first when it is missing or older than pyproject.toml.

PYTHON ?= python3
VENV ?= .venv
# CPU machines: this exact pin installs the CPU build (an unpinned torch pulls CUDA packages).
# GPU machines: run `make TORCH="torch" run`, or install your CUDA build of torch into $(VENV) first.
TORCH ?= torch==2.13.0
RUN_DIR ?= runs/main

BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: setup run test lint

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet "$(TORCH)"
	$(BIN)/python -m pip install --quiet -e ".[test]"
	touch $(STAMP)

setup: $(STAMP)

run: setup
	$(BIN)/safety-features run --out $(RUN_DIR) --overwrite

lint: setup
	$(BIN)/ruff check src tests train bench
	$(BIN)/ruff format --check src tests train bench
	$(BIN)/mypy

test: lint
	$(BIN)/python -m pytest
