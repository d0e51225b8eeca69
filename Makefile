# Smart Vault: every target sets itself up (a local .venv) and can be run on a fresh clone.
SHELL := /bin/bash
.DEFAULT_GOAL := help

# The Lambda runtime is Python 3.12: use the first 3.12 that actually runs (pyenv shims can exist
# but fail), else fall back to python3.
PYTHON ?= $(shell for p in python3.12 $$(pyenv root 2>/dev/null)/versions/3.12*/bin/python3.12 /usr/local/bin/python3.12 /usr/bin/python3.12 python3; do \
            if "$$p" -c 'import sys' >/dev/null 2>&1; then echo "$$p"; break; fi; done)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
CHECKOV_VENV := .venv-checkov
CHECKOV_STAMP := $(CHECKOV_VENV)/.installed
PIP_FLAGS := --quiet --disable-pip-version-check

# Python caches compiled modules (__pycache__, ignored by git) unless PYTHONDONTWRITEBYTECODE is set, as it is
# on some machines and CI images. Here one `make test` starts many Python processes on the same sources
# (pytest's workers, the local stack's function runtimes, the CLI): without the cache each compiles every
# module again, which cost ~10% of the suite's time.
unexport PYTHONDONTWRITEBYTECODE

.PHONY: help venv demo test static-checks test-fast lint security pytest terraform-check checkov workflow-check bench clean iam-mutation iam-docs

help:
	@echo "make demo   run the whole product locally (emulated AWS): backup, DR copy, restore through the API"
	@echo "make test   lint, security checks, the whole pytest suite and the static Terraform checks"
	@echo "make test-fast  the inner loop: ruff and pytest without the slow end-to-end tests (-m 'not slow'),"
	@echo "                the fuzz suite and the IAM/Terraform/workflow checks; make test runs all of them"
	@echo "make bench  scale benchmark; prints figures and writes bench/results.json"
	@echo "make iam-mutation  least privilege, measured: each IAM statement and condition against the recorded calls"
	@echo "make iam-docs      docs/iam.md: each function's calls, their resources and the statements allowing them"

$(STAMP): requirements-dev.txt pyproject.toml
	@echo "==> creating $(VENV) with $(PYTHON)"
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@$(BIN)/pip install $(PIP_FLAGS) -r requirements-dev.txt
	@$(BIN)/pip install $(PIP_FLAGS) --no-deps -e .
	@touch $@

PATH_HINT = echo "==> smart-vault is $(CURDIR)/$(BIN)/smart-vault; to run it as smart-vault: export PATH=\"$(CURDIR)/$(BIN):\$$PATH\" (or . $(BIN)/activate)"

venv: $(STAMP)
	@$(PATH_HINT)

# checkov and python-hcl2 both ship a top-level `hcl2` module: checkov lives in its own venv.
$(CHECKOV_STAMP): requirements-checkov.txt
	@echo "==> creating $(CHECKOV_VENV) with $(PYTHON)"
	@test -x $(CHECKOV_VENV)/bin/python || $(PYTHON) -m venv $(CHECKOV_VENV)
	@$(CHECKOV_VENV)/bin/pip install $(PIP_FLAGS) -r requirements-checkov.txt
	@touch $@

demo: $(STAMP)
	@$(BIN)/smart-vault local demo
	@$(PATH_HINT)

# pytest runs in the foreground; the static checks (lint, security, terraform-check, workflow-check: ~40 s of
# one core) run beside it, their output held in .build/static-checks.log and shown once pytest is done. Either
# failing fails `make test` (every check runs, even after one fails). Each check still runs alone as its own target.
test: $(STAMP) $(CHECKOV_STAMP)
	@mkdir -p .build
	@echo "==> static checks, beside pytest (their output follows pytest's)"
	@$(MAKE) --no-print-directory --keep-going static-checks > .build/static-checks.log 2>&1 & checks=$$!; \
	 $(MAKE) --no-print-directory pytest; tests=$$?; \
	 wait $$checks; static=$$?; \
	 cat .build/static-checks.log; \
	 if [ $$tests -ne 0 ]; then echo "==> make test: pytest FAILED (above)"; fi; \
	 if [ $$static -ne 0 ]; then echo "==> make test: a static check FAILED (above)"; fi; \
	 [ $$tests -eq 0 ] && [ $$static -eq 0 ]

static-checks: lint security terraform-check terraform-plan workflow-check

lint: $(STAMP)
	@echo "==> ruff"
	@$(BIN)/ruff check src tests bench
	@$(BIN)/ruff format --check src tests bench
	@echo "==> import-linter (layers: docs/architecture.md)"
	@$(BIN)/lint-imports --no-cache
	@echo "==> mypy (src/, with the boto3 type stubs)"
	@$(BIN)/mypy

security: $(STAMP)
	@echo "==> bandit"
	@$(BIN)/bandit --quiet --recursive --configfile pyproject.toml src

# The first run records every AWS call the code makes (tests/aws_call_recorder.py); tests/iam then checks
# that Terraform grants each one to the role of the function that made it.
AWS_CALLS := $(CURDIR)/.build/aws-calls
pytest: $(STAMP)
	@echo "==> pytest"
	@rm -rf $(AWS_CALLS)
	@SMART_VAULT_AWS_CALLS=$(AWS_CALLS) $(BIN)/python -m pytest -n 2 --dist loadfile --ignore=tests/iam
	@echo "==> pytest tests/iam: every recorded AWS call is granted by Terraform"
	@SMART_VAULT_AWS_CALLS=$(AWS_CALLS) $(BIN)/python -m pytest -p no:cacheprovider tests/iam

# Both read the requests the authorization layer recorded during `make test` (.build/aws-calls/authz-*.jsonl);
# without them they run the recording pytest first.
iam-mutation: $(STAMP)
	@ls $(AWS_CALLS)/authz-*.jsonl >/dev/null 2>&1 || $(MAKE) --no-print-directory pytest
	@$(BIN)/python -m smart_vault.authz.mutation $(AWS_CALLS)

iam-docs: $(STAMP)
	@ls $(AWS_CALLS)/authz-*.jsonl >/dev/null 2>&1 || $(MAKE) --no-print-directory pytest
	@$(BIN)/python -m smart_vault.authz.iam_table $(AWS_CALLS) docs/iam.md

terraform-check: $(CHECKOV_STAMP)
	@echo "==> terraform fmt"
	@if command -v terraform >/dev/null 2>&1; then terraform fmt -check -recursive -diff; \
	 else echo "terraform binary not found: fmt check skipped (the hcl2 tests still parse every file)"; fi
	@echo "==> checkov"
	@$(CHECKOV_VENV)/bin/checkov --quiet --compact --skip-download --framework terraform -d . \
	   --skip-path .venv --skip-path $(CHECKOV_VENV)

# Terraform plans the root module itself (mocked AWS provider, from the machine's provider mirror): what the
# test bed's own evaluator cannot see, such as a count unknown until apply. Skipped, and says so, without them.
terraform-plan: $(STAMP)
	@$(BIN)/python tests/terraform/plan/run.py

workflow-check: $(STAMP)
	@echo "==> GitHub workflow: schema and zizmor"
	@$(BIN)/check-jsonschema --builtin-schema vendor.github-workflows .github/workflows/ci.yml
	@$(BIN)/zizmor --offline --quiet .github/workflows/ci.yml

test-fast: lint
	@echo "==> pytest (fast: not slow, no fuzz)"
	@$(BIN)/python -m pytest -n 2 --dist loadfile -q -m "not slow" --ignore=tests/iam --ignore=tests/fuzz

bench: $(STAMP)
	@$(BIN)/python bench/run.py

clean:
	rm -rf $(VENV) $(CHECKOV_VENV) .pytest_cache .ruff_cache .mypy_cache .hypothesis build dist src/*.egg-info
