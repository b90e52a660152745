package audit

import (
	"bytes"
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"time"
)

// MaxArchive bounds the events one archive (and so one checkpoint) covers; a longer
// prefix is archived and removed in several steps.
const MaxArchive = 5000

// Checkpoint is where the retained chain starts after a prefix was removed.
type Checkpoint struct {
	Seq           int64  `json:"seq"`
	Hash          string `json:"hash"`
	At            string `json:"at"`
	FirstSeq      int64  `json:"firstSeq"`
	ArchiveSHA256 string `json:"archiveSha256"`
	Actor         string `json:"actor"`
	ActorKind     string `json:"actorKind"`
	RequestID     string `json:"requestId"`
	CreatedAt     string `json:"createdAt"`
}

func (s *Store) latestCheckpoint(ctx context.Context) (*Checkpoint, error) {
	var c Checkpoint
	err := s.db.QueryRowContext(ctx, `SELECT seq, hash, at, first_seq, archive_sha256, actor, actor_kind, request_id, created_at
		FROM audit_checkpoints ORDER BY seq DESC LIMIT 1`).Scan(&c.Seq, &c.Hash, &c.At, &c.FirstSeq, &c.ArchiveSHA256,
		&c.Actor, &c.ActorKind, &c.RequestID, &c.CreatedAt)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("%w: read checkpoint: %v", ErrUnavailable, err)
	}
	return &c, nil
}

// Archive is an NDJSON export of a stretch of the chain: one line per event with every
// stored column (so each event's hash can be recomputed, see columns.go), then one
// line {"archive": {...}} naming where the stretch starts (the previous checkpoint, or
// the genesis hash) and the head it ends at.
type Archive struct {
	NDJSON []byte
	SHA256 string
	From   ChainPoint // the event before the first archived one (seq 0: genesis)
	Head   ChainPoint // the last archived event
	HeadAt time.Time
	Events int
}

// ErrNothingToArchive means no event is old enough, or the chain holds no event
// beyond its head that could be removed.
var ErrNothingToArchive = errors.New("audit: no event is old enough to archive")

// ErrBrokenChain means the stretch to archive does not verify; nothing is archived.
var ErrBrokenChain = errors.New("audit: the chain does not verify; nothing may be archived")

// archivedEvent is an event as an archive line holds it: the stored columns by name.
type archivedEvent struct {
	Seq             int64   `json:"seq"`
	ImpersonationID string  `json:"impersonation_id"`
	Event           string  `json:"event"`
	At              string  `json:"at"`
	Actor           string  `json:"actor"`
	ActorKind       string  `json:"actor_kind"`
	TargetUser      string  `json:"target_user"`
	ClientID        string  `json:"client_id"`
	Reason          string  `json:"reason"`
	RequestID       string  `json:"request_id"`
	ClientIP        string  `json:"client_ip"`
	UserAgent       string  `json:"user_agent"`
	Detail          string  `json:"detail"`
	UpstreamStatus  *int64  `json:"upstream_status"`
	ExpiresAt       *string `json:"expires_at"`
	PrevHash        string  `json:"prev_hash"`
	Hash            string  `json:"hash"`
}

// ArchiveThrough exports the events after the newest checkpoint up to through (0: the
// newest event older than olderThan), at most MaxArchive of them, never the chain's
// newest event (it must stay to link the next one). Every event is verified on the
// way; a break refuses the archive.
func (s *Store) ArchiveThrough(ctx context.Context, through int64, olderThan time.Time) (*Archive, error) {
	if s == nil || s.db == nil {
		return nil, fmt.Errorf("%w: no database", ErrUnavailable)
	}
	cp, err := s.latestCheckpoint(ctx)
	if err != nil {
		return nil, err
	}
	a := &Archive{From: ChainPoint{Hash: genesisHash}}
	if cp != nil {
		a.From = ChainPoint{Seq: cp.Seq, Hash: cp.Hash}
	}
	var head int64
	if err := s.db.QueryRowContext(ctx, `SELECT COALESCE(MAX(seq), 0) FROM audit_events`).Scan(&head); err != nil {
		return nil, fmt.Errorf("%w: archive: %v", ErrUnavailable, err)
	}
	limit := min(a.From.Seq+MaxArchive, head-1)
	if through > 0 {
		limit = min(limit, through)
	}
	rows, err := s.db.QueryContext(ctx, selectEvents+` WHERE seq > ? AND seq <= ? ORDER BY seq`, a.From.Seq, limit)
	if err != nil {
		return nil, fmt.Errorf("%w: archive: %v", ErrUnavailable, err)
	}
	defer rows.Close()
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	prev := a.From
	for rows.Next() {
		var ev storedEvent
		hash, err := ev.scan(rows)
		if err != nil {
			return nil, fmt.Errorf("%w: archive: %v", ErrUnavailable, err)
		}
		if ev.At >= formatTime(olderThan) {
			break // the archive ends before the first event younger than the limit
		}
		if ev.Seq != prev.Seq+1 || ev.PrevHash != prev.Hash || ev.hash() != hash {
			return nil, fmt.Errorf("%w (at seq %d)", ErrBrokenChain, prev.Seq+1)
		}
		line := archivedEvent{Seq: ev.Seq, ImpersonationID: ev.ImpersonationID, Event: ev.Event, At: ev.At,
			Actor: ev.Actor, ActorKind: ev.ActorKind, TargetUser: ev.TargetUser, ClientID: ev.ClientID,
			Reason: ev.Reason, RequestID: ev.RequestID, ClientIP: ev.ClientIP, UserAgent: ev.UserAgent,
			Detail: ev.Detail, PrevHash: ev.PrevHash, Hash: hash}
		if ev.UpstreamStatus.Valid {
			line.UpstreamStatus = &ev.UpstreamStatus.Int64
		}
		if ev.ExpiresAt.Valid {
			line.ExpiresAt = &ev.ExpiresAt.String
		}
		_ = enc.Encode(line)
		prev = ChainPoint{Seq: ev.Seq, Hash: hash}
		a.HeadAt, _ = parseTime(ev.At)
		a.Events++
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("%w: archive: %v", ErrUnavailable, err)
	}
	if a.Events == 0 || (through > 0 && prev.Seq != through) {
		return nil, ErrNothingToArchive
	}
	a.Head = prev
	_ = enc.Encode(map[string]any{"archive": map[string]any{
		"from": a.From, "head": a.Head, "headAt": formatTime(a.HeadAt), "events": a.Events,
	}})
	sum := sha256.Sum256(buf.Bytes())
	a.NDJSON, a.SHA256 = buf.Bytes(), hex.EncodeToString(sum[:])
	return a, nil
}

// CheckpointRequest asks to remove the archived prefix up to Head.
type CheckpointRequest struct {
	Head          ChainPoint
	ArchiveSHA256 string // of the archive the caller kept: it must match the stored events
	Actor         string
	ActorKind     string
	RequestID     string
	Now           time.Time
	OlderThan     time.Time // the retention limit: only events before it may go
}

// ErrArchiveMismatch means the archive the caller names is not the one the stored
// events make (another stretch, or a stale or altered copy).
var ErrArchiveMismatch = errors.New("audit: the archive does not match the stored events")

// Checkpoint records that the events up to req.Head were archived (the archive of them
// must hash to req.ArchiveSHA256) and removes them. The checkpoint row, which the
// schema keeps append-only, is the operation's own audit record (who, when, which
// archive), and its outbox message pushes it. Repeating the request for the newest
// checkpoint finishes a removal that was interrupted.
func (s *Store) Checkpoint(ctx context.Context, req CheckpointRequest) (*Checkpoint, int64, error) {
	if s == nil || s.db == nil {
		return nil, 0, fmt.Errorf("%w: no database", ErrUnavailable)
	}
	cp, err := s.latestCheckpoint(ctx)
	if err != nil {
		return nil, 0, err
	}
	if cp == nil || cp.Seq != req.Head.Seq {
		a, err := s.ArchiveThrough(ctx, req.Head.Seq, req.OlderThan)
		if err != nil {
			return nil, 0, err
		}
		if a.Head != req.Head || a.SHA256 != req.ArchiveSHA256 {
			return nil, 0, ErrArchiveMismatch
		}
		cp = &Checkpoint{Seq: a.Head.Seq, Hash: a.Head.Hash, At: formatTime(a.HeadAt), FirstSeq: a.From.Seq + 1,
			ArchiveSHA256: a.SHA256, Actor: req.Actor, ActorKind: req.ActorKind, RequestID: req.RequestID,
			CreatedAt: formatTime(req.Now)}
		if _, err := s.db.ExecContext(ctx, `INSERT INTO audit_checkpoints
			(seq, hash, at, first_seq, archive_sha256, actor, actor_kind, request_id, created_at)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`, cp.Seq, cp.Hash, cp.At, cp.FirstSeq, cp.ArchiveSHA256,
			cp.Actor, cp.ActorKind, cp.RequestID, cp.CreatedAt); err != nil {
			return nil, 0, fmt.Errorf("%w: checkpoint: %v", ErrUnavailable, err)
		}
	} else if cp.Hash != req.Head.Hash || cp.ArchiveSHA256 != req.ArchiveSHA256 {
		return nil, 0, ErrArchiveMismatch
	}
	res, err := s.db.ExecContext(ctx, `DELETE FROM audit_events WHERE seq <= ?`, cp.Seq)
	if err != nil {
		return cp, 0, fmt.Errorf("%w: remove archived events: %v", ErrUnavailable, err)
	}
	n, _ := res.RowsAffected()
	return cp, n, nil
}
