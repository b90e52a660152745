package server

import (
	"bytes"
	"encoding/json"
	"testing"
)

// openapi.json holds the placeholder the build version replaces, once, as info.version.
func TestOpenAPIVersionPlaceholder(t *testing.T) {
	if n := bytes.Count(openAPISource, []byte(openAPIVersionField)); n != 1 {
		t.Fatalf("openapi.json holds %s %d times, want once (info.version)", openAPIVersionField, n)
	}
	replaced := bytes.Replace(openAPISource, []byte(openAPIVersionField), []byte(`"version": "9.9.9-test"`), 1)
	var doc struct {
		Info struct{ Version string } `json:"info"`
	}
	if err := json.Unmarshal(replaced, &doc); err != nil || doc.Info.Version != "9.9.9-test" {
		t.Errorf("info.version %q, %v", doc.Info.Version, err)
	}
}
