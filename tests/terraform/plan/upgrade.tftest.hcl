# An existing deployment upgrades in place: the root module as it was at the base commit (run.py exports it to
# ./base) is applied with the AWS provider mocked, then this commit's is planned on the same state. run.py
# fails the check when that plan destroys or creates anything: a resource whose address changed without a
# moved block is destroyed and created again. The base has the two plan defects fixed after it (a coalesce of
# nulls in the drill stack, the API Gateway account's count), so the variables here step around them.

# The mocked AWS provider of every alias: mock_providers.hcl, put in front of this file by run.py.

variables {
  primary_region             = "eu-west-1"
  dr_region                  = "eu-central-1"
  notification_email         = "ops@example.com"
  manage_api_gateway_account = false
  drill_regions              = ["eu-central-1", "eu-west-1"]
  drill_instance_type        = "t3.micro"
  drill_validation_function_arns = {
    eu-west-1    = "arn:aws:lambda:eu-west-1:123456789012:function:check"
    eu-central-1 = "arn:aws:lambda:eu-central-1:123456789012:function:check"
  }
  enable_billing_alarm         = true
  vault_account_id             = "222222222222"
  vault_key_administrator_arns = ["arn:aws:iam::222222222222:role/smart-vault-deployer"]
  recycle_bin_retention_days   = 7
}

run "base" {
  command   = apply
  state_key = "upgrade"
  module { source = "./base" }
}

run "upgrade" {
  command   = plan
  state_key = "upgrade"
  module { source = "./main" }
}
