package audit

import (
	"strings"
	"testing"
	"time"

	"github.com/actas-dev/actas/worker/internal/sqlitetest"
)

// TestCountSinceUsesIndexes: the rate limit's count runs on every mint, so it must
// search indexes, never scan audit_events: a scan per counted row made each mint cost
// the actor's whole history times the whole trail.
func TestCountSinceUsesIndexes(t *testing.T) {
	db := sqlitetest.Open(t)
	for _, counted := range [][]string{nil, {"protected-user", "unknown-user"}} {
		st := countSince("ci-bot", "api-key", time.Now(), counted)
		rows, err := db.Query("EXPLAIN QUERY PLAN "+st.Query, st.Args...)
		if err != nil {
			t.Fatal(err)
		}
		var plan []string
		for rows.Next() {
			var id, parent, unused int
			var detail string
			if err := rows.Scan(&id, &parent, &unused, &detail); err != nil {
				t.Fatal(err)
			}
			plan = append(plan, detail)
		}
		rows.Close()
		text := strings.Join(plan, "\n")
		for _, want := range []string{"USING INDEX audit_events_actor_at (actor=? AND actor_kind=? AND at>?)", "USING INDEX audit_events_outcome (impersonation_id=?)"} {
			if !strings.Contains(text, want) {
				t.Errorf("counted %v: the plan does not say %q:\n%s", counted, want, text)
			}
		}
		if strings.Contains(text, "SCAN") {
			t.Errorf("counted %v: the plan scans a table:\n%s", counted, text)
		}
	}
}
