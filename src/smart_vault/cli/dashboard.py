"""`smart-vault dashboard`: the vault's health on one HTML page, written to a file or served on 127.0.0.1.

It reads CloudWatch in the primary and the DR region through boto3 (so the `local up` export line points it
at the local stack, and AWS credentials at a real deployment) and the drill results through the restore API.
"""

from __future__ import annotations

import argparse
import os
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, TextIO

from smart_vault.cli.client import EXIT_OK, EXIT_USAGE, ApiClient, CliError
from smart_vault.cli.dashboard_data import collect_alarms, collect_charts
from smart_vault.cli.dashboard_page import render_page
from smart_vault.cli.options import dr_api

DEFAULT_PATH = "smart-vault-dashboard.html"


def read_drills(api: ApiClient | None) -> tuple[list[dict[str, Any]] | None, str | None]:
    if api is None:
        return (
            None,
            "no restore API configured (SMART_VAULT_DR_API_URL or SMART_VAULT_API_URL): no drill table",
        )
    try:
        answer = api.call("GET", "/drills")
    except CliError as exc:
        return None, f"drill results could not be read from {api.base_url}: {exc}"
    drills = answer.get("drills") if isinstance(answer, dict) else None
    return (drills, None) if isinstance(drills, list) else (None, f"unexpected answer from {api.base_url}")


def dashboard_data(
    client_for: Any, regions: list[str], hours: float, drills_api: ApiClient | None, title: str
) -> dict[str, Any]:
    now = datetime.now(UTC)
    charts, notes = collect_charts(client_for, regions, hours, now)
    end_ms = int(now.timestamp() * 1000) + 60_000
    drills, drills_note = read_drills(drills_api)
    return {
        "title": title,
        "subtitle": f"CloudWatch namespace SmartVault in {', '.join(regions)}, last {hours:g} h; "
        f"generated {now:%Y-%m-%d %H:%M:%S} UTC",
        "charts": charts,
        "window": [end_ms - int(hours * 3600 * 1000), end_ms],
        "alarms": collect_alarms(client_for, regions),
        "drills": drills,
        "drills_note": drills_note,
        "notes": notes,
        "now": now,
    }


def write_dashboard(path: Path, data: dict[str, Any]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render_page(data), encoding="utf-8")
    return path.resolve()


def _drills_api(args: argparse.Namespace) -> ApiClient | None:
    url, key = dr_api()
    if url:
        return ApiClient(url, key or args.api_key or "")
    return ApiClient(args.api_url, args.api_key or "") if args.api_url else None


def cmd_dashboard(args: argparse.Namespace, out: TextIO) -> int:
    import boto3

    region = args.region or os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION")
    if not region:
        raise CliError("no region: pass --region or set AWS_REGION", EXIT_USAGE)
    if not 0 < args.hours <= 24 * 63:
        raise CliError("--hours must be more than 0 and at most 1512 (63 days)", EXIT_USAGE)
    regions = list(dict.fromkeys([region, *([args.dr_region] if args.dr_region else [])]))
    session = boto3.session.Session()

    def build() -> dict[str, Any]:
        return dashboard_data(
            lambda service, r: session.client(service, region_name=r), regions, args.hours, _drills_api(args),
            "Smart Vault health",
        )  # fmt: skip

    if args.serve:
        return serve(build, args.port, out)
    path = write_dashboard(Path(args.out), build())
    print(f"dashboard written: {path}", file=out)
    print(f"open it: file://{path}", file=out)
    return EXIT_OK


def serve(build: Any, port: int, out: TextIO) -> int:
    """Serve the page on 127.0.0.1, rebuilt from CloudWatch on every load, until Ctrl-C."""

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            pass

        def do_GET(self) -> None:
            if self.path not in ("/", "/index.html"):
                self.send_error(404)
                return
            page = render_page(build()).encode()
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(page)))
            self.end_headers()
            self.wfile.write(page)

    server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    print(
        f"serving the dashboard on http://127.0.0.1:{server.server_address[1]}/ (Ctrl-C stops)",
        file=out,
        flush=True,
    )
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    return EXIT_OK


def add_command(commands: Any, common: argparse.ArgumentParser, api: argparse.ArgumentParser) -> None:
    dashboard = commands.add_parser(
        "dashboard",
        parents=[common, api],
        help="the vault's health on one HTML page (CloudWatch metrics, alarms, drills)",
        description="Charts of RPO per region, copy backlog, drills and RTO, anomalies and cost per recovery "
        "point from CloudWatch, the alarms, and the latest drill per instance, on one self-contained page.",
    )
    dashboard.add_argument("--region", help="primary region (default AWS_REGION)")
    dashboard.add_argument(
        "--dr-region",
        default=os.environ.get("SMART_VAULT_DR_REGION"),
        help="DR region (env SMART_VAULT_DR_REGION)",
    )
    dashboard.add_argument("--hours", type=float, default=24.0, help="how far back to chart (default 24)")
    dashboard.add_argument(
        "--out", default=DEFAULT_PATH, help=f"where to write the page (default {DEFAULT_PATH})"
    )
    dashboard.add_argument(
        "--serve", action="store_true", help="serve it on 127.0.0.1 instead of writing a file"
    )
    dashboard.add_argument("--port", type=int, default=8765, help="port of --serve (default 8765)")
    dashboard.set_defaults(handler=cmd_dashboard)
