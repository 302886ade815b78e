#!/usr/bin/env bash
# Rehearses a release of the public packages without publishing anything:
#   1. `changeset status`: every changed public package has a changeset;
#   2. `changeset version` in a scratch copy of the repository (never in the working tree),
#      with a throw-away patch changeset, checking that exactly the public packages move;
#   3. `pnpm pack` of each public package (workspace: ranges must be rewritten), and again in a
#      scratch copy without `dist`, where `prepack` must build it;
#   4. `publint` and 5. `attw` (Are the Types Wrong?) on each library tarball;
#   6. the server's tarball installed with npm in a scratch folder: `npx @cast/server` starts it
#      (npx runs a package's only bin, or the one named after it: the server must have one bin).
# Exits non-zero on the first failure. Usage: scripts/release-check.sh
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
export TURBO_TELEMETRY_DISABLED=1

public_dirs=(packages/protocol packages/server-sdk packages/realtime-client packages/react apps/server)
public_names=(@cast/protocol @cast/server-sdk @cast/realtime-client @cast/react @cast/server)
# The file each tarball must hold: a library's entry, the server's bin.
public_entries=(dist/index.js dist/index.js dist/index.js dist/index.js dist/main.js)
# Libraries get attw; the server is a command, with no types to check.
library_count=4
bin="$root/node_modules/.bin"

scratch="$(mktemp -d "${TMPDIR:-/tmp}/cast-release-check.XXXXXX")"
server_pid=""
# The installed server runs in its own process group (npx, npm, sh and node): stop all of it.
stop_server() {
  [ -n "$server_pid" ] || return 0
  kill -- "-$server_pid" 2>/dev/null || true
  wait "$server_pid" 2>/dev/null || true
  server_pid=""
}
trap 'stop_server; rm -rf "$scratch"' EXIT

step() { printf '\n== %s\n' "$*"; }
fail() { printf 'release-check: %s\n' "$*" >&2; exit 1; }
version_of() { node -p "require('$1/package.json').version"; }

step "1/6 changeset status"
"$bin/changeset" status || fail "a changed public package has no changeset: run \`pnpm changeset\`"

step "2/6 changeset version (scratch copy)"
copy="$scratch/repo"
mkdir -p "$copy"
# Tracked and new (not ignored) files: what the next commit would release.
git ls-files -z --cached --others --exclude-standard \
  | tar --null --ignore-failed-read -cf - -T - 2>/dev/null \
  | tar -xf - -C "$copy"
git -C "$copy" init -q -b main
before=()
for dir in "${public_dirs[@]}"; do before+=("$(version_of "$copy/$dir")"); done
private_before="$(version_of "$copy/examples/node-basic")"
{
  echo '---'
  for name in "${public_names[@]}"; do echo "\"$name\": patch"; done
  echo '---'
  echo ''
  echo 'Release rehearsal.'
} > "$copy/.changeset/release-rehearsal.md"
(cd "$copy" && "$bin/changeset" version) || fail "changeset version failed"
for i in "${!public_dirs[@]}"; do
  dir="${public_dirs[$i]}"
  after="$(version_of "$copy/$dir")"
  [ "$after" != "${before[$i]}" ] || fail "$dir was not bumped by changeset version"
  [ -f "$copy/$dir/CHANGELOG.md" ] || fail "$dir has no CHANGELOG.md after changeset version"
  echo "${public_names[$i]}: ${before[$i]} -> $after"
done
[ "$(version_of "$copy/examples/node-basic")" = "$private_before" ] || fail "a private package was versioned"
[ ! -e "$copy/.changeset/release-rehearsal.md" ] || fail "changeset version left the changeset behind"

step "3/6 pnpm pack"
"$bin/turbo" run build --output-logs=errors-only \
  $(printf -- '--filter=%s ' "${public_names[@]}") >/dev/null
packs="$scratch/packs"
mkdir -p "$packs"
tarballs=()
for i in "${!public_dirs[@]}"; do
  dir="${public_dirs[$i]}"
  out="$packs/${public_names[$i]#@cast/}"
  mkdir -p "$out"
  (cd "$dir" && pnpm pack --pack-destination "$out" >/dev/null) || fail "pnpm pack failed in $dir"
  tgz="$(ls "$out"/*.tgz)"
  manifest="$(tar -xOzf "$tgz" package/package.json)"
  if grep -q '"workspace:' <<<"$manifest"; then fail "$tgz still has workspace: ranges"; fi
  files="$(tar -tzf "$tgz")"
  grep -qx "package/${public_entries[$i]}" <<<"$files" || fail "$tgz has no ${public_entries[$i]}"
  echo "$(basename "$tgz"): $(wc -l <<<"$files" | tr -d ' ') files"
  tarballs+=("$tgz")
done

# `pnpm pack` before any build must still ship `dist`: every public package's prepack builds it.
# Packed from the scratch copy of step 2 (no dist there), with this tree's installed dependencies.
ln -s "$root/node_modules" "$copy/node_modules"
for i in "${!public_dirs[@]}"; do
  dir="${public_dirs[$i]}"
  [ ! -e "$copy/$dir/dist" ] || fail "the scratch copy of $dir already has a dist"
  ln -s "$root/$dir/node_modules" "$copy/$dir/node_modules"
  out="$scratch/prepack/${public_names[$i]#@cast/}"
  mkdir -p "$out"
  (cd "$copy/$dir" && pnpm pack --pack-destination "$out" >/dev/null 2>&1) || fail "pnpm pack without a build failed in $dir"
  grep -qx "package/${public_entries[$i]}" <<<"$(tar -tzf "$out"/*.tgz)" \
    || fail "pnpm pack before a build left ${public_entries[$i]} out of ${public_names[$i]}: its prepack must build"
done
echo "prepack builds dist in every public package"

step "4/6 publint"
for tgz in "${tarballs[@]}"; do
  "$bin/publint" run "$tgz" --strict || fail "publint failed for $(basename "$tgz")"
done

step "5/6 attw"
for tgz in "${tarballs[@]:0:$library_count}"; do
  "$bin/attw" "$tgz" --no-emoji --no-color --format table-flipped || fail "attw failed for $(basename "$tgz")"
done

step "6/6 npx @cast/server from the tarballs"
app="$scratch/app"
mkdir -p "$app"
(cd "$app" && npm init -y >/dev/null \
  && npm install --no-audit --no-fund --loglevel=error "$packs/protocol/"*.tgz "$packs/server/"*.tgz >/dev/null) \
  || fail "npm could not install the packed server"
log="$app/server.log"
# setsid: a process group of its own, so stopping it reaches the node process under npx.
setsid sh -c 'cd "$1" && PORT=0 CAST_DATA_DIR="$1/.cast" exec npx --no-install @cast/server' sh "$app" >"$log" 2>&1 &
server_pid=$!
url=""
for _ in $(seq 1 100); do
  url="$(sed -n 's/^Cast server listening on \(http:[^ ]*\).*/\1/p' "$log")"
  [ -n "$url" ] && break
  kill -0 "$server_pid" 2>/dev/null || break
  sleep 0.1
done
[ -n "$url" ] || { cat "$log" >&2; fail "npx @cast/server did not start"; }
key="$(node -p "require('$app/.cast/dev-credentials.json').apiKey")"
health="$(curl -fsS "$url/healthz")" || fail "the installed server does not answer /healthz"
console_status="$(curl -s -o /dev/null -w '%{http_code}' "$url/console/")"
publish="$(curl -fsS -X POST "$url/push/publish" -H "Authorization: Bearer $key" -H 'Content-Type: application/json' \
  -d '{"channel":"orders","event":"order.created","data":{}}')" || fail "the installed server refused a publish"
stop_server
grep -q '"ok"' <<<"$health" || fail "unexpected /healthz answer: $health"
[ "$console_status" = 200 ] || fail "the installed server's console answered $console_status"
grep -q '"delivered":0' <<<"$publish" || fail "unexpected publish answer: $publish"
# The trigger command is a subcommand of the one bin, loaded from a chunk that must ship too.
watch_help="$(cd "$app" && npx --no-install @cast/server watch --help)" || fail "npx @cast/server watch --help failed"
grep -q '^Usage: cast-server watch ' <<<"$watch_help" || fail "unexpected watch usage: $watch_help"
echo "npx @cast/server: started, healthy, console served, publish accepted; watch --help answers"

printf '\nrelease-check: ok\n'
