"""The restore worker's Lambda entry point, `smart_vault.restore_worker.handler` (the code is in `smart_vault.restore.worker`)."""

from smart_vault.restore.worker import handler

__all__ = ["handler"]
