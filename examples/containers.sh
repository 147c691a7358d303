#!/usr/bin/env bash
# The example's container images, from RPMs only (docs/container-images.md):
# the fixture base (built from scratch out of the fixture distribution), then
# etcd on it, pinned by the digest just built: registry.k8s.io/etcd:3.5.12-0,
# the name and tag the Kubernetes 1.30 manifests ask for (its content is
# Debian's etcd 3.4, with etcdctl for the pod's probes). The bundle serves it
# as repository `etcd` (examples/run.sh: what a registry.k8s.io mirror is
# asked for). Sourced by examples/run.sh (the
# bundle's registry/) and examples/image/run.sh (baked into the node image);
# unchanged inputs are reused in a fraction of a second. Needs root.
#
# Sets: fixture (the fixture repository), allow (--allow-unowned flags for
# the fixture distribution's scriptlet state, mk_fixture_distro::
# SCRIPTLET_STATE), containers (the output dir:
# base/, etcd/ layouts and etcd.oci.tar).
containers=target/example-image/containers
mkdir -p "$containers"
# The tool prints the repository path relative to the workspace; callers
# link it elsewhere, so make it absolute.
fixture=$(realpath "$(cargo run --quiet -p mk-fixture-distro -- build | tail -n 1)")
allow=()
for p in /etc/passwd- /etc/group- /etc/shadow- /etc/gshadow- /etc/.pwd.lock \
    /etc/subuid /etc/subgid /etc/subuid- /etc/subgid- '/var/lib/selinux/**' '/etc/selinux/default/**' \
    '/etc/ssl/certs/**'; do
    allow+=(--allow-unowned "$p")
done
base_digest=$(SOURCE_DATE_EPOCH=1700000000 cargo run --quiet -p mk-compose -- \
    image-build qemu-tests/fixture-images/base --repo "$fixture" \
    --out "$containers/base" "${allow[@]}" | sed -n 2p)
SOURCE_DATE_EPOCH=1700000000 cargo run --quiet -p mk-compose -- \
    image-build qemu-tests/fixture-images/etcd --repo "$fixture" \
    --base "$containers/base" --base-digest "$base_digest" \
    --out "$containers/etcd" --archive "$containers/etcd.oci.tar" "${allow[@]}"
