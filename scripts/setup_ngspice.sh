#!/usr/bin/env bash
# ngspice for analogopt, from Debian packages (called by scripts/setup.sh; idempotent).
#
# 1. ngspice and libngspice built with the KLU sparse solver. Debian 12's own ngspice (39.3) has only
#    Sparse 1.3, which is 10-40x slower on large crossbars; its backports suite carries a KLU build.
#    When the installed (or the distribution's) ngspice lacks KLU, the backports suite of the Debian
#    mirror this machine already uses is enabled (its URI and keyring are read from the existing apt
#    sources) and ngspice is installed from there. If that fails the distribution's ngspice is kept,
#    and one line says so.
# 2. The distribution's own ngspice, unpacked into .cache/ngspice-<version>/ (never installed system-
#    wide), when the active ngspice is another version: tests check that decks stay valid on it and
#    bench/ compares the two solvers. Its wrapper bin/ngspice points it at its own scripts and code
#    models, so it never loads the newer release's.
set -euo pipefail
cd "$(dirname "$0")/.."

say() { echo "setup: $*" >&2; }
sudo_cmd=()
[ "$(id -u)" -eq 0 ] || sudo_cmd=(sudo)
apt_get() { DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get "$@"; }

has_klu() { command -v ngspice >/dev/null 2>&1 && ngspice -v 2>/dev/null | grep -q 'KLU'; }
has_lib() { ldconfig -p 2>/dev/null | grep -q 'libngspice\.so'; }

codename=""
[ -r /etc/os-release ] && codename=$(. /etc/os-release && [ "${ID:-}" = debian ] && echo "${VERSION_CODENAME:-}")

# The URIs and keyring of the apt source that serves "$codename" itself (deb822 .sources files first,
# then one-line sources.list entries), printed as "URI<TAB>KEYRING".
main_source() {
    local file
    for file in /etc/apt/sources.list.d/*.sources; do
        [ -r "$file" ] || continue
        awk -v suite="$codename" '
            function flush() { if (ok && uris != "") print uris "\t" key; uris = ""; key = ""; ok = 0 }
            /^[ \t]*$/ { flush(); next }
            tolower($1) == "uris:" { uris = $2 }
            tolower($1) == "signed-by:" { key = $2 }
            tolower($1) == "suites:" { for (i = 2; i <= NF; i++) if ($i == suite) ok = 1 }
            END { flush() }' "$file"
    done | grep -v -- '-security' | head -1
    [ -r /etc/apt/sources.list ] && awk -v suite="$codename" \
        '$1 == "deb" && $3 == suite && $2 !~ /security/ { print $2 "\t"; exit }' /etc/apt/sources.list
}

enable_backports() {
    local list=/etc/apt/sources.list.d/analogopt-backports.sources line uri key
    [ -f "$list" ] && return 0
    line=$(main_source | head -1)
    uri=${line%%$'\t'*}
    key=${line#*$'\t'}
    [ -n "$uri" ] || { say "no Debian $codename apt source found to derive the backports suite from"; return 1; }
    say "enabling $codename-backports from $uri (for ngspice with KLU)"
    {
        echo "Types: deb"
        echo "URIs: $uri"
        echo "Suites: $codename-backports"
        echo "Components: main"
        [ -n "$key" ] && echo "Signed-By: $key"
    } | "${sudo_cmd[@]}" tee "$list" >/dev/null
}

install_klu() {
    [ -n "$codename" ] && command -v apt-get >/dev/null 2>&1 || return 1
    enable_backports || return 1
    apt_get update -qq || return 1
    say "installing ngspice with KLU from $codename-backports"
    apt_get install -y -qq -t "$codename-backports" ngspice libngspice0 libngspice0-dev >/dev/null || return 1
    has_klu
}

if ! has_klu; then
    install_klu || say "ngspice with KLU is not available here; keeping the distribution's ngspice (Sparse 1.3 solver, slower on large networks)"
fi
if ! command -v ngspice >/dev/null 2>&1 || ! has_lib; then
    say "installing ngspice from Debian packages"
    apt_get update -qq
    apt_get install -y -qq ngspice libngspice0-dev >/dev/null
fi

# The distribution's own release beside the active one.
[ -n "$codename" ] && command -v apt-cache >/dev/null 2>&1 || exit 0
distro=$(apt-cache madison ngspice 2>/dev/null | awk -F'|' -v s=" $codename/main" 'index($3, s) { gsub(/ /, "", $2); print $2; exit }')
active=$(dpkg-query -W -f='${Version}' ngspice 2>/dev/null || true)
[ -n "$distro" ] && [ "$distro" != "$active" ] || exit 0
short=${distro%%+*}
cache=.cache/ngspice-$short
[ -x "$cache/bin/ngspice" ] && exit 0
say "unpacking the distribution's ngspice $short into $cache (for the compatibility tests and bench/)"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
if ! (cd "$work" && apt-get download -qq "ngspice=$distro" >/dev/null 2>&1); then
    say "could not download ngspice $distro; the tests that need it will be skipped"
    exit 0
fi
rm -rf "$cache"
mkdir -p "$cache/bin"
dpkg-deb -x "$work"/ngspice_*.deb "$cache/root"
root=$(cd "$cache/root" && pwd)
# Its start-up script names code models by absolute path: point them at its own copies.
sed -i "s#/usr/lib/#$root/usr/lib/#g" "$root/usr/share/ngspice/scripts/spinit"
cat > "$cache/bin/ngspice" <<EOF
#!/bin/sh
# ngspice $distro from the distribution's package, run with its own scripts and code models.
SPICE_SCRIPTS="$root/usr/share/ngspice/scripts" exec "$root/usr/bin/ngspice" "\$@"
EOF
chmod +x "$cache/bin/ngspice"
