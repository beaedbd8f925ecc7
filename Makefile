# The course in two commands:
#   make tutorial   set up .venv, build the data, execute every notebook into build/notebooks/
#   make test       set up .venv, build the data, run pytest and nbval on every notebook
# Every target is idempotent: a second run only redoes what changed.

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp
NOTEBOOKS := $(sort $(wildcard notebooks/[0-9][0-9]_*.ipynb))

export PYTHONHASHSEED := 0

.PHONY: help setup data tutorial test unit nbtest outputs lab benchmarks sweep sweep-usage clean distclean

help:
	@echo "make tutorial  - set up, build data, run all notebooks into build/notebooks/"
	@echo "make test      - set up, build data, run unit tests + nbval on all notebooks"
	@echo "make lab       - JupyterLab on the course environment"
	@echo "make outputs   - re-execute notebooks in place (regenerates committed outputs)"
	@echo "make benchmarks - tiling, features, cohort, methods and classic-MIL benchmarks"
	@echo "make sweep NB=notebooks/04_aem.ipynb ARGS=\"-p lam 0 0.1\" - a notebook over a parameter grid"

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	# CPU torch first, exactly pinned, so nothing later pulls CUDA wheels
	$(BIN)/python -m pip install --quiet torch==2.13.0
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	touch $(STAMP)

setup: $(STAMP)

data: setup
	$(BIN)/python -m milhelpers data --root data

tutorial: data
	$(BIN)/python -m milhelpers run-notebooks $(NOTEBOOKS) --out build/notebooks

# tqdm writes to stderr, which nbval compares: progress bars are off under test
unit: setup
	TQDM_DISABLE=1 $(BIN)/python -m pytest -q tests

nbtest: data
	TQDM_DISABLE=1 $(BIN)/python -m pytest --nbval --nbval-current-env \
	  --nbval-sanitize-with tests/nbval_sanitize.cfg --nbval-cell-timeout=600 -q $(NOTEBOOKS)

test: unit nbtest

outputs: data
	TQDM_DISABLE=1 $(BIN)/python -m milhelpers run-notebooks $(NOTEBOOKS) --inplace

# one notebook over a grid of parameter values: build/sweeps/<notebook>/results.csv and .png
# (without NB it stops with the usage before setting anything up)
sweep: $(if $(NB),data,sweep-usage)
	TQDM_DISABLE=1 $(BIN)/python -m milhelpers sweep $(NB) $(ARGS)

sweep-usage:
	@echo 'usage: make sweep NB=notebooks/04_aem.ipynb ARGS="-p lam 0 0.1"'; exit 2

lab: setup
	$(BIN)/python -m pip install --quiet -e ".[dev,lab]"
	$(BIN)/jupyter lab notebooks/

benchmarks: data
	$(BIN)/python benchmarks/tiling.py
	$(BIN)/python benchmarks/features.py
	$(BIN)/python benchmarks/cohort.py --root data/cohort
	$(BIN)/python benchmarks/methods.py --data-root data/cohort --methods abmil_gated mean_pool max_pool abmil_tanh --seeds 0 1 2 --folds 5
	$(BIN)/python benchmarks/classic_mil.py

clean:
	rm -rf build runs notebooks/runs notebooks/out

distclean: clean
	rm -rf $(VENV) data/cohort
