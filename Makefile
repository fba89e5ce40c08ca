# The two commands a newcomer runs: `make demo` and `make test`.
# Each creates (or reuses) its own virtual environment in .venv.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: demo test lint bench clean

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e ".[dev]"
	touch $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/triops demo

test: $(STAMP)
	$(PY) -m ruff check .
	$(PY) -m pytest -q

bench: $(STAMP)
	$(PY) bench/dora.py --deployments 100000 --repeats 3
	$(PY) bench/drift.py
	$(PY) bench/alertstorm.py
	$(PY) bench/loghub.py
	$(PY) bench/runbooks_eval.py
	$(PY) bench/runbooks_latency.py
	$(PY) bench/agent.py

clean:
	rm -rf $(VENV) .triops
