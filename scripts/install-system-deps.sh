#!/usr/bin/env bash
# Installs the host packages Squall's worker needs: runc, runsc (gVisor, 2024 build from
# bookworm-backports), mmdebstrap (builds the debian_slim base image), iproute2, iptables,
# skopeo and umoci (pull registry images without Docker), and for the registry tests
# docker-registry (a local registry the tests start themselves) and apache2-utils (htpasswd),
# wrk (the web endpoint benchmark's load generator), zstd (image layers in the blob store),
# e2fsprogs (sandbox disk limits), tmux (the `squall shell` test's terminal), and gcc and
# libc6-dev (the worker builds squall-spawn, the sandboxes' static process starter).
#
# Idempotent and quick when everything is already there. Must run as root on Debian 12.
# The backports source is derived from this machine's own Debian apt source, so whatever
# mirror (or proxy) the machine already uses is used for backports too.
set -euo pipefail

BACKPORTS_SOURCES=/etc/apt/sources.list.d/squall-backports.sources
PACKAGES=(runc mmdebstrap iproute2 iptables skopeo umoci docker-registry apache2-utils wrk zstd e2fsprogs tmux gcc libc6-dev)

log() { printf 'install-system-deps: %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

if [[ $(id -u) -ne 0 ]]; then
    die "must run as root (try: sudo $0)"
fi

runsc_is_recent() {
    # The 2022 build in bookworm main breaks `ls` and checkpoint; we need 2024 or later.
    local version year
    command -v runsc >/dev/null 2>&1 || return 1
    # Read all of it: `| head -n1` under pipefail fails at random when runsc gets SIGPIPE.
    version=$(runsc --version 2>/dev/null) || return 1
    version=${version%%$'\n'*}
    year=$(grep -oE '(19|20)[0-9]{2}' <<<"$version" | head -n1) || return 1
    [[ -n "$year" && "$year" -ge 2024 ]]
}

missing=()
for pkg in "${PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed' || missing+=("$pkg")
done
need_runsc=0
runsc_is_recent || need_runsc=1

if [[ ${#missing[@]} -eq 0 && $need_runsc -eq 0 ]]; then
    log "all present: runsc ($(runsc --version | head -n1)), ${PACKAGES[*]}"
    exit 0
fi

# Prints "URI<TAB>SIGNED_BY" for the Debian source entry that carries the bookworm suite.
debian_source() {
    local f=/etc/apt/sources.list.d/debian.sources
    if [[ -f $f ]]; then
        # deb822: stanzas separated by blank lines; pick the one whose Suites has `bookworm`.
        awk '
            function flush() {
                if (suites ~ /(^|[ \t])bookworm([ \t]|$)/ && uri != "" && !done) {
                    printf "%s\t%s\n", uri, signed; done = 1
                }
                uri = ""; signed = ""; suites = ""
            }
            /^[ \t]*#/ { next }
            /^[ \t]*$/ { flush(); next }
            tolower($1) == "uris:"      { uri = $2 }
            tolower($1) == "suites:"    { $1 = ""; suites = $0 }
            tolower($1) == "signed-by:" { signed = $2 }
            END { flush() }
        ' "$f"
        return
    fi
    if [[ -f /etc/apt/sources.list ]]; then
        # one-line format: deb [opts] URI SUITE COMPONENTS...
        awk '
            $1 == "deb" {
                signed = ""; i = 2
                if ($2 ~ /^\[/) {
                    for (; i <= NF; i++) {
                        if ($i ~ /signed-by=/) { s = $i; sub(/.*signed-by=/, "", s); sub(/\]$/, "", s); signed = s }
                        if ($i ~ /\]$/) { i++; break }
                    }
                }
                if ($(i + 1) == "bookworm") { printf "%s\t%s\n", $i, signed; exit }
            }
        ' /etc/apt/sources.list
    fi
}

ensure_backports_source() {
    if [[ -f $BACKPORTS_SOURCES ]]; then
        return 1
    fi
    local line uri signed
    line=$(debian_source)
    [[ -n "$line" ]] || die "no Debian apt source with suite 'bookworm' found in /etc/apt/sources.list.d/debian.sources or /etc/apt/sources.list"
    uri=${line%%$'\t'*}
    signed=${line#*$'\t'}
    [[ -n "$signed" ]] || signed=/usr/share/keyrings/debian-archive-keyring.gpg
    log "adding bookworm-backports source from $uri -> $BACKPORTS_SOURCES"
    cat >"$BACKPORTS_SOURCES" <<SOURCES
# Added by squall scripts/install-system-deps.sh (derived from the machine's Debian source).
Types: deb
URIs: $uri
Suites: bookworm-backports
Components: main
Signed-By: $signed
SOURCES
    return 0
}

export DEBIAN_FRONTEND=noninteractive
added_source=0
if [[ $need_runsc -eq 1 ]]; then
    ensure_backports_source && added_source=1
fi

backports_lists_present() {
    compgen -G '/var/lib/apt/lists/*bookworm-backports_main_binary-*_Packages*' >/dev/null
}

if [[ $added_source -eq 1 ]] || { [[ $need_runsc -eq 1 ]] && ! backports_lists_present; } \
    || ! apt-get install -y --no-install-recommends --simulate "${missing[@]}" >/dev/null 2>&1; then
    log "apt-get update"
    apt-get update
fi

if [[ ${#missing[@]} -gt 0 ]]; then
    # --no-install-recommends: we run mmdebstrap as root, so uidmap/fakeroot are not needed.
    log "installing ${missing[*]}"
    apt-get install -y --no-install-recommends "${missing[@]}"
fi

if [[ $need_runsc -eq 1 ]]; then
    log "installing runsc from bookworm-backports"
    apt-get install -y --no-install-recommends -t bookworm-backports runsc
    runsc_is_recent || die "runsc is still older than 2024 after install: $(runsc --version 2>&1 | head -n1)"
fi

log "done: runc $(runc --version | head -n1 | awk '{print $3}'), $(runsc --version | head -n1), mmdebstrap $(mmdebstrap --version | awk '{print $2}')"
