package server

import (
	"encoding/json"
	"errors"
	"io"
	"mime"
	"net/http"
	"strconv"

	"github.com/actas-dev/actas/worker/audit"
	"github.com/actas-dev/actas/worker/identity"
	"github.com/actas-dev/actas/worker/problem"
)

// retentionAllowed refuses the retention operations unless the caller is an auditor
// and ACTAS_AUDIT_RETENTION is set.
func (s *server) retentionAllowed(r *http.Request) error {
	if !caller(r).Can(identity.Audit) {
		return problem.New(problem.Forbidden, "Only auditors may archive the audit trail.")
	}
	if s.cfg.Audit.Retention <= 0 {
		return problem.New(problem.CheckpointRejected, "Retention is off: set ACTAS_AUDIT_RETENTION to allow archiving and removing old events.")
	}
	return nil
}

func archiveError(err error) error {
	switch {
	case errors.Is(err, audit.ErrNothingToArchive):
		return problem.New(problem.CheckpointRejected, "No events after the newest checkpoint are older than ACTAS_AUDIT_RETENTION (the newest event always stays), or through names another event.")
	case errors.Is(err, audit.ErrBrokenChain):
		return problem.Wrap(problem.CheckpointRejected, "The chain does not verify; nothing may be archived. See GET /v1/impersonations/verify.", err)
	case errors.Is(err, audit.ErrArchiveMismatch):
		return problem.New(problem.CheckpointRejected, "The archive's head or SHA-256 does not match the stored events; fetch the archive again.")
	}
	return auditUnavailable(err)
}

// getArchive is GET /v1/audit/archive[?through=SEQ]: the events after the newest
// checkpoint that are older than the retention period (up to through, at most
// audit.MaxArchive), as NDJSON ending with the chain head they reach.
func (s *server) getArchive(w http.ResponseWriter, r *http.Request) error {
	if err := s.retentionAllowed(r); err != nil {
		return err
	}
	var through int64
	for k, v := range r.URL.Query() {
		n, err := strconv.ParseInt(v[0], 10, 64)
		if k != "through" || len(v) != 1 || err != nil || n < 1 {
			return problem.New(problem.InvalidQuery, "The only parameter is through: the seq of the last event to archive.")
		}
		through = n
	}
	a, err := s.store.ArchiveThrough(r.Context(), through, s.now().Add(-s.cfg.Audit.Retention))
	if err != nil {
		return archiveError(err)
	}
	h := w.Header()
	h.Set("Content-Type", mediaNDJSON)
	h.Set("Content-Disposition", `attachment; filename="actas-audit-`+strconv.FormatInt(a.From.Seq+1, 10)+"-"+strconv.FormatInt(a.Head.Seq, 10)+`.ndjson"`)
	h.Set("Cache-Control", "no-store")
	h.Set("X-Archive-Sha256", a.SHA256)
	h.Set("X-Archive-Head-Seq", strconv.FormatInt(a.Head.Seq, 10))
	h.Set("X-Archive-Head-Hash", a.Head.Hash)
	_, _ = w.Write(a.NDJSON)
	return nil
}

type checkpointBody struct {
	Seq           int64  `json:"seq"`
	Hash          string `json:"hash"`
	ArchiveSHA256 string `json:"archiveSha256"`
}

// createCheckpoint is POST /v1/audit/checkpoints {seq, hash, archiveSha256}: after
// storing the archive GET /v1/audit/archive gave, remove the events it holds. The
// chain stays verifiable from the checkpoint; the checkpoint names who did it.
func (s *server) createCheckpoint(w http.ResponseWriter, r *http.Request) error {
	if err := s.retentionAllowed(r); err != nil {
		return err
	}
	var body checkpointBody
	mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || mt != "application/json" {
		return problem.New(problem.UnsupportedMedia, "Send the body as application/json.")
	}
	dec := json.NewDecoder(io.LimitReader(r.Body, maxRequestBody))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&body); err != nil || body.Seq < 1 || !isHash(body.Hash) || !isHash(body.ArchiveSHA256) {
		return problem.New(problem.InvalidBody, "The body must be {seq, hash, archiveSha256}: the archive's head (X-Archive-Head-Seq, X-Archive-Head-Hash) and its SHA-256 (X-Archive-Sha256).")
	}
	id := caller(r)
	ri := info(r)
	cp, removed, err := s.store.Checkpoint(r.Context(), audit.CheckpointRequest{
		Head:          audit.ChainPoint{Seq: body.Seq, Hash: body.Hash},
		ArchiveSHA256: body.ArchiveSHA256,
		Actor:         id.Actor, ActorKind: string(id.Kind), RequestID: ri.requestID,
		Now: s.now(), OlderThan: s.now().Add(-s.cfg.Audit.Retention),
	})
	if err != nil {
		return archiveError(err)
	}
	ri.outcome = "checkpoint"
	s.afterResponse(r.Context())
	return writeJSON(w, http.StatusCreated, struct {
		Checkpoint *audit.Checkpoint `json:"checkpoint"`
		Removed    int64             `json:"removed"`
	}{cp, removed})
}
