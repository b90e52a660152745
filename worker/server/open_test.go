package server

import "testing"

func TestOpenPageCSPOutsideDevelopment(t *testing.T) {
	const want = "default-src 'none'; script-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action https:"
	if got := openPageCSP(false); got != want {
		t.Errorf("got %q", got)
	}
}
