terraform {
  required_version = ">= 1.5"

  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = ">= 5.100, < 6.0" # tested with 5.100.x; 6.x deprecates data.aws_region.current.name
    }
  }
}
