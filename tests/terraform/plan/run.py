"""`terraform test` of plan.tftest.hcl: the root module planned by Terraform itself, with the AWS provider.

The rest of the test bed reads the Terraform with its own evaluator (smart_vault.authz), which cannot know
everything Terraform checks at plan time: a count that depends on a value unknown until apply, a function
that fails on the values a deployment of defaults passes, a provider attribute that does not exist. This runs
the real thing where the machine has it: the `terraform` binary and a filesystem mirror of the AWS provider
(TF_PLUGIN_MIRROR, /opt/tf-plugins by default; no registry is reachable here). Where either is missing it
says so and passes, as `make terraform-check` does for `terraform fmt`.

Mocked, not applied: the resources come from `mock_provider` (aws.tfmock.hcl gives the few attributes whose
format the configuration parses). The archive provider, which zips the Lambda code, is not in the mirror: the
copy planned here replaces `data.archive_file.lambda` with a local of the same two attributes, and drops the
S3 backend (a plan of a test needs none). Nothing else of the configuration is changed.

Usage: python tests/terraform/plan/run.py [REPO]
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
MIRROR = Path(os.environ.get("TF_PLUGIN_MIRROR", "/opt/tf-plugins"))
ARCHIVE = re.compile(r'^data "archive_file" "lambda" \{\n.*?^\}\n', re.S | re.M)
ARCHIVE_STUB = 'locals {\n  lambda_zip = { output_path = "smart-vault-lambda.zip", output_base64sha256 = "c3R1Yg==" }\n}\n'
ROOT = """terraform {
  required_providers {
    aws = { source = "hashicorp/aws", version = ">= 5.80.0, < 7.0.0" }
  }
}
"""


def _without_archive(repo: Path, copy: Path) -> None:
    main = (repo / "main.tf").read_text()
    if not ARCHIVE.search(main):
        raise SystemExit("terraform-plan: main.tf has no data.archive_file.lambda block to stand in for")
    main = ARCHIVE.sub(ARCHIVE_STUB, main).replace("data.archive_file.lambda.", "local.lambda_zip.")
    (copy / "main.tf").write_text(main)
    versions = (repo / "terraform.tf").read_text()
    versions = re.sub(r"\n\s*archive = \{[^}]*\}", "", versions)
    versions = re.sub(r'backend "s3" \{\}', "", versions)
    (copy / "terraform.tf").write_text(versions)


def _prepare(repo: Path, work: Path) -> None:
    (work / "root.tf").write_text(ROOT)
    tests = work / "tests"
    tests.mkdir()
    for name in ("plan.tftest.hcl", "aws.tfmock.hcl"):
        shutil.copy(HERE / name, tests / name)
    copy = work / "main"
    copy.mkdir()
    for path in repo.glob("*.tf"):
        shutil.copy(path, copy / path.name)
    shutil.copytree(repo / "modules", copy / "modules")
    shutil.copy(repo / "openapi.yaml", copy / "openapi.yaml")
    _without_archive(repo, copy)
    (work / "terraformrc").write_text(
        "provider_installation {\n"
        f'  filesystem_mirror {{\n    path    = "{MIRROR}"\n    include = ["registry.terraform.io/hashicorp/*"]\n  }}\n'
        '  direct { exclude = ["registry.terraform.io/*/*"] }\n'
        "}\n"
    )


def _run(command: list[str], work: Path, quiet: bool = False) -> int:
    """The command's exit status; with `quiet`, its output is shown only when it fails."""
    environment = {**os.environ, "TF_CLI_CONFIG_FILE": str(work / "terraformrc"), "TF_IN_AUTOMATION": "1"}
    environment.pop("TF_DATA_DIR", None)
    answer = subprocess.run(command, cwd=work, env=environment, check=False, capture_output=quiet, text=True)
    if quiet and answer.returncode != 0:
        print(answer.stdout + answer.stderr)
    return answer.returncode


def main() -> int:
    repo = Path(sys.argv[1]).resolve() if len(sys.argv) > 1 else HERE.parents[2]
    terraform = shutil.which("terraform")
    if terraform is None or not (MIRROR / "registry.terraform.io" / "hashicorp" / "aws").is_dir():
        print(f"terraform plan test skipped: needs the terraform binary and the AWS provider under {MIRROR}")
        return 0
    with tempfile.TemporaryDirectory(prefix="smart-vault-plan-") as directory:
        work = Path(directory)
        _prepare(repo, work)
        print("==> terraform plan of the root module (tests/terraform/plan: mocked AWS provider)")
        if _run([terraform, "init", "-backend=false", "-input=false", "-no-color"], work, quiet=True) != 0:
            print("terraform plan test: init failed (above)")
            return 1
        return _run([terraform, "test", "-no-color"], work)


if __name__ == "__main__":
    sys.exit(main())
