# newsrag — `make run` (set up + chat UI over seeds/) and `make test` (set up + whole test suite).
SHELL := /bin/bash
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(VENV)/bin/pip
NEWSRAG := $(VENV)/bin/newsrag
MODEL ?= qwen2.5-0.5b
TEST_MODEL ?= smollm2-135m
PYTEST_ARGS ?=

# Offline by design: no model hub, no analytics; caches stay in the project or the user cache.
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1
export GRADIO_ANALYTICS_ENABLED := False
export ANONYMIZED_TELEMETRY := False
export HF_HOME := $(CURDIR)/.cache/huggingface
export LLAMA_INDEX_CACHE_DIR := $(CURDIR)/.cache/llama_index
# (no dot-directory in this path: Gradio refuses to serve files from under one)
export GRADIO_TEMP_DIR := $(CURDIR)/var/gradio
export PIP_DISABLE_PIP_VERSION_CHECK := 1

.PHONY: setup models test-models system-deps ingest run serve test test-fast lint eval eval-gate bench clean

$(VENV)/.installed: pyproject.toml
	@test -x $(PY) || python3 -m venv $(VENV)
	$(PIP) install -q -U pip wheel
	# torch first, pinned: pip takes the local CPU wheel; an unpinned torch pulls a multi-GB CUDA build
	$(PIP) install -q "torch==2.13.0"
	$(PIP) install -q -e ".[test]"
	@touch $@

setup: $(VENV)/.installed

models: setup
	$(PY) -m rag.models install $(MODEL)

test-models: setup
	$(PY) -m rag.models install $(TEST_MODEL)
	$(PY) -m rag.models install $(MODEL)

# Debian packages the browser tests need (root, or sudo when available).
system-deps:
	@if [ ! -x /usr/bin/chromium ] || [ ! -x /usr/bin/chromedriver ]; then \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && $$SUDO apt-get install -y -qq chromium chromium-driver >/dev/null; \
	fi

ingest: setup
	$(NEWSRAG) ingest seeds/

run: models ingest
	$(NEWSRAG) serve

serve: setup
	$(NEWSRAG) serve

lint: setup
	$(VENV)/bin/ruff check rag bench tests app.py

# The whole suite: unit, integration, LLM and browser tests, then the eval gate.
test: setup test-models system-deps
	$(VENV)/bin/ruff check rag bench tests app.py
	$(PY) -m pytest $(PYTEST_ARGS); rc=$$?; \
	  if [ $$rc -eq 5 ]; then echo "pytest collected no tests: failing"; exit 1; fi; exit $$rc
	$(MAKE) eval-gate

# The unit tier only (no embedding model, Chroma, LLM or browser; tests/conftest.py): under a minute.
test-fast: setup
	$(PY) -m pytest -m unit -q $(PYTEST_ARGS); rc=$$?; \
	  if [ $$rc -eq 5 ]; then echo "pytest collected no tests: failing"; exit 1; fi; exit $$rc

eval-gate: setup
	$(NEWSRAG) eval --dataset news --backend extractive --gate eval/thresholds.toml --json eval/reports/ci-extractive.json
	$(NEWSRAG) eval --dataset news --backend local --limit 36 --seed 1 --gate eval/thresholds.toml --json eval/reports/ci-local.json

eval: setup
	$(NEWSRAG) eval --dataset news --backend extractive --report eval/reports/extractive
	$(NEWSRAG) eval --dataset news --backend local --report eval/reports/local

bench: setup
	$(PY) -m bench ingest --articles 200
	$(PY) -m bench retrieve --chunks 1000,10000

clean:
	rm -rf index/chroma index/bm25 index/articles index/manifest.json .pytest_cache
