# Every setting the Worker reads (README, "Configuration") as a typed variable. A
# mistake fails at plan time with a message naming the variable, not at the first
# request. Optional settings left null are not bound, so the Worker's default applies.

variable "account_id" {
  description = "Cloudflare account id (32 hex digits) that owns the Worker, its database and the Access application."
  type        = string
  nullable    = false
  validation {
    condition     = can(regex("^[0-9a-f]{32}$", var.account_id))
    error_message = "account_id must be a Cloudflare account id: 32 lower-case hex digits."
  }
}

variable "name" {
  description = "The Worker's name (script name), used in its workers.dev URL and in the dashboard."
  type        = string
  default     = "actas"
  nullable    = false
  validation {
    condition     = can(regex("^[a-z0-9][a-z0-9-]{0,62}$", var.name))
    error_message = "name must be 1-63 lower-case letters, digits or dashes, starting with a letter or digit."
  }
}

variable "database_name" {
  description = "Name of the D1 database that holds the audit trail. The Worker creates its schema on the first request."
  type        = string
  default     = "actas-audit"
  nullable    = false
  validation {
    condition     = can(regex("^[a-z0-9][a-z0-9_-]{0,63}$", var.database_name))
    error_message = "database_name must be 1-64 lower-case letters, digits, dashes or underscores."
  }
}

variable "database_location_hint" {
  description = "Where D1 places the database's primary (wnam, enam, weur, eeur, apac, oc); null lets Cloudflare choose near the first request. Changing it later would replace the database, which the module refuses."
  type        = string
  default     = null
  validation {
    condition     = var.database_location_hint == null || contains(["wnam", "enam", "weur", "eeur", "apac", "oc"], coalesce(var.database_location_hint, "-"))
    error_message = "database_location_hint must be one of wnam, enam, weur, eeur, apac, oc (or null)."
  }
}

variable "bundle_dir" {
  description = "Directory written by `./build.sh build && npx wrangler deploy --dry-run --outdir DIR`: worker.js and one <hash>-app.wasm. A rebuilt wasm makes a new Worker version."
  type        = string
  nullable    = false
  validation {
    condition     = fileexists("${var.bundle_dir}/worker.js") && length(fileset(var.bundle_dir, "*.wasm")) == 1
    error_message = "bundle_dir must hold worker.js and exactly one .wasm file: run ./build.sh build, then npx wrangler deploy --dry-run --outdir <bundle_dir> (into an empty directory)."
  }
}

variable "compatibility_date" {
  description = "The Workers runtime's compatibility date; null reads it from the repository's wrangler.toml, so both deploy paths agree. It must be 2024-10-14 or later: the Worker's one Go instance per isolate relies on handle_cross_request_promise_resolution, the default since then."
  type        = string
  default     = null
  validation {
    condition     = var.compatibility_date == null || can(regex("^[0-9]{4}-[0-9]{2}-[0-9]{2}$", coalesce(var.compatibility_date, "-")))
    error_message = "compatibility_date must be a date, YYYY-MM-DD."
  }
  validation {
    condition     = var.compatibility_date == null || try(timecmp("${var.compatibility_date}T00:00:00Z", "2024-10-14T00:00:00Z") >= 0, true)
    error_message = "compatibility_date must be 2024-10-14 or later: the Worker needs handle_cross_request_promise_resolution (its default since that date), or overlapping requests fail with \"Cannot perform I/O on behalf of a different request\"."
  }
}

variable "version_message" {
  description = "Annotation stored with each new Worker version (shown in the dashboard's deployments), e.g. a git commit."
  type        = string
  default     = ""
  nullable    = false
}

variable "rollback_version_id" {
  description = "Deploy this existing Worker version instead of the one built from bundle_dir (roll back). Null deploys the newest."
  type        = string
  default     = null
  validation {
    condition     = var.rollback_version_id == null || can(regex("^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$", coalesce(var.rollback_version_id, "-")))
    error_message = "rollback_version_id must be a Worker version id (a UUID), as listed by `npx wrangler versions list` or the module's version_id output."
  }
}

# --- Bare.ID -----------------------------------------------------------------------

variable "bareid" {
  description = <<-EOT
    How the Worker reaches Bare.ID: api_url (BAREID_API_URL), instance (BAREID_INSTANCE,
    a UUID), token_url (BAREID_TOKEN_URL), client_id (BAREID_CLIENT_ID, the service
    account with realm-management's impersonation role), impersonation_hosts
    (BAREID_IMPERSONATION_HOSTS), and optionally response_token_path,
    response_url_path, timeout (a Go duration such as 10s) and impersonation_method
    (POST or GET).
  EOT
  type = object({
    api_url              = optional(string)
    instance             = string
    token_url            = string
    client_id            = string
    impersonation_hosts  = list(string)
    response_token_path  = optional(string)
    response_url_path    = optional(string)
    timeout              = optional(string)
    impersonation_method = optional(string)
  })
  nullable = false
  validation {
    condition     = can(regex("^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$", var.bareid.instance))
    error_message = "bareid.instance must be the Bare.ID instance's UUID."
  }
  validation {
    condition     = var.bareid.api_url == null || can(regex("^https://[^/?#@\\s]+(/[^?#\\s]*)?$", coalesce(var.bareid.api_url, "-")))
    error_message = "bareid.api_url must be an https:// URL without query or fragment."
  }
  validation {
    condition     = can(regex("^https://[^/?#@\\s]+/[^?#\\s]*$", var.bareid.token_url))
    error_message = "bareid.token_url must be an https:// URL (the realm's OAuth2 token endpoint)."
  }
  validation {
    condition     = trimspace(var.bareid.client_id) != ""
    error_message = "bareid.client_id must not be empty."
  }
  validation {
    condition     = length(var.bareid.impersonation_hosts) > 0 && alltrue([for h in var.bareid.impersonation_hosts : can(regex("^[a-z0-9]([a-z0-9.-]*[a-z0-9])?$", h))])
    error_message = "bareid.impersonation_hosts must list at least one host name (lower case, no scheme, port or path), e.g. [\"auth.example.com\"]."
  }
  validation {
    condition     = var.bareid.timeout == null || can(regex("^([0-9]+(\\.[0-9]+)?(ms|s|m|h))+$", coalesce(var.bareid.timeout, "-")))
    error_message = "bareid.timeout must be a duration such as 10s, 1500ms or 1m30s."
  }
  validation {
    condition     = var.bareid.impersonation_method == null || contains(["POST", "GET"], coalesce(var.bareid.impersonation_method, "-"))
    error_message = "bareid.impersonation_method must be POST or GET."
  }
}

variable "bareid_client_secret" {
  description = "The service account's client secret (BAREID_CLIENT_SECRET), bound as a secret."
  type        = string
  sensitive   = true
  nullable    = false
  validation {
    condition     = length(trimspace(var.bareid_client_secret)) > 0
    error_message = "bareid_client_secret must not be empty."
  }
}

variable "bareid_client_secret_next" {
  description = "BAREID_CLIENT_SECRET_NEXT: during a rotation of the service account's secret, the other secret, tried when Bare.ID refuses the first (README: rotation). Bound as a secret; null binds nothing."
  type        = string
  sensitive   = true
  default     = null
}

# --- Callers ----------------------------------------------------------------------

variable "api_keys" {
  description = "ACTAS_API_KEYS entries, label:sha256hex[:role|role], one per automation caller (./build.sh keygen LABEL prints one). Bound as a secret; empty binds nothing."
  type        = list(string)
  sensitive   = true
  default     = []
  nullable    = false
  validation {
    condition     = alltrue([for k in var.api_keys : can(regex("^[A-Za-z0-9][A-Za-z0-9._@+-]{0,127}:[0-9a-f]{64}(:[^:,\\s]+)?$", k))])
    error_message = "Each api_keys entry must be label:sha256hex or label:sha256hex:role|role, as ./build.sh keygen prints it."
  }
}

variable "oidc" {
  description = "OIDC bearer tokens from the Bare.ID realm admins sign in to (the browser extension): issuer (ACTAS_OIDC_ISSUER), audience (ACTAS_OIDC_AUDIENCE, the public client), optionally roles_path and actor_claim. Null disables."
  type = object({
    issuer      = string
    audience    = string
    roles_path  = optional(string)
    actor_claim = optional(string)
  })
  default = null
  validation {
    condition     = var.oidc == null || can(regex("^https://[^/?#@\\s]+(/[^?#\\s]*)?$", try(var.oidc.issuer, "")))
    error_message = "oidc.issuer must be an https:// URL, e.g. https://YOUR-INSTANCE.bare.id/realms/YOUR-REALM."
  }
  validation {
    condition     = var.oidc == null || trimspace(try(var.oidc.audience, "")) != ""
    error_message = "oidc.audience must name the client admins sign in with, e.g. actas-extension."
  }
}

variable "access" {
  description = <<-EOT
    Cloudflare Access in front of the audit API: the module serves the Worker on
    hostname (a custom domain in zone_id), puts an Access application with one allow
    policy in front of that hostname, and sets ACTAS_ACCESS_TEAM_DOMAIN and
    ACTAS_ACCESS_AUD to match. auditors and impersonators are e-mail addresses or
    *@domain, who get each role (ACTAS_ACCESS_AUDITORS, ACTAS_ACCESS_IMPERSONATORS)
    and pass the policy. Null disables.
  EOT
  type = object({
    team_domain      = string
    hostname         = string
    zone_id          = string
    auditors         = list(string)
    impersonators    = optional(list(string), [])
    session_duration = optional(string, "8h")
  })
  default = null
  validation {
    condition     = var.access == null || can(regex("^[a-z0-9-]+\\.cloudflareaccess\\.com$", try(var.access.team_domain, "")))
    error_message = "access.team_domain must be your Zero Trust team domain, e.g. myteam.cloudflareaccess.com."
  }
  validation {
    condition     = var.access == null || can(regex("^[a-z0-9]([a-z0-9.-]*[a-z0-9])?$", try(var.access.hostname, "")))
    error_message = "access.hostname must be a host name (no scheme or path), e.g. audit.example.com."
  }
  validation {
    condition = var.access == null || (length(try(concat(var.access.auditors, var.access.impersonators), [])) > 0 &&
    alltrue([for e in try(concat(var.access.auditors, var.access.impersonators), []) : can(regex("^(\\*|[^@\\s,*]+)@[a-z0-9.-]+\\.[a-z]+$", e))]))
    error_message = "access.auditors and access.impersonators must name at least one e-mail address or *@domain between them."
  }
  validation {
    condition     = var.access == null || can(regex("^([0-9]+(ms|s|m|h))+$", try(var.access.session_duration, "")))
    error_message = "access.session_duration must be a duration such as 8h or 30m."
  }
}

variable "roles" {
  description = "Role names that grant each permission (ACTAS_IMPERSONATOR_ROLE, ACTAS_AUDITOR_ROLE); null keeps the Worker's defaults."
  type = object({
    impersonator = optional(string)
    auditor      = optional(string)
  })
  default  = {}
  nullable = false
}

variable "jwks_refetch_interval" {
  description = "ACTAS_JWKS_REFETCH_INTERVAL: least time between key-set fetches prompted by an unknown kid (1s-1h); null keeps 30s."
  type        = string
  default     = null
  validation {
    condition     = var.jwks_refetch_interval == null || can(regex("^([0-9]+(\\.[0-9]+)?(ms|s|m|h))+$", coalesce(var.jwks_refetch_interval, "-")))
    error_message = "jwks_refetch_interval must be a duration such as 30s or 5m."
  }
}

# --- Policy -----------------------------------------------------------------------

variable "clients" {
  description = "ACTAS_CLIENTS: the target applications admins may choose, client id => display name."
  type        = map(string)
  nullable    = false
  validation {
    condition     = length(var.clients) > 0 && alltrue([for id, name in var.clients : can(regex("^[^=,\\s]+$", id)) && trimspace(name) != "" && !strcontains(name, ",")])
    error_message = "clients must name at least one application, client id => display name; ids without '=', ',' or spaces, names without ','."
  }
}

variable "client_roles" {
  description = "ACTAS_CLIENT_ROLES: applications only callers with one of the listed roles may choose, client id => roles."
  type        = map(list(string))
  default     = {}
  nullable    = false
  validation {
    condition     = alltrue([for id, roles in var.client_roles : length(roles) > 0])
    error_message = "client_roles must list at least one role for each application it names."
  }
}

variable "protected_users" {
  description = "ACTAS_PROTECTED_USERS: Bare.ID user UUIDs nobody may impersonate."
  type        = list(string)
  default     = []
  nullable    = false
  validation {
    condition     = alltrue([for u in var.protected_users : can(regex("^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$", u))])
    error_message = "protected_users must be user UUIDs."
  }
}

variable "reason" {
  description = "Reason rules: required (ACTAS_REASON_REQUIRED), min_length (ACTAS_REASON_MIN_LENGTH, 1-200) and pattern (ACTAS_REASON_PATTERN, an RE2 expression); null fields keep the Worker's defaults."
  type = object({
    required   = optional(bool)
    min_length = optional(number)
    pattern    = optional(string)
  })
  default  = {}
  nullable = false
  validation {
    condition     = var.reason.min_length == null || (try(var.reason.min_length >= 1 && var.reason.min_length <= 200 && floor(var.reason.min_length) == var.reason.min_length, false))
    error_message = "reason.min_length must be a whole number from 1 to 200."
  }
}

variable "rate_limit" {
  description = "ACTAS_RATE_LIMIT: impersonations per actor per window, e.g. 20/1h, or off; null keeps 20/1h."
  type        = string
  default     = null
  validation {
    condition     = var.rate_limit == null || can(regex("^(off|[0-9]+/([0-9]+(ms|s|m|h))+)$", coalesce(var.rate_limit, "-")))
    error_message = "rate_limit must be COUNT/DURATION such as 20/1h, or off."
  }
}

variable "allowed_origins" {
  description = "ACTAS_ALLOWED_ORIGINS: browser-extension origins (chrome-extension://<id>, moz-extension://<uuid>) whose requests CORS answers."
  type        = list(string)
  default     = []
  nullable    = false
  validation {
    condition     = alltrue([for o in var.allowed_origins : can(regex("^(chrome-extension://[a-p]{32}|moz-extension://[0-9a-f-]{36}|https://[a-z0-9.-]+(:[0-9]+)?)$", o))])
    error_message = "allowed_origins must be extension origins: chrome-extension://<32 letters a-p> or moz-extension://<uuid>."
  }
}

# --- Where it answers ---------------------------------------------------------------

variable "workers_dev" {
  description = "Serve the Worker on its workers.dev URL too. Off by default in production: a custom domain is the address to give out."
  type        = bool
  default     = false
  nullable    = false
}

variable "workers_dev_subdomain" {
  description = "The account's workers.dev subdomain (the part before .workers.dev), only to build the url output when there is no custom domain."
  type        = string
  default     = null
}

variable "custom_domain" {
  description = "Serve the Worker on this host name (a Workers custom domain; Cloudflare creates its DNS record and certificate). zone_id is the zone it belongs to."
  type = object({
    hostname = string
    zone_id  = string
  })
  default = null
  validation {
    condition     = var.custom_domain == null || can(regex("^[a-z0-9]([a-z0-9.-]*[a-z0-9])?$", try(var.custom_domain.hostname, "")))
    error_message = "custom_domain.hostname must be a host name (no scheme or path), e.g. actas.example.com."
  }
}

variable "route" {
  description = "Serve the Worker on a route in an existing proxied zone instead, e.g. pattern = \"support.example.com/actas/*\"."
  type = object({
    pattern = string
    zone_id = string
  })
  default = null
  validation {
    condition     = var.route == null || can(regex("^[a-z0-9*.-]+/", try(var.route.pattern, "")))
    error_message = "route.pattern must be host/path, e.g. support.example.com/actas/*."
  }
}

variable "logpush" {
  description = "Send the Worker's trace events to the account's Workers Logpush jobs."
  type        = bool
  default     = false
  nullable    = false
}

# --- The browser extension's managed settings (outputs only) ------------------------

variable "extension" {
  description = "What the managed-storage policy outputs push to the browser extension: its Chrome id and Firefox id, the OIDC client id admins sign in with and the open mode (tab, incognito, container)."
  type = object({
    chrome_id  = optional(string, "maocjchajlalcogpajlkfocplghlfopb")
    firefox_id = optional(string, "actas@actas.dev")
    client_id  = optional(string, "actas-extension")
    open_mode  = optional(string, "tab")
  })
  default  = {}
  nullable = false
  validation {
    condition     = contains(["tab", "incognito", "container"], var.extension.open_mode)
    error_message = "extension.open_mode must be tab, incognito or container."
  }
}

# --- Audit push, anchoring, retention, logs ------------------------------------------

variable "webhook" {
  description = "Push every audit event (ACTAS_WEBHOOK_URL, an https URL; retry: ACTAS_WEBHOOK_RETRY, the first retry's delay such as 30s). Null pushes nothing. Needs webhook_secret."
  type = object({
    url   = string
    retry = optional(string)
  })
  default = null
  validation {
    condition     = var.webhook == null || can(regex("^https://[^/?#@\\s]+(/[^#\\s]*)?$", try(var.webhook.url, "")))
    error_message = "webhook.url must be an https URL without user-info or fragment."
  }
  validation {
    condition     = try(var.webhook.retry, null) == null || can(regex("^([0-9]+(ms|s|m|h))+$", try(var.webhook.retry, "")))
    error_message = "webhook.retry must be a duration such as 30s or 1m."
  }
}

variable "webhook_secret" {
  description = "ACTAS_WEBHOOK_SECRET: the webhook's signing secret, whsec_ followed by base64 (Standard Webhooks). Bound as a secret when webhook is set."
  type        = string
  sensitive   = true
  default     = null
  validation {
    condition     = var.webhook_secret == null || can(regex("^whsec_[A-Za-z0-9+/]+={0,2}$", coalesce(var.webhook_secret, "-")))
    error_message = "webhook_secret must be whsec_ followed by base64."
  }
}

variable "crons" {
  description = "The Worker's Cron Triggers: webhook delivery (retries) and the audit chain's anchor. The same as wrangler.toml's [triggers]."
  type        = list(string)
  default     = ["*/5 * * * *", "0 3 * * *"]
  nullable    = false
  validation {
    condition     = length(var.crons) > 0 && alltrue([for c in var.crons : length(split(" ", trimspace(c))) == 5])
    error_message = "crons must be a non-empty list of five-field cron expressions."
  }
}

variable "anchor_cron" {
  description = "ACTAS_ANCHOR_CRON: which of crons also verifies the audit chain and publishes its signed head."
  type        = string
  default     = "0 3 * * *"
  nullable    = false
}

variable "audit" {
  description = "What the audit trail keeps: retention (ACTAS_AUDIT_RETENTION, e.g. 400d, 720h, or off; enables archive and checkpoint) and caller (ACTAS_AUDIT_CALLER: full, network or none, how much of the caller's IP and user agent is stored). Nulls keep the Worker's defaults."
  type = object({
    retention = optional(string)
    caller    = optional(string)
  })
  default  = {}
  nullable = false
  validation {
    condition     = var.audit.caller == null || contains(["full", "network", "none"], coalesce(var.audit.caller, "-"))
    error_message = "audit.caller must be full, network or none."
  }
  validation {
    condition     = var.audit.retention == null || can(regex("^(off|[0-9]+d|([0-9]+(ms|s|m|h))+)$", coalesce(var.audit.retention, "-")))
    error_message = "audit.retention must be a number of days such as 400d, a duration such as 720h, or off."
  }
}

variable "log_format" {
  description = "ACTAS_LOG_FORMAT: object (the default: Workers Logs indexes each field) or json (one line of text)."
  type        = string
  default     = null
  validation {
    condition     = var.log_format == null || contains(["object", "json"], coalesce(var.log_format, "-"))
    error_message = "log_format must be object or json."
  }
}
