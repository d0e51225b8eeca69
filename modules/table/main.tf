# One DynamoDB table of the vault: on demand, string keys, items expired through a TTL attribute, point-in-time
# recovery, encrypted with the stack's key. The copy ledger, the restore jobs, the idempotency records, the
# drill results and the vault's ledger are instances of it.

resource "aws_dynamodb_table" "this" {
  name         = var.name
  billing_mode = "PAY_PER_REQUEST"
  hash_key     = var.hash_key
  range_key    = var.range_key

  dynamic "attribute" {
    for_each = [for key in [var.hash_key, var.range_key] : key if key != null]
    content {
      name = attribute.value
      type = "S"
    }
  }

  ttl {
    attribute_name = var.ttl_attribute
    enabled        = true
  }

  point_in_time_recovery {
    enabled = true
  }

  server_side_encryption {
    enabled     = true
    kms_key_arn = var.kms_key_arn
  }
}
