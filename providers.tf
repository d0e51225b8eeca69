# The primary region runs the backups and a restore stack; the DR region holds the encrypted snapshot
# copies and (by default) a second restore stack; billing metrics exist only in us-east-1.

provider "aws" {
  region = var.primary_region

  default_tags {
    tags = local.tags
  }
}

provider "aws" {
  alias  = "dr"
  region = var.dr_region

  default_tags {
    tags = local.tags
  }
}

provider "aws" {
  alias  = "us_east_1"
  region = "us-east-1"

  default_tags {
    tags = local.tags
  }
}

# (v3) The vault account, in the DR region: its own credentials (a role of that account, assumed from the
# credentials Terraform runs with, or a named profile). Unused when no vault stack is deployed.
provider "aws" {
  alias   = "vault"
  region  = var.dr_region
  profile = var.vault_profile

  dynamic "assume_role" {
    for_each = var.vault_role_arn == null ? [] : [var.vault_role_arn]
    content {
      role_arn     = assume_role.value
      session_name = "${var.name_prefix}-vault-deploy"
    }
  }

  default_tags {
    tags = local.tags
  }
}
