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

# The format tests that import into and export from a workspace (the others never open one;
# the Label Studio server and Datumaro peer runs cost many times more and read no other SQL).
PG_FORMATS := coco_encoded coco_fidelity column_path drops geo_roundtrip geojson import_media items_workspace \
	labelstudio marking_raise more_workspace scene stable_ids streaming yolo_ids
# More suites that write and read a workspace's metadata: the CLI's ingest, datasets, versions,
# accounts, audit keys, messages and geo imports, feed sources, export reports, LLM-eval
# registry and promotion, red-team canaries, exports by folder and with hostile or
# non-portable names, text prelabels and situation reports (87 tests: about 60 s at -n 2 run
# alone, 100 s of test time). The rest of tests/ reads no database, or tests SQLite or both
# backends itself (tests/store, tests/test_workspace_binding.py), or costs many times more
# for the same queries (model training and serving, LLM and red-team runs, fusion, compute).
PG_MORE := tests/cli/test_cli_ingest.py tests/cli/test_cli_audit_keys.py tests/cli/test_cli_dataset.py \
	tests/cli/test_cli_versions.py tests/cli/test_cli_accounts.py tests/cli/test_cli_messages.py \
	tests/cli/test_cli_geo_import.py tests/feeds/test_feed_cli.py tests/formats/test_fmt_export_report.py \
	tests/evaluation/llm/test_llm_eval_registry.py tests/evaluation/llm/test_llm_promote.py \
	tests/evaluation/redteam/test_redteam_canary.py tests/formats/test_fmt_export_folder.py \
	tests/formats/test_fmt_hostile.py tests/formats/test_fmt_portable_names.py \
	tests/models/test_prelabel_text.py tests/fusion/test_sitrep.py tests/cli/test_cli_verify_blobs.py
# The service suites that touch the database, again on PostgreSQL. The browser pages and the
# schemathesis fuzz drive the same routes and queries as the API tests, at many times the cost;
# the ingest reach tests (links, FIFOs, decompression bombs; 100 s) test the file system.
PG_SUITES := tests/versioning tests/labeling tests/server tests/store/test_gc.py \
	tests/store/test_backup.py tests/quality/test_cli.py tests/quality/test_project_wiring.py \
	tests/evaluation/runs tests/models/test_models_registry.py tests/models/test_model_stages.py \
	tests/fusion/test_pictures.py tests/explore \
	$(patsubst %,tests/formats/test_fmt_%.py,$(PG_FORMATS)) tests/formats/test_llm_exports.py \
	tests/formats/test_llm_rated_pairs.py tests/ingest tests/audit tests/test_workspace_attach.py \
	tests/test_workspace.py tests/cli/test_cli_formats.py tests/cli/test_cli_audit.py \
	tests/cli/test_cli_end_to_end.py $(PG_MORE) \
	--ignore=tests/server/browser --ignore=tests/server/test_api_schemathesis.py \
	--ignore=tests/ingest/test_ingest_reach.py

# --dist loadgroup keeps the tests of one server (xdist_group) in one worker: one start each.
unit: $(VENV)/.dev $(VENV)/.active $(VENV)/.train $(VENV)/.fusion browser natsserver labelstudio \
		$(DATUMARO)/.done
	$(BIN)/pytest -n 2 --dist loadgroup -q --durations=150 --durations-min=2
	@echo "the service suites again, on PostgreSQL at 127.0.0.1:5432 (database test, a schema per test)"
	$(BIN)/pytest -n 2 --dist loadgroup -q --durations=100 --durations-min=2 --db postgresql $(PG_SUITES)

test: lint typecheck unit

clean:
	rm -rf $(VENV) $(LS_VENV) $(DATUMARO) demo .pytest_cache .mypy_cache .ruff_cache
