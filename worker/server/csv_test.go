package server

import (
	"bytes"
	"encoding/csv"
	"strings"
	"testing"
)

// reasonClasses holds a cell of every kind of character a reason accepts, the line
// breaks and tabs included, and the characters CSV and spreadsheets treat specially.
var reasonClasses = []string{
	"SUP-1234 plain ASCII",
	"comma, \"double quotes\" and 'single'",
	"line\nfeed", "carriage\rreturn", "crlf\r\nline", "ends in LF\n", "\r\nstarts with CRLF", "tab\tinside",
	"=HYPERLINK(\"https://evil.example\")", "+1", "-1", "@SUM(A1)", "'already quoted", "\ttab first", "\rCR first",
	" leading space", "trailing space ",
	"Latin Åéß, Greek λ, Cyrillic ж, CJK 漢字, Arabic مرحبا, Hebrew שלום",
	"combining e\u0301, digits ١٢٣ ½ Ⅻ, symbols €£ ©™ ∑ →, emoji 😀",
	"spaces: no-break\u00a0ideographic\u3000em\u2003", "private use \ue000", "",
}

// undefuse reverses defuseFormula: one leading apostrophe goes.
func undefuse(cell string) string { return strings.TrimPrefix(cell, "'") }

func TestCSVKeepsEveryByte(t *testing.T) {
	var buf bytes.Buffer
	cw := newCSVWriter(&buf)
	cw.Write([]string{"a", "b,c", "d\"e", "f\ng", "h\ri", "j\r\nk", " l", ""})
	cw.Write([]string{"x"})
	if err := cw.Flush(); err != nil {
		t.Fatal(err)
	}
	want := "a,\"b,c\",\"d\"\"e\",\"f\ng\",\"h\ri\",\"j\r\nk\",\" l\",\r\nx\r\n"
	if buf.String() != want {
		t.Errorf("got  %q\nwant %q", buf.String(), want)
	}
}

// A real CSV reader gets every reason back once the documented apostrophe is dropped.
// encoding/csv turns CRLF inside a quoted cell into LF, so those cells are compared
// that way here; the end-to-end suite reads them with a parser that keeps them.
func TestCSVRoundTrip(t *testing.T) {
	var buf bytes.Buffer
	cw := newCSVWriter(&buf)
	row := make([]string, len(reasonClasses))
	for i, c := range reasonClasses {
		row[i] = defuseFormula(c)
	}
	cw.Write(row)
	cw.Write(row)
	if err := cw.Flush(); err != nil {
		t.Fatal(err)
	}
	recs, err := csv.NewReader(&buf).ReadAll()
	if err != nil || len(recs) != 2 {
		t.Fatalf("%v, %d records", err, len(recs))
	}
	for _, rec := range recs {
		for i, cell := range rec {
			want := strings.ReplaceAll(reasonClasses[i], "\r\n", "\n")
			if got := undefuse(cell); got != want {
				t.Errorf("cell %d: got %q, want %q", i, got, want)
			}
		}
	}
}

func TestDefuseFormula(t *testing.T) {
	for in, want := range map[string]string{
		"=1+1": "'=1+1", "+1": "'+1", "-1": "'-1", "@A1": "'@A1", "\tx": "'\tx", "\rx": "'\rx",
		"'x": "''x", "x=1": "x=1", "": "", "SUP-1": "SUP-1",
	} {
		if got := defuseFormula(in); got != want || undefuse(got) != in {
			t.Errorf("defuseFormula(%q) = %q, want %q (reversible)", in, got, want)
		}
	}
}
