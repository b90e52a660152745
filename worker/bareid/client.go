// Package bareid is the Worker's client of Bare.ID: a service-account token by the
// OAuth2 client-credentials grant (RFC 6749 §4.4), and the impersonation-token API
// (POST /user/v1/{instance}/impersonation-token).
//
// Outbound HTTP goes through a Doer, so the same code runs on workerd's Fetch API and
// natively against httptest servers. No token or secret ever appears in an error.
package bareid

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/tidwall/gjson"

	"github.com/actas-dev/actas/worker/internal/outbound"
)

// maxBody bounds every response body read from Bare.ID.
const maxBody = 1 << 20

// TokenLifetime is how long Bare.ID keeps an impersonation token valid.
const TokenLifetime = 60 * time.Second

// Doer sends one HTTP request. It must be safe for concurrent use.
type Doer = outbound.Doer

// Client talks to one Bare.ID instance. It is safe for concurrent use and caches the
// service-account token across calls.
type Client struct {
	cfg    Config
	http   Doer
	now    func() time.Time
	tokens *tokenCache
	// secretInUse is the index of the service-account secret that last worked (0:
	// ClientSecret, 1: ClientSecretNext).
	secretInUse atomic.Int32
}

// New returns a Client. now may be nil (time.Now).
func New(cfg Config, d Doer, now func() time.Time) *Client {
	if now == nil {
		now = time.Now
	}
	c := &Client{cfg: cfg, http: d, now: now}
	c.tokens = &tokenCache{fetch: c.fetchToken, now: now}
	return c
}

// Error is a failed call to Bare.ID. It carries what the caller branches on and
// nothing from the response body.
type Error struct {
	Op        string // "token" or "mint"
	Status    int    // upstream HTTP status, 0 if none arrived
	Timeout   bool   // no answer in time
	Malformed bool   // an answer arrived but was not what the API promises
	Err       error
}

func (e *Error) Error() string {
	msg := "bareid: " + e.Op
	if e.Status != 0 {
		msg += " status " + strconv.Itoa(e.Status)
	}
	if e.Err != nil {
		msg += ": " + e.Err.Error()
	}
	return msg
}

func (e *Error) Unwrap() error { return e.Err }

// Impersonation is Bare.ID's answer: a short-lived token and where to send it.
type Impersonation struct {
	Token     string
	URL       *url.URL
	ExpiresAt time.Time
}

// Mint asks Bare.ID for an impersonation token for userUUID in clientID. If Bare.ID
// refuses the cached service token (401), it fetches a fresh one and retries once.
func (c *Client) Mint(ctx context.Context, userUUID, clientID string) (*Impersonation, error) {
	ctx, cancel := context.WithTimeout(ctx, c.cfg.Timeout)
	defer cancel()
	for attempt := 0; ; attempt++ {
		tok, err := c.TokenSource(ctx).Token()
		if err != nil {
			return nil, err
		}
		imp, err := c.mintWith(ctx, tok.AccessToken, userUUID, clientID)
		var be *Error
		if attempt == 0 && errors.As(err, &be) && be.Status == http.StatusUnauthorized {
			c.tokens.invalidate(tok)
			continue
		}
		return imp, err
	}
}

func (c *Client) mintWith(ctx context.Context, accessToken, userUUID, clientID string) (*Impersonation, error) {
	u := *c.cfg.APIURL
	u.Path += "/user/v1/" + url.PathEscape(c.cfg.Instance) + "/impersonation-token"
	u.RawQuery = url.Values{"userUuid": {userUUID}, "clientId": {clientID}}.Encode()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u.String(), http.NoBody)
	if err != nil {
		return nil, fmt.Errorf("bareid: mint request: %w", err)
	}
	req.Header.Set("Accept", "application/json")
	req.Header.Set("Authorization", "Bearer "+accessToken)
	requested := c.now()

	status, body, err := c.do(ctx, req)
	if err != nil {
		return nil, transportError("mint", status, err)
	}
	if status != http.StatusOK && status != http.StatusCreated {
		return nil, &Error{Op: "mint", Status: status}
	}
	if !gjson.ValidBytes(body) {
		return nil, &Error{Op: "mint", Status: status, Malformed: true, Err: errors.New("answer is not JSON")}
	}
	token := gjson.GetBytes(body, c.cfg.TokenPath)
	rawURL := gjson.GetBytes(body, c.cfg.URLPath)
	if token.Type != gjson.String || token.Str == "" || rawURL.Type != gjson.String {
		return nil, &Error{Op: "mint", Status: status, Malformed: true, Err: errors.New("answer lacks the token or URL field")}
	}
	target, err := c.CheckURL(rawURL.Str)
	if err != nil {
		return nil, &Error{Op: "mint", Status: status, Malformed: true, Err: err}
	}
	return &Impersonation{Token: token.Str, URL: target, ExpiresAt: requested.Add(TokenLifetime)}, nil
}

// CheckURL accepts an impersonation URL only if it is https on an allowed host with the
// default port and no user-info (http on a loopback host only with dev loopback). The
// error names the rule, never the URL, which may carry a query worth keeping private.
func (c *Client) CheckURL(raw string) (*url.URL, error) {
	u, err := url.Parse(raw)
	if err != nil || !u.IsAbs() || u.Opaque != "" || u.Host == "" {
		return nil, errors.New("impersonation URL is not an absolute URL")
	}
	if u.User != nil {
		return nil, errors.New("impersonation URL carries user-info")
	}
	if u.Fragment != "" {
		return nil, errors.New("impersonation URL carries a fragment")
	}
	host := strings.ToLower(u.Host)
	switch {
	case u.Scheme == "https" && (u.Port() == "" || u.Port() == "443"):
		host = strings.ToLower(u.Hostname())
	case u.Scheme == "http" && c.cfg.DevLoopback && outbound.IsLoopback(u.Hostname()):
		// Dev only: the emulator on loopback; the port is part of the allowed host.
	default:
		return nil, errors.New("impersonation URL is not https on the default port")
	}
	if !c.cfg.ImpersonationHosts[host] {
		return nil, errors.New("impersonation URL host is not allowed")
	}
	return u, nil
}

func (c *Client) do(ctx context.Context, req *http.Request) (int, []byte, error) {
	return outbound.Do(ctx, c.http, req, maxBody)
}

// transportError is the Error of a call that brought no usable answer. An answer over
// the size limit did arrive: it is malformed and keeps its status, so it is reported
// as a wrong answer, not as Bare.ID being unreachable.
func transportError(op string, status int, err error) *Error {
	if errors.Is(err, outbound.ErrTooLarge) {
		return &Error{Op: op, Status: status, Malformed: true, Err: err}
	}
	return &Error{Op: op, Err: err, Timeout: errors.Is(err, context.DeadlineExceeded)}
}
