"""Authorization as AWS evaluates it, for the tests, the simulation and the local stack: every AWS call the
code makes is evaluated against the IAM policies rendered from this repository's Terraform. Never packaged
into the Lambda zip (see `main.tf`); see `docs/iam.md`.
"""
