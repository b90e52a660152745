package audit

import (
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"strings"
)

// storedEvent is one row of audit_events as its columns hold it: the text that is
// inserted, hashed, and read back by Verify.
type storedEvent struct {
	Seq             int64
	ImpersonationID string
	Event           string
	At              string
	Actor           string
	ActorKind       string
	TargetUser      string
	ClientID        string
	Reason          string
	RequestID       string
	ClientIP        string
	UserAgent       string
	Detail          string
	UpstreamStatus  sql.NullInt64
	ExpiresAt       sql.NullString
	PrevHash        string
}

// chainColumns is the canonical column list of the hash chain, in the order the hash
// covers them: every column of audit_events but hash itself. The INSERT, the hash and
// Verify's SELECT and Scan are all made from it, so a column cannot be stored without
// being covered by the hash (TestEveryColumnIsHashed checks the schema against it).
var chainColumns = []struct {
	name  string
	value func(*storedEvent) any // what is inserted and hashed
	dest  func(*storedEvent) any // where Scan puts it
}{
	{"seq", func(e *storedEvent) any { return e.Seq }, func(e *storedEvent) any { return &e.Seq }},
	{"impersonation_id", func(e *storedEvent) any { return e.ImpersonationID }, func(e *storedEvent) any { return &e.ImpersonationID }},
	{"event", func(e *storedEvent) any { return e.Event }, func(e *storedEvent) any { return &e.Event }},
	{"at", func(e *storedEvent) any { return e.At }, func(e *storedEvent) any { return &e.At }},
	{"actor", func(e *storedEvent) any { return e.Actor }, func(e *storedEvent) any { return &e.Actor }},
	{"actor_kind", func(e *storedEvent) any { return e.ActorKind }, func(e *storedEvent) any { return &e.ActorKind }},
	{"target_user", func(e *storedEvent) any { return e.TargetUser }, func(e *storedEvent) any { return &e.TargetUser }},
	{"client_id", func(e *storedEvent) any { return e.ClientID }, func(e *storedEvent) any { return &e.ClientID }},
	{"reason", func(e *storedEvent) any { return e.Reason }, func(e *storedEvent) any { return &e.Reason }},
	{"request_id", func(e *storedEvent) any { return e.RequestID }, func(e *storedEvent) any { return &e.RequestID }},
	{"client_ip", func(e *storedEvent) any { return e.ClientIP }, func(e *storedEvent) any { return &e.ClientIP }},
	{"user_agent", func(e *storedEvent) any { return e.UserAgent }, func(e *storedEvent) any { return &e.UserAgent }},
	{"detail", func(e *storedEvent) any { return e.Detail }, func(e *storedEvent) any { return &e.Detail }},
	{"upstream_status", func(e *storedEvent) any { return nullable(e.UpstreamStatus.Int64, e.UpstreamStatus.Valid) },
		func(e *storedEvent) any { return &e.UpstreamStatus }},
	{"expires_at", func(e *storedEvent) any { return nullable(e.ExpiresAt.String, e.ExpiresAt.Valid) },
		func(e *storedEvent) any { return &e.ExpiresAt }},
	{"prev_hash", func(e *storedEvent) any { return e.PrevHash }, func(e *storedEvent) any { return &e.PrevHash }},
}

// hashColumn holds the SHA-256 of the other columns' canonical encoding.
const hashColumn = "hash"

func nullable[T any](v T, valid bool) any {
	if !valid {
		return nil
	}
	return v
}

// columnList is "seq, impersonation_id, ..., prev_hash, hash".
func columnList() string {
	names := make([]string, 0, len(chainColumns)+1)
	for _, c := range chainColumns {
		names = append(names, c.name)
	}
	return strings.Join(append(names, hashColumn), ", ")
}

var (
	insertEvent = `INSERT INTO audit_events (` + columnList() + `) VALUES (?` +
		strings.Repeat(", ?", len(chainColumns)) + `)`
	selectEvents = `SELECT ` + columnList() + ` FROM audit_events`
)

// values are the columns' values in canonical order, without the hash.
func (e *storedEvent) values() []any {
	out := make([]any, len(chainColumns))
	for i, c := range chainColumns {
		out[i] = c.value(e)
	}
	return out
}

// scan reads one row of selectEvents into e and returns its stored hash.
func (e *storedEvent) scan(rows *sql.Rows) (string, error) {
	var hash string
	dest := make([]any, 0, len(chainColumns)+1)
	for _, c := range chainColumns {
		dest = append(dest, c.dest(e))
	}
	return hash, rows.Scan(append(dest, &hash)...)
}

// hash is SHA-256 over the event's canonical encoding: a JSON array of every stored
// column in chainColumns' order, ending with prev_hash. JSON keeps the encoding
// unambiguous (no field can run into the next) and reproducible in any language; it is
// computed over the stored text itself, so any edit of a column (a reformatted time
// included) changes it.
func (e *storedEvent) hash() string {
	canon, _ := json.Marshal(e.values())
	sum := sha256.Sum256(canon)
	return hex.EncodeToString(sum[:])
}
