package identity_test

import (
	"crypto/sha256"
	"errors"
	"net/http/httptest"
	"testing"

	"github.com/actas-dev/actas/worker/identity"
)

var roleNames = identity.Roles{Impersonator: "actas-impersonator", Auditor: "actas-auditor"}

func keys(pairs ...string) identity.APIKeys {
	out := identity.APIKeys{Roles: roleNames}
	for i := 0; i < len(pairs); i += 2 {
		out.Keys = append(out.Keys, identity.APIKey{Label: pairs[i], Hash: sha256.Sum256([]byte(pairs[i+1])), Roles: []string{"actas-impersonator"}})
	}
	return out
}

func TestAPIKeys(t *testing.T) {
	a := identity.Chain{keys("ci-bot", "key-one", "ops", "key-two", "ci-bot", "key-rotated")}
	tests := []struct {
		name      string
		header    string
		wantActor string
		wantErr   error
	}{
		{"first key", "Bearer key-one", "ci-bot", nil},
		{"second key", "bearer key-two", "ops", nil},
		{"rotated key of the same label", "Bearer key-rotated", "ci-bot", nil},
		{"unknown key", "Bearer key-three", "", identity.ErrInvalidCredentials},
		{"prefix of a key", "Bearer key-", "", identity.ErrInvalidCredentials},
		{"no header", "", "", identity.ErrNoCredentials},
		{"basic", "Basic a2V5LW9uZQ==", "", identity.ErrNoCredentials},
		{"jwt-shaped is not a key", "Bearer x.y.z", "", identity.ErrNoCredentials},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := httptest.NewRequest("GET", "/", nil)
			if tt.header != "" {
				r.Header.Set("Authorization", tt.header)
			}
			id, err := a.Authenticate(r)
			if !errors.Is(err, tt.wantErr) || id.Actor != tt.wantActor {
				t.Fatalf("got %q, %v; want %q, %v", id.Actor, err, tt.wantActor, tt.wantErr)
			}
			if err == nil && (id.Kind != identity.KindAPIKey || !id.Can(identity.Impersonate) || id.Can(identity.Audit)) {
				t.Errorf("identity %+v", id)
			}
		})
	}
}
