"""`terraform test` of plan.tftest.hcl: the root module planned by Terraform itself, with the AWS provider.

The rest of the test bed reads the Terraform with its own evaluator (smart_vault.authz), which cannot know
everything Terraform checks at plan time: a count that depends on a value unknown until apply, a function
that fails on the values a deployment of defaults passes, a provider attribute that does not exist. This runs
the real thing where the machine has it: the `terraform` binary and a filesystem mirror of the AWS provider
(TF_PLUGIN_MIRROR, /opt/tf-plugins by default; no registry is reachable here). The GitHub workflow installs
both (setup-terraform, and `terraform providers mirror` of the same provider version). Where either is missing
it says so and passes, as `make terraform-check` does for `terraform fmt`.

Mocked, not applied: the resources come from `mock_provider` (aws.tfmock.hcl gives the few attributes whose
format the configuration parses). The archive provider, which zips the Lambda code, is not in the mirror: the
copy planned here replaces `data.archive_file.lambda` with a local of the same two attributes, and drops the
S3 backend (a plan of a test needs none). Nothing else of the configuration is changed.

Upgrade: upgrade.tftest.hcl applies the root module of BASE (the last commit CI landed before this check
existed; move it forward when old moved blocks are retired) and plans this one on its state. A plan that
destroys anything fails the check: an address that changed without a moved block shows up as a destroy and a
create. A create alone is a resource new since BASE: it is listed, and passes. Where the checkout lacks BASE
(a shallow clone) that part says so and is skipped.

One provider process: `terraform test` starts the provider binary again for every provider block of every run
(17 starts for two runs of this root module, each about half a CPU-second of a 600 MB binary). The check starts
it once, in the provider's debug mode, and hands its address to every run through TF_REATTACH_PROVIDERS, as
HashiCorp's provider-debugging guide describes: the runs, mocked, only read its schema. Where the provider does
not start that way, the runs start their own, as before.

Usage: python tests/terraform/plan/run.py [REPO]
"""

from __future__ import annotations

import ctypes
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

HERE = Path(__file__).resolve().parent
BASE = "2be5d7b64c4bd72f3f628fbb771ecb6452f31249"
# A plan's summary; "to forget" (a `removed` block with destroy = false) follows only when there is some.
PLAN_SUMMARY = re.compile(r"Plan: (\d+) to add, (\d+) to change, (\d+) to destroy(?:, (\d+) to forget)?")
# What the upgrade creates: resources added since BASE. An address that changed without a moved block shows
# as a destroy (and a create): the destroy fails the check; a create alone is a new resource, and is listed.
CREATED = re.compile(r"^\s*# (\S+) will be created$", re.M)
MIRROR = Path(os.environ.get("TF_PLUGIN_MIRROR", "/opt/tf-plugins"))
REATTACH = re.compile(r"TF_REATTACH_PROVIDERS='(\{.*\})'")
PROVIDER_START_SECONDS = 60
ARCHIVE = re.compile(r'^data "archive_file" "lambda" \{\n.*?^\}\n', re.S | re.M)
ARCHIVE_STUB = 'locals {\n  lambda_zip = { output_path = "smart-vault-lambda.zip", output_base64sha256 = "c3R1Yg==" }\n}\n'
# The test's own root: its runs plan ./main and ./base, whose terraform.tf constrains the provider's version.
ROOT = """terraform {
  required_providers {
    aws = { source = "hashicorp/aws" }
  }
}
"""


def _copy_root(repo: Path, copy: Path) -> None:
    """The root module and its modules, as Terraform reads them, with the archive stood in for."""
    copy.mkdir()
    for path in repo.glob("*.tf"):
        text = path.read_text().replace("data.archive_file.lambda.", "local.lambda_zip.")
        (copy / path.name).write_text(text)
    shutil.copytree(repo / "modules", copy / "modules")
    shutil.copy(repo / "openapi.yaml", copy / "openapi.yaml")
    main = (copy / "main.tf").read_text()
    if not ARCHIVE.search(main):
        raise SystemExit(
            f"terraform-plan: {repo}/main.tf has no data.archive_file.lambda block to stand in for"
        )
    main = ARCHIVE.sub(ARCHIVE_STUB, main)
    (copy / "main.tf").write_text(main)
    versions = (repo / "terraform.tf").read_text()
    versions = re.sub(r"\n\s*archive = \{[^}]*\}", "", versions)
    versions = re.sub(r'backend "s3" \{\}', "", versions)
    (copy / "terraform.tf").write_text(versions)


VAULT_EXAMPLE = re.compile(
    r"^## The vault stack applied by the vault account's own team\n.*?^```hcl\n(.*?)^```", re.S | re.M
)


def _vault_example(repo: Path, work: Path) -> None:
    """docs/vault.md's root module for the vault account's own team, as ./vault-example beside ./main: its
    module source pointed at main's modules, the archive stood in for and no backend, as for the root."""
    found = VAULT_EXAMPLE.search((repo / "docs" / "vault.md").read_text())
    if found is None:
        raise SystemExit("terraform-plan: docs/vault.md has no vault-account example (an hcl block) to plan")
    text = ARCHIVE.sub(ARCHIVE_STUB, found.group(1)).replace("data.archive_file.lambda.", "local.lambda_zip.")
    text = text.replace('"./smart-vault/modules/', '"../main/modules/')
    text = re.sub(r"\n\s*archive = \{[^}]*\}", "", text)
    text = re.sub(r'backend "s3" \{\}.*', "", text)
    (work / "vault-example").mkdir()
    (work / "vault-example" / "main.tf").write_text(text)


def _base(repo: Path, work: Path) -> bool:
    """BASE's tree exported to work/base-tree, its root module copied to work/base and the upgrade test put
    beside the others; False where the checkout lacks BASE."""
    if subprocess.run(
        ["git", "-C", str(repo), "cat-file", "-e", f"{BASE}^{{commit}}"], check=False, capture_output=True
    ).returncode:
        return False
    tree = work / "base-tree"
    tree.mkdir()
    archive = subprocess.run(["git", "-C", str(repo), "archive", BASE], check=True, capture_output=True)
    subprocess.run(["tar", "-x", "-C", str(tree)], input=archive.stdout, check=True)
    _copy_root(tree, work / "base")
    _test_file("upgrade.tftest.hcl", work / "tests")
    return True


def _test_file(name: str, tests: Path) -> None:
    """A test file of this folder copied into the run's tests/, the mocked providers put in front of it."""
    (tests / name).write_text((HERE / "mock_providers.hcl").read_text() + (HERE / name).read_text())


def _prepare(repo: Path, work: Path) -> None:
    (work / "root.tf").write_text(ROOT)
    tests = work / "tests"
    tests.mkdir()
    shutil.copy(HERE / "aws.tfmock.hcl", tests / "aws.tfmock.hcl")
    _test_file("plan.tftest.hcl", tests)
    _copy_root(repo, work / "main")
    _vault_example(repo, work)
    (work / "terraformrc").write_text(
        "provider_installation {\n"
        f'  filesystem_mirror {{\n    path    = "{MIRROR}"\n    include = ["registry.terraform.io/hashicorp/*"]\n  }}\n'
        '  direct { exclude = ["registry.terraform.io/*/*"] }\n'
        "}\n"
    )


def _dies_with_parent() -> None:
    """In the provider's process, before it starts (Linux): stopped if this script dies without its cleanup."""
    try:
        ctypes.CDLL(None).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except (AttributeError, OSError):
        pass


@contextmanager
def _shared_provider(work: Path) -> Iterator[dict[str, str]]:
    """The environment that attaches every run to one AWS provider process started here (stopped on exit);
    empty, so that each run starts its own, where the provider gives no address within a minute."""
    found = (work / ".terraform" / "providers").glob(
        "registry.terraform.io/hashicorp/aws/*/*/terraform-provider-aws*"
    )
    # The newest version init installed (by number: 5.100.0 is after 5.99.0).
    binaries = sorted(found, key=lambda b: [int(n) for n in re.findall(r"\d+", b.parts[-3])])
    if not binaries:
        yield {}
        return
    log = work / "provider.log"
    with log.open("w") as output:
        provider = subprocess.Popen(
            [str(binaries[-1]), "-debug"],
            stdout=output,
            stderr=subprocess.STDOUT,
            preexec_fn=_dies_with_parent,
        )
    try:
        started = time.monotonic()
        while (found := REATTACH.search(log.read_text())) is None and provider.poll() is None:
            if time.monotonic() - started > PROVIDER_START_SECONDS:
                break
            time.sleep(0.1)
        if found is None:
            print(
                f"  the AWS provider gave no debug address, each run starts its own:\n{log.read_text()[-2000:]}"
            )
        yield {"TF_REATTACH_PROVIDERS": found.group(1)} if found else {}
    finally:
        provider.terminate()
        try:
            provider.wait(timeout=10)
        except subprocess.TimeoutExpired:
            provider.kill()
            provider.wait()


def _run(
    command: list[str], work: Path, quiet: bool = False, extra: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """The finished command; with `quiet`, its output is kept (and shown by the caller if it failed)."""
    environment = {**os.environ, "TF_CLI_CONFIG_FILE": str(work / "terraformrc"), "TF_IN_AUTOMATION": "1"}
    environment.pop("TF_DATA_DIR", None)
    environment.update(extra or {})
    return subprocess.run(command, cwd=work, env=environment, check=False, capture_output=quiet, text=True)


def _upgrade(terraform: str, work: Path, provider: dict[str, str]) -> int:
    answer = _run(
        [terraform, "test", "-no-color", "-verbose", "-filter=tests/upgrade.tftest.hcl"], work, True, provider
    )
    output = answer.stdout + answer.stderr
    summaries = PLAN_SUMMARY.findall(output)
    moves = output.count(" has moved to ")
    if answer.returncode != 0 or not summaries:
        print(output)
        print("terraform plan test: the upgrade from the base commit failed (above)")
        return 1
    add, change, destroy, forget = (int(n or 0) for n in summaries[-1])
    print(
        f"  upgrade from {BASE[:7]}: {moves} moved, {add} to add, {change} to change, {destroy} to destroy,"
        f" {forget} to forget"
    )
    for address in CREATED.findall(output):
        print(f"    new since {BASE[:7]}: {address}")
    if destroy or forget:
        print(output)
        print(
            "terraform plan test: the upgrade destroys or forgets resources (an address changed without a"
            " moved block? A resource forgotten and made again under a new address starts empty)"
        )
        return 1
    return 0


def main() -> int:
    repo = Path(sys.argv[1]).resolve() if len(sys.argv) > 1 else HERE.parents[2]
    terraform = shutil.which("terraform")
    if terraform is None or not (MIRROR / "registry.terraform.io" / "hashicorp" / "aws").is_dir():
        print(f"terraform plan test skipped: needs the terraform binary and the AWS provider under {MIRROR}")
        return 0
    with tempfile.TemporaryDirectory(prefix="smart-vault-plan-") as directory:
        work = Path(directory)
        _prepare(repo, work)
        upgrade = _base(repo, work)
        print("==> terraform plan of the root module (tests/terraform/plan: mocked AWS provider)")
        init = _run([terraform, "init", "-backend=false", "-input=false", "-no-color"], work, quiet=True)
        if init.returncode != 0:
            print(init.stdout + init.stderr + "\nterraform plan test: init failed (above)")
            return 1
        with _shared_provider(work) as provider:
            plan = [terraform, "test", "-no-color", "-filter=tests/plan.tftest.hcl"]
            if _run(plan, work, extra=provider).returncode != 0:
                return 1
            if not upgrade:
                print(f"  upgrade test skipped: this checkout has no commit {BASE[:7]} (a shallow clone?)")
                return 0
            return _upgrade(terraform, work, provider)


if __name__ == "__main__":
    sys.exit(main())
