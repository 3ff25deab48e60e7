# Two commands do everything from a fresh checkout: `make demo` and `make test`.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip
STAMP := $(VENV)/.installed

.PHONY: demo test install clean

$(STAMP): pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip
	$(PIP) install --quiet -c constraints.txt -e '.[test,bench]'
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/prefrec demo

# Three pytest workers on two cores: about half of the suite's wall time is spent waiting on real
# players and daemons in real time (two workers kept the cores 55% busy), and a third overlaps it.
test: $(STAMP)
	$(VENV)/bin/ruff check prefrec tests bench examples
	$(PY) -m pytest -q -n 3 --dist worksteal

clean:
	rm -rf $(VENV) .pytest_cache
