# Two commands: `make test` and `make demo`. Both create .venv when it is missing.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

.PHONY: test demo model install clean-venv

$(STAMP): setup.py constraints.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -c constraints.txt -e '.[test]'
	touch $(STAMP)

install: $(STAMP)

# One BLAS/OpenMP thread per test process: the suite is many small ops, where spinning
# thread pools only fight each other (a 15 s training test took 136 s with 2 threads on 2 busy cores).
test: $(STAMP)
	OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 $(PY) -m pytest -q tests

demo: $(STAMP)
	OMP_NUM_THREADS=2 $(PY) tools/demo.py

# Retrain the shipped model from nothing (tools/train_demo_model.py; about 58 min on 2 CPU cores by the steps' measured times, 2026-12-04).
model: $(STAMP)
	$(PY) tools/train_demo_model.py

clean-venv:
	rm -rf $(VENV)
