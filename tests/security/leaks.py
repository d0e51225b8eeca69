"""Pure: find secrets and raw AWS error text in what the product shows to users or writes to its logs."""

from __future__ import annotations

import re
from dataclasses import dataclass

# Text that only appears when an AWS error or response is passed through raw instead of being translated.
RAW_AWS_MARKERS = {
    "botocore's error wording": "An error occurred (",
    "a botocore exception (traceback or repr)": "botocore.exceptions.",
    "a raw AWS response": "ResponseMetadata",
    "raw HTTP headers of an AWS response": "HTTPHeaders",
    "an AWS request id header": "x-amzn-requestid",
}
ACCESS_KEY_ID = re.compile(r"\b(AKIA|ASIA)[0-9A-Z]{16}\b")


@dataclass(frozen=True)
class Leak:
    where: str  # which answer or log line
    what: str  # what leaked (never the secret itself)
    excerpt: str

    def __str__(self) -> str:
        return f"{self.where}: {self.what}: ...{self.excerpt}..."


def _excerpt(text: str, start: int, end: int, hide: str | None = None) -> str:
    snippet = text[max(0, start - 40) : end + 40].replace("\n", "\\n")
    return snippet.replace(hide, "<secret>") if hide else snippet


def find_leaks(
    where: str, text: str, secrets: dict[str, str], request_id_prefixes: tuple[str, ...] = ()
) -> list[Leak]:
    """Every secret value, AWS access key id, AWS request id or raw AWS error text found in `text`."""
    leaks: list[Leak] = []
    lowered = text.lower()
    for name, value in secrets.items():
        position = text.find(value)
        if value and position >= 0:
            leaks.append(Leak(where, name, _excerpt(text, position, position + len(value), value)))
    for match in ACCESS_KEY_ID.finditer(text):
        leaks.append(
            Leak(where, "an AWS access key id", _excerpt(text, match.start(), match.end(), match.group()))
        )
    for prefix in request_id_prefixes:
        position = text.find(prefix)
        if position >= 0:
            leaks.append(Leak(where, "an AWS request id", _excerpt(text, position, position + len(prefix))))
    for what, marker in RAW_AWS_MARKERS.items():
        position = lowered.find(marker.lower())
        if position >= 0:
            leaks.append(Leak(where, what, _excerpt(text, position, position + len(marker))))
    return leaks
