# Every target creates and uses its own virtual environment in .venv.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# Two stamps: running nnmnist needs only its own dependencies; the tests add the dev tools, the
# Dask extra, the interchange extra (ONNX, safetensors), the plot extra (matplotlib) and the
# serve extra (Starlette, uvicorn).
RUN_STAMP := $(VENV)/.installed-run
STAMP := $(VENV)/.installed-dev

.PHONY: install install-dev evaluate test lint bench docs mutate clean

# setuptools tells every editable install how it was made ("Editable installation ... be
# careful with folders ... with the same name as your package"): information, not a problem
# (the package is nnmnist/ itself); pip would print it as a warning on each install.
PIP := PYTHONWARNINGS="ignore:Editable installation" $(BIN)/pip

$(RUN_STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(PIP) install --quiet -e .
	touch $(RUN_STAMP)

$(STAMP): $(RUN_STAMP)
	$(PIP) install --quiet -e '.[dev,dask,interchange,plot,serve]'
	touch $(STAMP)

install: $(RUN_STAMP)

install-dev: $(STAMP)

## The main job: evaluate on the 10,000 MNIST test images (the shipped model unless
## weights/sample_weight.pkl or NNMNIST_WEIGHTS says otherwise).
evaluate: $(RUN_STAMP)
	$(BIN)/nnmnist evaluate --batch-size 100

## Benchmarks: inference, whole processes, predict and scaling (bench/bench.py), then training
## vs scikit-learn (bench/bench_train.py; needs the MNIST training files in ../shared/data/mnist
## or NNMNIST_DATA=DIR), pictures (photos.py), other writers (writers.py: USPS from
## ../shared/data/usps when present) and fine-tuning (finetune.py). PyTorch is compared too when
## it is installed.
bench: $(STAMP)
	$(BIN)/python bench/bench.py
	$(BIN)/python bench/bench_train.py
	$(BIN)/python bench/bench_convnet.py
	$(BIN)/python bench/bench_onnx.py
	$(BIN)/python bench/bench_pictures.py
	$(BIN)/python bench/photos.py
	$(BIN)/python bench/writers.py
	$(BIN)/python bench/finetune.py

## The README's pictures in docs/ (nnmnist plot, and a screenshot of an HTML report).
docs: $(STAMP)
	$(BIN)/python docs/make_pictures.py
	$(BIN)/python docs/serve_screenshot.py

## Mutation testing of the reader, the writer, the parsers and the result formats (issue 26):
## mutmut mutates the modules [tool.mutmut] names and runs the tests that cover each mutant.
## Not part of `make test` (it takes minutes); the survivors are listed at the end.
mutate: $(STAMP)
	$(BIN)/pip install --quiet 'mutmut>=3.3,<4'
	rm -rf mutants
	$(BIN)/mutmut run || true
	$(BIN)/mutmut results

lint: $(STAMP)
	$(BIN)/ruff check nnmnist tests bench docs
	$(BIN)/ruff format --check nnmnist tests bench docs
	$(BIN)/mypy

test: lint
	$(BIN)/pytest -q -n auto

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache *.egg-info mutants
