#!/usr/bin/env bash
# Container image figures (issue 4), with the mk-compose release binary:
# - build time of the fixture etcd image (qemu-tests/fixture-images/etcd on
#   the fixture base): cold (empty --out), unchanged rebuild into the same
#   --out (the manifest records an inputs key: nothing is rebuilt), and a
#   full rebuild from the same inputs into a fresh --out;
# - image sizes vs the same content repacked by umoci: umoci unpacks the
#   base (for etcd) or a new empty image (for the base), the root we built
#   is copied over it, `umoci repack` writes the layer; compressed sizes of
#   the new layer and of all layers are compared.
# Needs root, umoci and skopeo (apt packages), python3.
#
#   bench/container-image.sh
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
cd "$repo"
fixture=$(cargo run --quiet --release -p mk-fixture-distro -- build | tail -n 1)
cargo build --quiet --release -p mk-compose
bin=$(cargo metadata --format-version 1 --no-deps |
    python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')/release/mk-compose
work=$(mktemp -d "$repo/target/container-bench.XXXXXX")
trap 'rm -rf "$work"' EXIT
export SOURCE_DATE_EPOCH=1700000000
allow=()
for p in /etc/passwd- /etc/group- /etc/shadow- /etc/gshadow- /etc/.pwd.lock \
    /etc/subuid /etc/subgid /etc/subuid- /etc/subgid- '/var/lib/selinux/**' '/etc/selinux/default/**' \
    '/etc/ssl/certs/**'; do
    allow+=(--allow-unowned "$p")
done
now() { date +%s.%N; }
elapsed() { python3 -c "print(f'{$2 - $1:.1f}')"; }
build() { # NAME OUT [ARGS...] -> prints the manifest digest
    local name=$1 out=$2
    shift 2
    RUST_LOG=warn "$bin" image-build "qemu-tests/fixture-images/$name" --repo "$fixture" \
        --out "$out" "${allow[@]}" "$@" | sed -n 2p
}
# Compressed sizes: "LAST_LAYER TOTAL" of oci:DIR:REF.
sizes() {
    skopeo inspect --raw "oci:$1:$2" |
        python3 -c 'import json,sys; l=[x["size"] for x in json.load(sys.stdin)["layers"]]; print(l[-1], sum(l))'
}
mib() { python3 -c "print(f'{$1 / 1048576:.1f}')"; }

t0=$(now); base=$(build base "$work/base"); t1=$(now)
base_cold=$(elapsed "$t0" "$t1")
eb=(--base "$work/base" --base-digest "$base")
t0=$(now); etcd=$(build etcd "$work/etcd" "${eb[@]}"); t1=$(now)
cold=$(elapsed "$t0" "$t1")
t0=$(now); again=$(build etcd "$work/etcd" "${eb[@]}"); t1=$(now)
unchanged=$(elapsed "$t0" "$t1")
t0=$(now); full=$(build etcd "$work/etcd-2" "${eb[@]}"); t1=$(now)
rebuild=$(elapsed "$t0" "$t1")
[ "$again" = "$etcd" ] && [ "$full" = "$etcd" ] || { echo "digests differ: $etcd $again $full" >&2; exit 1; }

# umoci repacks of the same roots.
umoci unpack --image "$work/base:1" "$work/ours-base" >/dev/null
umoci unpack --image "$work/etcd:3.5.12-0" "$work/ours-etcd" >/dev/null
umoci init --layout "$work/u-base" >/dev/null
umoci new --image "$work/u-base:umoci" >/dev/null
umoci unpack --image "$work/u-base:umoci" "$work/ub" >/dev/null
rm -rf "$work/ub/rootfs" && cp -a "$work/ours-base/rootfs" "$work/ub/rootfs"
umoci repack --image "$work/u-base:umoci" "$work/ub" >/dev/null
cp -a "$work/base" "$work/u-etcd"
umoci unpack --image "$work/u-etcd:1" "$work/ue" >/dev/null
rm -rf "$work/ue/rootfs" && cp -a "$work/ours-etcd/rootfs" "$work/ue/rootfs"
umoci repack --image "$work/u-etcd:umoci" "$work/ue" >/dev/null

read -r ob_l ob_t < <(sizes "$work/base" 1)
read -r ub_l ub_t < <(sizes "$work/u-base" umoci)
read -r oe_l oe_t < <(sizes "$work/etcd" 3.4.23-0)
read -r ue_l ue_t < <(sizes "$work/u-etcd" umoci)

printf 'fixture base, cold build:           %6s s\n' "$base_cold"
printf 'etcd image, cold build:             %6s s\n' "$cold"
printf 'etcd image, unchanged rebuild:      %6s s (same --out: inputs key matches, nothing rebuilt)\n' "$unchanged"
printf 'etcd image, full rebuild:           %6s s (fresh --out, same digest %s)\n' "$rebuild" "${etcd:0:19}"
printf '\n%-14s %14s %14s %14s %14s\n' image "layer mk MiB" "layer umoci" "total mk MiB" "total umoci"
printf '%-14s %14s %14s %14s %14s\n' fixture-base "$(mib "$ob_l")" "$(mib "$ub_l")" "$(mib "$ob_t")" "$(mib "$ub_t")"
printf '%-14s %14s %14s %14s %14s\n' etcd "$(mib "$oe_l")" "$(mib "$ue_l")" "$(mib "$oe_t")" "$(mib "$ue_t")"
