#!/usr/bin/env bash
# Benchmarks for arch-init on this machine:
#  1. the in-memory pipeline (cargo bench --bench render): scoring, verification, rendering;
#  2. end-to-end generation with --no-git against `cp -r` of the same tree on the same disk,
#     the floor for writing that many files here, as a paired ratio: each pair runs both back
#     to back (alternating which goes first), so both see the same load on a shared machine,
#     and the median of the pairs' ratios is reported; plus the peak memory of one generation.
# Usage: scripts/bench.sh [pairs]   (default 30)
#        BENCH_SKIP_CARGO_BENCH=1 scripts/bench.sh   skips part 1
#        BENCH_BIN=path/to/arch-init scripts/bench.sh   times that binary instead of a fresh build
set -euo pipefail
# Failures inside $(…) must stop the script too, or a broken run would be timed.
shopt -s inherit_errexit
cd "$(dirname "$0")/.."
pairs="${1:-30}"

if [[ -z "${BENCH_SKIP_CARGO_BENCH:-}" ]]; then
    cargo bench --quiet --bench render
fi

if [[ -n "${BENCH_BIN:-}" ]]; then
    bin="$BENCH_BIN"
else
    cargo build --quiet --release
    bin="${CARGO_TARGET_DIR:-target}/release/arch-init"
fi
work="$(mktemp -d "${TMPDIR:-/tmp}/arch-init-bench.XXXXXX")"
trap 'rm -rf "$work"' EXIT
# The reference case: tests/fixtures/reference.toml, the answers the tests and the bench read.
args=(--yes --no-git --quiet --date 2026-11-22 --answers tests/fixtures/reference.toml)

"$bin" --name reference --output "$work/reference" "${args[@]}"
files=$(find "$work/reference" -type f | wc -l)
bytes=$(du -sb "$work/reference" | cut -f1)

# Wall-clock microseconds of one run of a command; its output directory is removed after.
elapsed_us() {
    local out="$1"; shift
    local start end
    start=$(date +%s%N)
    "$@"
    end=$(date +%s%N)
    rm -rf "$out"
    echo $(( (end - start) / 1000 ))
}

gen=() copy=() ratio=()
for i in $(seq 1 "$pairs"); do
    if (( i % 2 )); then
        g=$(elapsed_us "$work/g" "$bin" --name bench "${args[@]}" --output "$work/g")
        c=$(elapsed_us "$work/c" cp -r "$work/reference" "$work/c")
    else
        c=$(elapsed_us "$work/c" cp -r "$work/reference" "$work/c")
        g=$(elapsed_us "$work/g" "$bin" --name bench "${args[@]}" --output "$work/g")
    fi
    gen+=("$g") copy+=("$c")
    ratio+=("$(awk -v g="$g" -v c="$c" 'BEGIN { printf "%.3f", g / c }')")
done
median() { printf '%s\n' "$@" | sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
echo "generate (--no-git): median $(median "${gen[@]}") us for ${files} files, ${bytes} bytes"
echo "cp -r of the same tree: median $(median "${copy[@]}") us"
echo "ratio generate / cp -r, median of ${pairs} pairs: $(median "${ratio[@]}")"

if command -v /usr/bin/time >/dev/null 2>&1; then
    /usr/bin/time -f "peak memory of one generation: %M KiB" \
        "$bin" --name bench --output "$work/mem" "${args[@]}"
fi
