"""The README's restore command, filled in for a running stack (the docs test checks they stay the same)."""

from __future__ import annotations

import json
import shlex

# Exactly the command of docs/local.md, with the placeholders below.
README_RESTORE_CURL = """curl -sS -X POST "$SMART_VAULT_API_URL/restore" \\
  -H "x-api-key: $SMART_VAULT_API_KEY" \\
  -H "Content-Type: application/json" \\
  -d '{"snapshot_id": "SNAPSHOT_ID", "launch_instance": true, "ami_id": "AMI_ID", "subnet_id": "SUBNET_ID"}'"""


def restore_body(snapshot_id: str, ami_id: str, subnet_id: str) -> str:
    return json.dumps(
        {"snapshot_id": snapshot_id, "launch_instance": True, "ami_id": ami_id, "subnet_id": subnet_id}
    )


def restore_curl_command(api_url: str, api_key: str, snapshot_id: str, ami_id: str, subnet_id: str) -> str:
    """The README command with this stack's URL, key and resources in place of the variables and placeholders."""
    command = README_RESTORE_CURL.replace('"$SMART_VAULT_API_URL/restore"', shlex.quote(f"{api_url}/restore"))
    command = command.replace('"x-api-key: $SMART_VAULT_API_KEY"', shlex.quote(f"x-api-key: {api_key}"))
    for placeholder, value in (("SNAPSHOT_ID", snapshot_id), ("AMI_ID", ami_id), ("SUBNET_ID", subnet_id)):
        command = command.replace(placeholder, value)
    return command
