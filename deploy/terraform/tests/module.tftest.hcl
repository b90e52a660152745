# `tofu test` (run by ./build.sh test when OpenTofu and the provider are cached): plans
# of the module with a mocked provider, so nothing reaches Cloudflare. Each failing
# case is a mistake an operator could make; it must fail at plan time, on the
# variable that holds it. tests/plan.test.mjs checks a real plan's JSON.

mock_provider "cloudflare" {
  mock_resource "cloudflare_d1_database" {
    defaults = { id = "3f9e2b1c-0d4a-4e5f-8a6b-7c8d9e0f1a2b" }
  }
  mock_resource "cloudflare_worker" {
    defaults = { id = "actas" }
  }
  mock_resource "cloudflare_worker_version" {
    defaults = { id = "0b6f9a4e-1c2d-4e5f-8a9b-0c1d2e3f4a5b" }
  }
  mock_resource "cloudflare_zero_trust_access_application" {
    defaults = { aud = "4714c1358e65fe4b408ad6d432a5f878f08194bdb4752441fd56faefa9b2b6f2" }
  }
}

variables {
  account_id = "0123456789abcdef0123456789abcdef"
  bundle_dir = "tests/bundle"
  bareid = {
    instance            = "6c0f7d8e-2b1a-4c3d-9e8f-7a6b5c4d3e2f"
    token_url           = "https://example.bare.id/realms/support/protocol/openid-connect/token"
    client_id           = "actas-impersonator"
    impersonation_hosts = ["example.bare.id"]
  }
  bareid_client_secret = "dummy-secret-for-plan"
  api_keys             = ["ci-bot:0000000000000000000000000000000000000000000000000000000000000000"]
  clients              = { crm = "Customer CRM", wiki = "Team Wiki" }
}

run "minimal" {
  command = plan

  assert {
    condition     = cloudflare_worker_version.actas.main_module == "worker.js"
    error_message = "main_module is not worker.js"
  }
  assert {
    condition     = one([for m in cloudflare_worker_version.actas.modules : m.content_type if endswith(m.name, ".wasm")]) == "application/wasm"
    error_message = "the wasm module is missing or not application/wasm"
  }
  assert {
    condition     = cloudflare_worker_version.actas.compatibility_date == regex("(?m)^compatibility_date\\s*=\\s*\"([0-9-]+)\"", file("../../wrangler.toml"))[0]
    error_message = "compatibility_date does not come from wrangler.toml"
  }
  assert {
    condition     = toset([for b in cloudflare_worker_version.actas.bindings : b.name if b.type == "secret_text"]) == toset(["BAREID_CLIENT_SECRET", "ACTAS_API_KEYS"])
    error_message = "the secrets are not exactly the secret_text bindings"
  }
  assert {
    condition     = one([for b in cloudflare_worker_version.actas.bindings : b.type if b.name == "AUDIT_DB"]) == "d1"
    error_message = "AUDIT_DB is not a D1 binding"
  }
  assert {
    condition     = nonsensitive(one([for b in cloudflare_worker_version.actas.bindings : b.text if b.name == "ACTAS_CLIENTS"])) == "crm=Customer CRM,wiki=Team Wiki"
    error_message = "ACTAS_CLIENTS is not the clients map, id=name, comma separated"
  }
  assert {
    condition     = length([for b in cloudflare_worker_version.actas.bindings : b if b.name == "ACTAS_DEV_LOOPBACK" || b.name == "ACTAS_OIDC_ISSUER" || b.name == "BAREID_TIMEOUT"]) == 0
    error_message = "unset or development-only settings are bound"
  }
  assert {
    condition     = length(cloudflare_zero_trust_access_application.audit) == 0 && length(cloudflare_workers_custom_domain.actas) == 0
    error_message = "optional resources are created without being asked for"
  }
  assert {
    condition     = cloudflare_workers_deployment.actas.versions[0].percentage == 100
    error_message = "the deployment does not serve the new version fully"
  }
}

run "access_and_domain" {
  command = plan
  variables {
    custom_domain = { hostname = "actas.example.com", zone_id = "fedcba9876543210fedcba9876543210" }
    access = {
      team_domain   = "myteam.cloudflareaccess.com"
      hostname      = "actas-audit.example.com"
      zone_id       = "fedcba9876543210fedcba9876543210"
      auditors      = ["grace@example.com"]
      impersonators = ["*@support.example.com"]
    }
  }
  assert {
    condition     = output.url == "https://actas.example.com" && output.audit_url == "https://actas-audit.example.com"
    error_message = "the URLs are wrong"
  }
  assert {
    condition     = length(cloudflare_zero_trust_access_policy.audit[0].include) == 2
    error_message = "the Access policy does not include every auditor and impersonator"
  }
  assert {
    condition     = jsondecode(output.extension_policy_chrome)["3rdparty"].extensions["maocjchajlalcogpajlkfocplghlfopb"].workerUrl == "https://actas.example.com"
    error_message = "the Chrome policy does not carry the Worker URL"
  }
  assert {
    condition     = jsondecode(output.extension_policy_firefox).policies["3rdparty"].Extensions["actas@actas.dev"].clientId == "actas-extension"
    error_message = "the Firefox policy does not carry the client id"
  }
}

run "instance_not_a_uuid" {
  command = plan
  variables {
    bareid = {
      instance            = "my-instance"
      token_url           = "https://example.bare.id/realms/support/protocol/openid-connect/token"
      client_id           = "actas-impersonator"
      impersonation_hosts = ["example.bare.id"]
    }
  }
  expect_failures = [var.bareid]
}

run "token_url_not_https" {
  command = plan
  variables {
    bareid = {
      instance            = "6c0f7d8e-2b1a-4c3d-9e8f-7a6b5c4d3e2f"
      token_url           = "http://example.bare.id/token"
      client_id           = "actas-impersonator"
      impersonation_hosts = ["example.bare.id"]
    }
  }
  expect_failures = [var.bareid]
}

run "no_impersonation_hosts" {
  command = plan
  variables {
    bareid = {
      instance            = "6c0f7d8e-2b1a-4c3d-9e8f-7a6b5c4d3e2f"
      token_url           = "https://example.bare.id/token"
      client_id           = "actas-impersonator"
      impersonation_hosts = []
    }
  }
  expect_failures = [var.bareid]
}

run "timeout_not_a_duration" {
  command = plan
  variables {
    bareid = {
      instance            = "6c0f7d8e-2b1a-4c3d-9e8f-7a6b5c4d3e2f"
      token_url           = "https://example.bare.id/token"
      client_id           = "actas-impersonator"
      impersonation_hosts = ["example.bare.id"]
      timeout             = "10 seconds"
    }
  }
  expect_failures = [var.bareid]
}

run "api_key_not_a_hash" {
  command = plan
  variables {
    api_keys = ["ci-bot:actas_the_key_itself"]
  }
  expect_failures = [var.api_keys]
}

run "oidc_issuer_not_https" {
  command = plan
  variables {
    oidc = { issuer = "http://example.bare.id/realms/support", audience = "actas-extension" }
  }
  expect_failures = [var.oidc]
}

run "rate_limit_malformed" {
  command = plan
  variables {
    rate_limit = "20 per hour"
  }
  expect_failures = [var.rate_limit]
}

run "empty_bundle_dir" {
  command = plan
  variables {
    bundle_dir = "tests"
  }
  expect_failures = [var.bundle_dir]
}

run "no_way_to_identify_callers" {
  command = plan
  variables {
    api_keys = []
  }
  expect_failures = [cloudflare_worker_version.actas]
}

run "compatibility_date_before_cross_request_promise_resolution" {
  command = plan
  variables {
    compatibility_date = "2024-10-13"
  }
  expect_failures = [var.compatibility_date]
}

run "compatibility_date_overridden" {
  command = plan
  variables {
    compatibility_date = "2024-10-14"
  }
  assert {
    condition     = cloudflare_worker_version.actas.compatibility_date == "2024-10-14"
    error_message = "compatibility_date override not applied"
  }
}
