"""Options every command takes, accepted before or after the command: `smart-vault --output json report` and
`smart-vault report --output json` mean the same.

The main parser holds the defaults; the subcommands' copies default to `argparse.SUPPRESS`, so an option given
after the command overrides one given before it, and an absent one never resets it.
"""

from __future__ import annotations

import argparse
import os

API_URL_ENV, API_KEY_ENV = "SMART_VAULT_API_URL", "SMART_VAULT_API_KEY"
DR_API_URL_ENV, DR_API_KEY_ENV = "SMART_VAULT_DR_API_URL", "SMART_VAULT_DR_API_KEY"


def _output(parser: argparse.ArgumentParser, default: str | None) -> None:
    parser.add_argument(
        "--output", "-o", choices=("table", "json"), default=default, help="output format (default table)"
    )


def _api(parser: argparse.ArgumentParser, url: str | None, key: str | None) -> None:
    parser.add_argument("--api-url", default=url, help=f"restore API stage URL (env {API_URL_ENV})")
    parser.add_argument("--api-key", default=key, help=f"API key (env {API_KEY_ENV})")


def add_global_options(parser: argparse.ArgumentParser) -> None:
    """The main parser's copies, with the real defaults (the environment's)."""
    _output(parser, "table")
    _api(parser, os.environ.get(API_URL_ENV), os.environ.get(API_KEY_ENV))


def subcommand_parents() -> tuple[argparse.ArgumentParser, argparse.ArgumentParser]:
    """(output, api) parent parsers for the subcommands: the same options, without defaults of their own."""
    output = argparse.ArgumentParser(add_help=False)
    _output(output, argparse.SUPPRESS)
    api = argparse.ArgumentParser(add_help=False)
    _api(api, argparse.SUPPRESS, argparse.SUPPRESS)
    return output, api


def dr_api() -> tuple[str | None, str | None]:
    """The DR stack's restore API, as the `local up` export line (or the operator) sets it."""
    return os.environ.get(DR_API_URL_ENV), os.environ.get(DR_API_KEY_ENV)
