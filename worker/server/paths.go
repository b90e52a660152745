package server

import (
	"net/http"
	"net/url"
	"path"
	"strings"

	"github.com/actas-dev/actas/worker/problem"
)

// canonicalOnly answers every request whose path is not in canonical form with a 404
// problem before the mux sees it. Go's ServeMux would otherwise redirect it (301 or
// 307 to the cleaned path), and a redirect is an answer the API does not document:
// a client that follows it may re-send the request somewhere it did not mean to, and
// a POST that "worked" through a redirect hides a wrong URL in the client.
func canonicalOnly(next, notFound http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !isCanonical(r.URL) {
			notFound.ServeHTTP(w, r)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// isCanonical reports whether u's path is absolute, clean (no empty, "." or ".."
// segments, no trailing slash) and not percent-encoded where it need not be: every
// path of the API is plain ASCII, so any escape is a disguise.
func isCanonical(u *url.URL) bool {
	p := u.Path
	return u.RawPath == "" && strings.HasPrefix(p, "/") && path.Clean(p) == p
}

// notFound is the answer to a path the API does not have.
func notFound() error { return problem.New(problem.NotFound, "No such resource.") }
