#!/usr/bin/env bash
# Benchmarks for arch-init on this machine:
#  1. the in-memory pipeline (cargo bench --bench render): scoring, verification, rendering;
#  2. end-to-end generation with --no-git against `cp -r` of the same tree on the same disk,
#     the floor for writing that many files here; plus the peak memory of one generation.
# Usage: scripts/bench.sh [runs]   (default 20)
set -euo pipefail
# Failures inside $(…) must stop the script too, or a broken run would be timed.
shopt -s inherit_errexit
cd "$(dirname "$0")/.."
runs="${1:-20}"

cargo bench --quiet --bench render

cargo build --quiet --release
bin="${CARGO_TARGET_DIR:-target}/release/arch-init"
work="$(mktemp -d "${TMPDIR:-/tmp}/arch-init-bench.XXXXXX")"
trap 'rm -rf "$work"' EXIT
# The reference case: tests/fixtures/reference.toml, the answers the tests and the bench read.
args=(--yes --no-git --quiet --date 2026-11-22 --answers tests/fixtures/reference.toml)

"$bin" --name reference --output "$work/reference" "${args[@]}"
files=$(find "$work/reference" -type f | wc -l)
bytes=$(du -sb "$work/reference" | cut -f1)

# Median of $runs wall-clock runs of a command, in microseconds; $1 names the output dirs,
# and each run gets its own output directory as the command's last argument.
median_us() {
    local label="$1"; shift
    local times=()
    for i in $(seq 1 "$runs"); do
        local out="$work/$label-$i"
        local start end
        start=$(date +%s%N)
        "$@" "$out"
        end=$(date +%s%N)
        times+=($(( (end - start) / 1000 )))
        rm -rf "$out"
    done
    printf '%s\n' "${times[@]}" | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'
}

gen_us=$(median_us generate "$bin" --name bench "${args[@]}" --output)
cp_us=$(median_us copy cp -r "$work/reference")
echo "generate (--no-git): median ${gen_us} us for ${files} files, ${bytes} bytes"
echo "cp -r of the same tree: median ${cp_us} us"
awk -v g="$gen_us" -v c="$cp_us" 'BEGIN { printf "ratio generate / cp -r: %.2f\n", g / c }'

if command -v /usr/bin/time >/dev/null 2>&1; then
    /usr/bin/time -f "peak memory of one generation: %M KiB" \
        "$bin" --name bench --output "$work/mem" "${args[@]}"
fi
