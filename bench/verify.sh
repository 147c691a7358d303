#!/usr/bin/env bash
# Throughput of `mk-compose verify` (reads the ISO directly, hashes on all
# cores) against `sha256sum -c MANIFEST` over the same files on disk.
#
# Makes a ~2 GB staging tree of random files, finishes a bundle with a
# throwaway key, then times each checker (warm page cache for both: every
# file is read once before timing; best of RUNS runs). Removes everything
# it made at the end.
#
#   bench/verify.sh                 # 250 files, ~2 GB
#   FILES=100 MB_PER_FILE_MAX=4 bench/verify.sh
set -euo pipefail

FILES=${FILES:-250}
MB_PER_FILE_MAX=${MB_PER_FILE_MAX:-15}   # sizes cycle 1..MAX MiB (mean ~8 MiB)
RUNS=${RUNS:-3}

repo=$(cd "$(dirname "$0")/.." && pwd)
work=$(mktemp -d "${TMPDIR:-/tmp}/mk-verify-bench.XXXXXX")
trap 'rm -rf "$work"' EXIT

echo "== building release binaries" >&2
cargo build --release --quiet --manifest-path "$repo/Cargo.toml" -p mk-compose
cargo build --release --quiet --manifest-path "$repo/Cargo.toml" -p mk-bundle --example finish_bundle
target=$(cargo metadata --format-version 1 --no-deps --manifest-path "$repo/Cargo.toml" |
    python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')
mk=$target/release/mk-compose
finish=$target/release/examples/finish_bundle

echo "== staging tree: $FILES files of random data" >&2
staging=$work/staging
mkdir -p "$staging/repo" "$staging/registry" "$staging/kickstart"
for i in $(seq 1 "$FILES"); do
    mb=$(( (i % MB_PER_FILE_MAX) + 1 ))
    head -c "$((mb * 1024 * 1024))" /dev/urandom > "$staging/repo/pkg-$i-1.0-1.el7.x86_64.rpm"
done
echo 'text --non-interactive' > "$staging/kickstart/node.ks"

echo "== key and bundle" >&2
printf 'throwaway bench password\n' > "$work/pw"
"$mk" keygen --out-dir "$work/keys" --password-file "$work/pw" >/dev/null
RUST_LOG=warn "$finish" "$staging" "$work/bundle.iso" "$work/keys/mk.key" "$work/pw"

# Bytes of file contents (what both sides hash).
bytes=$(find "$staging" -type f ! -name 'MANIFEST*' -printf '%s\n' | awk '{s+=$1} END {print s}')
echo "== $(wc -l < "$staging/MANIFEST") files, $((bytes / 1000000)) MB; ISO $(( $(stat -c %s "$work/bundle.iso") / 1000000 )) MB" >&2

# Warm the page cache for both sides.
cat "$work/bundle.iso" > /dev/null
find "$staging" -type f -exec cat {} + > /dev/null

best() { # best wall time in seconds of RUNS runs of "$@"
    local best_t="" t0 t1 t
    for _ in $(seq 1 "$RUNS"); do
        t0=$(date +%s.%N)
        "$@" > /dev/null
        t1=$(date +%s.%N)
        t=$(echo "$t1 - $t0" | bc -l)
        if [ -z "$best_t" ] || [ "$(echo "$t < $best_t" | bc -l)" = 1 ]; then best_t=$t; fi
    done
    echo "$best_t"
}

sha_c() { (cd "$staging" && sha256sum --quiet -c MANIFEST); }
# Reference only: coreutils split over both cores by hand.
sha_c2() {
    (cd "$staging" &&
        split -n l/2 MANIFEST "$work/half." &&
        printf '%s\n' "$work"/half.* | xargs -P 2 -I{} sha256sum --quiet -c {})
}

t_mk=$(RUST_LOG=warn best "$mk" verify "$work/bundle.iso" --trust "$work/keys/mk.pub")
t_sha=$(best sha_c)
t_sha2=$(best sha_c2)

rate() { echo "scale=0; $bytes / 1000000 / $1" | bc -l; }
printf '%-48s %8.2f s %7s MB/s\n' "mk-compose verify (ISO, $(nproc) cores)" "$t_mk" "$(rate "$t_mk")"
printf '%-48s %8.2f s %7s MB/s\n' "sha256sum -c MANIFEST (staging tree)" "$t_sha" "$(rate "$t_sha")"
printf '%-48s %8.2f s %7s MB/s\n' "sha256sum -c, 2 processes (reference)" "$t_sha2" "$(rate "$t_sha2")"
