#!/bin/sh
# Install step benchmark: mk-install (bootstrap + CentOS's own rpm 4.11 in a
# chroot, one transaction, then rpm -qa / rpm -Va / unowned checks) against
# `dnf --installroot ROOT install` of the same package set from the same
# repository, in one run. mk-install runs twice with a bootstrap cache: cold
# (unpacks the bootstrap tree and caches it), then warm (reuses it), as a
# second image build with the same rpm closure would.
#
# The el7-base fixture lacks 4 packages its repodata lists; dnf refuses such
# a repository, so dnf gets a copy of it (symlinks) plus empty stand-ins for
# those 4 (same name, EVR and provides), regenerated with createrepo_c.
# Note: Debian's dnf runs Debian's rpm 4.18, which writes a sqlite rpmdb
# that CentOS 7's rpm cannot read; mk-install writes CentOS's Berkeley DB.
#
# Needs root, dnf, createrepo-c, rpm, util-linux. Usage: bench/install.sh
set -eu
cd "$(dirname "$0")/.."
REPO=${REPO:-$(cd ../shared/fixtures/el7-base && pwd)}
WORK=$(mktemp -d /var/tmp/mk-bench-install.XXXXXX)
trap 'rm -rf "$WORK"' EXIT

cargo build --release -q -p mk-install --example install_repo
BIN=${CARGO_TARGET_DIR:-target}/release/examples/install_repo
NAMES=$(rpm -qp --nosignature --qf '%{NAME}\n' "$REPO"/*.rpm | sort -u)

echo "== mk-install: $(ls "$REPO"/*.rpm | wc -l) RPMs from $REPO"
for run in cold warm; do
    start=$(date +%s.%N)
    RUST_LOG=warn "$BIN" --bootstrap-cache "$WORK/cache" "$REPO" "$WORK/mk-root-$run"
    end=$(date +%s.%N)
    echo "mk-install ($run bootstrap cache) wall: $(echo "$end - $start" | bc) s; rpmdb: $(ls "$WORK/mk-root-$run/var/lib/rpm" | tr '\n' ' ')"
done

echo "== dnf --installroot (same names; stand-ins for the 4 missing)"
mkdir "$WORK/repo"
ln -s "$REPO"/*.rpm "$WORK/repo/"
"$BIN" --standins "$REPO" "$WORK/repo" >/dev/null
createrepo_c -q "$WORK/repo"
start=$(date +%s.%N)
dnf -q -y --installroot "$WORK/dnf-root" --repofrompath "el7,$WORK/repo" --repo el7 \
    --nogpgcheck --setopt=reposdir=/dev/null --setopt=install_weak_deps=False \
    --releasever 7 --forcearch x86_64 install $NAMES >"$WORK/dnf.log" 2>&1 || {
    echo "dnf failed:"; tail -20 "$WORK/dnf.log"; }
end=$(date +%s.%N)
echo "dnf wall: $(echo "$end - $start" | bc) s; packages: $(rpm --root "$WORK/dnf-root" -qa | wc -l); rpmdb: $(cd "$WORK/dnf-root" && find . -name "rpmdb.sqlite" -o -name Packages | tr "\n" " ")"
