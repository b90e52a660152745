package bareid_test

import (
	"context"
	"encoding/base64"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/actas-dev/actas/worker/bareid"
)

const (
	instance     = "6c0f7d8e-2b1a-4c3d-9e8f-7a6b5c4d3e2f"
	user         = "0b6f9a4e-1c2d-4e5f-8a9b-0c1d2e3f4a5b"
	clientSecret = "p@ss word/with:odd=chars"
	mintedToken  = "minted-token-value"
)

// fakeBareID asserts every request the client makes, exactly as Bare.ID expects it.
type fakeBareID struct {
	t          *testing.T
	srv        *httptest.Server
	tokenHits  atomic.Int32
	mintHits   atomic.Int32
	expiresIn  int
	mintStatus func(hit int32) int
	mintBody   string
	delay      time.Duration
	now        func() time.Time // the client's clock; nil is time.Now
}

func newFake(t *testing.T) *fakeBareID {
	f := &fakeBareID{t: t, expiresIn: 300, mintBody: `{"token":"` + mintedToken + `","url":"https://auth.example.com/realms/demo/impersonate"}`}
	mux := http.NewServeMux()
	mux.HandleFunc("/token", f.token)
	mux.HandleFunc("/user/v1/", f.mint)
	f.srv = httptest.NewServer(mux)
	t.Cleanup(f.srv.Close)
	return f
}

func (f *fakeBareID) token(w http.ResponseWriter, r *http.Request) {
	n := f.tokenHits.Add(1)
	if r.Method != http.MethodPost || r.Header.Get("Content-Type") != "application/x-www-form-urlencoded" {
		f.t.Errorf("token: %s with %q", r.Method, r.Header.Get("Content-Type"))
	}
	// RFC 6749 §2.3.1: id and secret are form-urlencoded before Basic encoding.
	wantAuth := "Basic " + base64.StdEncoding.EncodeToString([]byte(url.QueryEscape("actas-impersonator")+":"+url.QueryEscape(clientSecret)))
	if got := r.Header.Get("Authorization"); got != wantAuth {
		f.t.Errorf("token: wrong client authentication")
	}
	body, _ := io.ReadAll(r.Body)
	if string(body) != "grant_type=client_credentials" {
		f.t.Errorf("token: body %q", body)
	}
	w.Header().Set("Content-Type", "application/json")
	io.WriteString(w, `{"access_token":"sa-`+strconv.Itoa(int(n))+`","token_type":"bearer","expires_in":`+strconv.Itoa(f.expiresIn)+`}`)
}

func (f *fakeBareID) mint(w http.ResponseWriter, r *http.Request) {
	n := f.mintHits.Add(1)
	if f.delay > 0 {
		time.Sleep(f.delay)
	}
	if r.Method != http.MethodPost || r.URL.Path != "/user/v1/"+instance+"/impersonation-token" {
		f.t.Errorf("mint: %s %s", r.Method, r.URL.Path)
	}
	if q := r.URL.Query(); q.Get("userUuid") != user || q.Get("clientId") != "crm" {
		f.t.Errorf("mint: query %v", q)
	}
	if r.Header.Get("Accept") != "application/json" || !strings.HasPrefix(r.Header.Get("Authorization"), "Bearer sa-") {
		f.t.Errorf("mint: headers %v", r.Header)
	}
	if f.mintStatus != nil {
		if s := f.mintStatus(n); s != http.StatusOK {
			w.WriteHeader(s)
			io.WriteString(w, `{"error":"`+mintedToken+`-leak-check"}`)
			return
		}
	}
	w.Header().Set("Content-Type", "application/json")
	io.WriteString(w, f.mintBody)
}

func (f *fakeBareID) client(mut ...func(*bareid.Config)) *bareid.Client {
	api, _ := url.Parse(f.srv.URL)
	tok, _ := url.Parse(f.srv.URL + "/token")
	cfg := bareid.Config{
		APIURL: api, Instance: instance, TokenURL: tok,
		ClientID: "actas-impersonator", ClientSecret: clientSecret,
		ImpersonationHosts: map[string]bool{"auth.example.com": true},
		TokenPath:          "token", URLPath: "url", Timeout: 2 * time.Second,
	}
	for _, m := range mut {
		m(&cfg)
	}
	return bareid.New(cfg, f.srv.Client(), f.now)
}

func TestMintReusesServiceToken(t *testing.T) {
	f := newFake(t)
	c := f.client()
	for i := 0; i < 3; i++ {
		imp, err := c.Mint(context.Background(), user, "crm")
		if err != nil {
			t.Fatal(err)
		}
		if imp.Token != mintedToken || imp.URL.String() != "https://auth.example.com/realms/demo/impersonate" {
			t.Fatalf("got %q %s", imp.Token, imp.URL)
		}
		if d := time.Until(imp.ExpiresAt); d < 55*time.Second || d > 61*time.Second {
			t.Fatalf("expires in %v", d)
		}
	}
	if got := f.tokenHits.Load(); got != 1 {
		t.Errorf("token endpoint hit %d times for 3 mints, want 1", got)
	}
}

func TestConcurrentMintsShareOneRefresh(t *testing.T) {
	f := newFake(t)
	c := f.client()
	var wg sync.WaitGroup
	for i := 0; i < 16; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := c.Mint(context.Background(), user, "crm"); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	if got := f.tokenHits.Load(); got != 1 {
		t.Errorf("token endpoint hit %d times, want 1", got)
	}
}

// A service token is reused until 30 s before its expiry, or until halfway through its
// life when it lives less than a minute; never after it expired.
func TestServiceTokenRefreshedBeforeExpiry(t *testing.T) {
	tests := []struct {
		expiresIn int
		reuse     time.Duration // last moment the first token is still used
		refresh   time.Duration // first moment a new one is fetched
	}{
		{expiresIn: 300, reuse: 269 * time.Second, refresh: 270 * time.Second},
		{expiresIn: 60, reuse: 29 * time.Second, refresh: 30 * time.Second},
		{expiresIn: 30, reuse: 14 * time.Second, refresh: 15 * time.Second},
		{expiresIn: 20, reuse: 9 * time.Second, refresh: 10 * time.Second},
		{expiresIn: 2, reuse: 999 * time.Millisecond, refresh: time.Second},
	}
	for _, tt := range tests {
		t.Run(strconv.Itoa(tt.expiresIn)+"s", func(t *testing.T) {
			f := newFake(t)
			f.expiresIn = tt.expiresIn
			start := time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)
			var now atomic.Int64
			now.Store(start.UnixNano())
			f.now = func() time.Time { return time.Unix(0, now.Load()) }
			c := f.client()
			mintAt := func(d time.Duration) {
				t.Helper()
				now.Store(start.Add(d).UnixNano())
				if _, err := c.Mint(context.Background(), user, "crm"); err != nil {
					t.Fatal(err)
				}
			}
			mintAt(0)
			mintAt(tt.reuse)
			if got := f.tokenHits.Load(); got != 1 {
				t.Errorf("token endpoint hit %d times within the reuse window, want 1", got)
			}
			mintAt(tt.refresh)
			if got := f.tokenHits.Load(); got != 2 {
				t.Errorf("token endpoint hit %d times after the refresh point, want 2", got)
			}
		})
	}
}

func TestUnauthorizedRetriesOnceWithFreshToken(t *testing.T) {
	f := newFake(t)
	f.mintStatus = func(hit int32) int {
		if hit == 1 {
			return http.StatusUnauthorized
		}
		return http.StatusOK
	}
	if _, err := f.client().Mint(context.Background(), user, "crm"); err != nil {
		t.Fatal(err)
	}
	if f.tokenHits.Load() != 2 || f.mintHits.Load() != 2 {
		t.Errorf("token hits %d, mint hits %d; want 2 and 2", f.tokenHits.Load(), f.mintHits.Load())
	}

	// Refused again after the fresh token: give up, no third attempt.
	f2 := newFake(t)
	f2.mintStatus = func(int32) int { return http.StatusUnauthorized }
	_, err := f2.client().Mint(context.Background(), user, "crm")
	var be *bareid.Error
	if !errors.As(err, &be) || be.Status != http.StatusUnauthorized || f2.mintHits.Load() != 2 {
		t.Errorf("err %v, mint hits %d", err, f2.mintHits.Load())
	}
}

func TestMintRejectsBadAnswers(t *testing.T) {
	tests := []struct {
		name      string
		body      string
		status    int
		mut       func(*bareid.Config)
		malformed bool
	}{
		{name: "server error", status: 500},
		{name: "not found", status: 404},
		{name: "not json", body: `<html>oops ` + mintedToken, malformed: true},
		{name: "empty object", body: `{}`, malformed: true},
		{name: "token not a string", body: `{"token":123,"url":"https://auth.example.com/x"}`, malformed: true},
		{name: "empty token", body: `{"token":"","url":"https://auth.example.com/x"}`, malformed: true},
		{name: "http url", body: `{"token":"t","url":"http://auth.example.com/x"}`, malformed: true},
		{name: "other host", body: `{"token":"t","url":"https://evil.example/x"}`, malformed: true},
		{name: "look-alike host", body: `{"token":"t","url":"https://auth.example.com.evil.example/x"}`, malformed: true},
		{name: "user-info", body: `{"token":"t","url":"https://auth.example.com@evil.example/x"}`, malformed: true},
		{name: "non-default port", body: `{"token":"t","url":"https://auth.example.com:8443/x"}`, malformed: true},
		{name: "javascript url", body: `{"token":"t","url":"javascript:alert(1)"}`, malformed: true},
		{name: "relative url", body: `{"token":"t","url":"/realms/demo/impersonate"}`, malformed: true},
		{name: "over the size limit", body: `{"token":"t","url":"https://auth.example.com/x","pad":"` + strings.Repeat("x", 1<<20) + `"}`, malformed: true},
		{name: "custom paths", body: `{"data":{"impersonationToken":"t","impersonationUrl":"https://auth.example.com/x"}}`,
			mut: func(c *bareid.Config) { c.TokenPath, c.URLPath = "data.impersonationToken", "data.impersonationUrl" }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFake(t)
			if tt.body != "" {
				f.mintBody = tt.body
			}
			if tt.status != 0 {
				f.mintStatus = func(int32) int { return tt.status }
			}
			var muts []func(*bareid.Config)
			if tt.mut != nil {
				muts = append(muts, tt.mut)
			}
			imp, err := f.client(muts...).Mint(context.Background(), user, "crm")
			wantErr := tt.status != 0 || tt.malformed
			if (err != nil) != wantErr {
				t.Fatalf("err = %v, want error %v", err, wantErr)
			}
			if err == nil {
				if imp.Token != "t" {
					t.Errorf("token %q", imp.Token)
				}
				return
			}
			var be *bareid.Error
			wantStatus := tt.status
			if wantStatus == 0 {
				wantStatus = http.StatusOK // an answer arrived: its status is kept
			}
			if !errors.As(err, &be) || be.Malformed != tt.malformed || be.Status != wantStatus {
				t.Errorf("err = %#v", err)
			}
			if strings.Contains(err.Error(), mintedToken) || strings.Contains(err.Error(), "evil.example") {
				t.Errorf("error repeats the answer: %v", err)
			}
		})
	}
}

func TestTimeout(t *testing.T) {
	f := newFake(t)
	f.delay = 500 * time.Millisecond
	c := f.client(func(c *bareid.Config) { c.Timeout = 100 * time.Millisecond })
	_, err := c.Mint(context.Background(), user, "crm")
	var be *bareid.Error
	if !errors.As(err, &be) || !be.Timeout {
		t.Fatalf("err = %v, want a timeout", err)
	}
}

func TestTokenEndpointFailures(t *testing.T) {
	tests := []struct {
		name    string
		handler http.HandlerFunc
	}{
		{"refused", func(w http.ResponseWriter, _ *http.Request) {
			w.WriteHeader(401)
			io.WriteString(w, `{"error":"invalid_client","error_description":"`+clientSecret+`"}`)
		}},
		{"down", func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(503) }},
		{"no token", func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, `{"token_type":"bearer"}`) }},
		{"not bearer", func(w http.ResponseWriter, _ *http.Request) {
			io.WriteString(w, `{"access_token":"x","token_type":"mac"}`)
		}},
		{"huge", func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, strings.Repeat(" ", 2<<20)) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := httptest.NewServer(tt.handler)
			defer srv.Close()
			u, _ := url.Parse(srv.URL)
			c := bareid.New(bareid.Config{APIURL: u, TokenURL: u, Instance: instance, ClientID: "id", ClientSecret: clientSecret,
				TokenPath: "token", URLPath: "url", Timeout: time.Second}, srv.Client(), nil)
			_, err := c.Mint(context.Background(), user, "crm")
			var be *bareid.Error
			if !errors.As(err, &be) || be.Op != "token" || be.Status == 0 {
				t.Fatalf("err = %v (an answer arrived: its status is kept)", err)
			}
			if strings.Contains(err.Error(), clientSecret) {
				t.Errorf("error repeats the body: %v", err)
			}
		})
	}
}

func TestUnreachable(t *testing.T) {
	f := newFake(t)
	c := f.client()
	f.srv.Close()
	_, err := c.Mint(context.Background(), user, "crm")
	var be *bareid.Error
	if !errors.As(err, &be) || be.Status != 0 || be.Timeout {
		t.Fatalf("err = %v", err)
	}
}

func TestCheckURLDevLoopback(t *testing.T) {
	u, _ := url.Parse("http://127.0.0.1:1")
	cfg := bareid.Config{APIURL: u, TokenURL: u, ImpersonationHosts: map[string]bool{"127.0.0.1:8790": true}}
	prod := bareid.New(cfg, nil, nil)
	cfg.DevLoopback = true
	dev := bareid.New(cfg, nil, nil)
	good := "http://127.0.0.1:8790/realms/demo/impersonate"
	if _, err := dev.CheckURL(good); err != nil {
		t.Errorf("dev loopback refused %s: %v", good, err)
	}
	if _, err := prod.CheckURL(good); err == nil {
		t.Errorf("http accepted without dev loopback")
	}
	for _, bad := range []string{"http://127.0.0.1:9999/x", "http://10.0.0.1:8790/x", "http://localhost.evil.example:8790/x"} {
		if _, err := dev.CheckURL(bad); err == nil {
			t.Errorf("dev loopback accepted %s", bad)
		}
	}
}
