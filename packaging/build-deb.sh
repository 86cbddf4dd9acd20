#!/usr/bin/env bash
# Builds the Debian package from a build tree:
#   packaging/build-deb.sh BUILD_DIR [OUT_DIR]   (prints the .deb's path)
# Binaries in /usr/bin, the unit in /lib/systemd/system (not enabled: the
# config needs the uplinks' rates and the peer first), the manual page and
# bash completion written by the binary from its own command table, and the
# docs, an example config and the Grafana dashboard in /usr/share/doc/meshbpf.
# No maintainer scripts: installing changes nothing but files.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BUILD="$(cd "${1:?usage: build-deb.sh BUILD_DIR [OUT_DIR]}" && pwd)"
OUT="${2:-$BUILD}"
VERSION="$(sed -n 's/^project(meshbpf VERSION \([0-9.]*\).*/\1/p' "$ROOT/CMakeLists.txt")"
ARCH="$(dpkg --print-architecture)"
[[ -n "$VERSION" ]] || { echo "build-deb.sh: no VERSION in CMakeLists.txt's project()" >&2; exit 1; }
for bin in meshbpf meshbpf-agent; do
  [[ -x "$BUILD/$bin" ]] || { echo "build-deb.sh: $BUILD/$bin is missing: build first" >&2; exit 1; }
done

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
stage="$work/stage"
doc="$stage/usr/share/doc/meshbpf"
install -D -m 0755 "$BUILD/meshbpf" "$stage/usr/bin/meshbpf"
install -D -m 0755 "$BUILD/meshbpf-agent" "$stage/usr/bin/meshbpf-agent"
strip --strip-unneeded "$stage/usr/bin/meshbpf" "$stage/usr/bin/meshbpf-agent"
install -d "$stage/lib/systemd/system" "$stage/usr/share/man/man1" \
  "$stage/usr/share/bash-completion/completions" "$doc/examples"
# The unit in the repository runs a hand-installed /usr/local/bin/meshbpf.
sed 's#/usr/local/bin/#/usr/bin/#g' "$ROOT/packaging/meshbpf.service" \
  >"$stage/lib/systemd/system/meshbpf.service"
"$BUILD/meshbpf" manual | gzip -9n >"$stage/usr/share/man/man1/meshbpf.1.gz"
ln -s meshbpf.1.gz "$stage/usr/share/man/man1/meshbpf-agent.1.gz"
"$BUILD/meshbpf" completion >"$stage/usr/share/bash-completion/completions/meshbpf"
# The example names a placeholder uplink, not this build machine's interfaces.
unshare --net "$BUILD/meshbpf" config --output "$doc/examples/config.json" >/dev/null 2>&1 ||
  "$BUILD/meshbpf" config --output "$doc/examples/config.json" >/dev/null
install -m 0644 "$ROOT/README.md" "$doc/README.md"
install -m 0644 "$ROOT/packaging/README.md" "$doc/README.service.md"
install -m 0644 "$ROOT/packaging/grafana/meshbpf-dashboard.json" "$doc/examples/"
cat >"$doc/copyright" <<'TEXT'
Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/
Upstream-Name: meshbpf

Files: *
Copyright: the meshbpf developers
License: GPL-2.0-only OR BSD-2-Clause
 The BPF data path is GPL-2.0-only OR BSD-2-Clause (its SPDX headers);
 the project applies the same to the rest.
TEXT

# Library dependencies from the binaries, as Debian computes them.
mkdir -p "$work/shlibs/debian"
printf 'Source: meshbpf\n\nPackage: meshbpf\nArchitecture: any\n' >"$work/shlibs/debian/control"
depends="$(cd "$work/shlibs" && dpkg-shlibdeps -O -e"$stage/usr/bin/meshbpf" \
  -e"$stage/usr/bin/meshbpf-agent" 2>/dev/null | sed -n 's/^shlibs:Depends=//p')"
[[ -n "$depends" ]] || { echo "build-deb.sh: dpkg-shlibdeps found no dependencies" >&2; exit 1; }

install -d "$stage/DEBIAN"
cat >"$stage/DEBIAN/control" <<TEXT
Package: meshbpf
Version: $VERSION
Architecture: $ARCH
Maintainer: meshbpf developers <meshbpf@localhost>
Section: net
Priority: optional
Depends: $depends, iproute2
Recommends: bash-completion
Installed-Size: $(du -sk "$stage" | cut -f1)
Description: bond several uplinks into one connection in the Linux kernel
 meshbpf stripes traffic over several weak uplinks (Ethernet, Wi-Fi,
 cellular) toward a bonding peer with TC BPF programs, probes every path,
 fails over when one dies and resequences what arrives, so the bond is
 faster than any single uplink and survives any one of them dying.
TEXT
deb="$OUT/meshbpf_${VERSION}_${ARCH}.deb"
dpkg-deb --root-owner-group -Zxz --build "$stage" "$deb" >/dev/null
echo "$deb"
