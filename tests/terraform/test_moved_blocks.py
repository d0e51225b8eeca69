"""Every `moved {}` block is one Terraform can apply: its `from` is no longer declared, its `to` is.

`terraform validate` refuses a configuration that still declares a moved block's `from` ("Moved object still
exists"), and a `to` that names nothing moves the object out of the state. Neither can run here (no
providers), so this reads the blocks as written. Each `to` is checked to its first hop in the directory of the
moved.tf: a resource declared there, or a module call made there (a move into a module's resource is that
module's business, and its own moved.tf is checked here too). The raw files are read, not `parse_dir`'s
expansion of the inlined modules, because Terraform itself sees the module calls.
"""

from __future__ import annotations

import re
from pathlib import Path

import hcl2
import pytest

REPO = Path(__file__).resolve().parents[2]
MOVED_FILES = sorted([*REPO.glob("moved.tf"), *REPO.glob("modules/*/moved.tf")])
_INDEX = re.compile(r"\[[^]]*\]")


def _unquote(text: str) -> str:
    return text.strip('"')


def declared(directory: Path) -> tuple[set[str], set[str]]:
    """(resource addresses `type.name`, module call names) declared by the .tf files of `directory`."""
    resources: set[str] = set()
    modules: set[str] = set()
    for path in directory.glob("*.tf"):
        document = hcl2.loads(path.read_text(encoding="utf-8"))
        for item in document.get("resource", []):
            for type_name, named in item.items():
                resources.update(f"{_unquote(type_name)}.{_unquote(name)}" for name in named)
        for item in document.get("module", []):
            modules.update(_unquote(name) for name in item)
    return resources, modules


def problems_of(moved_file: Path) -> list[str]:
    resources, modules = declared(moved_file.parent)
    found = []
    for block in hcl2.loads(moved_file.read_text(encoding="utf-8")).get("moved", []):
        source, target = (str(block[key]).strip("${}") for key in ("from", "to"))
        source_base = _INDEX.sub("", source)
        if source_base in resources or (
            source_base.count(".") == 1 and source_base[len("module.") :] in modules
        ):
            found.append(f"from {source}: still declared")
        target_base = _INDEX.sub("", target)
        if target_base.startswith("module."):
            if target_base.split(".")[1] not in modules:
                found.append(f"to {target}: no module call {target_base.split('.')[1]!r} here")
        elif target_base not in resources:
            found.append(f"to {target}: not declared here")
    return found


def test_there_are_moved_blocks_to_check():
    assert len(MOVED_FILES) >= 5
    assert sum(len(hcl2.loads(p.read_text()).get("moved", [])) for p in MOVED_FILES) > 50


@pytest.mark.parametrize("moved_file", MOVED_FILES, ids=lambda p: str(p.relative_to(REPO)))
def test_every_moved_block_moves_from_what_is_gone_to_what_is_declared(moved_file):
    assert problems_of(moved_file) == []


def test_a_from_still_declared_or_a_to_declared_nowhere_is_found(tmp_path):
    (tmp_path / "main.tf").write_text(
        'resource "aws_sqs_queue" "kept" {}\nresource "aws_sqs_queue" "new" {}\nmodule "fn" { source = "./m" }\n'
    )
    (tmp_path / "moved.tf").write_text(
        "moved {\n  from = aws_sqs_queue.kept\n  to   = module.fn.aws_sqs_queue.this\n}\n"
        "moved {\n  from = aws_sqs_queue.old\n  to   = aws_sqs_queue.missing\n}\n"
        "moved {\n  from = aws_sqs_queue.older\n  to   = module.gone.aws_sqs_queue.this\n}\n"
        "moved {\n  from = aws_sqs_queue.oldest\n  to   = aws_sqs_queue.new\n}\n"
    )
    assert problems_of(tmp_path / "moved.tf") == [
        "from aws_sqs_queue.kept: still declared",
        "to aws_sqs_queue.missing: not declared here",
        "to module.gone.aws_sqs_queue.this: no module call 'gone' here",
    ]
