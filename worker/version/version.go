// Package version is the Worker's build version. build.sh sets it at link time:
//
//	go build -ldflags "-X github.com/actas-dev/actas/worker/version.version=0.1.0-g126a9ec"
//
// from `git describe` of the checkout, or the VERSION file where there is no git.
package version

import "regexp"

// version is set by the linker; builds that do not set it (go test, go run) have none.
var version string

// Unset is the version of a build that was not given one.
const Unset = "unset"

// shape is what build.sh passes; anything else (a linker flag gone wrong) is not shown.
var shape = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._+-]{0,63}$`)

// checked is version, or Unset when it has another shape; worked out once, because
// every log line carries it.
var checked = check(version)

func check(v string) string {
	if !shape.MatchString(v) {
		return Unset
	}
	return v
}

// String returns the build version, or Unset.
func String() string { return checked }
