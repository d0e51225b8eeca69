# `terraform plan` of the root module with the real AWS provider's schema and mocked resources (tests/terraform/
# plan/run.py prepares the copy it runs in). A mocked resource's computed attributes are unknown at plan time, as
# on a first apply: a count or for_each that depends on one, or a function call that fails on the values a
# deployment of defaults passes, fails this plan as it would fail a real one.

# The mocked AWS provider of every alias: mock_providers.hcl, put in front of this file by run.py.

variables {
  primary_region     = "eu-west-1"
  dr_region          = "eu-central-1"
  notification_email = "ops@example.com"
}

# Only the required variables: both restore stacks, the DR drill and the API Gateway account setting at their
# defaults.
run "defaults" {
  command = plan
  module { source = "./main" }
}

# Every optional part on: drills in both regions with validation functions, the vault account's stack with its
# recovery roles, the billing alarm, key administrators, locks, the Recycle Bin and the trails the tamper rules
# depend on, in both accounts.
run "everything" {
  command = plan
  module { source = "./main" }

  variables {
    drill_regions                  = ["eu-central-1", "eu-west-1"]
    drill_instance_type            = "t3.micro"
    drill_validation_function_arns = { eu-west-1 = "arn:aws:lambda:eu-west-1:123456789012:function:check" }
    enable_billing_alarm           = true
    vault_account_id               = "222222222222"
    vault_event_bus_arn            = "arn:aws:events:eu-central-1:222222222222:event-bus/smart-vault-vault"
    deploy_vault_stack             = true
    vault_role_arn                 = "arn:aws:iam::222222222222:role/smart-vault-deployer"
    vault_key_administrator_arns   = ["arn:aws:iam::222222222222:role/smart-vault-deployer"]
    dr_key_administrator_arns      = ["arn:aws:iam::123456789012:role/deployer"]
    lock_primary                   = true
    recycle_bin_retention_days     = 7
    vault_recovery_role_arns       = ["arn:aws:iam::222222222222:role/smart-vault-recovery-restore-worker"]
    tamper_trail_arns              = ["arn:aws:cloudtrail:eu-west-1:123456789012:trail/management"]
    vault_tamper_trail_arns        = ["arn:aws:cloudtrail:eu-central-1:222222222222:trail/vault"]
  }
}

# A trail homed in a region without tamper rules: they would never see its StopLogging (a multi-region trail is
# stopped, updated and deleted in its home region only).
run "tamper_trail_of_another_region" {
  command = plan
  module { source = "./main" }

  variables {
    tamper_trail_arns = ["arn:aws:cloudtrail:us-east-1:123456789012:trail/management"]
  }

  expect_failures = [var.tamper_trail_arns]
}

# The vault stack applied by the vault account itself: this stack needs the bus it outputs.
run "vault_applied_separately" {
  command = plan
  module { source = "./main" }

  variables {
    vault_account_id    = "222222222222"
    deploy_vault_stack  = false
    vault_event_bus_arn = "arn:aws:events:eu-central-1:222222222222:event-bus/smart-vault-vault"
  }
}

# Without it, or with a bus of another region, every backup run would fail on its configuration: the plan
# refuses it instead.
run "vault_applied_separately_without_its_bus" {
  command = plan
  module { source = "./main" }

  variables {
    vault_account_id   = "222222222222"
    deploy_vault_stack = false
  }

  expect_failures = [var.vault_event_bus_arn]
}

run "vault_applied_separately_with_a_bus_of_another_region" {
  command = plan
  module { source = "./main" }

  variables {
    vault_account_id    = "222222222222"
    deploy_vault_stack  = false
    vault_event_bus_arn = "arn:aws:events:eu-west-1:222222222222:event-bus/smart-vault-vault"
  }

  expect_failures = [var.vault_event_bus_arn]
}

# The vault stack deployed from here needs an administrator of its key, of the vault account; the module's own
# validation would otherwise fail the plan with a message about a variable the operator never set.
run "vault_stack_without_key_administrators" {
  command = plan
  module { source = "./main" }

  variables {
    vault_account_id = "222222222222"
  }

  expect_failures = [var.vault_key_administrator_arns]
}

run "vault_stack_with_an_administrator_of_another_account" {
  command = plan
  module { source = "./main" }

  variables {
    vault_account_id             = "222222222222"
    vault_key_administrator_arns = ["arn:aws:iam::123456789012:role/deployer"]
  }

  expect_failures = [var.vault_key_administrator_arns]
}

# docs/vault.md's root module for a vault account that applies its stack itself.
run "vault_stack_applied_by_its_own_team" {
  command = plan
  module { source = "./vault-example" }

  variables {
    workload_account_id    = "123456789012"
    workload_dr_key_arn    = "arn:aws:kms:eu-central-1:123456789012:key/11111111-2222-3333-4444-555555555555"
    key_administrator_arns = ["arn:aws:iam::222222222222:role/smart-vault-deployer"]
  }
}
