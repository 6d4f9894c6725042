# Two entry points a fresh machine needs: `make recipe` (the main job) and `make test`.
# Both create .venv on first use from pyproject.toml, pinned by constraints.txt.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install test recipe bench clean

install: $(STAMP)

# torch goes first and pinned, so that no later requirement can pull a multi-GB CUDA build.
$(STAMP): pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q -c constraints.txt "torch==2.13.0"
	$(BIN)/pip install -q -c constraints.txt -e ".[test]"
	touch $(STAMP)

test: $(STAMP)
	$(BIN)/python -m pytest -q -p no:cacheprovider

recipe: $(STAMP)
	$(BIN)/nmt prepare --config recipes/multi30k/de-en.yaml

clean:
	rm -rf $(VENV) .cache runs
