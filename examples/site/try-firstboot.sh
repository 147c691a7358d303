#!/usr/bin/env bash
# Try first boot offline, without a VM: make the site's PKI and signing key,
# issue a single server's certificates (cp1.node.yaml), put them into its
# role config (cp1.yaml) on a signed config drive, then let mk-firstboot
# plan and apply it into a directory that stands for the node's root.
# Then the same for the rack drive of two workers (node-config.yaml).
# Run as root (first boot sets file owners). Output under out/firstboot/.
#
#   examples/site/try-firstboot.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
site=examples/site
out=out/firstboot
rm -rf "$out" && mkdir -p "$out"

cargo build --release -q -p mk-compose -p mk-firstboot
bin=target/release
export RUST_LOG=${RUST_LOG:-warn}

echo "== passwords (from files here; in real use prefer the prompts)"
umask 077
echo "example-root-password-$(date +%s%N)" >"$out/root-password"
echo "example-key-password-$(date +%s%N)" >"$out/key-password"
umask 022

echo "== the admin's signing key and the cluster PKI (offline roots)"
"$bin/mk-compose" keygen --out-dir "$out/keys" --password-file "$out/key-password"
"$bin/mk-compose" pki init --dir "$out/pki" --domain example.com --api-endpoint api.example.com \
    --password-fd 3 3<"$out/root-password"

echo "== cp1: intermediates, leaves, signed config drive"
"$bin/mk-compose" pki intermediate --dir "$out/pki" --host cp1.example.com --realm etcd \
    --realm kubernetes --realm front-proxy --realm kubelet-serving --password-fd 3 3<"$out/root-password"
"$bin/mk-compose" pki issue-node --dir "$out/pki" --node "$site/cp1.node.yaml" --out "$out/issued/cp1"
"$bin/mk-compose" config-drive --config "$site/cp1.yaml" --pki-dir "$out/issued/cp1" \
    --key "$out/keys/mk.key" --password-file "$out/key-password" --out "$out/cp1-config.img"

echo "== what the drive carries (the config with its certificates, and its signature)"
mkdir -p "$out/cp1-drive"
for f in node-config.yaml node-config.yaml.minisig; do
    MTOOLS_SKIP_CHECK=1 mcopy -i "$out/cp1-config.img" "::/$f" "$out/cp1-drive/$f"
done
minisign -V -p "$out/keys/mk.pub" -m "$out/cp1-drive/node-config.yaml"
"$bin/mk-firstboot" validate "$out/cp1-drive/node-config.yaml" --trust "$out/keys/mk.pub"

echo "== an empty node root (the image's accounts), and what first boot would do"
node=$out/node-cp1
mkdir -p "$node/etc"
printf 'root:x:0:0:root:/root:/bin/bash\n' >"$node/etc/passwd"
printf 'root:x:0:\n' >"$node/etc/group"
# --address: this host's address (on a node: read from its interfaces).
"$bin/mk-firstboot" plan --root "$node" --config "$out/cp1-drive/node-config.yaml" \
    --trust "$out/keys" --node cp1.example.com --address 10.0.0.11 --address 10.0.1.11 | tail -n 12

echo "== apply, then again (nothing to do), then with a new address (R29)"
apply() {
    "$bin/mk-firstboot" apply --root "$node" --config "$out/cp1-drive/node-config.yaml" \
        --trust "$out/keys" --node cp1.example.com "$@"
}
apply --address 10.0.0.11 --address 10.0.1.11
apply --address 10.0.0.11 --address 10.0.1.11 | tail -n 1
apply --address 10.0.0.12 --address 10.0.1.12 | grep -v ' 0 changes'
ls -l "$node/etc/kubernetes" "$node/etc/kubernetes/pki" | head -n 20

echo "== one drive for a rack: node-config.yaml's two workers, each with its certificates"
for w in w1 w2; do
    "$bin/mk-compose" pki intermediate --dir "$out/pki" --host "$w.example.com" --realm kubernetes \
        --realm kubelet-serving --password-fd 3 3<"$out/root-password"
    "$bin/mk-compose" pki issue-node --dir "$out/pki" --node "$site/$w.node.yaml" --out "$out/issued/$w"
done
"$bin/mk-compose" config-drive --config "$site/node-config.yaml" \
    --pki-dir "w1.example.com=$out/issued/w1" --pki-dir "w2.example.com=$out/issued/w2" \
    --key "$out/keys/mk.key" --password-file "$out/key-password" --out "$out/rack1.iso" --format iso
mkdir -p "$out/rack1-drive"
xorriso -osirrox on -indev "$out/rack1.iso" -extract /node-config.yaml "$out/rack1-drive/node-config.yaml" \
    -extract /node-config.yaml.minisig "$out/rack1-drive/node-config.yaml.minisig" 2>/dev/null
wnode=$out/node-w1
mkdir -p "$wnode/etc"
printf 'root:x:0:0:root:/root:/bin/bash\n' >"$wnode/etc/passwd"
printf 'root:x:0:\n' >"$wnode/etc/group"
"$bin/mk-firstboot" apply --root "$wnode" --config "$out/rack1-drive/node-config.yaml" \
    --trust "$out/keys" --node w1.example.com --address 10.0.0.21 --address 10.0.1.21
echo "first boot tried: node roots under $out/node-cp1 and $out/node-w1"
