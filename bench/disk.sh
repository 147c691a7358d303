#!/usr/bin/env bash
# Time to write a node disk image whose root is ~300 MB in ~15k files, with an
# SELinux label on every path (the worst case for the debugfs pass).
#
# Generates the staging tree (random data, a realistic mix: many small files,
# a few big ones, 600 directories, symlinks), builds the image with the
# build_image example (release), and prints the per-phase times the library
# logs (mke2fs -d, debugfs labels+times, total) and the wall time. Best of RUNS.
#
#   bench/disk.sh
#   FILES=15000 TOTAL_MB=300 RUNS=3 bench/disk.sh
set -euo pipefail

FILES=${FILES:-15000}
TOTAL_MB=${TOTAL_MB:-300}
RUNS=${RUNS:-3}

repo=$(cd "$(dirname "$0")/.." && pwd)
work=$(mktemp -d "${TMPDIR:-/tmp}/mk-disk-bench.XXXXXX")
trap 'rm -rf "$work"' EXIT

echo "== building the build_image example (release)" >&2
cargo build --release --quiet --manifest-path "$repo/Cargo.toml" -p mk-disk --example build_image
target=$(cargo metadata --format-version 1 --no-deps --manifest-path "$repo/Cargo.toml" |
    python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')
build=$target/release/examples/build_image

echo "== staging tree: $FILES files, ~$TOTAL_MB MB" >&2
python3 - "$work" "$FILES" "$TOTAL_MB" <<'PY'
import os, random, sys
work, files, total = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]) * 1000 * 1000
rnd = random.Random(42)
root = os.path.join(work, "root")
dirs = [os.path.join(root, f"usr/lib{d // 30}/pkg{d}") for d in range(600)]
for d in dirs:
    os.makedirs(d)
# 1% big files carry half the bytes; the rest share the other half.
big = files // 100
sizes = [total // 2 // big] * big + [max(1, int(rnd.expovariate(1 / (total / 2 / (files - big))))) for _ in range(files - big)]
labels = open(os.path.join(work, "labels"), "w")
labels.write("/\tsystem_u:object_r:root_t:s0\n")
blob = os.urandom(max(sizes) + 4096)
for i, size in enumerate(sizes):
    p = os.path.join(dirs[i % len(dirs)], f"file{i}")
    with open(p, "wb") as f:
        off = rnd.randrange(4096)
        f.write(blob[off:off + size])
    if i % 50 == 0:
        os.symlink(f"file{i}", p + ".link")
for dirpath, dirnames, filenames in os.walk(root):
    for n in sorted(dirnames + filenames):
        rel = os.path.relpath(os.path.join(dirpath, n), root)
        labels.write(f"/{rel}\tsystem_u:object_r:lib_t:s0\n")
PY
mkdir -p "$work/esp/EFI/BOOT"
head -c 1000000 /dev/urandom >"$work/esp/EFI/BOOT/BOOTX64.EFI"
du -sh --apparent-size "$work/root" >&2
echo "labels: $(wc -l <"$work/labels")" >&2

best=
for run in $(seq "$RUNS"); do
    rm -f "$work/node.raw"
    start=$(date +%s.%N)
    RUST_LOG=info NO_COLOR=1 "$build" --out "$work/node.raw" --esp "$work/esp" --esp-mib 64 \
        --root "$work/root" --root-labels "$work/labels" --state-mib 64 2>"$work/log" >/dev/null
    end=$(date +%s.%N)
    wall=$(echo "$end - $start" | bc)
    phases=$(sed 's/\x1b\[[0-9;]*m//g' "$work/log" | python3 -c '
import re, sys
out = []
for l in sys.stdin:
    for msg, name in (("mke2fs -d done", "mke2fs"), ("labels set, times reset", "debugfs"), ("ESP written", None), ("disk image written", "total")):
        if msg in l and name:
            part = re.search(r"part=\"?(\w+)", l)
            secs = float(re.search(r"secs=([0-9.]+)", l).group(1))
            tag = "(%s)" % part.group(1) if part else ""
            out.append("%s%s %.2fs" % (name, tag, secs))
print(", ".join(out))
')
    echo "run $run: wall ${wall}s; $phases" >&2
    if [ -z "$best" ] || [ "$(echo "$wall < $best" | bc)" = 1 ]; then best=$wall; fi
done
echo "best wall time: ${best}s (image $(du -h --apparent-size "$work/node.raw" | cut -f1), includes checks and sha256)"
