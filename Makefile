# Two commands set up everything on a fresh machine:
#   make play   virtualenv + requirements, database upgrade, default stimuli, game on :8000
#   make test   the whole test suite (what .ci/run runs)
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
HOST ?= 127.0.0.1
PORT ?= 8000
# One process with threads: every request thread shares one classifier and the hot path's tick
# (webapp/services/pipeline.py). Each open game socket holds a thread, so there are enough for a
# few hundred players; gunicorn.conf.py keeps some of them for plain requests.
GUNICORN_OPTS ?= --worker-class gthread --workers 1 --threads 320 --timeout 60

.PHONY: play test setup venv benchmark

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

test: venv
	$(BIN)/python -m pytest

benchmark: venv
	$(BIN)/python -m benchmarks
