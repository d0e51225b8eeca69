# The AWS provider of every alias the root module configures, mocked with aws.tfmock.hcl's answers. run.py puts
# these blocks in front of each test file it copies (Terraform's test files cannot include one another).
mock_provider "aws" { source = "./tests" }
mock_provider "aws" {
  alias  = "dr"
  source = "./tests"
}
mock_provider "aws" {
  alias  = "us_east_1"
  source = "./tests"
}
mock_provider "aws" {
  alias  = "vault"
  source = "./tests"
}
