package version

import "testing"

func TestString(t *testing.T) {
	defer func(v string) { version = v }(version)
	for set, want := range map[string]string{
		"":                        Unset,
		"0.1.0":                   "0.1.0",
		"v0.2.0-3-g126a9ec-dirty": "v0.2.0-3-g126a9ec-dirty",
		"0.1.0 <script>":          Unset,
	} {
		version = set
		if got := String(); got != want {
			t.Errorf("version %q: String() = %q, want %q", set, got, want)
		}
	}
}
