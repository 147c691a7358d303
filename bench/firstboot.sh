#!/usr/bin/env bash
# `mk-firstboot apply` as the unit runs it (whole process: start, config
# drive found through /sys and /dev, signature, validation, plan, writes
# with fsync), for a single server (bootstrap control plane + worker) into
# a temp node root, timed with hyperfine (Debian package hyperfine):
#
#   first boot:  a fresh root each run (copied in hyperfine's --prepare,
#                outside the timing); goal < 200 ms
#   second boot: the applied root again, zero writes but the report; goal < 50 ms
#
# Certificates are issued once beforehand (key generation is the admin's
# work, not first boot's). Removes everything it made at the end.
#
#   bench/firstboot.sh
#   RUNS=50 bench/firstboot.sh
set -euo pipefail

RUNS=${RUNS:-30}
repo=$(cd "$(dirname "$0")/.." && pwd)
work=$(mktemp -d "${TMPDIR:-/tmp}/mk-firstboot-bench.XXXXXX")
trap 'rm -rf "$work"' EXIT
command -v hyperfine >/dev/null || { echo "hyperfine missing: apt-get install hyperfine" >&2; exit 1; }

echo "== building release binaries" >&2
cargo build --release --quiet --manifest-path "$repo/Cargo.toml" -p mk-compose -p mk-firstboot
target=$(cargo metadata --format-version 1 --no-deps --manifest-path "$repo/Cargo.toml" |
    python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')
mk=$target/release/mk-compose
fb=$target/release/mk-firstboot

echo "== site: PKI, signing key, issued node, signed config drive" >&2
cd "$work"
printf 'throwaway bench root password\n' > root-pw
printf 'throwaway bench key password\n' > key-pw
export RUST_LOG=warn
"$mk" pki init --dir pki --domain example.test --api-endpoint api.example.test --password-fd 0 < root-pw >/dev/null
"$mk" pki intermediate --dir pki --host cp1.example.test --realm etcd --realm kubernetes \
    --realm front-proxy --realm kubelet-serving --password-fd 0 < root-pw >/dev/null
printf 'name: cp1.example.test\ncluster_domain: example.test\nroles: [control-plane, etcd, worker]\n' > cp1.node.yaml
"$mk" pki issue-node --dir pki --node cp1.node.yaml --out issued >/dev/null 2>&1
"$mk" keygen --out-dir keys --password-file key-pw >/dev/null
cat > cp1.yaml <<'EOF'
apiVersion: mk.dev/v1alpha1
kind: NodeConfig
metadata:
  name: cp1.example.test
spec:
  roles: [bootstrap-control-plane, worker]
  cluster:
    name: lab
    domain: example.test
    apiEndpoint: {dnsName: api.example.test}
  planes:
    control: {cidr: 10.0.0.0/24}
  encryptionAtRest:
    provider: secretbox
    keys:
      - name: key1
        secret: MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=
EOF
"$mk" config-drive --config cp1.yaml --pki-dir issued --key keys/mk.key --password-file key-pw \
    --out cp1.img >/dev/null 2>&1

# The node root before first boot: accounts, trusted key, a NIC, the drive.
t=template
mkdir -p $t/etc/mk/config-trust $t/sys/class/net/eth0 $t/sys/class/block/vdb $t/dev $t/proc
printf 'root:x:0:0:root:/root:/bin/bash\n' > $t/etc/passwd
printf 'root:x:0:\n' > $t/etc/group
printf 'root:*::0:99999:7:::\n' > $t/etc/shadow
printf 'root:::\n' > $t/etc/gshadow
echo 52:54:00:00:00:01 > $t/sys/class/net/eth0/address
echo 'ro quiet' > $t/proc/cmdline
printf '8192\n' > $t/sys/class/block/vdb/size
printf 'MAJOR=252\nDEVNAME=vdb\nDEVTYPE=disk\n' > $t/sys/class/block/vdb/uevent
ln -s "$work/cp1.img" $t/dev/vdb
cp keys/mk.pub $t/etc/mk/config-trust/admin.pub

apply() { echo "$fb apply --root $1 --address 10.0.0.11"; }
cp -a $t applied
$(apply applied) | tail -1 >&2
$(apply applied) | grep -q 'total: 0 changes' || { echo "second run changed something" >&2; exit 1; }

echo "== first boot (a fresh copy of the template each run, copied outside the timing)" >&2
hyperfine --warmup 3 --runs "$RUNS" -N \
    --prepare "sh -c 'rm -rf $work/fresh && cp -a $work/template $work/fresh'" \
    --command-name 'first boot: mk-firstboot apply (control plane)' "$(apply "$work/fresh")" \
    --export-markdown "$work/first.md" >&2
echo "== second boot (nothing to do)" >&2
hyperfine --warmup 3 --runs "$RUNS" -N \
    --command-name 'second boot: mk-firstboot apply (0 changes)' "$(apply "$work/applied")" \
    --export-markdown "$work/second.md" >&2
cat "$work/first.md"
tail -n +3 "$work/second.md"
