"""A simulated AWS with time, for the copy pipeline (never part of the Lambda zip, like `local/`).

`world.SimWorld` is an in-memory EC2 (two regions), DynamoDB table and EventBridge with a virtual clock and
seeded randomness; `throttle` adds EC2's token buckets and botocore's standard retry in virtual time,
`volumes` the volumes a restore creates and botocore's waiters; `scenario.run_scenario` drives the real backup handler (`smart_vault.backup.entry.handle`)
through its seams (the clients it is given, `aws.set_clock` for its NotFound retries, `now`) and checks
invariants over the whole run.
"""
