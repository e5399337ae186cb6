# newsrag — `make run` (set up + chat UI over seeds/) and `make test` (set up + whole test suite).
SHELL := /bin/bash
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(VENV)/bin/pip
NEWSRAG := $(VENV)/bin/newsrag
MODEL ?= qwen2.5-coder-1.5b
# the 0.5B stays installed for the tests that exercise a second registered model
SMALL_MODEL ?= qwen2.5-coder-0.5b
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

$(VENV)/.installed: pyproject.toml constraints.txt
	@test -x $(PY) || python3 -m venv $(VENV)
	$(PIP) install -q -U pip wheel
	# torch first, pinned: pip takes the local CPU wheel; an unpinned torch pulls a multi-GB CUDA build
	$(PIP) install -q "torch==2.13.0"
	# constraints.txt: the versions the eval figures were measured with (a fresh resolve moves them)
	$(PIP) install -q -e ".[test]" -c constraints.txt
	@touch $@

setup: $(VENV)/.installed

models: setup
	$(PY) -m rag.models install $(MODEL)

test-models: setup
	$(PY) -m rag.models install $(TEST_MODEL)
	$(PY) -m rag.models install $(SMALL_MODEL)
	$(PY) -m rag.models install $(MODEL)

# Debian packages the tests need (root, or sudo when available): the browser tests' chromium, and nginx as
# the TLS + token proxy in front of `chroma run` (server mode on another machine, tests/index/test_server_tls.py).
system-deps:
	@if [ ! -x /usr/bin/chromium ] || [ ! -x /usr/bin/chromedriver ] || [ ! -x /usr/sbin/nginx ]; then \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && $$SUDO apt-get install -y -qq chromium chromium-driver nginx-light >/dev/null; \
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

# The CI gate, on the test splits (eval/splits.json): the whole news test split with the extractive
# backend and the default local model, the SQuAD 2.0 test split in full (extractive) and 120 of its
# questions with the local model. Reports go to var/ (git-ignored): `make test` rewrites no tracked file.
GATE_DIR := var/reports
eval-gate: setup
	mkdir -p $(GATE_DIR)
	$(NEWSRAG) eval --dataset news --split test --backend extractive --gate eval/thresholds.toml --json $(GATE_DIR)/ci-news-extractive.json
	$(NEWSRAG) eval --dataset news --split test --backend local --gate eval/thresholds.toml --json $(GATE_DIR)/ci-news-local.json
	$(NEWSRAG) eval --dataset squad2 --split test --backend extractive --gate eval/thresholds.toml --json $(GATE_DIR)/ci-squad2-extractive.json
	$(NEWSRAG) eval --dataset squad2 --split test --limit 120 --seed 0 --backend local --gate eval/thresholds.toml --json $(GATE_DIR)/ci-squad2-local.json

# The committed reports (eval/reports/), each stamped with the commit it ran on; only this target writes them.
eval: setup
	$(NEWSRAG) eval --dataset news --split test --backend extractive --report eval/reports/news-test-extractive
	$(NEWSRAG) eval --dataset news --split test --backend local --report eval/reports/news-test-local
	$(NEWSRAG) eval --dataset squad2 --split test --backend extractive --report eval/reports/squad2-test-extractive
	$(NEWSRAG) eval --dataset squad2 --split test --limit 120 --seed 0 --backend local --report eval/reports/squad2-test-local

bench: setup
	$(PY) -m bench ingest --articles 200
	$(PY) -m bench retrieve --chunks 1000,10000

clean:
	rm -rf index/chroma index/bm25 index/articles index/manifest.json .pytest_cache
