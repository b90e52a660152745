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
	// Checkpoint is where the retained chain starts when a prefix was archived and
	// removed; verification starts from its hash.
	Checkpoint *ChainPoint `json:"checkpoint,omitempty"`
	// Anchor is the check of a previously published head, when one was given.
	Anchor *AnchorCheck `json:"anchor,omitempty"`
}

// ChainPoint names one event of the chain by its seq and hash.
type ChainPoint struct {
	Seq  int64  `json:"seq"`
	Hash string `json:"hash"`
}

// AnchorCheck is what became of a published head (seq, hash).
type AnchorCheck struct {
	ChainPoint
	// Status: "matches" (the event is there with that hash, and the chain runs on
	// from it), "mismatch" (an event with that seq has another hash), "removed"
	// (the chain ends before it: events were cut off), or "archived" (before the
	// checkpoint: compare it with the archive).
	Status string `json:"status"`
}

// Break is the first place the chain does not hold.
type Break struct {
	Seq     int64  `json:"seq"`
	Problem string `json:"problem"`
}

// Verify walks the whole chain in order and reports the first event that was edited
// (its hash does not match its content), removed (a gap in seq) or re-linked (its
// prev_hash is not the previous event's hash). It starts from the newest checkpoint.
func (s *Store) Verify(ctx context.Context) (Verification, error) {
	return s.VerifyAnchored(ctx, nil)
}

// VerifyAnchored is Verify that also checks a previously published head: the chain
// must still hold that event with that hash, so nothing after it can have been cut
// off unnoticed.
func (s *Store) VerifyAnchored(ctx context.Context, anchor *ChainPoint) (Verification, error) {
	v := Verification{HeadHash: genesisHash}
	if s == nil || s.db == nil {
		return v, fmt.Errorf("%w: no database", ErrUnavailable)
	}
	cp, err := s.latestCheckpoint(ctx)
	if err != nil {
		return v, err
	}
	if cp != nil {
		v.Checkpoint = &ChainPoint{Seq: cp.Seq, Hash: cp.Hash}
		v.HeadSeq, v.HeadHash = cp.Seq, cp.Hash
	}
	if anchor != nil {
		v.Anchor = &AnchorCheck{ChainPoint: *anchor}
		if cp != nil && anchor.Seq <= cp.Seq {
			v.Anchor.Status = "archived"
			if anchor.Seq == cp.Seq {
				v.Anchor.Status = statusOf(anchor.Hash == cp.Hash)
			}
		}
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
			break
		}
	}
	if a := v.Anchor; a != nil && a.Status == "" && a.Seq > v.HeadSeq {
		a.Status = "removed"
		v.FirstBreak = &Break{Seq: v.HeadSeq + 1, Problem: fmt.Sprintf(
			"the chain ends at seq %d, before the published head at seq %d: events were removed", v.HeadSeq, a.Seq)}
		return v, nil
	}
	v.OK = v.Anchor == nil || v.Anchor.Status != "mismatch"
	return v, nil
}

func statusOf(match bool) string {
	if match {
		return "matches"
	}
	return "mismatch"
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
		if a := v.Anchor; a != nil && a.Status == "" && a.Seq == ev.Seq {
			if a.Status = statusOf(a.Hash == hash); a.Status == "mismatch" {
				return n, &Break{Seq: ev.Seq, Problem: "the event does not match the published head (the chain was rewritten)"}, nil
			}
		}
		v.Events++
		v.HeadSeq, v.HeadHash = ev.Seq, hash
	}
	return n, nil, rows.Err()
}
