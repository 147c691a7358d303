#!/usr/bin/env bash
# Builds the example node image (examples/image/image.yaml) and boots it in
# QEMU: the fixture distribution (Debian 12 packages as RPMs), mk-firstboot
# packaged by packaging/build.sh, overlays/node. Needs root, qemu-system-x86,
# qemu-utils, ovmf (see docs/image.md).
#
#   sudo examples/image/run.sh          # build (cached) and boot; Ctrl-a x quits
#   BOOT=0 examples/image/run.sh        # build only
set -euo pipefail
repo=$(cd "$(dirname "$0")/../.." && pwd)
cd "$repo"
out=target/example-image
mkdir -p "$out/repos/mk"
# The fixture distribution and the container images baked into the node
# image (image.yaml's image_archives; imported into containerd at boot,
# before the kubelet).
source examples/containers.sh
ln -sfn "$fixture" "$out/repos/fixture"
packaging/build.sh "$out/repos/mk" >/dev/null
cargo run --quiet -p mk-compose -- image --recipe examples/image/image.yaml --cache-dir "$out/cache" "${allow[@]}"
[ "${BOOT:-1}" = 1 ] || exit 0
cp /usr/share/OVMF/OVMF_VARS_4M.fd "$out/OVMF_VARS.fd"
qemu-img create -q -f qcow2 -F raw -b "$PWD/$out/node.raw" "$out/boot.qcow2"
exec qemu-system-x86_64 -accel tcg -m 2048 -smp 2 -nographic \
    -drive if=pflash,format=raw,readonly=on,file=/usr/share/OVMF/OVMF_CODE_4M.fd \
    -drive if=pflash,format=raw,file="$out/OVMF_VARS.fd" \
    -drive file="$out/boot.qcow2",format=qcow2,if=virtio \
    -nic user,model=virtio-net-pci
