package audit_test

import (
	"testing"

	"github.com/actas-dev/actas/worker/audit"
)

func TestCallerDetails(t *testing.T) {
	tests := []struct {
		d          audit.CallerDetails
		ip, wantIP string
		ua, wantUA string
	}{
		{audit.CallerFull, "203.0.113.7", "203.0.113.7", "curl/8", "curl/8"},
		{audit.CallerNetwork, "203.0.113.7", "203.0.113.0/24", "curl/8", ""},
		{audit.CallerNetwork, "2001:db8:1234:5678::1", "2001:db8:1234::/48", "curl/8", ""},
		{audit.CallerNetwork, "::ffff:203.0.113.7", "203.0.113.0/24", "", ""},
		{audit.CallerNetwork, "not an ip", "", "x", ""},
		{audit.CallerNone, "203.0.113.7", "", "curl/8", ""},
	}
	for _, tt := range tests {
		ip, ua := tt.d.Apply(tt.ip, tt.ua)
		if ip != tt.wantIP || ua != tt.wantUA {
			t.Errorf("%s(%q, %q) = %q, %q; want %q, %q", tt.d, tt.ip, tt.ua, ip, ua, tt.wantIP, tt.wantUA)
		}
	}
}
