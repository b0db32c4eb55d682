# Every target uses the virtualenv in .venv, created and filled on first use.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
PYTEST_ARGS ?=
# `make demo PORT=8080` serves the demo elsewhere; 8000 by default.
PORT ?= 8000

.PHONY: test-load cluster cluster-stop test-cluster bench-cluster install demo test fuzz lint migrations-check schema schema-check bench-policy bench-evidence bench-merkle bench-decisions bench-workers bench-flamegraph bench-agents bench-aispm bench-outbox bench-replay backup-drill evidence-vectors clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

demo: install
	mkdir -p var
	scripts/system-libs.sh --optional
	CAVRA_DEMO=1 $(BIN)/python manage.py migrate --noinput
	CAVRA_DEMO=1 $(BIN)/python manage.py cavra_demo
	@echo "CAVRA Portal demo on http://127.0.0.1:$(PORT) — sign in as e.g. tenant_admin@acme.test, password: cavra-demo"
	CAVRA_DEMO=1 $(BIN)/python manage.py runserver 127.0.0.1:$(PORT)

test: install
	scripts/test-env.sh $(BIN)/pytest -n 2 $(PYTEST_ARGS)

# The schemathesis run of tests/security/test_schemathesis.py with a much larger bound than `make test`'s
# (CAVRA_FUZZ_EXAMPLES cases per operation and generation mode; `make test` uses 3).
CAVRA_FUZZ_EXAMPLES ?= 200
fuzz: install
	CAVRA_FUZZ_EXAMPLES=$(CAVRA_FUZZ_EXAMPLES) scripts/test-env.sh $(BIN)/pytest -n 2 -p no:randomly tests/security/test_schemathesis.py $(PYTEST_ARGS)

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports --no-cache

migrations-check: install
	CAVRA_DEMO=1 $(BIN)/python manage.py makemigrations --check --dry-run

# The schema is generated under the demo (SQLite) settings, whatever DATABASE_URL says, so integer bounds do
# not depend on the database the machine happens to point at.
schema: install
	env -u DATABASE_URL CAVRA_DEMO=1 $(BIN)/python manage.py spectacular --file docs/openapi.yaml --validate

schema-check: install
	env -u DATABASE_URL CAVRA_DEMO=1 $(BIN)/python manage.py spectacular --file var/openapi.check.yaml --validate
	diff -u docs/openapi.yaml var/openapi.check.yaml

# The load and fault test (not in `make test`: minutes): a soak of LOAD_DECISIONS decisions at LOAD_CONCURRENCY
# against gunicorn + a real cavra_sequencer, then kill -9 of a web worker and of the sequencer mid-load, then
# PostgreSQL restarted mid-load. The issue's full soak: make test-load LOAD_DECISIONS=200000. PostgreSQL is the
# test's own server (initdb into bench/.cache/pg-$(LOAD_PG_PORT)/, 127.0.0.1:$(LOAD_PG_PORT), stopped after).
LOAD_DECISIONS ?= 5000
LOAD_FAULT_DECISIONS ?= 3000
LOAD_RESTART_DECISIONS ?= 3000
LOAD_CONCURRENCY ?= 8
LOAD_PG_PORT ?= 18310
test-load: install
	$(BIN)/python bench/load_decisions.py --decisions $(LOAD_DECISIONS) --fault-decisions $(LOAD_FAULT_DECISIONS) \
		--restart-decisions $(LOAD_RESTART_DECISIONS) --concurrency $(LOAD_CONCURRENCY) --pg-port $(LOAD_PG_PORT)

bench-policy: install
	$(BIN)/python bench/bench_policy_engine.py

bench-evidence: install
	$(BIN)/python bench/bench_evidence.py --write-doc

bench-merkle: install
	$(BIN)/python bench/bench_merkle.py

# The backup/restore drill (docs/operations.md): back up, restore into a fresh database, verify, continue.
backup-drill: install
	scripts/test-env.sh $(BIN)/pytest -p no:randomly tests/evidence/test_backup_drill.py -v

evidence-vectors: install
	$(BIN)/python -m cavra_engine.evidence.vectors docs/evidence-vectors

bench-decisions: install
	$(BIN)/python bench/bench_decisions.py

# Server/worker models compared on the decision endpoint (gunicorn sync / gthread, granian, uvicorn).
bench-workers: install
	$(BIN)/python bench/bench_workers.py

# py-spy flame graph of the decision endpoint's workers under concurrency 8 (docs/flamegraph-decisions.svg).
bench-flamegraph: install
	$(BIN)/python bench/bench_workers.py --flamegraph docs/flamegraph-decisions.svg

bench-agents: install
	$(BIN)/python bench/bench_agents.py

bench-replay: install
	$(BIN)/python bench/bench_replay.py --write-doc

bench-aispm: install
	$(BIN)/python bench/bench_aispm.py --write-doc

bench-outbox: install
	$(BIN)/python bench/bench_outbox.py --write-doc
# The multi-node topology on this machine (docs/deployment.md): HAProxy on 127.0.0.1:$(CLUSTER_PORT),
# 2 web instances, 2 Celery workers + beat on RabbitMQ, the sequencer, PgBouncer, a PostgreSQL primary and
# its streaming replica (own clusters under var/cluster/, never the machine's server on 5432).
CLUSTER_PORT ?= 8080
export CLUSTER_PORT
cluster: install
	scripts/cluster/up.sh

cluster-stop:
	scripts/cluster/down.sh

# Failover drills under decision load (start and stop their own cluster; not part of `make test`).
test-cluster: install
	scripts/cluster/drills.sh

bench-cluster: install
	scripts/cluster/bench.sh --write-doc

clean:
	rm -rf $(VENV) var .pytest_cache
