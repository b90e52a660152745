package server

import (
	"encoding/json"
	"errors"
	"mime"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/actas-dev/actas/worker/audit"
	"github.com/actas-dev/actas/worker/identity"
	"github.com/actas-dev/actas/worker/internal/ids"
	"github.com/actas-dev/actas/worker/policy"
	"github.com/actas-dev/actas/worker/problem"
)

// Page sizes of the audit listing.
const (
	defaultPageSize   = 50
	maxPageSize       = 500
	defaultExportSize = 1000
	maxExportSize     = 5000
)

// The listing's representations, chosen by Accept.
const (
	mediaJSON   = "application/json"
	mediaCSV    = "text/csv"
	mediaNDJSON = "application/x-ndjson"
)

var listParams = map[string]bool{
	"actor": true, "user": true, "client": true, "outcome": true,
	"since": true, "until": true, "cursor": true, "limit": true,
}

// listImpersonations is GET /v1/impersonations: the audit trail, newest first.
// Auditors see every row; impersonators only their own.
func (s *server) listImpersonations(w http.ResponseWriter, r *http.Request) error {
	id := caller(r)
	media, err := negotiate(r.Header.Get("Accept"))
	if err != nil {
		return err
	}
	f, err := parseFilter(r.URL.Query(), media != mediaJSON)
	if err != nil {
		return err
	}
	switch {
	case id.Can(identity.Audit):
	case id.Can(identity.Impersonate):
		if f.Actor != "" && f.Actor != id.Actor {
			return problem.New(problem.Forbidden, "You may only list your own impersonations.")
		}
		f.Actor, f.ActorKind, f.Mask = id.Actor, string(id.Kind), ownView
	default:
		return problem.New(problem.Forbidden, "You may not read the audit trail.")
	}
	page, err := s.store.List(r.Context(), f)
	if err != nil {
		return listError(err)
	}
	if page.Items == nil {
		page.Items = []audit.Impersonation{}
	}
	if page.Next != "" {
		next := *r.URL
		q := next.Query()
		q.Set("cursor", page.Next)
		next.RawQuery = q.Encode()
		w.Header().Set("Link", "<"+next.RequestURI()+`>; rel="next"`)
	}
	switch media {
	case mediaCSV:
		return writeCSV(w, page.Items)
	case mediaNDJSON:
		return writeNDJSON(w, page.Items)
	}
	return writeJSON(w, http.StatusOK, struct {
		Items []audit.Impersonation `json:"items"`
		Next  string                `json:"next,omitempty"`
	}{page.Items, page.Next})
}

func listError(err error) error {
	if errors.Is(err, audit.ErrBadCursor) {
		return problem.New(problem.InvalidQuery, "cursor is not one this API handed out.")
	}
	return auditUnavailable(err)
}

// negotiate picks the listing's representation from Accept (RFC 9110 §12.5.1); q
// values are honoured only as far as refusing q=0.
func negotiate(accept string) (string, error) {
	if strings.TrimSpace(accept) == "" {
		return mediaJSON, nil
	}
	for _, part := range strings.Split(accept, ",") {
		mt, params, err := mime.ParseMediaType(strings.TrimSpace(part))
		if err != nil || params["q"] == "0" {
			continue
		}
		switch mt {
		case mediaJSON, "*/*", "application/*":
			return mediaJSON, nil
		case mediaCSV, mediaNDJSON:
			return mt, nil
		}
	}
	return "", problem.New(problem.NotAcceptable, "The audit trail is available as application/json, text/csv and application/x-ndjson.")
}

func parseFilter(q url.Values, export bool) (audit.Filter, error) {
	f := audit.Filter{Limit: defaultPageSize}
	maxLimit := maxPageSize
	if export {
		f.Limit, maxLimit = defaultExportSize, maxExportSize
	}
	for k, v := range q {
		if !listParams[k] {
			return f, problem.New(problem.InvalidQuery, "Unknown parameter "+strconv.Quote(k)+"; use actor, user, client, outcome, since, until, cursor, limit.")
		}
		if len(v) != 1 {
			return f, problem.New(problem.InvalidQuery, "Give "+k+" at most once.")
		}
	}
	f.Actor, f.Client, f.Cursor = q.Get("actor"), q.Get("client"), q.Get("cursor")
	if u := q.Get("user"); u != "" {
		if !ids.IsUUID(u) {
			return f, problem.New(problem.InvalidQuery, "user must be a UUID.")
		}
		f.User = strings.ToLower(u)
	}
	switch o := audit.Event(q.Get("outcome")); o {
	case "", audit.Pending, audit.Issued, audit.Denied, audit.Failed:
		f.Outcome = o
	default:
		return f, problem.New(problem.InvalidQuery, "outcome must be pending, issued, denied or failed.")
	}
	for _, p := range []struct {
		name string
		dst  *time.Time
	}{{"since", &f.Since}, {"until", &f.Until}} {
		if v := q.Get(p.name); v != "" {
			t, err := time.Parse(time.RFC3339Nano, v)
			if err != nil {
				return f, problem.New(problem.InvalidQuery, p.name+" must be an RFC 3339 time such as 2026-11-25T10:00:00Z.")
			}
			*p.dst = t
		}
	}
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > maxLimit {
			return f, problem.New(problem.InvalidQuery, "limit must be an integer from 1 to "+strconv.Itoa(maxLimit)+".")
		}
		f.Limit = n
	}
	return f, nil
}

var csvHeader = []string{"seq", "id", "requestedAt", "actor", "actorKind", "userUuid", "clientId",
	"reason", "outcome", "outcomeDetail", "upstreamStatus", "completedAt", "expiresAt", "endedAt",
	"requestId", "clientIp", "userAgent"}

// writeCSV writes RFC 4180 CSV that reproduces every stored byte (csv.go). A cell
// that a spreadsheet would run as a formula gets a leading apostrophe (defuseFormula,
// reversible); the NDJSON export carries the values untouched.
func writeCSV(w http.ResponseWriter, items []audit.Impersonation) error {
	h := w.Header()
	h.Set("Content-Type", "text/csv; charset=utf-8; header=present")
	h.Set("Content-Disposition", `attachment; filename="actas-impersonations.csv"`)
	h.Set("Cache-Control", "no-store")
	cw := newCSVWriter(w)
	cw.Write(csvHeader)
	for _, it := range items {
		status := ""
		if it.UpstreamStatus != 0 {
			status = strconv.Itoa(it.UpstreamStatus)
		}
		row := []string{strconv.FormatInt(it.Seq, 10), it.ID, stamp(&it.RequestedAt), it.Actor, it.ActorKind,
			it.UserUUID, it.ClientID, it.Reason, string(it.Outcome), it.OutcomeDetail, status,
			stamp(it.CompletedAt), stamp(it.ExpiresAt), stamp(it.EndedAt), it.RequestID, it.ClientIP, it.UserAgent}
		for i, cell := range row {
			row[i] = defuseFormula(cell)
		}
		cw.Write(row)
	}
	_ = cw.Flush()
	return nil // the status line is out; a write error cannot become a problem any more
}

func stamp(t *time.Time) string {
	if t == nil {
		return ""
	}
	return t.UTC().Format("2006-01-02T15:04:05.000Z07:00")
}

func writeNDJSON(w http.ResponseWriter, items []audit.Impersonation) error {
	h := w.Header()
	h.Set("Content-Type", mediaNDJSON)
	h.Set("Cache-Control", "no-store")
	enc := json.NewEncoder(w)
	for _, it := range items {
		_ = enc.Encode(it)
	}
	return nil
}

// ownView is how impersonators see their own requests for a protected user: as the
// failure a user unknown to Bare.ID gives (its 404, answered as user-not-allowed), so
// their audit listing tells the two apart no more than the API's answer does.
// Auditors see what was stored.
var ownView = &audit.Mask{Detail: string(policy.ProtectedUser), AsDetail: string(problem.UserNotAllowed), AsStatus: http.StatusNotFound}

// visible returns the impersonation id if the caller may see it: auditors see all,
// others only their own (in ownView). Anything else is "not found", so ids cannot be
// probed.
func (s *server) visible(r *http.Request, id identity.Identity) (audit.Impersonation, error) {
	it, err := s.store.Get(r.Context(), r.PathValue("id"))
	switch {
	case errors.Is(err, audit.ErrNotFound):
		return it, problem.New(problem.NotFound, "No such impersonation.")
	case err != nil:
		return it, auditUnavailable(err)
	case id.Can(identity.Audit), it.Actor == id.Actor && it.ActorKind == string(id.Kind):
		if !id.Can(identity.Audit) {
			ownView.Apply(&it)
		}
		ri := info(r)
		ri.impersonationID, ri.targetUser, ri.clientID = it.ID, it.UserUUID, it.ClientID
		return it, nil
	}
	return audit.Impersonation{}, problem.New(problem.NotFound, "No such impersonation.")
}

// getImpersonation is GET /v1/impersonations/{id}.
func (s *server) getImpersonation(w http.ResponseWriter, r *http.Request) error {
	it, err := s.visible(r, caller(r))
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, it)
}

// endImpersonation is POST /v1/impersonations/{id}/end: the admin who started an
// impersonation records that they ended it.
func (s *server) endImpersonation(w http.ResponseWriter, r *http.Request) error {
	id := caller(r)
	it, err := s.visible(r, id)
	if err != nil {
		return err
	}
	if it.Actor != id.Actor || it.ActorKind != string(id.Kind) {
		return problem.New(problem.Forbidden, "Only the admin who started an impersonation can end it.")
	}
	if it.Outcome != audit.Issued || it.EndedAt != nil {
		return problem.New(problem.NotActive, "Only an issued impersonation that has not ended can be ended.")
	}
	now := s.now()
	if err := s.store.End(r.Context(), it.Record(), now); err != nil {
		return auditUnavailable(err)
	}
	info(r).outcome = string(audit.Ended)
	it.EndedAt = &now
	return writeJSON(w, http.StatusOK, it)
}

// verifyChain is GET /v1/impersonations/verify: auditors walk the hash chain, and
// with ?seq=&hash= (a head published earlier) prove that nothing after it was removed.
func (s *server) verifyChain(w http.ResponseWriter, r *http.Request) error {
	if !caller(r).Can(identity.Audit) {
		return problem.New(problem.Forbidden, "Only auditors may verify the audit trail.")
	}
	anchor, err := parseAnchor(r.URL.Query())
	if err != nil {
		return err
	}
	v, err := s.store.VerifyAnchored(r.Context(), anchor)
	if err != nil {
		return auditUnavailable(err)
	}
	return writeJSON(w, http.StatusOK, v)
}

func parseAnchor(q url.Values) (*audit.ChainPoint, error) {
	for k, v := range q {
		if (k != "seq" && k != "hash") || len(v) != 1 {
			return nil, problem.New(problem.InvalidQuery, "Give seq and hash of a published head (once each), or nothing.")
		}
	}
	if len(q) == 0 {
		return nil, nil
	}
	seq, err := strconv.ParseInt(q.Get("seq"), 10, 64)
	hash := q.Get("hash")
	if err != nil || seq < 1 || !isHash(hash) || len(q) != 2 {
		return nil, problem.New(problem.InvalidQuery, "seq must be a positive integer and hash 64 lower-case hex digits, both from a published head.")
	}
	return &audit.ChainPoint{Seq: seq, Hash: hash}, nil
}

func isHash(h string) bool {
	if len(h) != 64 {
		return false
	}
	for _, c := range h {
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}
