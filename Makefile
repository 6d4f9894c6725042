# Two entry points a fresh machine needs: `make recipe` (the main job) and `make test`.
# Both create .venv on first use from pyproject.toml, pinned by constraints.txt.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install test test-fast recipe clean

install: $(STAMP)

# torch goes first and pinned, so that no later requirement can pull a multi-GB CUDA build.
$(STAMP): pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q -c constraints.txt "torch==2.13.0"
	$(BIN)/pip install -q -c constraints.txt -e ".[test]"
	touch $(STAMP)

test: $(STAMP)
	$(BIN)/python -m pytest -q -p no:cacheprovider

# Everything but the tests marked slow (end-to-end runs in subprocesses, multi-process training).
test-fast: $(STAMP)
	$(BIN)/python -m pytest -q -p no:cacheprovider -m "not slow"

# The Multi30k de-en CPU recipe with Luong attention: data, tokenizer, about 25 minutes of training
# (progress and validation samples as it goes), then test2016 translated greedy and with beam 5,
# sample translations and BLEU/chrF; runs/multi30k-de-en-luong-cpu/results.json records it all.
# More options: make recipe RECIPE_ARGS="--model baseline train.max_minutes=10"
RECIPE_ARGS ?=
recipe: $(STAMP)
	$(BIN)/python recipes/multi30k/run.py --pair de-en --model luong --profile cpu $(RECIPE_ARGS)

clean:
	rm -rf $(VENV) .cache runs
