output "url" {
  description = "Where the Worker answers: the custom domain, else the route, else its workers.dev URL (when enabled and workers_dev_subdomain is given)."
  value       = local.url
}

output "audit_url" {
  description = "The Access-protected hostname for the audit API, when access is set."
  value       = var.access == null ? null : "https://${var.access.hostname}"
}

output "database_id" {
  description = "The D1 database's id (for `wrangler d1 execute --remote` and the dashboard)."
  value       = cloudflare_d1_database.audit.id
}

output "version_id" {
  description = "The Worker version built from bundle_dir; keep it to roll back to it later (rollback_version_id)."
  value       = cloudflare_worker_version.actas.id
}

output "deployed_version_id" {
  description = "The version the deployment serves: version_id, or rollback_version_id while rolled back."
  value       = coalesce(var.rollback_version_id, cloudflare_worker_version.actas.id)
}

output "access_aud" {
  description = "The Access application's AUD tag (set as ACTAS_ACCESS_AUD), when access is set."
  value       = try(cloudflare_zero_trust_access_application.audit[0].aud, null)
}

locals {
  extension_settings = { for k, v in {
    workerUrl          = local.url
    issuer             = try(var.oidc.issuer, null)
    clientId           = var.extension.client_id
    openMode           = var.extension.open_mode
    impersonationHosts = join(",", var.bareid.impersonation_hosts)
  } : k => v if v != null }
}

output "extension_policy_chrome" {
  description = "Managed settings for the browser extension as Chrome/Chromium policy JSON (the 3rdparty policy; on Linux a file in /etc/opt/chrome/policies/managed/)."
  value = jsonencode({
    "3rdparty" = { extensions = { (var.extension.chrome_id) = local.extension_settings } }
  })
}

output "extension_policy_firefox" {
  description = "Managed settings for the browser extension as Firefox policies.json (in the installation's distribution/ directory)."
  value = jsonencode({
    policies = { "3rdparty" = { Extensions = { (var.extension.firefox_id) = local.extension_settings } } }
  })
}
