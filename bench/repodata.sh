#!/bin/sh
# Benchmark: `mk-compose repo index` against createrepo_c on the same 1000
# synthetic RPMs (reading every header, checksumming every file, writing
# repodata), then on the real CentOS packages of ../shared/fixtures/el7-base
# when present. Goal: ours is at least as fast as createrepo_c.
#
# Needs: hyperfine, createrepo-c (Debian packages).
# Usage: bench/repodata.sh [COUNT]      (default 1000)
set -eu

count=${1:-1000}
root=$(cd "$(dirname "$0")/.." && pwd)
work=$(mktemp -d "${TMPDIR:-/tmp}/mk-bench-repodata.XXXXXX")
trap 'rm -rf "$work"' EXIT INT TERM

for t in hyperfine createrepo_c; do
    command -v "$t" >/dev/null || { echo "missing tool: $t" >&2; exit 1; }
done

cargo build --release --quiet --manifest-path "$root/Cargo.toml" -p mk-compose -p mk-synthrpm
bin="${CARGO_TARGET_DIR:-$root/target}/release"

"$bin/mk-synthrpm" chain --count "$count" --out "$work/rpms" 2>/dev/null
# Three copies of the same files (hard links): each tool writes its own
# repodata/ and none reads another's.
for d in ours cr cr-nodb; do
    mkdir "$work/$d"
    ln "$work/rpms/"*.rpm "$work/$d/"
done
echo "$(ls "$work/rpms" | wc -l) RPMs, $(du -sh "$work/rpms" | cut -f1)"

export SOURCE_DATE_EPOCH=1700000000
# createrepo_c writes sqlite databases by default; --no-database matches
# what we write (XML only) and is the fairer comparison.
hyperfine --warmup 1 --min-runs 5 \
    --command-name "mk-compose repo index" \
    "RUST_LOG=warn $bin/mk-compose repo index $work/ours" \
    --command-name "createrepo_c" \
    "createrepo_c -q $work/cr" \
    --command-name "createrepo_c --no-database" \
    "createrepo_c -q --no-database $work/cr-nodb"

# Real packages: the 113 CentOS 7.9 RPMs of the el7-base fixture (46 MB).
# Hashing whole files dominates here, which the tiny synthetic packages
# above do not show.
el7="$root/../shared/fixtures/el7-base"
if [ ! -d "$el7" ]; then
    echo "skipping el7-base: $el7 not found (the shared fixtures are not here)"
    exit 0
fi
for d in el7-ours el7-cr-nodb; do
    mkdir "$work/$d"
    # Copies, not links: the fixture may be read-only or on another filesystem.
    cp "$el7/"*.rpm "$work/$d/"
done
echo "el7-base: $(ls "$work/el7-ours" | wc -l) RPMs, $(du -sh "$work/el7-ours" | cut -f1)"
hyperfine --warmup 1 --min-runs 9 \
    --command-name "mk-compose repo index (el7-base)" \
    "RUST_LOG=warn $bin/mk-compose repo index $work/el7-ours" \
    --command-name "createrepo_c --no-database (el7-base)" \
    "createrepo_c -q --no-database $work/el7-cr-nodb"
