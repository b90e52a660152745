// Package migrations holds the audit store's schema. wrangler applies the .sql files
// to D1 in name order (`wrangler d1 migrations apply`); tests apply the same files to
// SQLite through FS.
package migrations

import "embed"

// FS holds every migration, named NNNN_title.sql.
//
//go:embed *.sql
var FS embed.FS
