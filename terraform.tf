# Terraform and provider versions, and the state backend.
#
# The S3 backend is declared without settings (a partial configuration): each deployment passes its own
# bucket, key and region at `terraform init -backend-config=backend.hcl` (see docs/deploy.md), so no
# bucket name is committed here. S3-native state locking (`use_lockfile`) needs Terraform 1.10 or newer.
terraform {
  required_version = ">= 1.10.0"

  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = ">= 5.80.0, < 7.0.0"
    }
    archive = {
      source  = "hashicorp/archive"
      version = ">= 2.5.0, < 3.0.0" # 2.5.0: glob patterns in archive_file excludes
    }
  }

  backend "s3" {}
}
