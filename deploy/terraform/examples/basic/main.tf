# A production deployment of actas: the module at ../.., with the values an operator
# fills in (terraform.tfvars.example). Secrets come from sensitive variables, e.g.
# TF_VAR_bareid_client_secret and TF_VAR_api_keys in the environment, never a file in git.

terraform {
  required_version = ">= 1.8.0"
  required_providers {
    cloudflare = {
      source  = "cloudflare/cloudflare"
      version = "~> 5.22"
    }
  }
}

# The API token (CLOUDFLARE_API_TOKEN) needs: Account Workers Scripts Edit, D1 Edit,
# Access Apps and Policies Edit (with access), and Zone Workers Routes Edit on the zone.
provider "cloudflare" {}

variable "account_id" {
  description = "Cloudflare account id."
  type        = string
}

variable "zone_id" {
  description = "The zone of the custom domains."
  type        = string
}

variable "hostname" {
  description = "Where admins and the extension reach actas, e.g. actas.example.com."
  type        = string
}

variable "audit_hostname" {
  description = "The Access-protected hostname for auditors, e.g. actas-audit.example.com; null: no Access."
  type        = string
  default     = null
}

variable "access_team_domain" {
  description = "Zero Trust team domain, e.g. myteam.cloudflareaccess.com (with audit_hostname)."
  type        = string
  default     = null
}

variable "auditors" {
  description = "E-mail addresses (or *@domain) that may read the audit trail through Access."
  type        = list(string)
  default     = []
}

variable "bundle_dir" {
  description = "Output of `npx wrangler deploy --dry-run --outdir DIR` after ./build.sh build."
  type        = string
  default     = "../../../../build/deploy"
}

variable "bareid_instance" {
  description = "Bare.ID instance UUID."
  type        = string
}

variable "bareid_realm_url" {
  description = "The realm admins sign in to, e.g. https://example.bare.id/realms/support."
  type        = string
}

variable "bareid_client_id" {
  description = "The service account (realm-management's impersonation role)."
  type        = string
}

variable "bareid_client_secret" {
  description = "The service account's secret."
  type        = string
  sensitive   = true
}

variable "api_keys" {
  description = "ACTAS_API_KEYS lines from ./build.sh keygen LABEL."
  type        = list(string)
  sensitive   = true
  default     = []
}

variable "clients" {
  description = "Target applications, client id => display name."
  type        = map(string)
}

variable "protected_users" {
  description = "User UUIDs nobody may impersonate."
  type        = list(string)
  default     = []
}

variable "allowed_origins" {
  description = "The extension's origins (chrome-extension://<id>, moz-extension://<uuid>)."
  type        = list(string)
  default     = []
}

variable "version_message" {
  description = "Stored with the new version, e.g. the git commit."
  type        = string
  default     = ""
}

variable "rollback_version_id" {
  description = "Deploy this earlier version instead (roll back)."
  type        = string
  default     = null
}

module "actas" {
  source = "../.."

  account_id          = var.account_id
  bundle_dir          = var.bundle_dir
  version_message     = var.version_message
  rollback_version_id = var.rollback_version_id

  bareid = {
    instance            = var.bareid_instance
    token_url           = "${var.bareid_realm_url}/protocol/openid-connect/token"
    client_id           = var.bareid_client_id
    impersonation_hosts = [regex("^https://([^/]+)", var.bareid_realm_url)[0]]
  }
  bareid_client_secret = var.bareid_client_secret
  api_keys             = var.api_keys

  oidc = {
    issuer   = var.bareid_realm_url
    audience = "actas-extension"
  }
  access = var.audit_hostname == null ? null : {
    team_domain = var.access_team_domain
    hostname    = var.audit_hostname
    zone_id     = var.zone_id
    auditors    = var.auditors
  }

  clients         = var.clients
  protected_users = var.protected_users
  reason          = { required = true, min_length = 8 }
  rate_limit      = "20/1h"
  allowed_origins = var.allowed_origins

  custom_domain = { hostname = var.hostname, zone_id = var.zone_id }
}

output "url" {
  description = "The Worker's URL."
  value       = module.actas.url
}

output "audit_url" {
  description = "The Access-protected audit hostname."
  value       = module.actas.audit_url
}

output "version_id" {
  description = "The version this apply built; note it for a later rollback."
  value       = module.actas.version_id
}

output "extension_policy_chrome" {
  description = "Chrome policy JSON for the extension's managed settings."
  value       = module.actas.extension_policy_chrome
}

output "extension_policy_firefox" {
  description = "Firefox policies.json for the extension's managed settings."
  value       = module.actas.extension_policy_firefox
}
