#!/usr/bin/env bash
# Worst cases of `mk-firstboot validate FILE` over crafted role-config YAML
# (issue 12): time and peak memory per input. Before the bounds, 100,000
# nested `[` took 16 s (200,000: 69 s, quadratic in libyaml) and a 1 MB
# anchor with 1,000 aliases took 1 GB; now each must be refused in well
# under a second with a few MB more than the file.
#
# Builds the inputs in a temp dir (removed at the end), runs the release
# binary under /usr/bin/time -v on each, prints a table: input, exit code,
# seconds, maximum resident set size.
#
#   bench/crafted-inputs.sh
#   MK_FIRSTBOOT=target/debug/mk-firstboot bench/crafted-inputs.sh
set -euo pipefail

repo=$(cd "$(dirname "$0")/.." && pwd)
work=$(mktemp -d "${TMPDIR:-/tmp}/mk-crafted-inputs.XXXXXX")
trap 'rm -rf "$work"' EXIT

if [[ -z ${MK_FIRSTBOOT:-} ]]; then
    echo "== building release mk-firstboot" >&2
    cargo build --release --quiet --manifest-path "$repo/Cargo.toml" -p mk-firstboot
    target=$(cargo metadata --format-version 1 --no-deps --manifest-path "$repo/Cargo.toml" |
        python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')
    MK_FIRSTBOOT=$target/release/mk-firstboot
fi
[[ -x /usr/bin/time ]] || { echo "needs /usr/bin/time (GNU time)" >&2; exit 1; }

echo "== inputs in $work" >&2
python3 - "$work" <<'EOF'
import sys
d = sys.argv[1]
head = "apiVersion: mk.dev/v1alpha1\nkind: NodeConfig\n"

def write(name, text):
    with open(f"{d}/{name}", "w") as f:
        f.write(text)

for n in (100_000, 200_000):
    write(f"flow-{n // 1000}k.yaml", head + "x: " + "[" * n + "]" * n + "\n")
# Block nesting: `- - - ...` on one line, and indented mappings.
write("block-seq-100k.yaml", head + "x:\n" + "- " * 100_000 + "a\n")
write("block-map-2k.yaml", head + "".join(f"{' ' * i}k{i}:\n" for i in range(2000)))
for mb, n in ((1, 1000), (4, 10_000)):
    write(f"alias-{mb}MB-x{n}.yaml",
          head + "a: &a " + "x" * (mb << 20) + "\nb:\n" + "- *a\n" * n)
# Billion laughs: 10 levels of 10 aliases.
text = head + "l0: &l0 [x, x, x, x, x, x, x, x, x, x]\n"
for i in range(1, 10):
    text += f"l{i}: &l{i} [" + ", ".join([f"*l{i - 1}"] * 10) + "]\n"
write("laughs-10x10.yaml", text)
# Many nodes, no alias: 2.5 M empty lists in 7.5 MB.
write("nodes-2.5M.yaml", head + "x: [" + "[]," * 2_500_000 + "]\n")
EOF
# 200 MB of plain text (sparse: the size is what counts).
truncate -s 200M "$work/big-200MB.yaml"

printf '%-22s %5s %9s %14s  %s\n' input exit seconds "max RSS (KB)" "first line of stderr"
for f in "$work"/*.yaml; do
    name=$(basename "$f")
    set +e
    /usr/bin/time -v -o "$work/time.txt" "$MK_FIRSTBOOT" validate "$f" >/dev/null 2>"$work/err.txt"
    code=$?
    set -e
    secs=$(awk -F': ' '/Elapsed \(wall clock\)/ {n = split($2, t, ":"); s = 0; for (i = 1; i <= n; i++) s = s * 60 + t[i]; print s}' "$work/time.txt")
    rss=$(awk -F': ' '/Maximum resident set size/ {print $2}' "$work/time.txt")
    msg=$( (grep -m1 '^mk-firstboot:' "$work/err.txt" || tail -n 1 "$work/err.txt") | sed "s|$work/||g" | cut -c 1-110)
    printf '%-22s %5s %9s %14s  %s\n' "$name" "$code" "$secs" "$rss" "$msg"
done
