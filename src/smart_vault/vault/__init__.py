"""(v3) The vault function (`smart_vault.vault.handler`): in a second AWS account, it copies every announced DR
copy once under its own key, locks it, keeps its own retention, ledger, backlog and RPO metrics, and
reconciles every 30 minutes. See docs/vault.md."""

from smart_vault.vault.entry import handler

__all__ = ["handler"]
