#!/usr/bin/env bash
# meshbpf developer entry point (run as root):
#   scripts/dev.sh demo    install dependencies, build, run the netns demo
#   scripts/dev.sh test    install dependencies, build, run every test
#   scripts/dev.sh build | deps
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BUILD="${MESHBPF_BUILD_DIR:-$ROOT/build}"

# Debian packages the project needs: toolchain, libraries, and the tools the
# lab and tests drive (iproute2 for netns/tc, nftables, iperf3, conntrack).
PACKAGES=(
  build-essential cmake pkg-config clang llvm bpftool libbpf-dev libelf-dev zlib1g-dev
  libnl-3-dev libnl-route-3-dev libabsl-dev libprotobuf-dev protobuf-compiler
  libgtest-dev nlohmann-json3-dev libssl-dev iproute2 iputils-ping nftables iperf3 python3 procps
  libsqlite3-dev libcap-dev libmicrohttpd-dev tzdata chromium
  mptcpize gnuplot-nox wireguard-go wireguard-tools
  libclang-rt-14-dev
  dpkg-dev groff-base systemd conntrack
)

need_root() {
  if [[ $(id -u) -ne 0 ]]; then
    echo "dev.sh: $1 needs root (BPF, network namespaces); run it with sudo" >&2
    exit 1
  fi
}

deps() {
  local missing=()
  for p in "${PACKAGES[@]}"; do
    [[ "$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null)" == "install ok installed" ]] || missing+=("$p")
  done
  if ((${#missing[@]})); then
    need_root "installing ${missing[*]}"
    echo "dev.sh: installing ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${missing[@]}"
  fi
}

build() {
  deps
  cmake -S "$ROOT" -B "$BUILD" -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
  cmake --build "$BUILD" -j"$(nproc)"
}

case "${1:-}" in
  deps) deps ;;
  build) build ;;
  test)
    need_root "the test suite"
    build
    # In parallel, but for the network-namespace tests that compare rates
    # or time events (RUN_SERIAL, CMakeLists.txt): they need the machine to
    # themselves.
    ctest --test-dir "$BUILD" --output-on-failure -j"$(nproc)" "${@:2}"
    ;;
  demo)
    need_root "the demo"
    build
    MESHBPF_BIN="$BUILD" bash "$ROOT/vmtests/demo.sh" "${@:2}"
    ;;
  *)
    sed -n '2,6p' "$0" >&2
    exit 2
    ;;
esac
