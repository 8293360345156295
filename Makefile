# Helicase: `make demo` and `make test` are the two commands to know (see README.md).
# Recipes stay thin: the work is in scripts/ and helicase.devstack.
SHELL := /bin/bash
export PATH := $(HOME)/.local/bin:$(PATH)
UV := uv run --quiet
PYTEST_ARGS ?=
BENCH_ARGS ?=
CHAOS_ARGS ?=
SOAK_ARGS ?=
FUZZ_ARGS ?=

.PHONY: install up down status proto lint test unit demo bench chaos soak fuzz clean web-test web-gen screenshots

install: ## install whatever is missing (apt-get, uv, Python workspace, Maven jars, buf, grpcurl)
	@bash scripts/bootstrap.sh

up: install ## start ZooKeeper, Kafka, PostgreSQL and every service (safe to run twice)
	@$(UV) python -m helicase.devstack up

down: ## stop everything `make up` started
	@if [ -x .venv/bin/python ]; then $(UV) python -m helicase.devstack down; fi

status: ## what runs where, and whether it is healthy
	@$(UV) python -m helicase.devstack status

proto: ## regenerate the Python code of protos/helicase/v1
	@$(UV) python scripts/gen_protos.py

lint: install ## ruff, mypy --strict, import contracts, buf lint, api-linter, buf breaking against main, generated code up to date
	@$(UV) ruff check .
	@$(UV) ruff format --check .
	@$(UV) mypy libs services tests bench scripts
	@$(UV) lint-imports --no-cache
	@node_modules/.bin/buf lint
	@out=$$(cd protos && ../.helicase/bin/api-linter --config api-linter.yaml --set-exit-status \
		helicase/v1/*.proto 2>&1) || { echo "$$out"; echo "api-linter: problems above"; exit 1; }
	@$(UV) python scripts/buf_breaking.py
	@$(UV) python scripts/gen_protos.py --check

test: install lint web-test ## lint, then unit and integration tests (real ZooKeeper, Kafka, PostgreSQL)
	@$(UV) pytest -p no:cacheprovider --durations=25 -n 2 --dist loadgroup $(PYTEST_ARGS)

unit: ## the pure unit tests only: no infrastructure, no apt/Maven/npm step (about a minute)
	@$(UV) pytest -p no:cacheprovider -m 'not tools' tests/unit $(PYTEST_ARGS)

web-test: install ## the composer: web/src/gen up to date, type check, Vitest (browser tests run in pytest)
	@cd web && npm run --silent check-gen || { echo "web/src/gen is stale: make web-gen"; exit 1; }
	@cd web && npx --no-install tsc --noEmit && npm run --silent test

web-gen: install ## regenerate web/src/gen (TypeScript of protos/helicase/v1) with the local protoc-gen-es
	@cd web && npm run --silent gen

demo: up ## run the example workflows and one experiment on the local SSH + SLURM (left running)
	@$(UV) python scripts/demo.py

screenshots: install ## refresh docs/screenshots/*.png (the browser tests; they write .helicase/screenshots/ otherwise)
	@HELICASE_SCREENSHOTS_DIR=docs/screenshots $(UV) pytest -p no:cacheprovider tests/integration/test_web_composer.py \
		tests/integration/trust/test_web.py::test_the_composer_shows_a_refused_key_and_sets_no_cookie

bench: install ## Helicase vs Apache Helix side by side on its own infrastructure (BENCH_ARGS=--quick: small)
	@$(UV) python -m bench.compare $(BENCH_ARGS)

chaos: install ## kill -9 services, storm the leader, restart the infrastructure; check nothing is lost (CHAOS_ARGS=--hog ...)
	@$(UV) python scripts/chaos.py --workflows 1000 --duration 600 $(CHAOS_ARGS)

soak: install ## 30 min of mixed load at half the measured maximum; RSS per process each minute, nothing lost (SOAK_ARGS="--duration 180")
	@$(UV) python scripts/soak.py $(SOAK_ARGS)

fuzz: install ## fuzz every public RPC, raw bytes and Kafka on its own suite; findings fail (FUZZ_ARGS=--requests 20000 ...)
	@$(UV) python scripts/fuzz.py $(FUZZ_ARGS)

clean: down ## stop the suite and delete its state (keeps the resolved jars and tools)
	@find .helicase -mindepth 1 -maxdepth 1 ! -name lib ! -name bin -exec rm -rf {} + 2>/dev/null || true
