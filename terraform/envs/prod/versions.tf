terraform {
  required_version = ">= 1.10" # the S3 backend's use_lockfile

  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = ">= 5.100, < 6.0" # tested with 5.100.x; 6.x deprecates data.aws_region.current.name
    }
  }
}
