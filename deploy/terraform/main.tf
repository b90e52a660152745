# actas on Cloudflare: the audit database, the Worker (one version per build, deployed at
# 100%), its bindings, and where it answers. README.md beside this file explains the
# choices; the repository's README has the operator's runbook.

locals {
  wasm_files = fileset(var.bundle_dir, "*.wasm")
  # try(): a bundle_dir that fails its validation must not add errors of its own here.
  wasm_name = try(one(local.wasm_files), "")
  # The bundle's identity: a new build (any byte of worker.js or the wasm) is a new
  # version; the same build re-applied changes nothing.
  bundle_sha256 = try(sha256(join(",", [for f in concat(["worker.js"], sort(tolist(local.wasm_files))) : "${f}:${filesha256("${var.bundle_dir}/${f}")}"])), "")

  compatibility_date = coalesce(var.compatibility_date,
  regex("(?m)^compatibility_date\\s*=\\s*\"([0-9]{4}-[0-9]{2}-[0-9]{2})\"", file("${path.module}/../../wrangler.toml"))[0])

  # Plain settings, by the names the Worker reads (worker/config). Null means unset:
  # the binding is left out and the Worker's default applies. ACTAS_DEV_LOOPBACK is
  # development only and never set here. ACTAS_ACCESS_AUD is bound below: it is unknown
  # until the Access application exists, and filtering on it would make every binding
  # unknown in the plan.
  plain = {
    BAREID_API_URL              = var.bareid.api_url
    BAREID_INSTANCE             = var.bareid.instance
    BAREID_TOKEN_URL            = var.bareid.token_url
    BAREID_CLIENT_ID            = var.bareid.client_id
    BAREID_IMPERSONATION_HOSTS  = join(",", var.bareid.impersonation_hosts)
    BAREID_RESPONSE_TOKEN_PATH  = var.bareid.response_token_path
    BAREID_RESPONSE_URL_PATH    = var.bareid.response_url_path
    BAREID_TIMEOUT              = var.bareid.timeout
    BAREID_IMPERSONATION_METHOD = var.bareid.impersonation_method
    ACTAS_OIDC_ISSUER           = try(var.oidc.issuer, null)
    ACTAS_OIDC_AUDIENCE         = try(var.oidc.audience, null)
    ACTAS_OIDC_ROLES_PATH       = try(var.oidc.roles_path, null)
    ACTAS_OIDC_ACTOR_CLAIM      = try(var.oidc.actor_claim, null)
    ACTAS_ACCESS_TEAM_DOMAIN    = try(var.access.team_domain, null)
    ACTAS_ACCESS_IMPERSONATORS  = var.access == null ? null : join(",", var.access.impersonators)
    ACTAS_ACCESS_AUDITORS       = var.access == null ? null : join(",", var.access.auditors)
    ACTAS_IMPERSONATOR_ROLE     = var.roles.impersonator
    ACTAS_AUDITOR_ROLE          = var.roles.auditor
    ACTAS_JWKS_REFETCH_INTERVAL = var.jwks_refetch_interval
    ACTAS_CLIENTS               = join(",", [for id in sort(keys(var.clients)) : "${id}=${var.clients[id]}"])
    ACTAS_CLIENT_ROLES          = length(var.client_roles) == 0 ? null : join(",", [for id in sort(keys(var.client_roles)) : "${id}=${join("|", var.client_roles[id])}"])
    ACTAS_PROTECTED_USERS       = length(var.protected_users) == 0 ? null : join(",", var.protected_users)
    ACTAS_REASON_REQUIRED       = var.reason.required == null ? null : tostring(var.reason.required)
    ACTAS_REASON_MIN_LENGTH     = var.reason.min_length == null ? null : tostring(var.reason.min_length)
    ACTAS_REASON_PATTERN        = var.reason.pattern
    ACTAS_RATE_LIMIT            = var.rate_limit
    ACTAS_ALLOWED_ORIGINS       = length(var.allowed_origins) == 0 ? null : join(",", var.allowed_origins)
    ACTAS_WEBHOOK_URL           = try(var.webhook.url, null)
    ACTAS_WEBHOOK_RETRY         = try(var.webhook.retry, null)
    ACTAS_ANCHOR_CRON           = var.anchor_cron
    ACTAS_AUDIT_RETENTION       = var.audit.retention
    ACTAS_AUDIT_CALLER          = var.audit.caller
    ACTAS_LOG_FORMAT            = var.log_format
  }

  # How many API keys is not a secret; which keys is.
  has_api_keys = nonsensitive(length(var.api_keys)) > 0

  bindings = concat(
    [{ type = "d1", name = "AUDIT_DB", id = cloudflare_d1_database.audit.id, text = null }],
    [for k in sort(keys(local.plain)) : { type = "plain_text", name = k, id = null, text = local.plain[k] } if local.plain[k] != null],
    var.access == null ? [] : [{ type = "plain_text", name = "ACTAS_ACCESS_AUD", id = null, text = cloudflare_zero_trust_access_application.audit[0].aud }],
    [{ type = "secret_text", name = "BAREID_CLIENT_SECRET", id = null, text = var.bareid_client_secret }],
    # Whether a next secret is set is not secret; comparing the sensitive value would
    # make the condition, and so every binding, sensitive in the plan.
    nonsensitive(var.bareid_client_secret_next == null) ? [] : [{ type = "secret_text", name = "BAREID_CLIENT_SECRET_NEXT", id = null, text = var.bareid_client_secret_next }],
    var.webhook == null ? [] : [{ type = "secret_text", name = "ACTAS_WEBHOOK_SECRET", id = null, text = var.webhook_secret }],
    local.has_api_keys ? [{ type = "secret_text", name = "ACTAS_API_KEYS", id = null, text = join("\n", var.api_keys) }] : [],
  )

  url = (var.custom_domain != null ? "https://${var.custom_domain.hostname}" :
    var.route != null ? "https://${trimsuffix(trimsuffix(var.route.pattern, "*"), "/")}" :
    var.workers_dev && var.workers_dev_subdomain != null ? "https://${var.name}.${var.workers_dev_subdomain}.workers.dev" :
  null)
}

# The audit trail. Never destroyed or replaced by this module: the Worker creates its
# schema on first use (migrations/ embedded in the wasm, recorded in d1_migrations).
resource "cloudflare_d1_database" "audit" {
  account_id            = var.account_id
  name                  = var.database_name
  primary_location_hint = var.database_location_hint

  lifecycle {
    prevent_destroy = true
  }
}

resource "cloudflare_worker" "actas" {
  account_id = var.account_id
  name       = var.name
  logpush    = var.logpush

  subdomain = {
    enabled          = var.workers_dev
    previews_enabled = false
  }

  # Workers Logs: one JSON line per request (requestId, route, status, actor,
  # problem, error), as wrangler.toml's [observability.logs].
  observability = {
    enabled = true
    logs = {
      enabled         = true
      invocation_logs = true
    }
  }
}

# One immutable version per bundle. Every argument forces a new version when it
# changes (the provider's rule for versions). Replacing a version deletes nothing:
# Cloudflare keeps old versions (rollback needs them) and the provider's delete is a
# no-op, as it is for deployments.
resource "cloudflare_worker_version" "actas" {
  account_id         = var.account_id
  worker_id          = cloudflare_worker.actas.id
  compatibility_date = local.compatibility_date
  main_module        = "worker.js"

  modules = [
    {
      name         = "worker.js"
      content_type = "application/javascript+module"
      content_file = "${var.bundle_dir}/worker.js"
    },
    {
      name         = local.wasm_name
      content_type = "application/wasm"
      content_file = "${var.bundle_dir}/${local.wasm_name}"
    },
  ]

  bindings = local.bindings

  annotations = {
    workers_tag     = substr(local.bundle_sha256, 0, 32)
    workers_message = trimspace("${var.version_message} bundle sha256:${local.bundle_sha256}")
  }

  lifecycle {
    precondition {
      condition     = local.has_api_keys || var.oidc != null || var.access != null
      error_message = "No way to identify callers: set api_keys, oidc or access (the Worker would refuse every request)."
    }
    # The variable's validation covers a date given there; this covers wrangler.toml's.
    precondition {
      condition     = timecmp("${local.compatibility_date}T00:00:00Z", "2024-10-14T00:00:00Z") >= 0
      error_message = "The compatibility date ${local.compatibility_date} is before 2024-10-14: the Worker needs handle_cross_request_promise_resolution, its default since then."
    }
  }
}

resource "cloudflare_workers_deployment" "actas" {
  account_id  = var.account_id
  script_name = cloudflare_worker.actas.name
  strategy    = "percentage"
  versions = [{
    version_id = coalesce(var.rollback_version_id, cloudflare_worker_version.actas.id)
    percentage = 100
  }]
}

resource "cloudflare_workers_custom_domain" "actas" {
  count      = var.custom_domain == null ? 0 : 1
  account_id = var.account_id
  hostname   = var.custom_domain.hostname
  service    = cloudflare_worker.actas.name
  zone_id    = var.custom_domain.zone_id
  depends_on = [cloudflare_workers_deployment.actas]
}

resource "cloudflare_workers_route" "actas" {
  count      = var.route == null ? 0 : 1
  zone_id    = var.route.zone_id
  pattern    = var.route.pattern
  script     = cloudflare_worker.actas.name
  depends_on = [cloudflare_workers_deployment.actas]
}

# The Worker's Cron Triggers (as wrangler.toml's [triggers]): webhook delivery with
# retries, and the daily anchor of the audit chain (anchor_cron must be one of them).
resource "cloudflare_workers_cron_trigger" "actas" {
  account_id  = var.account_id
  script_name = cloudflare_worker.actas.name
  schedules   = [for c in var.crons : { cron = c }]

  lifecycle {
    precondition {
      condition     = contains(var.crons, var.anchor_cron)
      error_message = "anchor_cron must be one of crons, or the audit chain is never anchored."
    }
  }
  depends_on = [cloudflare_workers_deployment.actas]
}
