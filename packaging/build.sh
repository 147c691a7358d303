#!/bin/sh
# Builds mk-firstboot (and mk-node, same package) for CentOS 7 (glibc 2.17, DESIGN §4) and packages it
# as an RPM. Usage: packaging/build.sh OUTDIR   (prints the RPM's path)
# Needs: cargo, objdump (binutils), and cargo-zigbuild + ziglang from PyPI
# (installed here when missing).
set -eu
out=${1:?usage: packaging/build.sh OUTDIR}
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
target=x86_64-unknown-linux-gnu
max_glibc=2.17

if ! command -v cargo-zigbuild >/dev/null || ! python3 -c 'import ziglang' 2>/dev/null; then
    echo "build.sh: installing ziglang and cargo-zigbuild (PyPI)" >&2
    pip3 install --quiet ziglang cargo-zigbuild 2>/dev/null ||
        pip3 install --quiet --break-system-packages ziglang cargo-zigbuild
fi

cd "$root"
cargo zigbuild --release --target "$target.$max_glibc" -p mk-firstboot >&2
# Both binaries of the package: mk-firstboot and mk-node (docs/update.md).
for name in mk-firstboot mk-node; do
    bin="$root/target/$target/release/$name"
    # The highest GLIBC_ symbol version the binary needs must be <= 2.17.
    highest=$(objdump -T "$bin" | grep -o 'GLIBC_[0-9][0-9.]*' | sort -u -V | tail -n 1)
    worst=$(objdump -T "$bin" | awk '{for (i = 1; i <= NF; i++) if ($i ~ /^GLIBC_[0-9]/) print $i, $NF}' |
        sort -V | tail -n 1)
    newest=$(printf '%s\n%s\n' "GLIBC_$max_glibc" "$highest" | sort -V | tail -n 1)
    if [ "$newest" != "GLIBC_$max_glibc" ]; then
        echo "build.sh: $bin needs $highest (symbol: $worst); CentOS 7 has glibc $max_glibc" >&2
        exit 1
    fi
    echo "build.sh: $bin: highest glibc symbol $highest (<= $max_glibc)" >&2
done

# The source revision travels in the RPM's VCS tag, which SBOMs report
# (docs/sbom.md); "-dirty" when tracked files differ from it.
rev=""
if git -C "$root" rev-parse --verify -q HEAD >/dev/null 2>&1; then
    rev=$(git -C "$root" rev-parse HEAD)
    git -C "$root" diff --quiet HEAD -- 2>/dev/null || rev="$rev-dirty"
fi

mkdir -p "$out"
cargo run -q -p mk-compose -- package \
    --spec "$here/mk-firstboot.yaml" \
    --binary-dir "$root/target/$target/release" \
    ${rev:+--source-revision "$rev"} \
    --out "$out" | tail -n 1
