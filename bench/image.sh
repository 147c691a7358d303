#!/usr/bin/env bash
# Compose time of the example node image (examples/image): cold (empty
# cache) versus an unchanged-input rebuild (content-addressed cache), with
# the mk-compose release binary. Goal: rebuild < 10% of cold. Also prints
# the image sizes (raw used bytes, qcow2 bytes). Needs root.
#
#   bench/image.sh            # RUNS=1 cold build, then 3 rebuilds
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
cd "$repo"
out=target/example-image
mkdir -p "$out/repos/mk"
fixture=$(cargo run --quiet --release -p mk-fixture-distro -- build | tail -n 1)
ln -sfn "$fixture" "$out/repos/fixture"
packaging/build.sh "$out/repos/mk" >/dev/null
cargo build --quiet --release -p mk-compose
bin=$(cargo metadata --format-version 1 --no-deps |
    python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')/release/mk-compose
allow=()
for p in /etc/passwd- /etc/group- /etc/shadow- /etc/gshadow- /etc/.pwd.lock \
    /etc/subuid /etc/subgid /etc/subuid- /etc/subgid- '/var/lib/selinux/**' '/etc/selinux/default/**' \
    '/etc/ssl/certs/**'; do
    allow+=(--allow-unowned "$p")
done
cache=$(mktemp -d "$repo/target/image-bench-cache.XXXXXX")
trap 'rm -rf "$cache"' EXIT
run() { RUST_LOG=warn "$bin" image --recipe examples/image/image.yaml --cache-dir "$cache" "${allow[@]}" >/dev/null; }
t0=$(date +%s.%N); run; t1=$(date +%s.%N)
cold=$(echo "$t1 - $t0" | bc)
best=
for _ in 1 2 3; do
    t0=$(date +%s.%N); run; t1=$(date +%s.%N)
    r=$(echo "$t1 - $t0" | bc)
    if [ -z "$best" ] || [ "$(echo "$r < $best" | bc)" = 1 ]; then best=$r; fi
done
printf 'cold build:        %6.1f s\n' "$cold"
printf 'cached rebuild:    %6.1f s (best of 3, %.1f%% of cold)\n' "$best" "$(echo "100 * $best / $cold" | bc -l)"
printf 'raw image:         %6d MiB apparent, %d MiB used\n' \
    "$(( $(stat -c %s "$out/node.raw") >> 20 ))" "$(( $(du -B1 "$out/node.raw" | cut -f1) >> 20 ))"
printf 'qcow2 image:       %6d MiB\n' "$(( $(stat -c %s "$out/node.qcow2") >> 20 ))"
