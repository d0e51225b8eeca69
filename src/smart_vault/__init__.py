"""Smart Vault: backup and disaster recovery for EC2/EBS."""

__version__ = "0.1.0"
