package server

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"unicode/utf8"

	"github.com/actas-dev/actas/worker/policy"
	"github.com/actas-dev/actas/worker/problem"
)

// bodyContract is what invalid-body answers say the body must be.
const bodyContract = "The body must be one JSON object with at most the members userUuid, clientId and reason (strings, each at most once, spelled exactly so), valid UTF-8, at most 16 KiB."

// readBody reads the whole request body, refusing one over maxRequestBody whatever it
// holds (trailing whitespace and a second document count too).
func readBody(r *http.Request) ([]byte, error) {
	b, err := io.ReadAll(io.LimitReader(r.Body, maxRequestBody+1))
	if err != nil {
		return nil, problem.Wrap(problem.InvalidBody, "The body could not be read.", err)
	}
	if len(b) > maxRequestBody {
		return nil, problem.New(problem.InvalidBody, "The body is larger than 16 KiB.")
	}
	return b, nil
}

// decodeImpersonation reads POST /v1/impersonations' body strictly, so that every
// reader of the same bytes sees the same request the Worker acts on: exactly one JSON
// object, members named exactly userUuid, clientId and reason (encoding/json would
// match "USERUUID" too), none twice (encoding/json keeps the last), every value a
// string (not null), nothing after the object but whitespace, valid UTF-8 without
// unpaired surrogate escapes (encoding/json turns both into U+FFFD silently). A
// missing member is an empty string, which the checks that follow name precisely.
func decodeImpersonation(r *http.Request) (policy.Request, error) {
	var req policy.Request
	mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || mt != "application/json" {
		return req, problem.New(problem.UnsupportedMedia, "Send the body as application/json.")
	}
	body, err := readBody(r)
	if err != nil {
		return req, err
	}
	if err := parseRequest(body, &req); err != nil {
		return policy.Request{}, problem.Wrap(problem.InvalidBody, bodyContract, err)
	}
	return req, nil
}

func parseRequest(body []byte, req *policy.Request) error {
	if !utf8.Valid(body) {
		return errors.New("body is not valid UTF-8")
	}
	if err := checkSurrogateEscapes(body); err != nil {
		return err
	}
	fields := map[string]*string{"userUuid": &req.UserUUID, "clientId": &req.ClientID, "reason": &req.Reason}
	seen := map[string]bool{}
	dec := json.NewDecoder(bytes.NewReader(body))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		return errors.New("body is not a JSON object")
	}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return err
		}
		name, _ := tok.(string) // object keys are always strings
		dst, known := fields[name]
		switch {
		case !known:
			return fmt.Errorf("unknown member %q", truncateName(name))
		case seen[name]:
			return fmt.Errorf("member %s given twice", name)
		}
		seen[name] = true
		tok, err = dec.Token()
		if err != nil {
			return err
		}
		s, ok := tok.(string)
		if !ok {
			return fmt.Errorf("member %s is not a string", name)
		}
		*dst = s
	}
	if _, err := dec.Token(); err != nil { // the closing brace
		return err
	}
	if _, err := dec.Token(); err != io.EOF {
		return errors.New("more than one JSON value")
	}
	return nil
}

// truncateName keeps a refused member name short enough for a log line.
func truncateName(s string) string {
	if len(s) > 40 {
		return s[:40] + "..."
	}
	return s
}

// checkSurrogateEscapes refuses a \u escape of a UTF-16 surrogate that is not part of
// a high-low pair: it encodes no character, and encoding/json would store U+FFFD.
// Outside strings a backslash is not JSON at all, so no string context is needed.
func checkSurrogateEscapes(b []byte) error {
	for i := 0; i < len(b); i++ {
		if b[i] != '\\' || i+1 >= len(b) {
			continue
		}
		i++ // the escaped character
		if b[i] != 'u' {
			continue
		}
		r, ok := hex4(b, i+1)
		if !ok {
			continue // the decoder reports the malformed escape
		}
		i += 4
		switch {
		case r >= 0xDC00 && r <= 0xDFFF:
			return errors.New("unpaired surrogate escape")
		case r >= 0xD800 && r <= 0xDBFF:
			lo, ok := hex4(b, i+3)
			if i+2 >= len(b) || b[i+1] != '\\' || b[i+2] != 'u' || !ok || lo < 0xDC00 || lo > 0xDFFF {
				return errors.New("unpaired surrogate escape")
			}
			i += 6
		}
	}
	return nil
}

// hex4 reads four hex digits at b[i:].
func hex4(b []byte, i int) (rune, bool) {
	if i+4 > len(b) {
		return 0, false
	}
	var r rune
	for _, c := range b[i : i+4] {
		switch {
		case '0' <= c && c <= '9':
			r = r<<4 | rune(c-'0')
		case 'a' <= c && c <= 'f':
			r = r<<4 | rune(c-'a'+10)
		case 'A' <= c && c <= 'F':
			r = r<<4 | rune(c-'A'+10)
		default:
			return 0, false
		}
	}
	return r, true
}
