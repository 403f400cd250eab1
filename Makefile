# Two commands set up everything on a fresh machine:
#   make play   virtualenv + requirements, database upgrade, default stimuli, game on :8000
#               (for playing on your own machine)
#   make serve  the same behind nginx with production settings on :8080: what faces the
#               internet, behind TLS (docs/hosting.md)
#   make test   the whole test suite (what .ci/run runs)
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
HOST ?= 127.0.0.1
PORT ?= 8000
SERVE_PORT ?= 8080
# Processes with threads: every request thread of a process shares one classifier and the hot
# path's tick (webapp/services/pipeline.py). Each open game socket holds a thread, so there are
# enough for a few hundred players; gunicorn.conf.py keeps some of them for plain requests and
# picks the workers: one, or one per core on PostgreSQL with a shared rate-limit store.
GUNICORN_OPTS ?= --worker-class gthread --threads 320 --timeout 60

.PHONY: play serve test setup venv benchmark

venv: $(STAMP)

# Reinstall only when requirements.txt changed since the last install.
$(STAMP): requirements.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -r requirements.txt
	touch $(STAMP)

setup: venv
	$(BIN)/flask --app wsgi setup

play: setup
	$(BIN)/gunicorn $(GUNICORN_OPTS) --bind $(HOST):$(PORT) wsgi:app

# nginx (installed from Debian's packages when missing and run as root) in front of gunicorn.
serve: setup
	$(BIN)/python scripts/serve.py --host $(HOST) --port $(SERVE_PORT) -- $(GUNICORN_OPTS)

test: venv
	$(BIN)/python -m pytest

benchmark: venv
	$(BIN)/python -m benchmarks
