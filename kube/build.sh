#!/usr/bin/env bash
# Builds the reference control plane from the Go module proxy:
#   etcd, kube-apiserver, kube-scheduler, kube-controller-manager, kubectl
# into a cache directory outside the clone, keyed by a hash of the wrapper modules
# (k8s/go.mod, k8s/go.sum, etcd/go.mod, etcd/go.sum, etcd/main.go), this script and
# `go version`. The LAST line on stdout is the directory holding the five binaries;
# progress goes to stderr. When that directory already exists, nothing is built.
#
#   dir=$(kube/build.sh | tail -n1)
#
# Environment:
#   USER_SCHEDULER_KUBE_CACHE  cache root (default ${XDG_CACHE_HOME:-$HOME/.cache}/user-scheduler/kube)
# The Go build cache (GOCACHE) and module cache (GOMODCACHE) keep their usual defaults,
# so a rebuild after a change of key is quick once they are warm. See README.md.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
cd "$here"

say() { printf 'build.sh: %s\n' "$*" >&2; }
die() { say "$*"; exit 1; }

if ! command -v go >/dev/null 2>&1; then
  if [[ -x /usr/local/go/bin/go ]]; then
    PATH=/usr/local/go/bin:$PATH
  else
    die "Go is not installed: no 'go' on PATH and no /usr/local/go/bin/go (need Go >= 1.26)"
  fi
fi
go_version=$(go version 2>&1) || die "'go version' failed: $go_version"

bins=(etcd kube-apiserver kube-scheduler kube-controller-manager kubectl)
kube_cmds=(kube-apiserver kube-scheduler kube-controller-manager kubectl)

# The required version of module $1 in go.mod $2 (a `require` block line or a single line).
modversion() { awk -v m="$1" '$1 == "require" { $1 = "" ; $0 = $0 } $1 == m { print $2; exit }' "$2"; }
kube_version=$(modversion k8s.io/kubernetes k8s/go.mod)
[[ $kube_version =~ ^v1\.([0-9]+)\.([0-9]+)$ ]] ||
  die "cannot read the k8s.io/kubernetes version from k8s/go.mod (got '${kube_version}')"
kube_minor=${BASH_REMATCH[1]}
etcd_version=$(modversion go.etcd.io/etcd/server/v3 etcd/go.mod)
[[ -n $etcd_version ]] || die "cannot read the go.etcd.io/etcd/server/v3 version from etcd/go.mod"

key_files=(k8s/go.mod k8s/go.sum etcd/go.mod etcd/go.sum etcd/main.go build.sh)
keyhash() { { sha256sum "${key_files[@]}"; printf '%s\n' "$go_version"; } | sha256sum | cut -c1-16; }
hash=$(keyhash)

cache_root=${USER_SCHEDULER_KUBE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/user-scheduler/kube}
out=$cache_root/$hash

complete() {
  local b
  [[ -d $1 ]] || return 1
  for b in "${bins[@]}"; do [[ -x $1/$b ]] || return 1; done
}

if complete "$out"; then
  printf '%s\n' "$out"
  exit 0
fi

mkdir -p "$cache_root/logs"
# Serialise concurrent runs for the same key; the second one finds the result ready.
if command -v flock >/dev/null 2>&1; then
  exec 9>"$cache_root/.lock-$hash"
  flock 9
  if complete "$out"; then
    printf '%s\n' "$out"
    exit 0
  fi
  rm -rf "$cache_root/.tmp-$hash."* # left by an interrupted run of this key (we hold its lock)
fi

log=$cache_root/logs/$hash.log
: >"$log"
tmp=$(mktemp -d "$cache_root/.tmp-$hash.XXXXXX")
cleanup() { rm -rf "$tmp"; }
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
# Build from a private copy of the wrapper modules, so that a checkout, stash or edit in
# the work tree during the (long) build neither breaks it nor mislabels its result.
mkdir -p "$tmp/src/k8s" "$tmp/src/etcd" "$tmp/bin"
for f in "${key_files[@]}"; do cp "$f" "$tmp/src/$f"; done
[[ $(cd "$tmp/src" && keyhash) == "$hash" ]] || die "kube/ files changed while the build started; run it again"

# A failed go command: name the module the proxy refused, or the first error line.
fail() {
  local what=$1 line
  line=$(grep -m1 -E '(reading https?://|reading file://|: 404 Not Found|: 410 Gone|unknown revision|verifying .*(checksum|go\.sum)|SECURITY ERROR|missing go\.sum entry|module lookup disabled|dial tcp|no such host|TLS handshake)' "$log" || true)
  if [[ -n $line ]]; then
    say "$what: a Go module could not be fetched: $line"
  else
    line=$(grep -m1 -E '(^go: |error|cannot|undefined|: [a-z].*:[0-9]+:)' "$log" || tail -n1 "$log")
    say "$what failed: $line"
  fi
  die "full log: $log"
}

gobuild() { # gobuild DESCRIPTION DIR ARGS...
  local what=$1 dir=$2
  shift 2
  printf '\n=== %s: (cd %s && CGO_ENABLED=0 go build %s)\n' "$what" "$dir" "$*" >>"$log"
  (cd "$tmp/src/$dir" && CGO_ENABLED=0 go build -mod=readonly -trimpath -buildvcs=false "$@") >>"$log" 2>&1 ||
    fail "$what"
}

say "building etcd $etcd_version and kubernetes $kube_version into $out"
say "($go_version; log: $log; a cold build takes 10-25 minutes on 2 cores)"
start=$SECONDS

gobuild "etcd $etcd_version" etcd -ldflags "-s -w" -o "$tmp/bin/etcd" .
say "etcd built ($((SECONDS - start)) s)"

# The source date of the release, not the wall clock, so builds are reproducible.
build_date=$(cd "$tmp/src/k8s" && go list -mod=readonly -m -f '{{if .Time}}{{.Time.UTC.Format "2006-01-02T15:04:05Z"}}{{end}}' k8s.io/kubernetes 2>>"$log") ||
  fail "go list k8s.io/kubernetes"
[[ -n $build_date ]] || build_date=1970-01-01T00:00:00Z
ldflags="-s -w"
for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
  ldflags+=" -X $pkg.gitVersion=$kube_version -X $pkg.gitMajor=1 -X $pkg.gitMinor=$kube_minor"
  ldflags+=" -X $pkg.gitTreeState=clean -X $pkg.buildDate=$build_date"
done
pkgs=()
for c in "${kube_cmds[@]}"; do pkgs+=("k8s.io/kubernetes/cmd/$c"); done
gobuild "kubernetes $kube_version" k8s -ldflags "$ldflags" -o "$tmp/bin/" "${pkgs[@]}"
say "kubernetes built ($((SECONDS - start)) s)"

# Check that each binary runs and reports the expected version before publishing.
check() { # check BINARY EXPECTED ARGS...
  local b=$1 want=$2 got
  shift 2
  got=$("$tmp/bin/$b" "$@" 2>&1) || { printf '%s\n' "$got" >>"$log"; die "$b $* failed; full log: $log"; }
  printf '%s %s: %s\n' "$b" "$*" "$got" >>"$log"
  [[ $got == *"$want"* ]] || die "$b $* printed '${got%%$'\n'*}', expected '$want'; full log: $log"
}
check etcd "etcd Version: ${etcd_version#v}" --version
for c in kube-apiserver kube-scheduler kube-controller-manager; do
  check "$c" "Kubernetes $kube_version" --version
done
check kubectl "Client Version: $kube_version" version --client

rm -rf "$out" # an incomplete directory of this key (never published by this script)
mv -T "$tmp/bin" "$out"
say "done in $((SECONDS - start)) s"
printf '%s\n' "$out"
