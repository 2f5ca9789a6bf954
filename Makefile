# Two set-up commands on a fresh machine: `make demo` and `make test`. Each creates .venv itself.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: demo test bench clean docs-results readme-check

$(STAMP): pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -c constraints.txt -e '.[test,zoo,dist,art,lattice]'
	touch $(STAMP)

# `make demo QUICK=1`: the quick demo (smaller sizes, ~2 min)
demo: $(STAMP)
	$(VENV)/bin/undetectable demo $(if $(QUICK),--quick) --out demo-out --force

test: $(STAMP)
	$(PY) -m ruff check
	$(PY) -m mypy
	$(PY) -m pytest -n 2 -q

# Every README command verbatim, at the README's own sizes (make test runs them with a few sizes shrunk).
readme-check: $(STAMP)
	README_SHRINK=0 $(PY) -m pytest -q tests/test_readme.py

# docs/results.md: the numbers docs/*.md cite, regenerated from a quick demo run (~3 min on 2 cores).
docs-results: $(STAMP)
	$(VENV)/bin/undetectable demo --quick --out demo-quick --force
	$(VENV)/bin/undetectable report demo-quick --markdown docs/results.md --force

bench: $(STAMP)
	$(PY) -m benchmarks

clean:
	rm -rf $(VENV) demo-out try
