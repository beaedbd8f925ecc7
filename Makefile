# The course in two commands:
#   make tutorial   set up .venv, build the data, execute every notebook into build/notebooks/
#   make test       set up .venv, build the data, run pytest and nbval on every notebook
# and one for the interactive explorers:
#   make browser-test  run a chapter in a real JupyterLab and use its explorer with the mouse
# Every target is idempotent: a second run only redoes what changed.

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp
NOTEBOOKS := $(sort $(wildcard notebooks/[0-9][0-9]_*.ipynb))
# browser-test: the notebook whose instance explorer is driven (chapter 03; the demo fixture
# tests/browser/explorer_demo.ipynb is quicker while working on the widget), and the Chromium that
# Playwright drives (Debian's; no browser download)
BROWSER_NB ?= notebooks/03_acmil.ipynb
CHROMIUM   ?= /usr/bin/chromium
BROWSER_STAMP := $(VENV)/.browser-stamp

export PYTHONHASHSEED := 0

.PHONY: help setup data tutorial test unit nbtest outputs lab benchmarks sweep sweep-usage clean \
        distclean browser-setup browser-test

help:
	@echo "make tutorial  - set up, build data, run all notebooks into build/notebooks/"
	@echo "make test      - set up, build data, run unit tests + nbval on all notebooks"
	@echo "make lab       - JupyterLab on the course environment"
	@echo "make browser-test - a chapter's explorer used in headless JupyterLab + Chromium"
	@echo "                 (BROWSER_NB=path/to.ipynb picks the notebook; screenshots in build/browser/)"
	@echo "make outputs   - re-execute notebooks in place (regenerates committed outputs)"
	@echo "make benchmarks - tiling, features, cohort, methods, classic-MIL and packing benchmarks"
	@echo "make sweep NB=notebooks/04_aem.ipynb ARGS=\"-p lam 0 0.1\" - a notebook over a parameter grid"

$(STAMP): pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	# CPU torch first, exactly pinned, so nothing later pulls CUDA wheels
	$(BIN)/python -m pip install --quiet torch==2.13.0
	# pinned versions (constraints.txt): the committed notebook outputs are reproduced exactly
	$(BIN)/python -m pip install --quiet -c constraints.txt -e ".[dev]"
	touch $(STAMP)

setup: $(STAMP)

data: setup
	$(BIN)/python -m milhelpers data --root data

tutorial: data
	$(BIN)/python -m milhelpers run-notebooks $(NOTEBOOKS) --out build/notebooks

# tqdm writes to stderr, which nbval compares: progress bars are off under test.
# Unit tests and notebooks run on one pytest-xdist worker per core (TEST_WORKERS=0: in this
# process), a file per worker: a test file's module fixtures are built once, and a notebook's
# cells run in order in one kernel. Each chapter runs alone (it builds or trains what it misses;
# runs are cached under a lock), and its timing cells are left out of nbval's comparison.
TEST_WORKERS ?= auto
unit: setup
	TQDM_DISABLE=1 $(BIN)/python -m pytest -q -n $(TEST_WORKERS) --dist loadfile tests

nbtest: data
	TQDM_DISABLE=1 $(BIN)/python -m pytest --nbval --nbval-current-env \
	  --nbval-sanitize-with tests/nbval_sanitize.cfg --nbval-cell-timeout=600 -q \
	  -n $(TEST_WORKERS) --dist loadfile $(NOTEBOOKS)

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
	$(BIN)/python -m pip install --quiet -c constraints.txt -e ".[dev,lab]"
	$(BIN)/jupyter lab notebooks/

# JupyterLab + Playwright (its wheel carries its driver) into the venv, Debian's Chromium if missing
$(BROWSER_STAMP): $(STAMP) pyproject.toml
	$(BIN)/python -m pip install --quiet -c constraints.txt -e ".[dev,lab,browser]"
	touch $(BROWSER_STAMP)

browser-setup: $(BROWSER_STAMP)
	@test -x $(CHROMIUM) || tools/install_chromium.sh $(CHROMIUM)

# Starts JupyterLab on a free loopback port (random token, temporary settings), runs BROWSER_NB
# with Run All, draws a lasso, picks a slide, clicks a patch; stops the server pass or fail.
browser-test: data browser-setup
	@echo "browser test on $(BROWSER_NB); screenshots in build/browser/"
	MIL_BROWSER_TEST=1 MIL_BROWSER_NOTEBOOK=$(BROWSER_NB) MIL_CHROMIUM=$(CHROMIUM) TQDM_DISABLE=1 \
	  $(BIN)/python -m pytest -q tests/browser

benchmarks: data
	$(BIN)/python benchmarks/tiling.py
	$(BIN)/python benchmarks/features.py
	$(BIN)/python benchmarks/cohort.py --root data/cohort
	$(BIN)/python benchmarks/methods.py --data-root data/cohort --methods abmil_gated mean_pool max_pool abmil_tanh --seeds 0 1 2 --folds 5 --epochs 20 --cache build/bench_runs
	$(BIN)/python benchmarks/methods.py --data-root data/cohort --methods acmil_base acmil acmil_mba acmil_stkim abmil_gated --seeds 0 1 2 --folds 5 --epochs 20 --cache build/bench_runs
	$(BIN)/python benchmarks/methods.py --data-root data/cohort --methods abmil_gated aem acmil acmil_aem --seeds 0 1 2 --folds 5 --epochs 20 --cache build/bench_runs
	$(BIN)/python benchmarks/embedding.py
	$(BIN)/python benchmarks/classic_mil.py
	$(BIN)/python benchmarks/classic_mil.py --variants abmil_gated aem --repeats 3 --folds 5
	$(BIN)/python benchmarks/packing.py --epochs 20 --repeats 2 --json build/bench_packing.json
	$(BIN)/python benchmarks/ucsb.py --cache build/ucsb_runs

clean:
	rm -rf build runs notebooks/runs notebooks/out

distclean: clean
	rm -rf $(VENV) data/cohort
