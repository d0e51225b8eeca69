"""Restore: request validation and pre-checks, the job store, the worker and the full-instance engine.

The Lambda entry points are `smart_vault.restore_api.handler` (the REST API, one layer up: it also serves
`GET /drills`) and `smart_vault.restore_worker.handler` (`worker.handler`). Modules:
- `request`: request validation (pure); `checks`: pre-checks in AWS before the 202;
- `jobs`: the job table (conditional writes, leases), shared by the API and the worker;
- `worker`: the asynchronous worker; `steps`: its AWS steps (create, wait, attach, roll back).
"""
