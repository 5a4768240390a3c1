# Two entry points: `make demo` and `make test`. Both do all set-up on a fresh machine.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin

.PHONY: demo test lint typecheck unit browser natsserver labelstudio bench clean

$(VENV)/.core: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[server,eval,quality,sensors]'
	touch $@

$(VENV)/.dev: pyproject.toml $(VENV)/.core
	$(BIN)/pip install -q -e '.[dev]'
	touch $@

# Active learning's MiniLM embeddings need torch: the CPU build goes in first, so nothing
# that depends on torch pulls another build. torch wants setuptools >= 77.0.3 and the dev
# extra < 81 (imagecorruptions imports pkg_resources): both hold the range.
$(VENV)/.active: pyproject.toml $(VENV)/.dev
	$(BIN)/pip install -q torch==2.13.0 'setuptools>=77.0.3,<81'
	$(BIN)/pip install -q -e '.[active,llm,dev]'
	touch $@

# `assay train llm` (TRL, PEFT, transformers) on the same CPU torch, installed above.
$(VENV)/.train: pyproject.toml $(VENV)/.active
	$(BIN)/pip install -q torch==2.13.0 'setuptools>=77.0.3,<81' -e '.[train,serve,active,dev]'
	touch $@

# Fusion (Stone Soup, motmetrics): after torch, so nothing here can pull another torch build.
$(VENV)/.fusion: pyproject.toml $(VENV)/.active
	$(BIN)/pip install -q -e '.[fusion,active,dev]'
	touch $@

# datumaro (the format library CVAT is built on) reads assay's CVAT and MOT exports in the tests;
# it pins older pandas, Pillow and pyarrow than assay's, so it lives in its own environment.
DATUMARO := .venv-datumaro

$(DATUMARO)/.done:
	$(PYTHON) -m venv $(DATUMARO)
	$(DATUMARO)/bin/pip install -q datumaro==1.13.12
	touch $@

# The demo's fusion and feeds: Stone Soup and motmetrics (neither pulls torch), nats-py, and
# taky (the dev extra's pin), the CoT router the demo feeds.
$(VENV)/.demo: pyproject.toml $(VENV)/.core
	$(BIN)/pip install -q -e '.[fusion,feeds]' 'taky==0.10'
	touch $@

# nats-server is installed when it can be (the demo says so and goes on without it otherwise).
demo: $(VENV)/.demo
	-@$(MAKE) -s natsserver
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

# The feed tests start their own nats-server (Debian's package) with JetStream.
natsserver:
	@command -v nats-server >/dev/null 2>&1 || [ -x /usr/sbin/nats-server ] || { \
		echo "installing Debian's nats-server for the feed tests"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nats-server >/dev/null; }

# A real Label Studio for the interoperability tests (tests/formats/ls_server.py), in its own
# environment since its pins clash with ours. Its database is migrated once here, offline (no
# analytics, Sentry or version check; outbound HTTP goes to a closed local port; `version`
# migrates and exits, creating no user: the tests create theirs), so a test
# session copies it and starts the server in seconds.
LS_VENV := .venv-ls
LS_OFFLINE := COLLECT_ANALYTICS=false LATEST_VERSION_CHECK=false SENTRY_DSN= FRONTEND_SENTRY_DSN= \
	HTTP_PROXY=http://127.0.0.1:9 HTTPS_PROXY=http://127.0.0.1:9 NO_PROXY=127.0.0.1,localhost

$(LS_VENV)/.ready:
	$(PYTHON) -m venv $(LS_VENV)
	$(LS_VENV)/bin/pip install -q --upgrade pip
	$(LS_VENV)/bin/pip install -q label-studio==1.23.2
	rm -rf $(LS_VENV)/template
	env $(LS_OFFLINE) $(LS_VENV)/bin/label-studio version --data-dir $(LS_VENV)/template \
		< /dev/null > $(LS_VENV)/init.log 2>&1 || { tail -20 $(LS_VENV)/init.log; exit 1; }
	touch $@

labelstudio: $(LS_VENV)/.ready

# The PostgreSQL pass runs again, on PostgreSQL, the suites whose SQL is the product's own:
# versioning, labeling, the server's routes, the store, audit, exploration, quality wiring,
# the model and evaluation registries, and one import, export and ingest path of each kind
# (these write items, labels and working rows through the same statements every other import
# does). It leaves to the SQLite pass what differs only in Python above that SQL: the other
# format readers and writers, the Label Studio and Datumaro peer runs, scene and video
# decoding, the CLI's messages, evaluation metrics and gates, feeds and situation reports;
# and the S3 blob stack (the `s3` cases of tests run on both stacks: the blob store is the
# same on either database; tests/conftest.py deselects them under --db postgresql).
PG_FORMATS := coco_fidelity items_workspace stable_ids
PG_MORE := tests/cli/test_cli_ingest.py tests/cli/test_cli_audit_keys.py tests/cli/test_cli_dataset.py \
	tests/cli/test_cli_versions.py tests/cli/test_cli_accounts.py \
	tests/evaluation/llm/test_llm_eval_registry.py tests/evaluation/llm/test_llm_promote.py \
	tests/evaluation/redteam/test_redteam_canary.py tests/models/test_prelabel_text.py
# The browser pages and the schemathesis fuzz drive the same routes and queries as the API
# tests, at many times the cost; the ingest reach tests (links, FIFOs, decompression bombs)
# test the file system.
PG_SUITES := tests/versioning tests/labeling tests/server tests/store/test_gc.py \
	tests/store/test_backup.py tests/quality/test_cli.py tests/quality/test_project_wiring.py \
	tests/evaluation/runs/test_runs_detection.py tests/models/test_models_registry.py \
	tests/models/test_model_stages.py tests/fusion/test_pictures.py tests/explore \
	$(patsubst %,tests/formats/test_fmt_%.py,$(PG_FORMATS)) tests/formats/test_llm_exports.py \
	tests/formats/test_llm_rated_pairs.py tests/ingest/test_ingest_files.py tests/ingest/test_coords.py \
	tests/audit tests/test_workspace_attach.py tests/test_workspace.py tests/cli/test_cli_audit.py \
	tests/cli/test_cli_end_to_end.py $(PG_MORE) \
	--ignore=tests/server/browser --ignore=tests/server/test_api_schemathesis.py

# --dist loadgroup keeps the tests of one server (xdist_group) in one worker: one start each.
unit: $(VENV)/.dev $(VENV)/.active $(VENV)/.train $(VENV)/.fusion browser natsserver labelstudio \
		$(DATUMARO)/.done
	$(BIN)/pytest -n 2 --dist loadgroup -q --durations=150 --durations-min=2
	@echo "the service suites again, on PostgreSQL at 127.0.0.1:5432 (database test, a schema per test)"
	$(BIN)/pytest -n 2 --dist loadgroup -q --durations=100 --durations-min=2 --db postgresql $(PG_SUITES)

test: lint typecheck unit

clean:
	rm -rf $(VENV) $(LS_VENV) $(DATUMARO) demo .pytest_cache .mypy_cache .ruff_cache
