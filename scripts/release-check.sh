#!/usr/bin/env bash
# Rehearses a release of the public packages without publishing anything:
#   1. `changeset status`: every changed public package has a changeset;
#   2. `changeset version` in a scratch copy of the repository (never in the working tree),
#      with a throw-away patch changeset, checking that exactly the public packages move;
#   3. `pnpm pack` of each public package (workspace: ranges must be rewritten);
#   4. `publint` and 5. `attw` (Are the Types Wrong?) on each tarball.
# Exits non-zero on the first failure. Usage: scripts/release-check.sh
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
export TURBO_TELEMETRY_DISABLED=1

public_dirs=(packages/protocol packages/server-sdk packages/realtime-client packages/react)
public_names=(@cast/protocol @cast/server-sdk @cast/realtime-client @cast/react)
bin="$root/node_modules/.bin"

scratch="$(mktemp -d "${TMPDIR:-/tmp}/cast-release-check.XXXXXX")"
trap 'rm -rf "$scratch"' EXIT

step() { printf '\n== %s\n' "$*"; }
fail() { printf 'release-check: %s\n' "$*" >&2; exit 1; }
version_of() { node -p "require('$1/package.json').version"; }

step "1/5 changeset status"
"$bin/changeset" status || fail "a changed public package has no changeset: run \`pnpm changeset\`"

step "2/5 changeset version (scratch copy)"
copy="$scratch/repo"
mkdir -p "$copy"
# Tracked and new (not ignored) files: what the next commit would release.
git ls-files -z --cached --others --exclude-standard \
  | tar --null --ignore-failed-read -cf - -T - 2>/dev/null \
  | tar -xf - -C "$copy"
git -C "$copy" init -q -b main
before=()
for dir in "${public_dirs[@]}"; do before+=("$(version_of "$copy/$dir")"); done
private_before="$(version_of "$copy/apps/server")"
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
[ "$(version_of "$copy/apps/server")" = "$private_before" ] || fail "a private package was versioned"
[ ! -e "$copy/.changeset/release-rehearsal.md" ] || fail "changeset version left the changeset behind"

step "3/5 pnpm pack"
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
  grep -qx 'package/dist/index.js' <<<"$files" || fail "$tgz has no dist/index.js"
  echo "$(basename "$tgz"): $(wc -l <<<"$files" | tr -d ' ') files"
  tarballs+=("$tgz")
done

step "4/5 publint"
for tgz in "${tarballs[@]}"; do
  "$bin/publint" run "$tgz" --strict || fail "publint failed for $(basename "$tgz")"
done

step "5/5 attw"
for tgz in "${tarballs[@]}"; do
  "$bin/attw" "$tgz" --no-emoji --no-color --format table-flipped || fail "attw failed for $(basename "$tgz")"
done

printf '\nrelease-check: ok\n'
