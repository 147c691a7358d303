#!/usr/bin/env bash
# The bundled example: generate the example site's RPM repository, make a
# signing key, build the signed bundle from examples/site/node.ks, verify it
# with mk-compose and with minisign. Output under out/example/.
set -euo pipefail
cd "$(dirname "$0")/.."
out=out/example
rm -rf "$out" && mkdir -p "$out"

cargo build --release -q -p mk-compose -p mk-synthrpm
bin=target/release

echo "== example repository"
"$bin/mk-synthrpm" example --out "$out/rpms"
"$bin/mk-compose" repo index "$out/rpms"
"$bin/mk-compose" repo list "$out/rpms"

echo "== signing key (password from a file; in real use prefer the prompt)"
umask 077
echo "example-password-$(date +%s%N)" >"$out/password"
"$bin/mk-compose" keygen --out-dir "$out/keys" --password-file "$out/password"

echo "== what node.ks installs, in install order"
"$bin/mk-compose" resolve --repo "$out/rpms" --kickstart examples/site/node.ks

echo "== container images from RPMs (fixture distribution: Debian packages as RPMs)"
source examples/containers.sh

echo "== the bundle (RPM repository + registry/ with the etcd image)"
export SOURCE_DATE_EPOCH=1700000000
"$bin/mk-compose" bundle --repo "$out/rpms" --kickstart examples/site/node.ks \
    --image "etcd=$containers/etcd" \
    --key "$out/keys/mk.key" --password-file "$out/password" --out "$out/mk-example.iso"

echo "== verify: mk-compose (reads the ISO directly), then minisign"
"$bin/mk-compose" verify "$out/mk-example.iso" --trust "$out/keys/mk.pub"
xorriso -osirrox on -indev "$out/mk-example.iso" -extract /MANIFEST "$out/MANIFEST" \
    -extract /MANIFEST.minisig "$out/MANIFEST.minisig" >/dev/null 2>&1
minisign -V -p "$out/keys/mk.pub" -m "$out/MANIFEST"
echo "example bundle: $out/mk-example.iso"

# The example node image: built from the fixture distribution (Debian
# packages repackaged as RPMs), then booted in QEMU to a login prompt with
# mk-firstboot reporting on the serial console (Ctrl-a x quits).
# BOOT=0 builds without booting.
echo "== the example node image (examples/image/image.yaml)"
exec bash examples/image/run.sh
