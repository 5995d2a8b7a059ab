# One entry point per task; every tool runs from .venv without activating it.
# Settings for `run` and `test` come from the environment: see deploy/supervisor.py and
# deploy/test_runner.py.
PYTHON := .venv/bin/python

.PHONY: install run run-cluster restart test test-chaos check bench bench-scale clean

install:
	deploy/install.sh

run: install
	deploy/build_web.sh
	$(PYTHON) -m deploy.supervisor

# `make run` on a 3-node RabbitMQ cluster (quorum queues); add HELPDESK_SCALE=tickets=2,... and
# PostgreSQL URLs (<SERVICE>_DB_URL) for several instances per service.
run-cluster:
	HELPDESK_BROKER=cluster $(MAKE) run

# Rolling restart of every instance of a running `make run`, one at a time (SIGHUP to the supervisor).
restart:
	kill -HUP $$(cat $${HELPDESK_DATA_DIR:-var}/run/supervisor.pid)

test:
	deploy/install.sh --postgres --browser
	deploy/build_web.sh
	$(PYTHON) -m deploy.test_runner $(PYTEST_ARGS)

# The chaos proof for 10 minutes (HELPDESK_CHAOS_SECONDS): kill -9 instances and broker nodes under load.
test-chaos:
	deploy/install.sh --postgres
	$(PYTHON) -m deploy.test_runner --chaos $(PYTEST_ARGS)

check: install
	.venv/bin/ruff check .
	.venv/bin/ruff format --check .
	.venv/bin/mypy
	.venv/bin/lint-imports

# Floors, then ours beside django-helpdesk (bench/peer.py); e.g. BENCH_ARGS="--quick --pg" or "--no-peer".
bench: install
	$(PYTHON) -m bench.run $(BENCH_ARGS)

# Create/GET and a CPU-bound RPC with 1 and 2 instances of tickets and the gateway (own broker and PostgreSQL).
bench-scale: install
	deploy/install.sh --postgres
	$(PYTHON) -m bench.scale $(BENCH_ARGS)

clean:
	rm -rf var
