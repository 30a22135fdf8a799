# Talent Quotient: `make run` starts everything, `make test` checks everything.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
FERRETDB := .tools/bin/ferretdb
MAILPIT := .tools/bin/mailpit

.PHONY: setup run test test-fast test-ferretdb lint format services-tools clean fuzz bench bench-jobs bench-runner bench-spec bench-beat bench-collab bench-code bench-compare bench-profile bench-cost bench-judge verify-packages

setup: $(VENV)/.installed services-tools tests/node_modules/.installed

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[dev]'
	touch $@

# The real JavaScript clients the tests speak to the server with (pinned in tests/).
tests/node_modules/.installed: tests/package.json tests/package-lock.json
	cd tests && npm ci --no-audit --no-fund --loglevel=error
	touch $@

services-tools: $(FERRETDB) $(MAILPIT)
	@scripts/ensure-redis.sh
	@scripts/ensure-runner.sh
	@scripts/ensure-chromium.sh
	@scripts/ensure-xmlsec.sh

$(FERRETDB): scripts/build-ferretdb.sh $(wildcard scripts/ferretdb-patches/*.patch)
	scripts/build-ferretdb.sh

$(MAILPIT): scripts/build-mailpit.sh
	scripts/build-mailpit.sh

run: setup
	scripts/run-dev.sh

# What pre-commit runs too (.pre-commit-config.yaml): lint, format, types, and the import
# contracts in pyproject.toml (no cycles; domains import only downwards); then the served
# OpenAPI spec through openapi-spec-validator.
CODE := tq workers config tests bench server.py
lint: setup
	$(BIN)/ruff check $(CODE)
	$(BIN)/ruff format --check $(CODE)
	$(BIN)/mypy $(CODE)
	$(BIN)/lint-imports
	@mkdir -p var
	$(BIN)/python scripts/openapi_spec.py var/openapi.json >/dev/null
	$(BIN)/openapi-spec-validator var/openapi.json

format: setup
	$(BIN)/ruff check --fix $(CODE)
	$(BIN)/ruff format $(CODE)

# Tests start their own SecantusDB and Redis on dedicated ports with a throw-away database,
# so they can run while `make run` is up. Then a smoke subset runs on the fallback engine,
# FerretDB v1 (with the write locks it needs), so neither engine rots.
# What the database engine plays no part in (back-pressure on a socket, killed processes,
# metrics across processes, Redis down, a CPU-bound replay, request limits): the main run
# covers it, so the FerretDB pass saves its minute and a half.
FERRETDB_SKIP := \
	tests/collab/test_collab.py::test_a_client_that_stops_reading_is_cut_off_and_holds_up_nobody \
	tests/collab/test_collab_processes.py::test_a_killed_web_process_loses_nothing_accepted \
	tests/health/test_metrics.py::test_multi_process_mode_adds_up_web_workers_and_jobs \
	tests/core/test_faults.py::test_redis_stopped_then_back \
	tests/core/test_faults.py::test_hostile_requests_get_4xx_and_memory_stays_flat \
	tests/collab/test_history_index.py::test_a_long_real_editing_trace_replays_byte_for_byte
FERRETDB_SMOKE := tests/sessions/test_sessions.py tests/chat/test_chat.py tests/health \
	tests/invitations tests/evaluation \
	tests/core/test_faults.py tests/collab tests/orgs/test_orgs.py tests/orgs/test_candidate_erasure.py \
	tests/scorecard_templates \
	tests/scim/test_scim.py::test_deactivation_removes_membership_and_fails_tokens \
	tests/scim/test_scim.py::test_groups_map_to_roles_and_new_people_get_accounts \
	$(addprefix --deselect ,$(FERRETDB_SKIP))
test: setup lint
	$(BIN)/python -m pytest $(PYTEST_ARGS)
	$(MAKE) --no-print-directory test-ferretdb

test-ferretdb: setup
	DB_ENGINE=ferretdb $(BIN)/python -m pytest -q $(FERRETDB_SMOKE)

# Pure functions only, no services: seconds.
test-fast: $(VENV)/.installed
	$(BIN)/python -m pytest tests/unit -q

clean:
	rm -rf var/test .pytest_cache .mypy_cache .ruff_cache

# A longer schemathesis pass than the one in `make test`.
fuzz: setup
	FUZZ_EXAMPLES=$${FUZZ_EXAMPLES:-100} $(BIN)/python -m pytest tests/core/test_fuzz.py -q

# Seeds a data set, drives the real server and a baseline over loopback on the default engine
# (about 17 minutes; DB_ENGINE=ferretdb for the fallback, about 35), and writes
# bench/results/<date>-<engine>.json and .md. Not part of `make test`.
bench: setup
	$(BIN)/python -m bench.api
	$(BIN)/python -m bench.runner
	$(BIN)/python -m bench.judge
	$(BIN)/python -m bench.collab
	$(BIN)/python -m bench.code_history

# The code runner alone (a few minutes): Piston execute latency and throughput, the runner's
# CPU at saturation with the web's health p99 beside it, and the sandbox's own overhead.
bench-runner: setup
	$(BIN)/python -m bench.runner

# Judging at scale (about a minute): a problem with 50 hidden tests judged by the runner's own
# code in Python, C and Java, with and without a checker, beside the same programs run bare.
bench-judge: setup
	$(BIN)/python -m bench.judge

# problemtools' verifier on the test suite's Kattis packages and on our export of each (about a
# minute; not in `make test`, which is at its time budget). Installs problemtools in its own
# virtualenv and Debian's pypy3 (problemtools runs Python with it).
verify-packages: setup
	scripts/ensure-problemtools.sh
	PYTHONPATH=. $(BIN)/python scripts/verify_packages.py

# The shared editor (about 5 minutes): N = 10, 50, 100, 200 sessions of two editors typing,
# beside the reference @y/websocket-server driven by the same npm y-websocket load generator.
bench-collab: setup
	$(BIN)/python -m bench.collab

# The code history (a few minutes): the code at a moment, the timeline, diffs and signals of
# the busiest hour of a real editing trace and of the whole trace, beside npm yjs rebuilding
# the same log; the log's size; the integrity signals' recall and false positives.
bench-code: setup
	$(BIN)/python -m bench.code_history

# Before and after in one run (a few minutes): the API bench's routes served by an earlier
# commit (BASE=<rev>, default: before issue 23's refactoring) and by the working tree, taking
# turns on one database; req/s and the web process's CPU per request, side by side.
bench-compare: setup
	$(BIN)/python -m bench.compare $(BASE)

# Where the web process's CPU goes on each read route (a few minutes): py-spy samples sorted by
# part of the code (JSON, response models, documents into models, auth, driver, Sanic, ...).
bench-profile: setup
	$(BIN)/python -m bench.profile

# Issue 24 (about 15 minutes): CPU per request of each read route beside the bare baseline, a
# lean Node server and the code before issue 24 (BASE), and req/s on a small data set.
bench-cost: setup bench/node/node_modules/.installed
	$(BIN)/python -m bench.cost $(BASE)

# The lean Node reference of bench-cost (pinned in bench/node/).
bench/node/node_modules/.installed: bench/node/package.json bench/node/package-lock.json
	cd bench/node && npm ci --no-audit --no-fund --loglevel=error
	touch $@

# GET /docs/openapi.json throughput (the spec is built once at start-up).
bench-spec: setup
	$(BIN)/python -m bench.spec

# The bulk jobs at the jobs issue's scale: expire_sessions over 100,000 sessions, and
# archive_chat_history on 10,000- and 100,000-message sessions (time and peak memory).
bench-jobs: setup
	$(BIN)/python -m bench.jobs

# A beat job bounded by time: announce_records with 100,000 completed sessions waiting
# (BENCH_SESSIONS), three runs of JOB_TIME_BUDGET_S each (BENCH_BUDGET_S, BENCH_RUNS).
bench-beat: setup
	$(BIN)/python -m bench.beat
