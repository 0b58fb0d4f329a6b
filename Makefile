# The two set-up commands of the README. Each creates the virtualenv and installs what it needs.
VENV ?= .venv
PYTHON ?= python3
PY := $(VENV)/bin/python

.PHONY: run test mutation docs docs-serve

$(VENV)/.installed: requirements.txt requirements-dev.txt requirements-docs.txt
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --upgrade pip
	$(VENV)/bin/pip install --quiet -r requirements-dev.txt
	touch $@

# Migrates, registers the demo IdP by its metadata URL as soon as the server answers, and serves.
# The site fails closed without environment; local development turns on what the demo needs.
run: export DEBUG ?= 1
run: export DEMO_IDP ?= 1
run: $(VENV)/.installed
	@$(PY) -c "import socket, sys; sys.exit('Port 8000 is taken: stop what listens there, then make run again.' if socket.socket().connect_ex(('127.0.0.1', 8000)) == 0 else 0)"
	$(PY) manage.py migrate --noinput
	@echo
	@echo "To sign in to /admin/, create an admin user:  $(PY) manage.py createsuperuser"
	@echo "Then open http://127.0.0.1:8000/ and sign in with the Demo IdP."
	@echo
	$(PY) manage.py register_demo_idp --base-url http://127.0.0.1:8000 & \
	exec $(PY) manage.py runserver 127.0.0.1:8000

test: $(VENV)/.installed
	$(PY) manage.py test --noinput

# Mutation testing of the security modules (pyproject's [tool.mutmut]); not part of make test.
# Then every surviving mutant with its reason, into docs/mutation-survivors.md: a survivor
# nobody has reviewed (tools/accepted_survivors.toml) makes the target fail.
mutation: $(VENV)/.installed
	$(VENV)/bin/pip install --quiet -r requirements-mutation.txt
	DEBUG=1 DEMO_IDP=1 $(VENV)/bin/mutmut run --max-children 3
	$(PY) tools/mutation_survivors.py > docs/mutation-survivors.md

# The documentation site, from docs/ into docs/_build/html, read afresh (-E: the references are
# made from the code). Warnings are errors: a broken link to a page or heading, or a setting the
# code reads that the reference would not name.
docs: $(VENV)/.installed
	$(VENV)/bin/sphinx-build -E -W --keep-going -q -b html docs docs/_build/html
	@echo "Built docs/_build/html/index.html (make docs-serve: http://127.0.0.1:8001/)"

docs-serve: docs
	$(PY) -m http.server --bind 127.0.0.1 --directory docs/_build/html 8001
