//go:build js && wasm

package main

import (
	"fmt"
	"net/http"
	"syscall/js"

	"github.com/syumai/workers/cloudflare/fetch"
)

// fetchDoer sends outbound requests through the Workers Fetch API.
//
// It deliberately avoids fetch.Client.HTTPClient and net/http.Client: either links
// net/http's default transport (HTTP/2, TLS) into the module, about 1.2 MB gzip, and
// Go's own transport cannot open sockets inside workerd anyway.
type fetchDoer struct{}

// Redirects are returned, not followed: Bare.ID's token and impersonation-token
// endpoints never redirect, and a redirect there is an upstream fault to report.
var fetchInit = &fetch.RequestInit{Redirect: fetch.RedirectModeManual}

// Do implements server.Doer. The Fetch API binding takes no AbortSignal; the Bare.ID
// client bounds each call by its context itself (worker/bareid), so Do simply waits.
func (fetchDoer) Do(r *http.Request) (*http.Response, error) {
	if r.Body == http.NoBody {
		// The binding turns any non-nil body into a stream, and a GET or HEAD Request
		// with a body throws in JavaScript.
		r = r.Clone(r.Context())
		r.Body = nil
	}
	res, err := fetch.NewClient().Do(&fetch.Request{Request: r}, fetchInit)
	if err != nil {
		// Scheme, host and path only: the query holds user ids, which belong in the
		// audit trail rather than in log lines.
		return nil, fmt.Errorf("wasm: fetch %s %s://%s%s: %w", r.Method, r.URL.Scheme, r.URL.Host, r.URL.Path, err)
	}
	res.Request = r
	fixNullBody(res)
	return res, nil
}

// rawBody is implemented by the binding's response body; it exposes the JavaScript
// ReadableStream behind it.
type rawBody interface{ GetRawJSBody() js.Value }

// fixNullBody replaces a body whose JavaScript stream is null (204, 304, ...) with
// http.NoBody: the binding's reader would panic calling getReader on null.
func fixNullBody(res *http.Response) {
	if b, ok := res.Body.(rawBody); ok {
		if v := b.GetRawJSBody(); v.IsNull() || v.IsUndefined() {
			res.Body = http.NoBody
		}
	}
}
