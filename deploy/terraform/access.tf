# Cloudflare Access in front of the audit API: auditors (and impersonators who use Access
# rather than the extension) reach the Worker on their own hostname, behind Access; the
# Worker verifies the Cf-Access-Jwt-Assertion against this application's AUD tag. The
# extension keeps using the main hostname with OIDC tokens, which Access would block.

locals {
  access_emails = var.access == null ? [] : distinct(concat(var.access.auditors, var.access.impersonators))
}

resource "cloudflare_zero_trust_access_policy" "audit" {
  count      = var.access == null ? 0 : 1
  account_id = var.account_id
  name       = "${var.name} audit API"
  decision   = "allow"
  include = [for e in local.access_emails : {
    email        = startswith(e, "*@") ? null : { email = e }
    email_domain = startswith(e, "*@") ? { domain = trimprefix(e, "*@") } : null
  }]
}

resource "cloudflare_zero_trust_access_application" "audit" {
  count            = var.access == null ? 0 : 1
  account_id       = var.account_id
  name             = "${var.name} audit API"
  type             = "self_hosted"
  domain           = var.access.hostname
  destinations     = [{ type = "public", uri = var.access.hostname }]
  session_duration = var.access.session_duration
  policies         = [{ id = cloudflare_zero_trust_access_policy.audit[0].id, precedence = 1 }]
}

resource "cloudflare_workers_custom_domain" "access" {
  count      = var.access == null ? 0 : 1
  account_id = var.account_id
  hostname   = var.access.hostname
  service    = cloudflare_worker.actas.name
  zone_id    = var.access.zone_id
  # Serve the hostname only once Access guards it.
  depends_on = [cloudflare_zero_trust_access_application.audit, cloudflare_workers_deployment.actas]
}
