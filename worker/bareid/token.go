package bareid

// Why not golang.org/x/oauth2/clientcredentials and oauth2.ReuseTokenSource, which do
// what this file does:
//
//   - clientcredentials.Config.Token sends the request through an *http.Client. Inside
//     workerd there is none that works (outbound calls must go through the Fetch API,
//     wasm/fetch.go), and linking net/http's client transport adds about 1.2 MB gzip to
//     the wasm (build.sh refuses a build that links it).
//   - workerd ties every I/O to the request that started it and refuses I/O on behalf
//     of another request. ReuseTokenSource holds one TokenSource, created with one
//     request's context, and refreshes through it on a later request; here each
//     refresh runs with the context of the request that needs it (ctxTokenSource).
//   - x/oauth2's RetrieveError keeps the token endpoint's response body, which may echo
//     what was sent; errors here keep only the RFC 6749 error code.
//
// The oauth2.Token and oauth2.TokenSource types are still used, so callers see the
// familiar shapes.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"golang.org/x/oauth2"
)

// earlyExpiry is how long before its expiry a service token is replaced, so a token
// never expires between being read from the cache and reaching Bare.ID. A token that
// lives less than twice as long is replaced halfway through its life instead (see
// refreshAt), so a short-lived one is still reused rather than fetched for every mint.
const earlyExpiry = 30 * time.Second

// maxLifetime caps expires_in, so a wrong answer cannot keep a token cached forever
// (or overflow time.Duration).
const maxLifetime = 24 * time.Hour

// fallbackLifetime applies when the token endpoint omits expires_in (RFC 6749 §5.1
// makes it optional): short enough that a revoked token is not reused for long.
const fallbackLifetime = 60 * time.Second

// tokenCache holds the service-account token and replaces it shortly before expiry.
// Concurrent callers share one refresh: the mutex is held across the fetch.
type tokenCache struct {
	mu      sync.Mutex
	tok     *oauth2.Token
	replace time.Time // when tok stops being handed out
	fetch   func(ctx context.Context) (*oauth2.Token, error)
	now     func() time.Time
}

func (c *tokenCache) get(ctx context.Context) (*oauth2.Token, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.tok != nil && c.now().Before(c.replace) {
		return c.tok, nil
	}
	tok, err := c.fetch(ctx)
	if err != nil {
		return nil, err
	}
	c.tok, c.replace = tok, refreshAt(c.now(), tok.Expiry)
	return tok, nil
}

// refreshAt is when a token obtained at got and expiring at expiry is replaced:
// earlyExpiry before its expiry, or halfway through its life if that is shorter. It is
// always before expiry, so an expired token is never handed out.
func refreshAt(got, expiry time.Time) time.Time {
	life := expiry.Sub(got)
	return expiry.Add(-min(earlyExpiry, life/2))
}

// invalidate drops stale if it is still the cached token (Bare.ID refused it), so the
// next get fetches a fresh one; a token another caller already replaced is kept.
func (c *tokenCache) invalidate(stale *oauth2.Token) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.tok == stale {
		c.tok = nil
	}
}

// ctxTokenSource adapts the cache to oauth2.TokenSource for one request's context.
type ctxTokenSource struct {
	ctx   context.Context
	cache *tokenCache
}

func (s ctxTokenSource) Token() (*oauth2.Token, error) { return s.cache.get(s.ctx) }

// TokenSource returns an oauth2.TokenSource of the service-account token, bound to
// ctx. It is safe for concurrent use; all sources of one Client share one cache.
func (c *Client) TokenSource(ctx context.Context) oauth2.TokenSource {
	return ctxTokenSource{ctx: ctx, cache: c.tokens}
}

// fetchToken runs the client-credentials grant (RFC 6749 §4.4) with
// client_secret_basic authentication (§2.3.1: id and secret form-urlencoded first).
// With a second secret configured, a refused secret (400 or 401, RFC 6749 §5.2's
// invalid_client) makes it try the other one, and the one that worked is tried first
// from then on.
func (c *Client) fetchToken(ctx context.Context) (*oauth2.Token, error) {
	secrets := []string{c.cfg.ClientSecret}
	if c.cfg.ClientSecretNext != "" {
		secrets = append(secrets, c.cfg.ClientSecretNext)
	}
	first := int(c.secretInUse.Load()) % len(secrets)
	var err error
	for i := range secrets {
		n := (first + i) % len(secrets)
		var tok *oauth2.Token
		tok, err = c.fetchTokenWith(ctx, secrets[n])
		var be *Error
		if err == nil {
			c.secretInUse.Store(int32(n))
			return tok, nil
		}
		if !errors.As(err, &be) || (be.Status != http.StatusUnauthorized && be.Status != http.StatusBadRequest) {
			return nil, err
		}
	}
	return nil, err
}

func (c *Client) fetchTokenWith(ctx context.Context, secret string) (*oauth2.Token, error) {
	form := url.Values{"grant_type": {"client_credentials"}}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.cfg.TokenURL.String(), strings.NewReader(form.Encode()))
	if err != nil {
		return nil, fmt.Errorf("bareid: token request: %w", err)
	}
	req.SetBasicAuth(url.QueryEscape(c.cfg.ClientID), url.QueryEscape(secret))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "application/json")

	status, body, err := c.do(ctx, req)
	if err != nil {
		return nil, transportError("token", status, err)
	}
	if status != http.StatusOK {
		// RFC 6749 §5.2: keep the error code for the log, never the body.
		var e struct {
			Code string `json:"error"`
		}
		_ = json.Unmarshal(body, &e)
		var codeErr error
		if e.Code != "" {
			codeErr = fmt.Errorf("error %q", safeCode(e.Code))
		}
		return nil, &Error{Op: "token", Status: status, Err: codeErr}
	}
	var tr struct {
		AccessToken string          `json:"access_token"`
		TokenType   string          `json:"token_type"`
		ExpiresIn   json.RawMessage `json:"expires_in"`
	}
	if err := json.Unmarshal(body, &tr); err != nil || tr.AccessToken == "" {
		return nil, &Error{Op: "token", Status: status, Malformed: true, Err: errors.New("token response without access_token")}
	}
	if !strings.EqualFold(tr.TokenType, "bearer") {
		return nil, &Error{Op: "token", Status: status, Malformed: true, Err: errors.New("token_type is not Bearer")}
	}
	lifetime := fallbackLifetime
	var secs float64
	if len(tr.ExpiresIn) > 0 && json.Unmarshal(tr.ExpiresIn, &secs) == nil && secs > 0 {
		lifetime = time.Duration(min(secs, maxLifetime.Seconds()) * float64(time.Second))
	}
	return &oauth2.Token{
		AccessToken: tr.AccessToken,
		TokenType:   "Bearer",
		Expiry:      c.now().Add(lifetime),
	}, nil
}

// safeCode keeps an RFC 6749 error code only if it has the grammar of one (§5.2:
// %x20-21 / %x23-5B / %x5D-7E), truncated, so nothing else from the body is logged.
func safeCode(code string) string {
	if len(code) > 64 {
		code = code[:64]
	}
	for _, r := range code {
		if r < 0x20 || r > 0x7e || r == '"' || r == '\\' {
			return "unrecognised"
		}
	}
	return code
}
