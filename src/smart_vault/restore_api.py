"""The restore API's Lambda entry point, `smart_vault.restore_api.handler` (the code is in `smart_vault.restore.api`)."""

from smart_vault.restore.api import handler

__all__ = ["handler"]
