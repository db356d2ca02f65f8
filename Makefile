# One command each: `make demo` and `make test` set up everything they need.
SHELL := /bin/bash
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
CHROMIUM ?= /usr/bin/chromium
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: setup browsers demo test unit-tests lint plugin bench clean

setup: $(STAMP)

$(STAMP): pyproject.toml
	@command -v python3 >/dev/null || { echo "python3 (3.9+) is required"; exit 1; }
	[ -x $(PY) ] || python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[dev]'
	touch $@

# Debian's Chromium, driven by Playwright: Playwright's own browser download is not used.
browsers:
	@if [ ! -x $(CHROMIUM) ]; then \
	  echo "Installing Debian's chromium…"; \
	  $(SUDO) apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq chromium; \
	fi

PORT ?= 8080

demo: setup
	$(VENV)/bin/ml-assisted-labeling demo --port $(PORT)

test: setup browsers
	CHROMIUM=$(CHROMIUM) $(PY) -m pytest -q

unit-tests: setup
	$(PY) -m pytest -q tests/unit tests/web tests/dss

LINTED := $(wildcard python-lib tests benchmarks scripts custom-recipes python-triggers python-steps webapps)

lint: setup
	$(VENV)/bin/ruff check $(LINTED)

plugin: setup
	$(PY) scripts/build_plugin.py

bench: setup
	$(PY) benchmarks/label_latency.py
	$(PY) benchmarks/sampler_speed.py
	$(PY) benchmarks/label_efficiency.py
	$(PY) benchmarks/rerank_latency.py

clean:
	rm -rf dist build .pytest_cache .ruff_cache demo-data
