"""The local sandbox: a moto server, the real Terraform applied to it, and a local Lambda runtime."""
