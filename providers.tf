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
