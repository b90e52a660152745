package server

import (
	"io"
	"net/http"
)

// openPage is GET /open: an empty page of the Worker's own origin, which the browser
// extension opens in a private window and fills, from its isolated content-script world,
// with the form that POSTs the impersonation token. Browsers refuse to show an
// extension's own pages in a private window unless the extension runs a second instance
// there, so the form needs a web page to live in; this one runs no script of its own
// (script-src 'none'), sends no Referer, and can only submit forms to https targets
// (and loopback http in development, for the emulator). It carries no data.
func (s *server) openPage(w http.ResponseWriter, _ *http.Request) {
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Content-Security-Policy", openPageCSP(s.cfg.DevLoopback))
	_, _ = io.WriteString(w, openPageHTML)
}

// openPageCSP forbids everything but submitting a form. form-action also covers the
// redirects that follow the submission (Bare.ID sends the browser on to the
// application), so it cannot be narrowed to the impersonation hosts.
func openPageCSP(devLoopback bool) string {
	formAction := "https:"
	if devLoopback {
		formAction += " http://127.0.0.1:* http://localhost:*"
	}
	return "default-src 'none'; script-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action " + formAction
}

const openPageHTML = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="referrer" content="no-referrer">
<title>actas: opening the application</title></head>
<body><p>Opening the application&hellip;</p>
<noscript><p>This page is filled by the actas browser extension.</p></noscript></body></html>
`
