#!/bin/sh
# Installs what building, booting and testing PandaGen needs, idempotently: the host packages
# (QEMU, OVMF, xorriso, a C linker, curl, git) with apt-get, rustup if it is missing, and the
# Rust toolchain of rust-toolchain.toml with its targets and components. Runs as root (no sudo
# needed) or as a user with sudo; does no apt work when everything is already there.
set -eu
cd "$(dirname "$0")"

say() { echo "setup: $*"; }
die() { echo "setup: $*" >&2; exit 1; }
have() { command -v "$1" >/dev/null 2>&1; }

# rustup installs into $CARGO_HOME/bin, which this shell may not have on PATH yet.
cargo_bin="${CARGO_HOME:-$HOME/.cargo}/bin"
PATH="$cargo_bin:$PATH"
export PATH

# --- Host packages -------------------------------------------------------------------------
ovmf_present() {
  [ -n "${OVMF_CODE:-}" ] && [ -e "$OVMF_CODE" ] && return 0
  for f in /usr/share/OVMF/OVMF_CODE_4M.fd /usr/share/OVMF/OVMF_CODE.fd \
    /usr/share/edk2/ovmf/OVMF_CODE.fd /usr/share/edk2/x64/OVMF_CODE.4m.fd \
    /usr/share/edk2-ovmf/x64/OVMF_CODE.fd; do
    [ -e "$f" ] && return 0
  done
  return 1
}

need=""
have qemu-system-x86_64 || need="$need qemu-system-x86"
ovmf_present || need="$need ovmf"
have xorriso || need="$need xorriso"
have cc || need="$need build-essential"
have curl || need="$need curl"
[ -e /etc/ssl/certs/ca-certificates.crt ] || need="$need ca-certificates"
have git || need="$need git"

if [ -z "$need" ]; then
  say "host packages already present (qemu-system-x86_64, OVMF, xorriso, cc, curl, CA certificates, git)"
else
  have apt-get || die "no apt-get: install the equivalents of$need with your package manager, then run ./setup.sh again"
  if [ "$(id -u)" -eq 0 ]; then
    sudo=""
  elif have sudo; then
    sudo="sudo"
  else
    die "not root and no sudo to install$need: run ./setup.sh as root (su -c ./setup.sh) or install sudo"
  fi
  : "${DEBIAN_FRONTEND:=noninteractive}"
  say "installing$need with ${sudo:+sudo }apt-get"
  # sudo resets the environment; pass DEBIAN_FRONTEND through explicitly.
  $sudo env DEBIAN_FRONTEND="$DEBIAN_FRONTEND" apt-get update -qq
  # shellcheck disable=SC2086 # $need is a list of package names
  $sudo env DEBIAN_FRONTEND="$DEBIAN_FRONTEND" apt-get install -y -qq $need
fi

# --- rustup --------------------------------------------------------------------------------
if have rustup; then
  say "rustup present ($(command -v rustup))"
else
  say "installing rustup into $cargo_bin (no default toolchain; rust-toolchain.toml picks it)"
  # Downloaded first (not piped) so that a failed download stops here; sh.rustup.rs serves the
  # script from static.rust-lang.org, tried second where the short name does not resolve.
  init="${TMPDIR:-/tmp}/rustup-init.$$.sh"
  trap 'rm -f "$init"' EXIT
  curl --proto '=https' --tlsv1.2 -sf https://sh.rustup.rs -o "$init" ||
    curl --proto '=https' --tlsv1.2 -sSf https://static.rust-lang.org/rustup/rustup-init.sh -o "$init" ||
    die "cannot download rustup (https://sh.rustup.rs); install it as https://rustup.rs says, then run ./setup.sh again"
  sh "$init" -y --default-toolchain none --profile minimal
  have rustup || die "rustup was installed but is not in $cargo_bin; set CARGO_HOME to where it went"
fi

# --- The toolchain of rust-toolchain.toml --------------------------------------------------
# toml_value KEY: a string value (`key = "v"`) or a one-line array (`key = ["a", "b"]`),
# as space-separated words.
toml_value() {
  v=$(sed -n "s/^$1 *= *\([^#]*\).*/\1/p" rust-toolchain.toml | tr -d '"[],')
  if [ -z "$v" ] && grep -q "^$1 *=" rust-toolchain.toml; then
    die "rust-toolchain.toml: cannot read '$1' (write it on one line)"
  fi
  echo $v
}
channel=$(toml_value channel)
targets=$(toml_value targets)
components=$(toml_value components)
profile=$(toml_value profile)
[ -n "$channel" ] || die "rust-toolchain.toml names no channel"

# toolchain_complete: the toolchain is installed with every target and component.
toolchain_complete() {
  installed=$(rustup component list --installed --toolchain "$channel" 2>/dev/null) || return 1
  for t in $targets; do
    echo "$installed" | grep -qx "rust-std-$t" || return 1
  done
  for c in $components; do
    echo "$installed" | grep -q "^$c-" || return 1
  done
}

if toolchain_complete; then
  say "Rust $channel present with targets ($targets) and components ($components)"
else
  say "installing Rust $channel with targets ($targets) and components ($components)"
  set -- --profile "${profile:-minimal}" --no-self-update
  for t in $targets; do set -- "$@" --target "$t"; done
  for c in $components; do set -- "$@" --component "$c"; done
  rustup toolchain install "$channel" "$@"
fi

say "done; next: cargo xtask run (boot) or cargo xtask test (the suite); a new shell has cargo on PATH, or prefix PATH=\"$cargo_bin:\$PATH\""
