# Helicase — the two commands are `make demo` and `make test` (see README.md).
SHELL := /bin/bash
UV := uv run --quiet
export PATH := $(HOME)/.local/bin:$(PATH)

.PHONY: install up down status demo test lint proto bench clean

install: ## install whatever is missing (apt-get, uv, Maven jars, buf, grpcurl)
	@bash scripts/bootstrap.sh

up: install ## start ZooKeeper, Kafka, PostgreSQL and every service (safe to run twice)
	@$(UV) python -m helicase.devstack up

down: ## stop everything `make up` started
	@if command -v uv >/dev/null && [ -d .venv ]; then $(UV) python -m helicase.devstack down; fi

status: ## show what runs where
	@$(UV) python -m helicase.devstack status

demo: up ## run the example workflows against the running suite
	@$(UV) python scripts/demo.py

lint: ## ruff, mypy, buf lint and the generated-code freshness check
	@$(UV) ruff check .
	@$(UV) ruff format --check .
	@$(UV) mypy libs/common/src/helicase/common libs/client/src/helicase/client \
		libs/devstack/src/helicase/devstack services/*/src/helicase/* scripts bench
	@node_modules/.bin/buf lint
	@$(UV) python scripts/gen_protos.py --check

test: install lint ## the whole suite: lint, unit and integration tests
	@$(UV) pytest -p no:cacheprovider

proto: ## regenerate Python code from protos/helicase/v1
	@$(UV) python scripts/gen_protos.py

bench: up ## end-to-end benchmark through the public API (figures in bench/results)
	@$(UV) python bench/throughput.py

clean: down
	rm -rf .helicase/run .helicase/logs
