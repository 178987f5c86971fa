# Set-up, tests, demo and benchmarks. `make test` and `make demo` create .venv on first use.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# torch goes in first, pinned: an unpinned `torch` in a fresh venv resolves to a multi-GB CUDA
# build. On these CPU machines torch==2.13.0 is a local CPU wheel; on a GPU machine pass e.g.
# TORCH_SPEC=torch (or a CUDA index) to get a CUDA build.
TORCH_SPEC ?= torch==2.13.0

.PHONY: install test demo bench clean

$(BIN)/.installed: pyproject.toml Makefile
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet "$(TORCH_SPEC)"
	$(BIN)/python -m pip install --quiet -e ".[test]"
	touch $@

install: $(BIN)/.installed

test: install
	$(BIN)/python -m pytest -q

# Until export and final training land, the demo runs what exists on the built-in digits:
# stage 1 and stage 2 (continued, not repeated, when runs/demo already holds them), then the
# augmentation benchmark.
DEMO_RUN ?= runs/demo

demo: install
	$(BIN)/awsaug pretrain --run-dir $(DEMO_RUN) $$(grep -q '"pretrain"' $(DEMO_RUN)/run.json 2>/dev/null && echo --resume)
	$(BIN)/awsaug search --run-dir $(DEMO_RUN) $$(grep -q '"search"' $(DEMO_RUN)/run.json 2>/dev/null && echo --resume)
	$(BIN)/awsaug bench --case 32x32:256 --rounds 3

bench: install
	$(BIN)/python benchmarks/augment.py

clean:
	rm -rf $(VENV) .pytest_cache
