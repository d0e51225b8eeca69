# The attributes the configuration parses or validates (JSON policies, ARNs, zone names): a mocked resource
# or data source answers these values instead of random strings. Everything else stays unknown at plan time.
mock_data "aws_caller_identity" {
  defaults = { account_id = "123456789012", arn = "arn:aws:iam::123456789012:user/x" }
}
mock_data "aws_partition" {
  defaults = { partition = "aws", dns_suffix = "amazonaws.com" }
}
mock_data "aws_iam_policy_document" {
  defaults = { json = "{\"Version\":\"2012-10-17\",\"Statement\":[]}" }
}
mock_data "aws_availability_zones" {
  defaults = { names = ["eu-west-1a", "eu-west-1b"] }
}
mock_resource "aws_sns_topic" {
  defaults = { arn = "arn:aws:sns:eu-west-1:123456789012:topic" }
}
mock_resource "aws_kms_key" {
  defaults = { arn = "arn:aws:kms:eu-west-1:123456789012:key/k", key_id = "k" }
}
mock_resource "aws_lambda_function" {
  defaults = { arn = "arn:aws:lambda:eu-west-1:123456789012:function:f", invoke_arn = "arn:aws:apigateway:eu-west-1:lambda:path/2015-03-31/functions/arn:aws:lambda:eu-west-1:123456789012:function:f/invocations" }
}
mock_resource "aws_iam_role" {
  defaults = { arn = "arn:aws:iam::123456789012:role/r" }
}
mock_resource "aws_dynamodb_table" {
  defaults = { arn = "arn:aws:dynamodb:eu-west-1:123456789012:table/t", stream_arn = "arn:aws:dynamodb:eu-west-1:123456789012:table/t/stream/x" }
}
mock_resource "aws_sqs_queue" {
  defaults = { arn = "arn:aws:sqs:eu-west-1:123456789012:q", url = "https://sqs.eu-west-1.amazonaws.com/123456789012/q" }
}
mock_resource "aws_cloudwatch_event_rule" {
  defaults = { arn = "arn:aws:events:eu-west-1:123456789012:rule/r" }
}
mock_resource "aws_cloudwatch_log_group" {
  defaults = { arn = "arn:aws:logs:eu-west-1:123456789012:log-group:g" }
}
mock_resource "aws_api_gateway_rest_api" {
  defaults = { execution_arn = "arn:aws:execute-api:eu-west-1:123456789012:abc", arn = "arn:aws:apigateway:eu-west-1::/restapis/abc", root_resource_id = "r" }
}
mock_data "aws_region" {
  defaults = { id = "eu-west-1", name = "eu-west-1" } # name: read by the base commit of the upgrade test
}
mock_resource "aws_cloudwatch_event_bus" {
  defaults = { arn = "arn:aws:events:eu-central-1:222222222222:event-bus/b" }
}
