package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"
)

func TestParseFlags(t *testing.T) {
	tests := []struct {
		name    string
		args    []string
		wantErr string
		check   func(t *testing.T, o options)
	}{
		{name: "defaults", check: func(t *testing.T, o options) {
			if o.addr != "127.0.0.1:8790" {
				t.Errorf("options = %+v", o)
			}
		}},
		{name: "loopback v6", args: []string{"-addr", "[::1]:0"}},
		{name: "localhost", args: []string{"-addr", "localhost:0"}},
		{name: "all interfaces refused", args: []string{"-addr", ":8790"}, wantErr: "not a loopback"},
		{name: "public address refused", args: []string{"-addr", "0.0.0.0:8790"}, wantErr: "not a loopback"},
		{name: "hostname refused", args: []string{"-addr", "example.com:80"}, wantErr: "not a loopback"},
		{name: "stray argument", args: []string{"extra"}, wantErr: "unexpected"},
		{name: "unknown flag", args: []string{"-latency", "1s"}, wantErr: "not defined"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o, err := parseFlags(tt.args, io.Discard)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if tt.check != nil {
				tt.check(t, o)
			}
		})
	}
}

func TestHelp(t *testing.T) {
	var stdout, stderr bytes.Buffer
	if code := run(context.Background(), []string{"-h"}, &stdout, &stderr); code != 0 {
		t.Fatalf("exit %d", code)
	}
	for _, want := range []string{"-addr", "/_control/faults", "/_control/login", "/_control/sign", "/_control/tokens",
		"/_control/rotate-keys", "openid-connect/auth", "openid-connect/logout", `{"msg":"listening"`} {
		if !strings.Contains(stderr.String(), want) {
			t.Errorf("help lacks %q", want)
		}
	}
	if stdout.Len() != 0 {
		t.Error("help wrote to stdout")
	}
}

func TestRunRefusesRemoteAddr(t *testing.T) {
	var stderr bytes.Buffer
	if code := run(context.Background(), []string{"-addr", "0.0.0.0:0"}, io.Discard, &stderr); code != 2 {
		t.Fatalf("exit %d, want 2", code)
	}
}

// TestRunServes starts the real program on a free port, waits for the ready
// line, talks to it and stops it.
func TestRunServes(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	stdoutR, stdoutW := io.Pipe()
	stderr := &syncBuffer{}
	exit := make(chan int, 1)
	go func() {
		exit <- run(ctx, []string{"-addr", "127.0.0.1:0"}, stdoutW, stderr)
		stdoutW.Close()
	}()

	lines := bufio.NewScanner(stdoutR)
	if !lines.Scan() {
		t.Fatalf("no ready line; stderr: %s", stderr)
	}
	var ready map[string]string
	if err := json.Unmarshal(lines.Bytes(), &ready); err != nil {
		t.Fatalf("ready line %q: %v", lines.Text(), err)
	}
	if len(ready) != 2 || ready["msg"] != "listening" || !strings.HasPrefix(ready["url"], "http://127.0.0.1:") ||
		strings.HasSuffix(ready["url"], ":0") {
		t.Fatalf("ready line = %q", lines.Text())
	}
	go io.Copy(io.Discard, stdoutR)

	client := &http.Client{Timeout: 5 * time.Second}
	resp, err := client.Get(ready["url"] + "/realms/demo/.well-known/openid-configuration")
	if err != nil {
		t.Fatal(err)
	}
	var d discovery
	err = json.NewDecoder(resp.Body).Decode(&d)
	resp.Body.Close()
	if err != nil || d.Issuer != ready["url"]+"/realms/demo" {
		t.Errorf("issuer = %q (%v), want the listen URL", d.Issuer, err)
	}

	cancel()
	select {
	case code := <-exit:
		if code != 0 {
			t.Errorf("exit %d; stderr: %s", code, stderr)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("did not shut down")
	}
	if !strings.Contains(stderr.String(), `"path":"/realms/demo/.well-known/openid-configuration"`) {
		t.Errorf("no request log line; stderr: %s", stderr)
	}
}
