# One entry point per task; every tool runs from .venv without activating it.
# Settings for `run` and `test` come from the environment: see deploy/supervisor.py and
# deploy/test_runner.py.
PYTHON := .venv/bin/python

.PHONY: install run test check bench clean

install:
	deploy/install.sh

run: install
	deploy/build_web.sh
	$(PYTHON) -m deploy.supervisor

test:
	deploy/install.sh --postgres --browser
	deploy/build_web.sh
	$(PYTHON) -m deploy.test_runner $(PYTEST_ARGS)

check: install
	.venv/bin/ruff check .
	.venv/bin/ruff format --check .
	.venv/bin/mypy
	.venv/bin/lint-imports

bench: install
	$(PYTHON) -m bench.run

clean:
	rm -rf var
