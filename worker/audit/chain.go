package audit

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"fmt"
)

// genesisHash is the prev_hash of the first event.
const genesisHash = "0000000000000000000000000000000000000000000000000000000000000000"

// verifyPage is how many events Verify reads per query.
const verifyPage = 500

// computeHash is SHA-256 over the event's canonical encoding: a JSON array of every
// stored column in a fixed order, ending with prev_hash. JSON keeps the encoding
// unambiguous (no field can run into the next) and reproducible in any language.
func (ev row) computeHash() string {
	canon, _ := json.Marshal([]any{
		ev.seq, ev.rec.ID, string(ev.event), formatTime(ev.at), ev.rec.Actor, ev.rec.ActorKind,
		ev.rec.TargetUser, ev.rec.ClientID, ev.rec.Reason, ev.rec.RequestID, ev.rec.ClientIP,
		ev.rec.UserAgent, ev.detail, nullInt(ev.upstreamStatus), nullTime(ev.expiresAt), ev.prevHash,
	})
	sum := sha256.Sum256(canon)
	return hex.EncodeToString(sum[:])
}

// Verification is the result of walking the chain.
type Verification struct {
	OK         bool   `json:"ok"`
	Events     int64  `json:"events"`   // events checked
	HeadSeq    int64  `json:"headSeq"`  // the newest event; record it elsewhere to detect a truncated tail
	HeadHash   string `json:"headHash"` // its hash
	FirstBreak *Break `json:"firstBreak,omitempty"`
}

// Break is the first place the chain does not hold.
type Break struct {
	Seq     int64  `json:"seq"`
	Problem string `json:"problem"`
}

// Verify walks the whole chain in order and reports the first event that was edited
// (its hash does not match its content), removed (a gap in seq) or re-linked (its
// prev_hash is not the previous event's hash).
func (s *Store) Verify(ctx context.Context) (Verification, error) {
	v := Verification{HeadHash: genesisHash}
	if s == nil || s.db == nil {
		return v, fmt.Errorf("%w: no database", ErrUnavailable)
	}
	for {
		rows, err := s.db.QueryContext(ctx, `SELECT seq, impersonation_id, event, at, actor, actor_kind,
			target_user, client_id, reason, request_id, client_ip, user_agent, detail,
			upstream_status, expires_at, prev_hash, hash
			FROM audit_events WHERE seq > ? ORDER BY seq LIMIT ?`, v.HeadSeq, verifyPage)
		if err != nil {
			return v, fmt.Errorf("%w: verify: %v", ErrUnavailable, err)
		}
		n, brk, err := v.check(rows)
		if err != nil {
			return v, fmt.Errorf("%w: verify: %v", ErrUnavailable, err)
		}
		if brk != nil {
			v.FirstBreak = brk
			return v, nil
		}
		if n < verifyPage {
			v.OK = true
			return v, nil
		}
	}
}

// check consumes one page of rows, advancing v; it returns the first break found.
func (v *Verification) check(rows *sql.Rows) (int, *Break, error) {
	defer rows.Close()
	n := 0
	for rows.Next() {
		n++
		var ev row
		var event, at string
		var upstream sql.NullInt64
		var expires sql.NullString
		if err := rows.Scan(&ev.seq, &ev.rec.ID, &event, &at, &ev.rec.Actor, &ev.rec.ActorKind,
			&ev.rec.TargetUser, &ev.rec.ClientID, &ev.rec.Reason, &ev.rec.RequestID, &ev.rec.ClientIP,
			&ev.rec.UserAgent, &ev.detail, &upstream, &expires, &ev.prevHash, &ev.hash); err != nil {
			return n, nil, err
		}
		ev.event = Event(event)
		canonical := func() string {
			// Re-hash exactly the stored text: parse and re-format the times, and
			// flag a stored time that does not survive the round trip as an edit.
			var err error
			if ev.at, err = parseTime(at); err != nil || formatTime(ev.at) != at {
				return ""
			}
			if expires.Valid {
				t, err := parseTime(expires.String)
				if err != nil || formatTime(t) != expires.String {
					return ""
				}
				ev.expiresAt = t
			}
			if upstream.Valid {
				ev.upstreamStatus = int(upstream.Int64)
				if ev.upstreamStatus == 0 {
					return ""
				}
			}
			return ev.computeHash()
		}()
		switch {
		case ev.seq != v.HeadSeq+1:
			return n, &Break{Seq: v.HeadSeq + 1, Problem: fmt.Sprintf("events %d to %d are missing", v.HeadSeq+1, ev.seq-1)}, nil
		case ev.prevHash != v.HeadHash:
			return n, &Break{Seq: ev.seq, Problem: "prev_hash does not match the previous event's hash"}, nil
		case canonical != ev.hash:
			return n, &Break{Seq: ev.seq, Problem: "the event's content does not match its hash (edited)"}, nil
		}
		v.Events++
		v.HeadSeq, v.HeadHash = ev.seq, ev.hash
	}
	return n, nil, rows.Err()
}
