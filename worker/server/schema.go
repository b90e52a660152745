package server

import (
	"context"
	"strings"

	"github.com/actas-dev/actas/worker/problem"
)

// Migrator brings the audit database's schema up to date (schema.Migrator): it
// returns the migrations it applied itself, and after one success costs nothing.
type Migrator interface {
	Ensure(ctx context.Context) (applied []string, err error)
}

// ensureSchema runs before anything an authenticated caller asks, so a database that
// only Terraform created gets its schema on the first request. Unauthenticated callers
// cannot make the Worker write to the database. A schema that cannot be brought up to
// date fails closed: nothing is minted without the audit trail.
func (s *server) ensureSchema(ctx context.Context) error {
	if s.migr == nil {
		return nil
	}
	applied, err := s.migr.Ensure(ctx)
	if len(applied) > 0 {
		s.log.write(logLine{Level: LevelInfo, Msg: "migrations applied", Detail: strings.Join(applied, ",")})
	}
	if err != nil {
		return problem.Wrap(problem.AuditUnavailable,
			"The audit database's schema could not be brought up to date, so nothing was done; an operator must check the Worker's log.", err)
	}
	return nil
}
