# Two commands on a fresh machine: `make demo` and `make test`. Everything else is set up on demand.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-$(shell cat pyproject.toml | cksum | cut -d' ' -f1)

.PHONY: demo demo-web test check lint format deps venv es-up es-down clean-demo help

help:
	@echo "make demo   - simulate a day of municipal logs, detect, escalate, write reports to out/"
	@echo "make demo-web - serve the web console on the demo's data (http://127.0.0.1:8080/)"
	@echo "make test   - run the whole test suite against a real local Elasticsearch"
	@echo "make lint   - ruff, ruff format --check, mypy and the import-layer contracts (lint-imports)"
	@echo "make check  - lint and tests (what CI runs)"

$(STAMP): pyproject.toml
	@scripts/install-system-deps.sh
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[dev]'
	@rm -f $(VENV)/.installed-* && touch $@

venv: $(STAMP)

deps:
	@scripts/install-system-deps.sh

# Start the local node unless the tests are pointed at another one (SOC_TEST_ES_URL).
es-up: venv
	@if [ -z "$${SOC_TEST_ES_URL:-}" ]; then $(BIN)/soc es up; fi

es-down: venv
	$(BIN)/soc es down

# the demo's console account (a demo on 127.0.0.1 only: never use this password elsewhere)
DEMO_PREFIX   ?= soc-demo
DEMO_USER     ?= demo
DEMO_PASSWORD ?= soc-demo-console
DEMO_PORT     ?= 8080

demo: venv
	$(BIN)/soc demo --out out --prefix $(DEMO_PREFIX)
	@printf '%s\n' '$(DEMO_PASSWORD)' | SOC_INDEX_PREFIX=$(DEMO_PREFIX) $(BIN)/soc users add $(DEMO_USER) \
	  --role admin --lang ja --password-stdin --exist-ok
	@echo "web console: run 'make demo-web', then open http://127.0.0.1:$(DEMO_PORT)/ and sign in as $(DEMO_USER) / $(DEMO_PASSWORD)"

demo-web: venv
	SOC_INDEX_PREFIX=$(DEMO_PREFIX) $(BIN)/soc web --host 127.0.0.1 --port $(DEMO_PORT)

test: venv es-up
	$(BIN)/pytest

lint: venv
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy soc
	$(BIN)/lint-imports

format: venv
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

check: lint test

clean-demo: venv
	rm -rf out
