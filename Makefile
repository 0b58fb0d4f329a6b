# The two set-up commands of the README. Each creates the virtualenv and installs what it needs.
VENV ?= .venv
PYTHON ?= python3
PY := $(VENV)/bin/python

.PHONY: run test

$(VENV)/.installed: requirements.txt requirements-dev.txt
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --upgrade pip
	$(VENV)/bin/pip install --quiet -r requirements-dev.txt
	touch $@

run: $(VENV)/.installed
	$(PY) manage.py migrate --noinput
	@echo
	@echo "To sign in to /admin/, create an admin user:  $(PY) manage.py createsuperuser"
	@echo "Then open http://127.0.0.1:8000/"
	@echo
	$(PY) manage.py runserver 127.0.0.1:8000

test: $(VENV)/.installed
	$(PY) manage.py test --noinput
