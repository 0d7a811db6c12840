"""Plumbing every command shares: the AWS target, the stack and its outputs, the Terraform adapter, errors."""
