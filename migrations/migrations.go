// Package migrations holds the audit store's schema, applied in name order. The Worker
// embeds FS and applies what is missing on first use (worker/schema), recording each in
// d1_migrations as `wrangler d1 migrations apply` does, so either may apply them; tests
// apply the same files to SQLite.
package migrations

import "embed"

// FS holds every migration, named NNNN_title.sql.
//
//go:embed *.sql
var FS embed.FS
