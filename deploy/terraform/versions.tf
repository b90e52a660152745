terraform {
  # OpenTofu 1.8+ or Terraform 1.9+: validations refer to other variables.
  required_version = ">= 1.8.0"
  required_providers {
    cloudflare = {
      source  = "cloudflare/cloudflare"
      version = "~> 5.22"
    }
  }
}
