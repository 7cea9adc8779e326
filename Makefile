# Two commands do all set-up: `make run` (the whole thing on embedded defaults) and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
export PATH := $(CURDIR)/$(BIN):$(PATH)

.PHONY: install run test test-fast deploy-test lint bench bench-search messages

install: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $@

# Web + admin on :8000, Celery worker and beat, and a mail catcher (SMTP :1025, web UI :1080).
# Staff mail (missed digests, paused sends) goes to the mail catcher unless ADMINS is set.
run: export ADMINS ?= Digest staff <staff@localhost>
run: install
	DEBUG=True $(BIN)/python manage.py migrate --noinput
	DEBUG=True $(BIN)/python manage.py createcachetable
	DEBUG=True $(BIN)/python manage.py setup_demo
	DEBUG=True $(BIN)/honcho --procfile Procfile.dev start

# The whole suite: unit and browser tests on SQLite, then unit and integration tests on
# PostgreSQL with a Redis broker (skipped with a notice when those services are not running).
test: install
	bash scripts/test.sh

test-fast: install
	$(BIN)/pytest -m "not integration and not browser and not deploy_stack" -q

# The production topology for real (tests/deploy/stack): starts a Docker engine if none answers,
# builds the image (on a debootstrap base where python:3.11-slim cannot be pulled), runs
# docker-compose.yml on the host network on test ports, sends digests through the containers,
# then `docker-compose down -v`. Needs root or a running engine: apt-get install docker.io
# docker-compose debootstrap.
deploy-test: install
	$(BIN)/pytest -m deploy_stack -p no:cacheprovider tests/deploy/stack

# The delivery benchmark on a throwaway database: SQLite under var/, or BENCH_DATABASE_URL
# (emptied first!); a real broker and `celery worker` when CELERY_BROKER_URL is set.
BENCH_SUBSCRIBERS ?= 20000
BENCH_WORKERS ?= 1
BENCH_DB = $${BENCH_DATABASE_URL:-sqlite:///$(CURDIR)/var/bench.sqlite3}
bench: install
	rm -f var/bench.sqlite3
	DEBUG=True DATABASE_URL=$(BENCH_DB) $(BIN)/python manage.py migrate --noinput -v0
	DEBUG=True DATABASE_URL=$(BENCH_DB) LOG_LEVEL=WARNING \
	  $(BIN)/python manage.py bench_delivery --flush --subscribers $(BENCH_SUBSCRIBERS) --workers $(BENCH_WORKERS)

# The search benchmark: 10,000 published entries and one of 10 MB in a throwaway PostgreSQL
# database (BENCH_SEARCH_DATABASE_URL, created if missing and emptied first!); prints p50/p95.
BENCH_SEARCH_DB ?= postgres://postgres@127.0.0.1:5432/digest_bench_search
bench-search: install
	$(BIN)/python -c "import psycopg, sys; from urllib.parse import urlsplit; u = urlsplit(sys.argv[1]); \
	  c = psycopg.connect(sys.argv[1].replace(u.path, '/postgres'), autocommit=True); \
	  c.execute('SELECT 1 FROM pg_database WHERE datname = %s', [u.path[1:]]).fetchone() or \
	  c.execute('CREATE DATABASE ' + u.path[1:])" "$(BENCH_SEARCH_DB)"
	DEBUG=True DATABASE_URL=$(BENCH_SEARCH_DB) $(BIN)/python manage.py migrate --noinput -v0
	DEBUG=True DATABASE_URL=$(BENCH_SEARCH_DB) LOG_LEVEL=WARNING $(BIN)/python manage.py bench_search --flush

lint: install
	$(BIN)/ruff check . && $(BIN)/ruff format --check .
