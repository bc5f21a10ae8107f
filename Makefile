# Everything a fresh clone needs, from nothing but Python 3.11+ (and a C compiler for the
# offline LLM's bindings). `make demo` and `make test` are the README's first two commands.

PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
EXTRAS ?= dev,runner,local,local-llm,cloud

.PHONY: setup demo test bench schemas clean

setup: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml setup.py
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[$(EXTRAS)]'
	touch $@

demo: setup
	HF_HUB_OFFLINE=1 $(VENV)/bin/cb demo

test: setup
	HF_HUB_OFFLINE=1 $(PY) -m pytest

bench: setup
	HF_HUB_OFFLINE=1 $(PY) bench/run.py

schemas: setup
	$(VENV)/bin/cb schema

clean:
	rm -rf $(VENV) .cb build *.egg-info .pytest_cache
