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
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/python -m pytest -q

# The whole pipeline on the built-in digits: shared weights, search, export, pictures. Stages
# already in runs/demo are continued, not repeated.
DEMO_RUN ?= runs/demo

demo: install
	$(BIN)/awsaug pretrain --run-dir $(DEMO_RUN) --resume
	$(BIN)/awsaug search --run-dir $(DEMO_RUN) --resume
	$(BIN)/awsaug export-policy $(DEMO_RUN)/policy.json --run-dir $(DEMO_RUN)
	$(BIN)/awsaug preview $(DEMO_RUN)/policy.json --out $(DEMO_RUN)/preview.png
	$(BIN)/awsaug report --run-dir $(DEMO_RUN) --out $(DEMO_RUN)/report.png
	@echo "policy: $(DEMO_RUN)/policy.json   pictures: $(DEMO_RUN)/preview.png $(DEMO_RUN)/report.png"
	@echo "next: $(BIN)/awsaug train --policy $(DEMO_RUN)/policy.json   (and --policy none for the baseline)"

bench: install
	$(BIN)/python benchmarks/augment.py

clean:
	rm -rf $(VENV) .pytest_cache
