package version

import "testing"

func TestString(t *testing.T) {
	if got := String(); got != Unset { // go test sets no version
		t.Errorf("String() = %q without a linked version, want %q", got, Unset)
	}
	for set, want := range map[string]string{
		"":                        Unset,
		"0.1.0":                   "0.1.0",
		"v0.2.0-3-g126a9ec-dirty": "v0.2.0-3-g126a9ec-dirty",
		"0.1.0 <script>":          Unset,
	} {
		if got := check(set); got != want {
			t.Errorf("version %q shows as %q, want %q", set, got, want)
		}
	}
}
