# Every target creates and uses its own virtual environment in .venv.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install evaluate test lint bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev,dask]'
	touch $(STAMP)

install: $(STAMP)

## The main job: evaluate on the 10,000 MNIST test images (the shipped model unless
## weights/sample_weight.pkl or NNMNIST_WEIGHTS says otherwise).
evaluate: $(STAMP)
	$(BIN)/nnmnist evaluate --batch-size 100

## Benchmarks: inference, whole processes, predict and scaling (bench/bench.py), then training
## vs scikit-learn (bench/bench_train.py; needs the MNIST training files in ../shared/data/mnist
## or NNMNIST_DATA=DIR). PyTorch is compared too when it is installed.
bench: $(STAMP)
	$(BIN)/python bench/bench.py
	$(BIN)/python bench/bench_train.py

lint: $(STAMP)
	$(BIN)/ruff check nnmnist tests bench
	$(BIN)/ruff format --check nnmnist tests bench
	$(BIN)/mypy

test: lint
	$(BIN)/pytest -q -n auto

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache *.egg-info
