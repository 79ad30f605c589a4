# Every target creates and uses its own virtual environment in .venv.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install evaluate test lint bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

## The main job: evaluate the weights on the 10,000 MNIST test images (made with `init` if absent).
evaluate: $(STAMP)
	@test -f weights/sample_weight.pkl || $(BIN)/nnmnist init --seed 42
	$(BIN)/nnmnist evaluate --batch-size 100

lint: $(STAMP)
	$(BIN)/ruff check nnmnist tests
	$(BIN)/ruff format --check nnmnist tests
	$(BIN)/mypy

test: lint
	$(BIN)/pytest -q

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache *.egg-info
