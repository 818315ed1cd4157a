#!/usr/bin/env bash
# Regenerates the `replace k8s.io/X => k8s.io/X v0.<minor>.<patch>` directives of this
# wrapper module from the real go.mod of k8s.io/kubernetes.
#
# k8s.io/kubernetes requires its staging modules (k8s.io/api, client-go, ...) at the
# placeholder version v0.0.0 and resolves them with `replace => ./staging/...`, which Go
# ignores for dependencies. So every module that kubernetes' go.mod requires at v0.0.0
# gets a replace to the published staging tag v0.MINOR.PATCH (v1.37.2 -> v0.37.2).
#
# Usage: gen-replaces.sh [KUBE_VERSION]   (default: the k8s.io/kubernetes version in go.mod)
# Rerunnable: drops every existing k8s.io/* replace first, then adds the generated ones.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
cd "$here"

if ! command -v go >/dev/null 2>&1; then
  if [[ -x /usr/local/go/bin/go ]]; then PATH=/usr/local/go/bin:$PATH; else
    echo "gen-replaces.sh: no 'go' on PATH (nor /usr/local/go/bin/go)" >&2; exit 1; fi
fi

kube_version=${1:-}
if [[ -z $kube_version ]]; then
  kube_version=$(go mod edit -json | awk '
    /"Require"/ { inreq = 1 }
    inreq && /"Path": "k8s.io\/kubernetes"/ { found = 1; next }
    found && /"Version"/ { gsub(/[",]/, "", $2); print $2; exit }')
fi
if [[ ! $kube_version =~ ^v1\.([0-9]+)\.([0-9]+)$ ]]; then
  echo "gen-replaces.sh: cannot use kubernetes version '$kube_version' (want v1.MINOR.PATCH)" >&2
  exit 1
fi
staging_version="v0.${BASH_REMATCH[1]}.${BASH_REMATCH[2]}"

# `go mod download -json` prints {"GoMod": "/.../v1.37.2.mod", ...} (and "Error" on failure).
dl=$(go mod download -json "k8s.io/kubernetes@$kube_version" || true)
gomod=$(printf '%s\n' "$dl" | awk -F'"' '$2 == "GoMod" { print $4 }')
if [[ -z $gomod || ! -f $gomod ]]; then
  err=$(printf '%s\n' "$dl" | awk -F'"' '$2 == "Error" { print $4 }')
  echo "gen-replaces.sh: cannot download k8s.io/kubernetes@$kube_version: ${err:-no go.mod}" >&2
  exit 1
fi

# Paths that kubernetes requires at v0.0.0 (from `go mod edit -json` of its go.mod).
mapfile -t staging < <(go mod edit -json "$gomod" | awk '
  /"Require"/ { inreq = 1; next }
  inreq && /^\t\]/ { inreq = 0 }
  inreq && /"Path"/ { gsub(/[",]/, "", $2); path = $2 }
  inreq && /"Version"/ { gsub(/[",]/, "", $2); if ($2 == "v0.0.0") print path }' | sort -u)
if (( ${#staging[@]} == 0 )); then
  echo "gen-replaces.sh: found no v0.0.0 requires in $gomod" >&2
  exit 1
fi

args=()
while read -r old; do
  [[ -n $old ]] && args+=("-dropreplace=$old")
done < <(go mod edit -json | awk '
  /"Replace"/ { inrep = 1; next }
  inrep && /"Old"/ { getline; if ($0 ~ /"Path": "k8s\.io\//) { split($0, a, "\""); print a[4] } }')
for p in "${staging[@]}"; do
  args+=("-replace=$p=$p@$staging_version")
done
go mod edit "${args[@]}"
echo "gen-replaces.sh: ${#staging[@]} staging modules of k8s.io/kubernetes@$kube_version replaced by $staging_version" >&2
