package audit

import (
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"fmt"
	"testing"

	"github.com/actas-dev/actas/worker/internal/sqlitetest"
)

// Every column of audit_events, as the migrations create it, is covered by the hash:
// a column added to the schema but not to chainColumns would be stored unprotected.
func TestEveryColumnIsHashed(t *testing.T) {
	db := sqlitetest.Open(t)
	rows, err := db.Query(`SELECT name FROM pragma_table_info('audit_events') ORDER BY cid`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var schema []string
	for rows.Next() {
		var name string
		if err := rows.Scan(&name); err != nil {
			t.Fatal(err)
		}
		schema = append(schema, name)
	}
	hashed := map[string]bool{}
	for _, c := range chainColumns {
		hashed[c.name] = true
	}
	if len(schema) != len(chainColumns)+1 {
		t.Errorf("audit_events has %d columns, the chain covers %d plus %s", len(schema), len(chainColumns), hashColumn)
	}
	for _, name := range schema {
		if name != hashColumn && !hashed[name] {
			t.Errorf("column %s of audit_events is not covered by the hash (add it to chainColumns)", name)
		}
	}
}

// Changing any one column's stored value changes the hash.
func TestHashCoversEachColumn(t *testing.T) {
	base := storedEvent{
		Seq: 7, ImpersonationID: "id", Event: "issued", At: "2026-12-02T10:00:00.000Z", Actor: "ada",
		ActorKind: "oidc", TargetUser: "user", ClientID: "crm", Reason: "SUP-1", RequestID: "req",
		ClientIP: "127.0.0.1", UserAgent: "ua", Detail: "", UpstreamStatus: sql.NullInt64{Int64: 200, Valid: true},
		ExpiresAt: sql.NullString{String: "2026-12-02T10:01:00.000Z", Valid: true}, PrevHash: genesisHash,
	}
	want := base.hash()
	for i, c := range chainColumns {
		ev := base
		switch p := c.dest(&ev).(type) {
		case *int64:
			*p++
		case *string:
			*p += "x"
		case *sql.NullInt64:
			p.Valid = !p.Valid
		case *sql.NullString:
			p.Valid = !p.Valid
		default:
			t.Fatalf("column %s: unhandled type %T", c.name, p)
		}
		if ev.hash() == want {
			t.Errorf("column %d (%s) changed but the hash did not", i, c.name)
		}
		if fmt.Sprint(ev.values()) == fmt.Sprint(base.values()) {
			t.Errorf("column %s: dest and value disagree", c.name)
		}
	}
}

// The canonical encoding is part of the audit format: chains written by earlier
// versions must keep verifying. This is the encoding spelled out by hand.
func TestHashEncodingIsStable(t *testing.T) {
	ev := storedEvent{
		Seq: 1, ImpersonationID: "9b2d", Event: "requested", At: "2026-12-02T10:00:00.000Z", Actor: "ada",
		ActorKind: "oidc", TargetUser: "u", ClientID: "crm", Reason: "SUP-1 \"quoted\"\n", RequestID: "r",
		PrevHash: genesisHash,
	}
	canon := `[1,"9b2d","requested","2026-12-02T10:00:00.000Z","ada","oidc","u","crm","SUP-1 \"quoted\"\n","r","","","",null,null,"` + genesisHash + `"]`
	sum := sha256.Sum256([]byte(canon))
	if got, want := ev.hash(), hex.EncodeToString(sum[:]); got != want {
		t.Errorf("hash %s, want %s over %s", got, want, canon)
	}
}
