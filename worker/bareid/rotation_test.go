package bareid_test

import (
	"context"
	"encoding/base64"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/actas-dev/actas/worker/bareid"
)

// rotatingBareID accepts one service-account secret at a time, like Keycloak after
// "Regenerate secret", and counts what it was sent.
type rotatingBareID struct {
	srv       *httptest.Server
	mu        sync.Mutex
	secret    string
	tried     []string
	tokenHits atomic.Int32
	mintHits  atomic.Int32
}

func newRotating(t *testing.T, secret string) *rotatingBareID {
	b := &rotatingBareID{secret: secret}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /token", func(w http.ResponseWriter, r *http.Request) {
		b.tokenHits.Add(1)
		raw, _ := base64.StdEncoding.DecodeString(strings.TrimPrefix(r.Header.Get("Authorization"), "Basic "))
		_, sent, _ := strings.Cut(string(raw), ":")
		sent, _ = url.QueryUnescape(sent)
		b.mu.Lock()
		b.tried = append(b.tried, sent)
		ok := sent == b.secret
		b.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		if !ok {
			w.WriteHeader(http.StatusUnauthorized)
			io.WriteString(w, `{"error":"invalid_client","error_description":"Invalid client or Invalid client credentials"}`)
			return
		}
		io.WriteString(w, `{"access_token":"sa","token_type":"Bearer","expires_in":300}`)
	})
	mux.HandleFunc("POST /user/v1/", func(w http.ResponseWriter, r *http.Request) {
		b.mintHits.Add(1)
		io.WriteString(w, `{"token":"t","url":"https://auth.example.com/x"}`)
	})
	b.srv = httptest.NewServer(mux)
	t.Cleanup(b.srv.Close)
	return b
}

func (b *rotatingBareID) rotate(secret string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.secret, b.tried = secret, nil
}

func (b *rotatingBareID) sent() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]string{}, b.tried...)
}

func (b *rotatingBareID) client(secret, next string, now func() time.Time) *bareid.Client {
	u, _ := url.Parse(b.srv.URL)
	tok, _ := url.Parse(b.srv.URL + "/token")
	return bareid.New(bareid.Config{
		APIURL: u, TokenURL: tok, Instance: instance, ClientID: "actas-impersonator",
		ClientSecret: secret, ClientSecretNext: next,
		ImpersonationHosts: map[string]bool{"auth.example.com": true},
		TokenPath:          "token", URLPath: "url", Timeout: 2 * time.Second,
	}, b.srv.Client(), now)
}

// A secret regenerated at Bare.ID does not revoke the service token the Worker holds:
// mints go on until it expires; then the old secret is refused and the mint fails as a
// token-endpoint refusal (the API answers upstream-failed).
func TestSecretChangedAtBareID(t *testing.T) {
	b := newRotating(t, "old")
	clock := time.Now()
	c := b.client("old", "", func() time.Time { return clock })
	if _, err := c.Mint(context.Background(), user, "crm"); err != nil {
		t.Fatal(err)
	}
	b.rotate("new")
	if _, err := c.Mint(context.Background(), user, "crm"); err != nil {
		t.Fatalf("the cached token should still work: %v", err)
	}
	if got := b.tokenHits.Load(); got != 1 {
		t.Fatalf("token endpoint hit %d times while the token was cached", got)
	}
	clock = clock.Add(5 * time.Minute) // the cached token expires
	_, err := c.Mint(context.Background(), user, "crm")
	var be *bareid.Error
	if !errors.As(err, &be) || be.Op != "token" || be.Status != http.StatusUnauthorized {
		t.Fatalf("err = %v, want a token refusal", err)
	}
	if strings.Contains(err.Error(), "old") || strings.Contains(err.Error(), "Invalid client credentials") {
		t.Errorf("error repeats the secret or the body: %v", err)
	}
}

func TestSecondSecretCoversTheRotation(t *testing.T) {
	b := newRotating(t, "old")
	clock := time.Now()
	c := b.client("old", "new", func() time.Time { return clock })
	if _, err := c.Mint(context.Background(), user, "crm"); err != nil {
		t.Fatal(err)
	}
	if got := b.sent(); len(got) != 1 || got[0] != "old" {
		t.Fatalf("sent %v, want just the first secret while it works", got)
	}

	b.rotate("new") // regenerated at Bare.ID
	clock = clock.Add(5 * time.Minute)
	if _, err := c.Mint(context.Background(), user, "crm"); err != nil {
		t.Fatalf("the next secret should have been tried: %v", err)
	}
	if got := b.sent(); len(got) != 2 || got[0] != "old" || got[1] != "new" {
		t.Fatalf("sent %v, want old then new", got)
	}

	b.rotate("new")
	clock = clock.Add(5 * time.Minute)
	if _, err := c.Mint(context.Background(), user, "crm"); err != nil {
		t.Fatal(err)
	}
	if got := b.sent(); len(got) != 1 || got[0] != "new" {
		t.Fatalf("sent %v, want the secret that worked last, first", got)
	}

	b.rotate("neither")
	clock = clock.Add(5 * time.Minute)
	_, err := c.Mint(context.Background(), user, "crm")
	var be *bareid.Error
	if !errors.As(err, &be) || be.Op != "token" || be.Status != http.StatusUnauthorized || len(b.sent()) != 2 {
		t.Fatalf("err = %v after %v, want a refusal after trying both", err, b.sent())
	}
}
