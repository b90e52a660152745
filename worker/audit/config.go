package audit

import (
	"net/netip"
	"time"
)

// CallerDetails says what the trail stores about the network side of a caller, beyond
// who they are: their IP address (CF-Connecting-IP) and user agent.
type CallerDetails string

// The choices, from most to least.
const (
	// CallerFull stores the IP address and the user agent.
	CallerFull CallerDetails = "full"
	// CallerNetwork stores the IP's network only (IPv4 /24, IPv6 /48), no user agent.
	CallerNetwork CallerDetails = "network"
	// CallerNone stores neither.
	CallerNone CallerDetails = "none"
)

// Config is how much the trail stores and for how long.
type Config struct {
	Caller CallerDetails
	// Retention, when positive, is how old an event must be before it may be archived
	// and removed (a checkpoint); zero keeps everything for ever.
	Retention time.Duration
	// AnchorCron is the Cron Trigger expression on whose runs the chain is verified
	// and its head published.
	AnchorCron string
}

// Apply returns what is stored of a caller's IP address and user agent.
func (d CallerDetails) Apply(ip, userAgent string) (string, string) {
	switch d {
	case CallerNone:
		return "", ""
	case CallerNetwork:
		addr, err := netip.ParseAddr(ip)
		if err != nil {
			return "", ""
		}
		bits := 24
		if !addr.Unmap().Is4() {
			bits = 48
		}
		p, _ := addr.Unmap().Prefix(bits)
		return p.String(), ""
	}
	return ip, userAgent
}
