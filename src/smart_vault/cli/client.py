"""The CLI's client of the restore API and what it prints: errors with exit codes, tables, restore progress.

Exit codes: 0 done; 1 the operation ran and failed (restore or backup FAILED, a demo step failed);
2 bad usage; 3 the API refused the request (4xx); 4 the API or AWS could not be reached or failed (5xx);
5 gave up waiting (--timeout) while the restore was still running; 130 interrupted.
"""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TextIO

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_REJECTED, EXIT_UNAVAILABLE, EXIT_TIMEOUT = 0, 1, 2, 3, 4, 5
EXIT_INTERRUPTED = 130
TERMINAL_STATUSES = ("SUCCEEDED", "FAILED")


class CliError(Exception):
    """A failure to report to the user in one line, with its exit code (never a traceback)."""

    def __init__(self, message: str, exit_code: int = EXIT_FAILED, error: str | None = None) -> None:
        super().__init__(message)
        self.exit_code = exit_code
        self.error = error  # the API's error code (`NotConfigured`, ...) when the API answered one


# ------------------------------------------------------------------------------------------- API client


@dataclass(frozen=True)
class ApiClient:
    """The restore API over HTTPS (or the local gateway's HTTP), authenticated with the `x-api-key` header."""

    base_url: str
    api_key: str
    timeout: float = 30.0

    def call(self, method: str, path: str, body: Any = None, headers: dict[str, str] | None = None) -> Any:
        url = self.base_url.rstrip("/") + path
        if not url.startswith(("https://", "http://")):
            raise CliError(
                f"the API URL must start with https:// or http://, got {self.base_url!r}", EXIT_USAGE
            )
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(url, data=data, method=method)  # noqa: S310 - scheme checked above
        request.add_header("x-api-key", self.api_key)
        request.add_header("Accept", "application/json")
        if data is not None:
            request.add_header("Content-Type", "application/json")
        for name, value in (headers or {}).items():
            request.add_header(name, value)
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as answer:  # noqa: S310  # nosec B310
                return _json_or_text(answer.read())
        except urllib.error.HTTPError as exc:
            raise api_error(exc.code, _json_or_text(exc.read())) from None
        except (urllib.error.URLError, TimeoutError, ConnectionError) as exc:
            reason = getattr(exc, "reason", exc)
            raise CliError(f"cannot reach the API at {self.base_url}: {reason}", EXIT_UNAVAILABLE) from None

    def start_restore(self, body: dict[str, Any], idempotency_key: str | None = None) -> dict[str, Any]:
        headers = {"Idempotency-Key": idempotency_key} if idempotency_key else None
        return self.call("POST", "/restore", body, headers)

    def get_restore(self, restore_id: str) -> dict[str, Any]:
        return self.call("GET", f"/restore/{restore_id}")

    def recovery_points(
        self, *, instance_id: str | None = None, name: str | None = None, region: str | None = None
    ) -> dict[str, Any]:
        params = {"instance_id": instance_id, "name": name, "region": region}
        query = urllib.parse.urlencode({k: v for k, v in params.items() if v is not None})
        return self.call("GET", f"/recovery-points?{query}")


def _json_or_text(raw: bytes) -> Any:
    try:
        return json.loads(raw)
    except ValueError:
        return {"message": raw.decode(errors="replace")[:500]}


def api_error(status: int, document: Any) -> CliError:
    """A readable error for a non-2xx answer of the API."""
    doc = document if isinstance(document, dict) else {}
    message = doc.get("message") or str(document)
    if status == 403:
        return CliError(
            f"HTTP 403 {message}: check the API key (--api-key or SMART_VAULT_API_KEY)", EXIT_REJECTED
        )
    if status >= 500:
        request_id = f" (request id {doc['request_id']})" if doc.get("request_id") else ""
        return CliError(f"HTTP {status} {doc.get('error', 'error')}: {message}{request_id}", EXIT_UNAVAILABLE)
    field = f" [field: {doc['field']}]" if doc.get("field") else ""
    error = doc.get("error") if isinstance(doc.get("error"), str) else None
    return CliError(f"HTTP {status} {doc.get('error', 'error')}: {message}{field}", EXIT_REJECTED, error)


# ---------------------------------------------------------------------------------------------- output


def format_table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """A plain-text table with aligned columns (`-` for None)."""
    cells = [[("-" if value is None else str(value)) for value in row] for row in rows]
    widths = [max([len(h)] + [len(row[i]) for row in cells]) for i, h in enumerate(headers)]
    lines = ["  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True)).rstrip()]
    lines.append("  ".join("-" * w for w in widths))
    lines += ["  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() for row in cells]
    return "\n".join(lines)


def format_age(seconds: float | None) -> str:
    """`3d 04h`, `2h 05m`, `4m 10s`, `12s`; `never` for None."""
    if seconds is None:
        return "never"
    seconds = max(int(seconds), 0)
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    if days:
        return f"{days}d {hours:02d}h"
    if hours:
        return f"{hours}h {minutes:02d}m"
    if minutes:
        return f"{minutes}m {secs:02d}s"
    return f"{secs}s"


def step_lines(previous: dict[str, str], steps: list[dict[str, Any]], elapsed: float) -> list[str]:
    """Progress lines for the steps that are new or changed status since `previous` (updated in place)."""
    lines = []
    for step in steps:
        name, status = step.get("name", "?"), step.get("status", "?")
        if previous.get(name) != status:
            previous[name] = status
            lines.append(f"  [{elapsed:6.1f}s] {name:<24} {status}")
    return lines


def job_summary(job: dict[str, Any]) -> str:
    instance_mode = job.get("mode") == "instance"
    rows = [
        ("restore_id", job.get("restore_id")),
        ("status", job.get("status")),
        ("mode", job.get("mode") or "volume"),
        ("region", job.get("region")),
    ]
    if instance_mode:
        rows += [
            ("backup_set_id", job.get("backup_set_id")),
            ("instance_id", job.get("instance_id")),
            ("volume_ids", " ".join(job.get("volume_ids") or []) or None),
            ("image_id", job.get("image_id")),
        ]
    else:
        rows += [("volume_id", job.get("volume_id")), ("instance_id", job.get("instance_id"))]
    rows += [("created_at", job.get("created_at")), ("updated_at", job.get("updated_at"))]
    rows += [("warning", warning) for warning in job.get("warnings") or []]
    if job.get("error"):
        rows.append(("error", job["error"]))
    return format_table(["field", "value"], rows)


def _parse_time(value: Any) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None


def measured_rto_seconds(job: dict[str, Any]) -> float | None:
    """Recovery time of a finished job: from its creation (the API's 202) to its end (its last update,
    which is the worker's final write). None while it runs or when the times are unreadable."""
    if job.get("status") not in TERMINAL_STATUSES:
        return None
    created, finished = _parse_time(job.get("created_at")), _parse_time(job.get("updated_at"))
    if created is None or finished is None:
        return None
    return max((finished - created).total_seconds(), 0.0)


def restore_outcome(job: dict[str, Any]) -> str:
    """The closing line of a followed restore: what came back, and the measured RTO."""
    rto = measured_rto_seconds(job)
    took = f"{format_age(rto)} ({rto:.0f}s, job created {job.get('created_at')}, finished {job.get('updated_at')})"
    if job.get("status") != "SUCCEEDED":
        return f"restore {job.get('restore_id')} FAILED after {took}: {job.get('error') or 'no error given'}"
    if job.get("mode") == "instance":
        volumes = len(job.get("volume_ids") or [])
        return (
            f"instance {job.get('instance_id')} is running in {job.get('region')}, restored from "
            f"{job.get('backup_set_id')} with {volumes} volume{'s' if volumes != 1 else ''}; RTO {took}"
        )
    restored = job.get("volume_id")
    attached = f" attached to {job['instance_id']}" if job.get("instance_id") else ""
    return f"volume {restored}{attached} restored in {job.get('region')}; RTO {took}"


def follow_restore(
    client: ApiClient,
    restore_id: str,
    out: TextIO | None,
    *,
    interval: float = 1.0,
    timeout: float = 900.0,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> dict[str, Any]:
    """Poll the job until it is SUCCEEDED or FAILED, printing each step change to `out` (when given).

    Raises CliError(EXIT_TIMEOUT) when `timeout` seconds pass first.
    """
    started = clock()
    seen: dict[str, str] = {}
    status = None
    while True:
        job = client.get_restore(restore_id)
        if not isinstance(job, dict):
            raise CliError(f"unexpected answer from the API: {str(job)[:200]}", EXIT_UNAVAILABLE)
        elapsed = clock() - started
        if out is not None:
            if job.get("status") != status:
                status = job.get("status")
                print(f"  [{elapsed:6.1f}s] restore {restore_id} {status}", file=out, flush=True)
            for line in step_lines(seen, job.get("steps") or [], elapsed):
                print(line, file=out, flush=True)
        if job.get("status") in TERMINAL_STATUSES:
            return job
        if elapsed >= timeout:
            raise CliError(
                f"restore {restore_id} is still {job.get('status')} after {timeout:.0f}s", EXIT_TIMEOUT
            )
        sleep(interval)
