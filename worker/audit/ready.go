package audit

import (
	"context"
	"fmt"
	"strings"
)

// Ready reports whether the store answers and holds the schema the Worker writes: a
// query that names every column of the chain (so a database without the migrations
// fails) and reads no row.
func (s *Store) Ready(ctx context.Context) error {
	if s == nil || s.db == nil {
		return fmt.Errorf("%w: no database", ErrUnavailable)
	}
	names := make([]string, 0, len(chainColumns)+1)
	for _, c := range chainColumns {
		names = append(names, c.name)
	}
	names = append(names, "hash")
	rows, err := s.db.QueryContext(ctx, "SELECT "+strings.Join(names, ", ")+" FROM audit_events LIMIT 0")
	if err != nil {
		return fmt.Errorf("%w: ready: %v", ErrUnavailable, err)
	}
	defer rows.Close()
	for rows.Next() {
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("%w: ready: %v", ErrUnavailable, err)
	}
	return nil
}
