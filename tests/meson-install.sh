#!/usr/bin/env bash
# Check that the meson build works, with either AES-GCM backend (-Dcrypto=aes-gcm, the
# default, and -Dcrypto=ring): set up, compile and install (into a DESTDIR) in a temporary
# directory, then show that GStreamer loads the plugin from the installed file.
# Only the plugin itself is checked, not its elements.
# Set KEEP_TMP=1 to keep the temporary directory.
set -euo pipefail

NAME=meson-install
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)

fail() {
  printf '%s: FAIL: %s\n' "$NAME" "$*" >&2
  printf '%s: 0 passed, 1 failed\n' "$NAME"
  exit 1
}
trap 'fail "command failed (line $LINENO): $BASH_COMMAND"' ERR

for tool in meson ninja cargo gst-inspect-1.0 python3; do
  command -v "$tool" >/dev/null 2>&1 || fail "$tool not found on PATH (run scripts/install-deps)"
done

tmp=$(realpath "$(mktemp -d "${TMPDIR:-/tmp}/jframe-meson.XXXXXX")")
cleanup() {
  if [[ -n "${KEEP_TMP:-}" ]]; then
    echo "$NAME: kept $tmp" >&2
  else
    rm -rf "$tmp"
  fi
}
trap cleanup EXIT

# Both AES-GCM backends, one after the other; their cargo builds share a target directory,
# so the second compiles only ring and the plugin crate again.
export MESON_CARGO_TARGET_DIR=${MESON_CARGO_TARGET_DIR:-$tmp/cargo-target}

# Only the installed plugin is visible: no system plugins, a fresh registry per build.
unset GST_PLUGIN_PATH_1_0 GST_REGISTRY_1_0
export GST_PLUGIN_SYSTEM_PATH_1_0=
export GST_REGISTRY_UPDATE=yes

# check_inspect PLUGIN LABEL ARG: gst-inspect-1.0 ARG must name the plugin jframe at PLUGIN.
check_inspect() {
  local plugin=$1 label=$2 arg=$3 out name file
  out=$(gst-inspect-1.0 "$arg" 2>&1) \
    || fail "gst-inspect-1.0 $arg failed (try GST_DEBUG=GST_PLUGIN_LOADING:5):"$'\n'"$out"
  name=$(awk '$1 == "Name" { print $2; exit }' <<<"$out")
  file=$(awk '$1 == "Filename" { print $2; exit }' <<<"$out")
  [[ "$name" == jframe ]] || fail "$label: plugin name is '$name', expected 'jframe':"$'\n'"$out"
  [[ "$file" == "$plugin" ]] || fail "$label: Filename is '$file', expected '$plugin':"$'\n'"$out"
  echo "$NAME: ok: gst-inspect-1.0 $label -> Name jframe, Filename $file" >&2
}

# check_build CRYPTO: set up with -Dcrypto=CRYPTO, compile, install into a DESTDIR, and
# load the installed plugin. Sets $plugin to the installed file.
check_build() {
  local crypto=$1 build=$tmp/build-$1 dest=$tmp/dest-$1 prefix libdir installed
  echo "$NAME: meson setup -Dcrypto=$crypto" >&2
  meson setup "$build" "$repo" --prefix=/usr -Dcrypto="$crypto" >"$tmp/setup-$crypto.log" 2>&1 \
    || { cat "$tmp/setup-$crypto.log" >&2; fail "meson setup -Dcrypto=$crypto failed"; }

  echo "$NAME: meson compile (cargo build --release), crypto=$crypto" >&2
  meson compile -C "$build" || fail "meson compile failed (crypto=$crypto)"

  echo "$NAME: meson install --destdir $dest" >&2
  meson install -C "$build" --destdir "$dest" >"$tmp/install-$crypto.log" 2>&1 \
    || { cat "$tmp/install-$crypto.log" >&2; fail "meson install failed (crypto=$crypto)"; }

  # Where meson says the plugin goes: <prefix>/<libdir>/gstreamer-1.0
  read -r prefix libdir < <(meson introspect --buildoptions "$build" | python3 -c '
import json, sys
opts = {o["name"]: o["value"] for o in json.load(sys.stdin)}
print(opts["prefix"], opts["libdir"])')
  [[ "$libdir" = /* ]] || libdir=$prefix/$libdir
  plugin=$dest$libdir/gstreamer-1.0/libgstjframe.so

  installed=$(find "$dest" -name 'libgstjframe.so*' | sort)
  [[ -n "$installed" ]] || fail "meson install put no libgstjframe.so under $dest"
  [[ "$installed" == "$plugin" ]] \
    || fail "expected exactly $plugin to be installed, found: $installed"
  echo "$NAME: installed $plugin" >&2

  # ring's own functions (ring_core_<version>_*) are in the plugin if and only if it was asked for.
  local has_ring=no
  grep -aq 'ring_core_0_' "$plugin" && has_ring=yes
  [[ "$has_ring" == "$([[ $crypto == ring ]] && echo yes || echo no)" ]] \
    || fail "crypto=$crypto: ring in the plugin: $has_ring"

  export GST_PLUGIN_PATH=$(dirname "$plugin")
  export GST_REGISTRY=$tmp/registry-$crypto.bin
  check_inspect "$plugin" "<installed file, crypto=$crypto>" "$plugin"
  check_inspect "$plugin" "jframe (crypto=$crypto)" jframe
}

check_build aes-gcm
check_build ring

trap - ERR
echo "$NAME: 1 passed, 0 failed"
