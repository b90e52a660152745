package ids

import "testing"

func TestIsUUID(t *testing.T) {
	for s, want := range map[string]bool{
		"3f2c1a9e-8d4b-4c6a-9f1e-2b7d5c8a0e41":  true,
		"3F2C1A9E-8D4B-4C6A-9F1E-2B7D5C8A0E41":  true,
		"3f2c1a9e8d4b4c6a9f1e2b7d5c8a0e41":      false,
		"3f2c1a9e-8d4b-4c6a-9f1e-2b7d5c8a0e4":   false,
		"3f2c1a9e-8d4b-4c6a-9f1e-2b7d5c8a0e41 ": false,
		"{3f2c1a9e-8d4b-4c6a-9f1e-2b7d5c8a0e4}": false,
		"3f2c1a9e-8d4b-4c6a-9f1e_2b7d5c8a0e41":  false,
		"3g2c1a9e-8d4b-4c6a-9f1e-2b7d5c8a0e41":  false,
		"":                                      false,
	} {
		if got := IsUUID(s); got != want {
			t.Errorf("IsUUID(%q) = %v, want %v", s, got, want)
		}
	}
}

func TestNewUUID(t *testing.T) {
	a, b := NewUUID(), NewUUID()
	if !IsUUID(a) || a == b {
		t.Fatalf("NewUUID gave %q and %q", a, b)
	}
	if a[14] != '4' || (a[19] != '8' && a[19] != '9' && a[19] != 'a' && a[19] != 'b') {
		t.Errorf("%q is not a version 4, variant 1 UUID", a)
	}
}
