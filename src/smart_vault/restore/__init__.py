"""Restore: the restore API, its request validation and pre-checks, the job store and the worker.

The Lambda entry points are `smart_vault.restore_api.handler` (`api.handler`) and
`smart_vault.restore_worker.handler` (`worker.handler`). Modules:
- `api`: the REST API handler; `request`: request validation (pure); `checks`: pre-checks in AWS before the 202;
- `jobs`: the job table (conditional writes, leases), shared by the API and the worker;
- `worker`: the asynchronous worker; `steps`: its AWS steps (create, wait, attach, roll back).
"""
