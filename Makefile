# Everything a newcomer or CI needs, from nothing: `make run`, `make test`.
SHELL := /bin/bash
.DEFAULT_GOAL := help

VENV   := .venv
PY     := $(VENV)/bin/python
RASA   := $(VENV)/bin/rasa
STAMP  := $(VENV)/.installed
# Rasa 3.6 runs on Python 3.10 only.
PYTHON310 := $(or $(wildcard $(HOME)/.pyenv/versions/3.10.13/bin/python),$(shell command -v python3.10 2>/dev/null))

export PYTHONPATH := $(CURDIR)
export TF_CPP_MIN_LOG_LEVEL := 3
export SQLALCHEMY_SILENCE_UBER_WARNING := 1
export RASA_TELEMETRY_ENABLED := false

.PHONY: help install run run-prod train test lint bench browser-deps nginx-deps clean

help:
	@echo "make run    install, train if needed, start backend + actions + Rasa + web chat"
	@echo "make run-prod  the production profile: 2 Rasa + 2 action servers behind nginx (PostgreSQL, Redis)"
	@echo "make test   lint, types, import rules, then the whole test suite"
	@echo "make train  train a model into models/"
	@echo "make bench  benchmarks, one JSON line per figure"

$(STAMP): requirements.txt requirements.lock pyproject.toml
	@if [ -z "$(PYTHON310)" ]; then \
	  echo "error: Python 3.10 not found (Rasa 3.6 needs it): install it with pyenv (3.10.13) or put python3.10 on PATH" >&2; exit 1; fi
	@test -x $(PY) || $(PYTHON310) -m venv $(VENV)
	@echo "Installing the pinned packages into $(VENV) (a few minutes the first time)..." >&2
	@$(PY) -m pip install -q --upgrade pip==24.2 setuptools==70.3.0 wheel==0.45.1 >&2
	@$(PY) -m pip install -q -r requirements.txt -c requirements.lock >&2
	@$(PY) -m pip install -q --no-deps -e . >&2
	@touch $@

install: $(STAMP)

train: install
	$(PY) -m bot.cli train

run: install
	$(PY) -m bot.cli run

# The production profile on this machine: RASA Rasa servers and ACTIONS action servers behind nginx
# on PORT; needs TRACKER_STORE_URL, LOCK_STORE_URL, ASSISTANT_STORE_URL, DATABASE_URL and the keys
# BACKEND_API_KEYS, BACKEND_OPERATOR_KEYS, RASA_API_TOKEN (see the README).
RASA ?= 2
ACTIONS ?= 2
PORT ?= 8080
run-prod: install nginx-deps
	$(PY) -m tools.production --rasa $(RASA) --actions $(ACTIONS) --port $(PORT)

# Headless Chromium for the web chat's browser test (Debian packages).
browser-deps:
	@dpkg -s chromium chromium-driver fonts-noto-color-emoji >/dev/null 2>&1 || \
	  { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver fonts-noto-color-emoji >/dev/null; }

# Debian's nginx, for the production profile and its tests (run in the foreground, never as a service).
nginx-deps:
	@dpkg -s nginx >/dev/null 2>&1 || \
	  { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nginx >/dev/null; }

# Style and import order (ruff), types (mypy), and who may import whom (import-linter).
LINTED := bot backend actions channels tools bench
lint: install
	$(VENV)/bin/ruff check $(LINTED) tests
	$(VENV)/bin/mypy $(addprefix -p ,$(LINTED))
	$(VENV)/bin/lint-imports

test: install browser-deps nginx-deps lint
	$(PY) -m bot.cli train --if-missing
	$(PY) -m pytest -p no:cacheprovider $(PYTEST_ARGS)

# stdout carries only the JSON lines; everything else goes to stderr.
bench: install
	@$(PY) -m bot.cli train --if-missing >&2
	@$(PY) -m bench

clean:
	rm -rf $(VENV) test-output .bench-cache .mypy_cache .ruff_cache
