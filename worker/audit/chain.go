package audit

import (
	"context"
	"database/sql"
	"fmt"
)

// genesisHash is the prev_hash of the first event.
const genesisHash = "0000000000000000000000000000000000000000000000000000000000000000"

// verifyPage is how many events Verify reads per query.
const verifyPage = 500

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
		rows, err := s.db.QueryContext(ctx, selectEvents+` WHERE seq > ? ORDER BY seq LIMIT ?`, v.HeadSeq, verifyPage)
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
		var ev storedEvent
		hash, err := ev.scan(rows)
		if err != nil {
			return n, nil, err
		}
		switch {
		case ev.Seq != v.HeadSeq+1:
			return n, &Break{Seq: v.HeadSeq + 1, Problem: fmt.Sprintf("events %d to %d are missing", v.HeadSeq+1, ev.Seq-1)}, nil
		case ev.PrevHash != v.HeadHash:
			return n, &Break{Seq: ev.Seq, Problem: "prev_hash does not match the previous event's hash"}, nil
		case ev.hash() != hash:
			return n, &Break{Seq: ev.Seq, Problem: "the event's content does not match its hash (edited)"}, nil
		}
		v.Events++
		v.HeadSeq, v.HeadHash = ev.Seq, hash
	}
	return n, nil, rows.Err()
}
