#!/usr/bin/env bash
# Measures the storage limits of this machine with fio, on the file system
# that holds the data, and prints them as a Markdown table: the ceilings the
# storage engine's figures in BENCHMARKS.md are fractions of.
#
# Usage: bench/limits.sh [--json FILE] [--runs N] [--size SIZE] [DIR]
#
#   DIR          directory on the data file system (default: target/bench-limits
#                in the repository). tmpfs and ramfs are refused: they measure
#                memory, not the file system the broker writes to.
#   --json FILE  also write every run and the medians as JSON to FILE.
#   --runs N     runs per measurement (default 3); the median is reported.
#   --size SIZE  size of each fresh-file write, e.g. 512m or 2g (default 2g).
#
# Measured, each N times (runs interleaved, the order of the two fresh-file
# writes alternating between runs):
#   buffered_write  sequential 1 MiB pwrite(2) into a fresh file (psync)
#   mmap_write      sequential 1 MiB stores through a shared map of a fresh file
#   cache_read      sequential 1 MiB pread(2) of the file just written (page cache)
#   cache_read_mmap the same file read through a shared map
#   sync_write_1m   1 MiB pwrite + fdatasync after each, bandwidth
#   sync_append_4k  4 KiB pwrite + fdatasync after each: ops/s, fdatasync p50/p99
# Every fresh file is preallocated (unwritten extents), as the broker
# preallocates its segments, and kept until the end so no run reuses pages
# another run freed. Dirty pages are written back (sync) before each write
# run so it does not compete with the previous run's writeback.
#
# Needs fio (installed from Debian when missing, as root) and jq.
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
json_out=""
runs=3
size="2g"
dir=""

while [[ $# -gt 0 ]]; do
    case "$1" in
        --json) json_out="$2"; shift 2 ;;
        --runs) runs="$2"; shift 2 ;;
        --size) size="$2"; shift 2 ;;
        -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
        -*) echo "limits.sh: unknown option $1" >&2; exit 2 ;;
        *) dir="$1"; shift ;;
    esac
done
dir="${dir:-$repo/target/bench-limits}"

log() { echo "limits.sh: $*" >&2; }

need_tool() {
    local tool="$1"
    command -v "$tool" >/dev/null 2>&1 && return 0
    if [[ $(id -u) -ne 0 ]]; then
        log "$tool is not installed and installing it needs root"
        exit 1
    fi
    log "installing $tool"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$tool" >/dev/null
}
need_tool fio
need_tool jq

mkdir -p "$dir"
fstype="$(df --output=fstype "$dir" | tail -1)"
case "$fstype" in
    tmpfs|ramfs)
        log "$dir is on $fstype; give a directory on the disk that holds the data"
        exit 2 ;;
esac
work="$(mktemp -d "$dir/limits.XXXXXX")"
trap 'rm -rf "$work"' EXIT

# One fio job; prints its JSON report. Common options: one job, psync unless
# given, JSON output, at most 20 s.
fio_job() {
    local name="$1"; shift
    fio --name="$name" --numjobs=1 --ioengine=psync --fallocate=native \
        --runtime=20 --output-format=json "$@"
}

# results[key] = space-separated values, one per run.
declare -A results=()
add() { results[$1]="${results[$1]:-}${results[$1]:+ }$2"; }

# The fresh files are created with fallocate(1) first, as the broker
# preallocates its segments: fio would otherwise lay out (write in full) the
# file of an mmap job before timing it, so that job would rewrite cached
# pages instead of filling fresh ones.
write_run() {
    local kind="$1" r="$2" report
    fallocate -l "$size" "$work/$kind-$r"
    sync
    case "$kind" in
        buffered)
            report="$(fio_job "buffered-$r" --filename="$work/buffered-$r" --rw=write --bs=1M --size="$size")"
            add buffered_write "$(jq '.jobs[0].write.bw_bytes' <<<"$report")" ;;
        mmap)
            report="$(fio_job "mmap-$r" --ioengine=mmap --filename="$work/mmap-$r" --rw=write --bs=1M --size="$size")"
            add mmap_write "$(jq '.jobs[0].write.bw_bytes' <<<"$report")" ;;
    esac
}

for r in $(seq 1 "$runs"); do
    log "run $r of $runs"
    if (( r % 2 )); then
        write_run buffered "$r"; write_run mmap "$r"
    else
        write_run mmap "$r"; write_run buffered "$r"
    fi
    # Read back the buffered file just written; invalidate=0 keeps its pages.
    report="$(fio_job "read-$r" --filename="$work/buffered-$r" --invalidate=0 --rw=read --bs=1M --size="$size")"
    add cache_read "$(jq '.jobs[0].read.bw_bytes' <<<"$report")"
    report="$(fio_job "read-mmap-$r" --ioengine=mmap --filename="$work/buffered-$r" --invalidate=0 --rw=read --bs=1M --size="$size")"
    add cache_read_mmap "$(jq '.jobs[0].read.bw_bytes' <<<"$report")"

    sync
    report="$(fio_job "sync-1m-$r" --filename="$work/sync-1m-$r" --rw=write --bs=1M --size=1g --fdatasync=1 --runtime=5)"
    add sync_write_1m "$(jq '.jobs[0].write.bw_bytes' <<<"$report")"

    sync
    report="$(fio_job "sync-4k-$r" --filename="$work/sync-4k-$r" --rw=write --bs=4k --size=256m --fdatasync=1 --runtime=5)"
    add sync_append_4k_iops "$(jq '.jobs[0].write.iops' <<<"$report")"
    add sync_append_4k_write_p50_ns "$(jq '.jobs[0].write.clat_ns.percentile["50.000000"]' <<<"$report")"
    add sync_append_4k_sync_p50_ns "$(jq '.jobs[0].sync.lat_ns.percentile["50.000000"]' <<<"$report")"
    add sync_append_4k_sync_p99_ns "$(jq '.jobs[0].sync.lat_ns.percentile["99.000000"]' <<<"$report")"
done

median() { tr ' ' '\n' <<<"$1" | sort -g | awk '{v[NR]=$1} END {print v[int((NR+1)/2)]}'; }
gbps() { awk -v b="$1" 'BEGIN {printf "%.2f GB/s", b/1e9}'; }
usec() { awk -v n="$1" 'BEGIN {printf "%.0f µs", n/1e3}'; }
ops() { awk -v n="$1" 'BEGIN {printf "%.0f /s", n}'; }

row() {
    local label="$1" key="$2" fmt="$3" v cells=""
    for v in ${results[$key]}; do cells+=" $($fmt "$v") |"; done
    echo "| $label |$cells **$($fmt "$(median "${results[$key]}")")** |"
}

header="| Measurement |"
rule="|---|"
for r in $(seq 1 "$runs"); do header+=" run $r |"; rule+="---:|"; done
cat <<EOF
- Data directory: \`$dir\` ($fstype on $(df --output=source "$dir" | tail -1))
- $(nproc) CPUs, $(free -g | awk '/^Mem:/ {print $2}') GiB RAM, kernel $(uname -r), $(fio --version)
- Fresh-file size $size, $runs runs each, median in bold; GB = 10^9 bytes.

$header median |
$rule---:|
EOF
row "Sequential write, 1 MiB \`pwrite\`, fresh file" buffered_write gbps
row "Sequential write through a shared map, fresh file" mmap_write gbps
row "Sequential read from page cache, 1 MiB \`pread\`" cache_read gbps
row "Sequential read from page cache through a map" cache_read_mmap gbps
row "1 MiB write + \`fdatasync\` each, bandwidth" sync_write_1m gbps
row "4 KiB append + \`fdatasync\` each, ops" sync_append_4k_iops ops
row "4 KiB append: \`pwrite\` p50" sync_append_4k_write_p50_ns usec
row "4 KiB append: \`fdatasync\` p50" sync_append_4k_sync_p50_ns usec
row "4 KiB append: \`fdatasync\` p99" sync_append_4k_sync_p99_ns usec

if [[ -n "$json_out" ]]; then
    {
        echo "{"
        printf '  "dir": "%s", "fstype": "%s", "size": "%s", "runs": %s,\n' "$dir" "$fstype" "$size" "$runs"
        printf '  "nproc": %s, "kernel": "%s", "fio": "%s",\n' "$(nproc)" "$(uname -r)" "$(fio --version)"
        echo '  "units": "bandwidths in bytes/s, *_iops in operations/s, *_ns in nanoseconds",'
        echo '  "results": {'
        first=1
        for key in buffered_write mmap_write cache_read cache_read_mmap sync_write_1m \
                   sync_append_4k_iops sync_append_4k_write_p50_ns sync_append_4k_sync_p50_ns \
                   sync_append_4k_sync_p99_ns; do
            (( first )) || echo ","
            first=0
            printf '    "%s": {"runs": [%s], "median": %s}' "$key" \
                "$(tr ' ' ',' <<<"${results[$key]}")" "$(median "${results[$key]}")"
        done
        printf '\n  }\n}\n'
    } >"$json_out"
    log "wrote $json_out"
fi
