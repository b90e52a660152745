#!/usr/bin/env bash
# Builds the two binaries the Terraform checks of `./build.sh test` need, and caches them
# outside the repository:
#
#   $ACTAS_TOOLS_CACHE/bin/tofu                    OpenTofu, from the Go module proxy
#   $ACTAS_TOOLS_CACHE/providers/registry.opentofu.org/cloudflare/cloudflare/VERSION/linux_amd64/
#                                                  the Cloudflare provider, built from source,
#                                                  laid out as a filesystem mirror
#
# Neither is on a registry these machines reach: OpenTofu refuses `go install` (its go.mod
# has replace directives), and the Cloudflare provider v5 is not on the Go module proxy,
# though its dependencies are. So: download OpenTofu's module and build inside it; build
# the provider from a checkout of github.com/cloudflare/terraform-provider-cloudflare at
# the pinned tag (a git directory or a work tree, given as the first argument).
#
# Usage: tools/terraform-tools.sh [PROVIDER_SOURCE]
#   PROVIDER_SOURCE  a clone (or bare git directory) of terraform-provider-cloudflare;
#                    without it only OpenTofu is built.
# The provider takes tens of minutes on 2 cores the first time; both builds are skipped
# when their binary is already cached.
set -euo pipefail

TOFU_VERSION=1.12.6
PROVIDER_VERSION=5.22.0
CACHE=${ACTAS_TOOLS_CACHE:-$HOME/.cache/actas-tools}
GOOS_ARCH="$(go env GOOS)_$(go env GOARCH)"

say() { printf '==> %s\n' "$*" >&2; }

build_tofu() {
	local bin=$CACHE/bin/tofu dir
	if [[ -x $bin ]]; then
		say "OpenTofu already cached: $bin"
		return
	fi
	say "building OpenTofu $TOFU_VERSION"
	dir=$(go mod download -json "github.com/opentofu/opentofu@v$TOFU_VERSION" |
		sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')
	[[ -d $dir ]] || { echo "terraform-tools.sh: could not download OpenTofu" >&2; exit 1; }
	mkdir -p "$CACHE/bin"
	(cd "$dir" && GOFLAGS=-mod=mod go build -trimpath -o "$bin.part" ./cmd/tofu)
	mv "$bin.part" "$bin"
}

build_provider() {
	local src=$1 out work
	out=$CACHE/providers/registry.opentofu.org/cloudflare/cloudflare/$PROVIDER_VERSION/$GOOS_ARCH
	if [[ -x $out/terraform-provider-cloudflare_v$PROVIDER_VERSION ]]; then
		say "Cloudflare provider already cached: $out"
		return
	fi
	say "building the Cloudflare provider $PROVIDER_VERSION from $src (tens of minutes)"
	work=$(mktemp -d)
	trap 'rm -rf "$work"' RETURN
	git --git-dir="$(git -C "$src" rev-parse --absolute-git-dir 2>/dev/null || echo "$src")" \
		archive "v$PROVIDER_VERSION" | tar -x -C "$work"
	mkdir -p "$out"
	(cd "$work" && go build -trimpath -o "$out/terraform-provider-cloudflare_v$PROVIDER_VERSION.part" .)
	mv "$out/terraform-provider-cloudflare_v$PROVIDER_VERSION.part" \
		"$out/terraform-provider-cloudflare_v$PROVIDER_VERSION"
	# The same binary under the Terraform registry's host name, for `terraform` users.
	mkdir -p "$CACHE/providers/registry.terraform.io/cloudflare/cloudflare/$PROVIDER_VERSION"
	ln -sfn "$out" "$CACHE/providers/registry.terraform.io/cloudflare/cloudflare/$PROVIDER_VERSION/$GOOS_ARCH"
}

build_tofu
if [[ $# -ge 1 ]]; then
	build_provider "$1"
else
	say "no provider source given: only OpenTofu was built"
fi
say "done; ./build.sh test finds them in $CACHE"
