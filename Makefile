# Two commands do all the set-up on a fresh machine (Python 3.11 and make are all it needs):
#   make run    installs into .venv if needed, then runs seven simulated nights on the embedded database
#   make test   installs into .venv if needed, then runs the test suite
#   make mutations  breaks the core rules one at a time in a copy of the tree: the tests must catch each
#   make audit  the locked requirements against a vulnerability database (pip-audit): weekly and before
#               each release; it fails, saying so, where the service does not answer (deploy/audit.py)
PYTHON ?= python3.11
VENV := .venv
INSTALLED := $(VENV)/.installed
DAYS ?= 7
AUDIT_SERVICE ?= pypi

.PHONY: run test mutations suites audit clean

$(INSTALLED): pyproject.toml requirements.lock
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --upgrade "pip==26.3"
	$(VENV)/bin/pip install --quiet -c requirements.lock -e '.[test]'
	touch $(INSTALLED)

run: $(INSTALLED)
	$(VENV)/bin/envmon run --days $(DAYS)

test: $(INSTALLED)
	bash tests/system-packages.sh
	$(VENV)/bin/pytest -q

mutations: $(INSTALLED)
	$(VENV)/bin/python bench/mutations.py $(MUTATIONS_ARGS)

suites: $(INSTALLED)
	$(VENV)/bin/python -m expectations.build

audit: $(INSTALLED)
	$(VENV)/bin/python deploy/audit.py --service $(AUDIT_SERVICE)

clean:
	rm -rf $(VENV) .envmon
