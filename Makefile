# Two entry points: `make demo` and `make test`. Both do all set-up on a fresh machine.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin

.PHONY: demo test lint typecheck unit browser bench clean

$(VENV)/.core: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[server,eval,quality]'
	touch $@

$(VENV)/.dev: pyproject.toml $(VENV)/.core
	$(BIN)/pip install -q -e '.[dev]'
	touch $@

# datumaro (the format library CVAT is built on) reads assay's CVAT and MOT exports in the tests;
# it pins older pandas, Pillow and pyarrow than assay's, so it lives in its own environment.
DATUMARO := .venv-datumaro

$(DATUMARO)/.done:
	$(PYTHON) -m venv $(DATUMARO)
	$(DATUMARO)/bin/pip install -q datumaro==1.13.12
	touch $@

demo: $(VENV)/.core
	$(BIN)/python scripts/demo.py demo

lint: $(VENV)/.dev
	$(BIN)/ruff check src tests bench scripts
	$(BIN)/ruff format --check src tests bench scripts

typecheck: $(VENV)/.dev
	$(BIN)/mypy

# The web UI tests drive Debian's Chromium; install it when it is missing.
browser:
	@command -v chromium >/dev/null 2>&1 || { \
		echo "installing Debian's chromium for the browser tests"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; }

unit: $(VENV)/.dev browser $(DATUMARO)/.done
	$(BIN)/pytest -n 2 -q

test: lint typecheck unit

clean:
	rm -rf $(VENV) $(DATUMARO) demo .pytest_cache .mypy_cache .ruff_cache
