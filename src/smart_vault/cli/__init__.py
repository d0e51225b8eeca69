"""The `smart-vault` command (never packaged into the Lambda zip).

- `client`: the restore API's HTTP client, errors with exit codes, tables and restore progress;
- `main`: the argument parser and the commands against a deployed vault;
- `local_commands`, `views`, `demo`: `smart-vault local ...` and `make demo`, on the local stack.

Layering: `main` -> `local_commands` -> `demo` -> `client`/`views` -> `smart_vault.local`; nothing below imports
what is above it.
"""

from smart_vault.cli.main import main

__all__ = ["main"]
