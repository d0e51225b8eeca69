"""python-hcl2's reading of one Terraform file, kept in .build/hcl by the text's digest.

Every process of the local stack (a Lambda invocation is one) renders the IAM policies, and parsing the
Terraform was most of that (~1 s a process; a cached read ~0.07 s). The cache is keyed by the file's text and
the parser's version, so an edited file or an upgraded parser is parsed again; a read-only checkout parses
every time.
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
from importlib.metadata import version
from pathlib import Path
from typing import Any, cast

import hcl2

REPO = Path(__file__).resolve().parents[3]
PARSE_CACHE = REPO / ".build" / "hcl"
_HCL2_VERSION = version("python-hcl2")


def parsed(text: str) -> dict[str, Any]:
    """`hcl2.loads(text)`, from the cache when this text was parsed before."""
    digest = hashlib.sha256(f"{_HCL2_VERSION}\0{text}".encode()).hexdigest()
    cached = PARSE_CACHE / f"{digest}.json"
    try:
        return cast(dict[str, Any], json.loads(cached.read_text(encoding="utf-8")))
    except (OSError, ValueError):
        pass
    answer = hcl2.loads(text)
    try:
        PARSE_CACHE.mkdir(parents=True, exist_ok=True)
        partial = cached.with_suffix(f".{os.getpid()}.{threading.get_ident()}.tmp")
        partial.write_text(json.dumps(answer), encoding="utf-8")
        os.replace(partial, cached)  # atomic: a reader sees the whole file or none
    except OSError:
        pass
    return cast(dict[str, Any], answer)
