#!/usr/bin/env bash
# Check that the meson build works: set up, compile and install (into a DESTDIR) in a
# temporary directory, then show that GStreamer loads the plugin from the installed file.
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

build=$tmp/build
dest=$tmp/dest

echo "$NAME: meson setup" >&2
meson setup "$build" "$repo" --prefix=/usr >"$tmp/setup.log" 2>&1 \
  || { cat "$tmp/setup.log" >&2; fail "meson setup failed"; }

echo "$NAME: meson compile (cargo build --release)" >&2
meson compile -C "$build" || fail "meson compile failed"

echo "$NAME: meson install --destdir $dest" >&2
meson install -C "$build" --destdir "$dest" >"$tmp/install.log" 2>&1 \
  || { cat "$tmp/install.log" >&2; fail "meson install failed"; }

# Where meson says the plugin goes: <prefix>/<libdir>/gstreamer-1.0
read -r prefix libdir < <(meson introspect --buildoptions "$build" | python3 -c '
import json, sys
opts = {o["name"]: o["value"] for o in json.load(sys.stdin)}
print(opts["prefix"], opts["libdir"])')
[[ "$libdir" = /* ]] || libdir=$prefix/$libdir
plugin_dir=$dest$libdir/gstreamer-1.0
plugin=$plugin_dir/libgstjframe.so

installed=$(find "$dest" -name 'libgstjframe.so*' | sort)
[[ -n "$installed" ]] || fail "meson install put no libgstjframe.so under $dest"
[[ "$installed" == "$plugin" ]] \
  || fail "expected exactly $plugin to be installed, found: $installed"
echo "$NAME: installed $plugin" >&2

# Only the installed plugin is visible: no system plugins, a fresh registry.
unset GST_PLUGIN_PATH_1_0 GST_REGISTRY_1_0
export GST_PLUGIN_SYSTEM_PATH_1_0=
export GST_PLUGIN_PATH=$plugin_dir
export GST_REGISTRY=$tmp/registry.bin
export GST_REGISTRY_UPDATE=yes

# check_inspect LABEL ARG: gst-inspect-1.0 ARG must name the plugin jframe at the installed path.
check_inspect() {
  local label=$1 arg=$2 out name file
  out=$(gst-inspect-1.0 "$arg" 2>&1) \
    || fail "gst-inspect-1.0 $arg failed (try GST_DEBUG=GST_PLUGIN_LOADING:5):"$'\n'"$out"
  name=$(awk '$1 == "Name" { print $2; exit }' <<<"$out")
  file=$(awk '$1 == "Filename" { print $2; exit }' <<<"$out")
  [[ "$name" == jframe ]] || fail "$label: plugin name is '$name', expected 'jframe':"$'\n'"$out"
  [[ "$file" == "$plugin" ]] || fail "$label: Filename is '$file', expected '$plugin':"$'\n'"$out"
  echo "$NAME: ok: gst-inspect-1.0 $label -> Name jframe, Filename $file" >&2
}
check_inspect "<installed file>" "$plugin"
check_inspect "jframe" jframe

trap - ERR
echo "$NAME: 1 passed, 0 failed"
