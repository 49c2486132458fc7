# The two commands of the README: `make demo` and `make test`. Both create
# .venv on first use, so a fresh machine needs only python3.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-test

.PHONY: demo test lint typecheck pytest docs clean conformance conformance-full bench bench-quick

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

# setup.py compiles the modules that src/hurtle/_pure.py lists (COMPILABLE) with
# mypyc into the source tree (an editable install): when one changes, installing
# again rebuilds it, or the stale build would run.
COMPILED := setup.py src/hurtle/_pure.py $(patsubst %,src/%.py,$(subst .,/,\
	$(shell sed -n 's/^ *"\(hurtle\.[a-z0-9_.]*\)",$$/\1/p' src/hurtle/_pure.py)))

$(VENV)/.installed-runtime: $(BIN)/python pyproject.toml $(COMPILED)
	$(BIN)/python -m pip install --quiet -e .
	touch $@

$(STAMP): $(BIN)/python pyproject.toml $(COMPILED)
	$(BIN)/python -m pip install --quiet -e '.[test,frameworks]'
	touch $(VENV)/.installed-runtime $@

demo: $(VENV)/.installed-runtime
	$(BIN)/hurtle --host 127.0.0.1 --port 8000

test: $(STAMP) lint typecheck pytest

lint: $(STAMP)
	$(BIN)/ruff check src tests setup.py
	$(BIN)/ruff format --check src tests setup.py

typecheck: $(STAMP)
	$(BIN)/mypy

# The whole suite twice: with the compiled modules (when the build made them),
# then on the pure-Python path that every installation can fall back to.
pytest: $(STAMP)
	$(BIN)/python -m pytest -q $(PYTEST_ARGS)
	HURTLE_PURE_PYTHON=1 $(BIN)/python -m pytest -q $(PYTEST_ARGS)

# WebSocket conformance: the Autobahn|Testsuite in ../shared/autobahn.
conformance: $(VENV)/.installed-runtime
	bash scripts/conformance.sh

conformance-full: $(VENV)/.installed-runtime
	bash scripts/conformance.sh --full

# Benchmarks against uvicorn, granian and hypercorn (benchmarks/harness.py). They make
# their own venv per Python version, benchmarks/.venv-peers-3.X, and every server runs
# under BENCH_PYTHON. `make bench` (~40 min) rewrites docs/benchmarks.md and
# docs/benchmarks.png; `make bench-quick` (~1 min) only prints. Pass options with
# BENCH_ARGS, e.g. BENCH_ARGS='--hurtle-src /tmp/bench-head/src'.
BENCH_PYTHON ?= $(PYTHON)
bench:
	$(BENCH_PYTHON) benchmarks/harness.py $(BENCH_ARGS)

bench-quick:
	$(BENCH_PYTHON) benchmarks/harness.py --quick $(BENCH_ARGS)

docs: $(VENV)/.installed-runtime
	$(BIN)/python -m hurtle.docgen > docs/configuration.md

clean:
	rm -rf $(VENV) build src/*.egg-info .pytest_cache .mypy_cache .ruff_cache
