"""The local stack: the whole product on one machine, with no AWS account and no Docker.

Never packaged into the Lambda zip. Pieces:
- `emulator`: moto's server on 127.0.0.1 (the AWS APIs, `AWS_ENDPOINT_URL`);
- `lambda_service`: the Lambda Invoke API (`AWS_ENDPOINT_URL_LAMBDA`), running each invocation in a fresh
  subprocess with exactly that function's environment, as Lambda does;
- `gateway`: API Gateway's REST v1 proxy integration with its API-key check, configured from the emulated
  API Gateway;
- `provision` and `fleet`: the resources of the Terraform, and a demo fleet to protect;
- `stack`: starts and stops all of it (`smart_vault.cli.demo` is what `make demo` runs on it).
"""
