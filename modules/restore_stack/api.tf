# The REST API, built from openapi.yaml. The spec's integrations point at the API function through
# ${restore_api_invoke_arn}. API Gateway validates bodies and parameters at the edge and answers a bad
# request in the contract's error shape, so malformed requests never start a Lambda.

locals {
  # openapi.yaml is the single description of the API, edge behaviour included: request validators,
  # the API key source and the gateway responses in the contract's error shape (tests/terraform checks them).
  openapi_body = jsonencode(yamldecode(templatefile(var.openapi_template_path, {
    restore_api_invoke_arn = module.restore_api.invoke_arn
  })))
}

resource "aws_api_gateway_rest_api" "restore" {
  name        = "${var.name_prefix}-restore"
  description = "Smart Vault restore API (${var.region})."
  body        = local.openapi_body
  # A construct the importer does not support fails the apply instead of becoming a silent warning.
  fail_on_warnings = true

  endpoint_configuration {
    types = ["REGIONAL"]
  }

  lifecycle {
    create_before_destroy = true
  }
}

resource "aws_api_gateway_deployment" "restore" {
  rest_api_id = aws_api_gateway_rest_api.restore.id

  triggers = {
    redeployment = sha256(local.openapi_body)
  }

  lifecycle {
    create_before_destroy = true
  }
}

resource "aws_cloudwatch_log_group" "api_access" {
  name              = "/aws/apigateway/${var.name_prefix}-restore-access"
  retention_in_days = var.settings.log_retention_days
  kms_key_id        = var.kms_key_arn
}

resource "aws_api_gateway_account" "this" {
  count = var.api_gateway_logging == null ? 0 : 1

  cloudwatch_role_arn = var.api_gateway_logging.role_arn

  # API Gateway checks the role's permissions when the setting is made: on a first apply the role's
  # policy attachment must exist before this does, or the call fails.
  depends_on = [var.api_gateway_logging]
}

resource "aws_api_gateway_stage" "v1" {
  #checkov:skip=CKV_AWS_120:Responses are restore job states and 202s for new restores; a cache would serve stale job status and could replay a POST answer.
  #checkov:skip=CKV2_AWS_51:Clients authenticate with an API key over TLS; the backend is a Lambda proxy integration, not an HTTP endpoint that would check a client certificate.
  #checkov:skip=CKV2_AWS_29:The API is small, key-protected and throttled by its usage plan; a WAF web ACL is an account-level choice left to the operator (associate one with this stage's ARN).
  rest_api_id          = aws_api_gateway_rest_api.restore.id
  deployment_id        = aws_api_gateway_deployment.restore.id
  stage_name           = "v1"
  description          = "Smart Vault restore API v1"
  xray_tracing_enabled = true

  access_log_settings {
    destination_arn = aws_cloudwatch_log_group.api_access.arn
    format = jsonencode({
      requestId        = "$context.requestId"
      extendedId       = "$context.extendedRequestId"
      ip               = "$context.identity.sourceIp"
      apiKeyId         = "$context.identity.apiKeyId"
      requestTime      = "$context.requestTime"
      httpMethod       = "$context.httpMethod"
      resourcePath     = "$context.resourcePath"
      status           = "$context.status"
      responseLength   = "$context.responseLength"
      integrationError = "$context.integration.error"
      validationError  = "$context.error.validationErrorString"
      xrayTraceId      = "$context.xrayTraceId"
    })
  }

  depends_on = [aws_api_gateway_account.this]
}

resource "aws_api_gateway_method_settings" "all" {
  #checkov:skip=CKV_AWS_225:Responses are restore job states and 202s for new restores; a cache would serve stale job status and could replay a POST answer.
  rest_api_id = aws_api_gateway_rest_api.restore.id
  stage_name  = aws_api_gateway_stage.v1.stage_name
  method_path = "*/*"

  settings {
    metrics_enabled = true
    # ERROR, not INFO: execution logs at INFO would include request bodies.
    logging_level          = "ERROR"
    data_trace_enabled     = false
    throttling_rate_limit  = var.settings.api_throttle_rate_limit * 4
    throttling_burst_limit = var.settings.api_throttle_burst * 4
    caching_enabled        = false
    cache_data_encrypted   = true
  }
}

resource "aws_api_gateway_api_key" "restore" {
  name        = "${var.name_prefix}-restore"
  description = "Key for the Smart Vault restore API (${var.region})."
  enabled     = true
}

resource "aws_api_gateway_usage_plan" "restore" {
  name        = "${var.name_prefix}-restore"
  description = "Throttle and daily quota per key of the Smart Vault restore API."

  api_stages {
    api_id = aws_api_gateway_rest_api.restore.id
    stage  = aws_api_gateway_stage.v1.stage_name
  }

  throttle_settings {
    rate_limit  = var.settings.api_throttle_rate_limit
    burst_limit = var.settings.api_throttle_burst
  }

  quota_settings {
    limit  = var.settings.api_quota_per_day
    period = "DAY"
  }
}

resource "aws_api_gateway_usage_plan_key" "restore" {
  key_id        = aws_api_gateway_api_key.restore.id
  key_type      = "API_KEY"
  usage_plan_id = aws_api_gateway_usage_plan.restore.id
}

resource "aws_lambda_permission" "api_gateway" {
  statement_id  = "AllowRestoreApiV1"
  action        = "lambda:InvokeFunction"
  function_name = module.restore_api.function_name
  principal     = "apigateway.amazonaws.com"
  source_arn    = "${aws_api_gateway_rest_api.restore.execution_arn}/${aws_api_gateway_stage.v1.stage_name}/*/*"
}
