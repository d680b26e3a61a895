# d2lx: `make lab` to learn, `make test` to check everything. Both install what they need into .venv first.
SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   := .venv
BIN    := $(VENV)/bin
# setup re-runs only when a requirement file's content changes (a fresh clone's mtimes mean nothing).
REQS   := pyproject.toml requirements-nodeps.txt
STAMP  := $(VENV)/.setup-$(shell cat $(REQS) | sha256sum | cut -c1-16)
NOTEBOOKS := $(sort $(wildcard notebooks/[0-9][0-9]_*.ipynb))
# make test runs everything small and offline; isolated config so the user's own Jupyter setup cannot leak in.
TESTENV := D2LX_PROFILE=smoke D2LX_OFFLINE=1 MPLBACKEND=Agg PYTHONHASHSEED=0 \
           JUPYTER_PLATFORM_DIRS=1 IPYTHONDIR=$(CURDIR)/$(VENV)/.ipython MPLCONFIGDIR=$(CURDIR)/$(VENV)/.mpl
ROOT_FLAG := $(if $(filter 0,$(shell id -u)),--allow-root,)

.PHONY: help setup browser-deps lab test lint export bench clean

help:
	@echo "make lab    install everything into .venv and open JupyterLab"
	@echo "make test   install everything and run every check (offline, smoke profile)"
	@echo "make export write the notebooks' #@save cells into d2lx/"
	@echo "make bench  speed ratios of the d2lx helpers against their references"
	@echo "make clean  remove .venv and the data cache"

setup: $(STAMP)

$(STAMP): $(REQS)
	@test -n "$(PYTHON)" || { echo "no python3 found: install Python 3.11" >&2; exit 1; }
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	$(BIN)/python -m pip install --quiet --no-deps -r requirements-nodeps.txt
	@rm -f $(VENV)/.setup-*
	@touch $@
	@echo "setup done: $(VENV)"

# The browser tests drive Debian's chromium. Install it when it is missing and we can (root with apt-get);
# otherwise say so: tests/browser then skips itself with the same reason.
browser-deps:
	@command -v chromium >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    echo "installing Debian's chromium for the browser tests"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
	  else echo "warning: chromium is missing and cannot be installed here; the browser tests will be skipped" >&2; fi; }

lab: setup
	$(BIN)/jupyter lab $(ROOT_FLAG) notebooks/

lint: setup
	$(BIN)/ruff check d2lx notebooks tests
	$(BIN)/nbstripout --verify $(NOTEBOOKS)

test: lint browser-deps
	$(BIN)/python d2lx/export.py --check
	$(TESTENV) $(BIN)/python -m pytest tests -p no:cacheprovider --ignore=tests/bench --ignore=tests/browser
	$(TESTENV) $(BIN)/python -m pytest -p no:cacheprovider --nbval-lax --nbval-current-env \
	    --nbval-cell-timeout=300 $(NOTEBOOKS)
	$(TESTENV) $(BIN)/python -m pytest -p no:cacheprovider tests/browser

export: setup
	$(BIN)/python d2lx/export.py

bench: setup
	MPLBACKEND=Agg $(BIN)/python tests/bench/run.py

clean:
	rm -rf $(VENV) data/cache .pytest_cache .ruff_cache .hypothesis
	find . -name __pycache__ -type d -prune -exec rm -rf {} +
