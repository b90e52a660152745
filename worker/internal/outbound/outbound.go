// Package outbound sends the Worker's requests to other services through a Doer (the
// Fetch API in workerd, an *http.Client natively) with the two guarantees every caller
// needs: the answer is read through a size limit, and the call ends when its context
// does, even where the Doer cannot be cancelled (workerd's fetch binding).
package outbound

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
)

// Doer sends one HTTP request. It must be safe for concurrent use.
type Doer interface {
	Do(*http.Request) (*http.Response, error)
}

// ErrTooLarge means the answer exceeded the size limit.
var ErrTooLarge = errors.New("outbound: response body too large")

// Do sends req (which must carry ctx) and returns the status and at most max bytes of
// body. An answer over max bytes is ErrTooLarge with its status (non-zero: an answer
// arrived, it is not a transport failure); every other error comes with status 0.
// Errors name the request without its query: user ids belong in the audit trail, not
// in log lines.
func Do(ctx context.Context, d Doer, req *http.Request, max int64) (int, []byte, error) {
	type result struct {
		status int
		body   []byte
		err    error
	}
	done := make(chan result, 1) // buffered: the sender never blocks after a timeout
	go func() {
		resp, err := d.Do(req)
		if err != nil {
			done <- result{err: err}
			return
		}
		defer resp.Body.Close()
		body, err := io.ReadAll(io.LimitReader(resp.Body, max+1))
		if err == nil && int64(len(body)) > max {
			err = ErrTooLarge
		}
		done <- result{resp.StatusCode, body, err}
	}()
	where := req.Method + " " + req.URL.Scheme + "://" + req.URL.Host + req.URL.Path
	select {
	case r := <-done:
		if r.err != nil && ctx.Err() != nil {
			r.err = ctx.Err()
		}
		if errors.Is(r.err, ErrTooLarge) {
			return r.status, nil, fmt.Errorf("%s: %w", where, r.err)
		}
		if r.err != nil {
			return 0, nil, fmt.Errorf("%s: %w", where, unwrapURLError(r.err))
		}
		return r.status, r.body, nil
	case <-ctx.Done():
		return 0, nil, fmt.Errorf("%s: %w", where, ctx.Err())
	}
}

// unwrapURLError drops *url.Error's wrapper, whose text repeats the whole URL.
func unwrapURLError(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}

// IsLoopback reports whether host (a host name or IP address, without port) names this
// machine. Only development settings may point outbound calls there (the emulator).
func IsLoopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
