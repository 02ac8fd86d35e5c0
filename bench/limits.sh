#!/usr/bin/env bash
# Measures the storage limits of this machine with fio, on the file system
# that holds the data, and prints them as a Markdown table: the ceilings the
# storage engine's figures in BENCHMARKS.md are fractions of.
#
# Usage: bench/limits.sh [--json FILE] [--runs N] [--size SIZE] [--seconds S] [DIR]
#
#   DIR          directory on the data file system (default: target/bench-limits
#                in the repository). tmpfs and ramfs are refused: they measure
#                memory, not the file system the broker writes to.
#   --json FILE  also write every run and the medians as JSON to FILE
#                (bandwidths in bytes/s, *_iops in operations/s, *_ns in ns).
#   --runs N     runs per measurement (default 3); the median is reported.
#   --size SIZE  size of each fresh-file write, e.g. 512m or 2g (default 2g).
#   --seconds S  stop every write (fresh-file, recycled, 1 MiB + fdatasync)
#                after S seconds, with SIZE as the file size: the limit then
#                covers as much data as a benchmark run of S seconds writes
#                (default: writes fill SIZE; 1 MiB + fdatasync writes 1 GiB).
#
# Measured, each N times (runs interleaved; the order of the two fresh-file
# writes alternates between runs):
#   buffered_write           1 MiB pwrite(2) into a fresh file, new pages
#   mmap_write               1 MiB stores through a shared map of a fresh file, new pages
#   buffered_write_recycled  the same two, into pages the kernel freed just
#   mmap_write_recycled      before (a same-size file was deleted)
#   buffered_write_16k_recycled  the same with 16 KiB pwrite(2)s (a producer's
#                            batch.size): the per-call cost of small writes
#   cache_read               1 MiB pread(2) of a file just written (page cache)
#   cache_read_mmap          the same file read through a shared map
#   disk_read                the same file read with its pages evicted first
#   sync_write_1m            1 MiB pwrite + fdatasync after each, bandwidth
#   sync_append_4k           4 KiB pwrite + fdatasync after each: ops/s,
#                            pwrite p50, fdatasync p50/p99
#
# "New pages" and "recycled pages" differ because on a virtual machine a page
# the guest has not touched lately may first have to be provided by the host:
# with free-page reporting the guest hands freed memory back within seconds,
# and filling it again costs a host fault per page. A file deleted just before
# leaves pages that are still backed. The kernel hands out pages it has not
# reported yet first, so the first gigabytes of a write can be several times
# faster than the rest: a limit measured on less data than a benchmark run
# writes overstates what the run could reach (hence --seconds). The fresh files of the new-page runs are
# kept until those runs are over, so neither write reuses the other's pages,
# and the script waits a few seconds before them for memory freed earlier
# to be handed back.
#
# Every fresh file is preallocated (unwritten extents) with fallocate(1), as
# the broker preallocates its segments; without that, fio would lay out (write
# in full) the file of an mmap job before timing it, and the job would rewrite
# cached pages instead of filling fresh ones. Dirty pages are written back
# (sync) before each new-page write so it does not compete with the previous
# write's writeback.
#
# Needs fio and jq (installed from Debian when missing, as root).
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
json_out=""
runs=3
size="2g"
seconds=""
dir=""
# Seconds to wait for freed memory to be handed back to the host.
settle=8

while [[ $# -gt 0 ]]; do
    case "$1" in
        --json) json_out="$2"; shift 2 ;;
        --runs) runs="$2"; shift 2 ;;
        --size) size="$2"; shift 2 ;;
        --seconds) seconds="$2"; shift 2 ;;
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
# given, JSON output, at most 20 s (or --seconds).
fio_job() {
    local name="$1"; shift
    fio --name="$name" --numjobs=1 --ioengine=psync --fallocate=native \
        --runtime="${seconds:-20}" --output-format=json "$@"
}

# results[key] = space-separated values, one per run.
declare -A results=()
add() { results[$1]="${results[$1]:-}${results[$1]:+ }$2"; }

# write_run ENGINE FILE KEY [BS]: sequential writes of BS (default 1 MiB)
# filling $size of FILE (created with fallocate just before), or for
# --seconds; sets `written` to the bytes written.
written=0
write_run() {
    local engine="$1" file="$2" key="$3" bs="${4:-1M}" report
    fallocate -l "$size" "$file"
    report="$(fio_job "$(basename "$file")" --ioengine="$engine" --filename="$file" --rw=write --bs="$bs" --size="$size")"
    add "$key" "$(jq '.jobs[0].write.bw_bytes' <<<"$report")"
    written="$(jq '.jobs[0].write.io_bytes' <<<"$report")"
}

# read_run ENGINE FILE KEY INVALIDATE BYTES: sequential 1 MiB reads of the
# first BYTES of FILE (what was written).
read_run() {
    local engine="$1" file="$2" key="$3" invalidate="$4" bytes="$5" report
    report="$(fio_job "read-$key" --ioengine="$engine" --filename="$file" --invalidate="$invalidate" --rw=read --bs=1M --size="$bytes")"
    add "$key" "$(jq '.jobs[0].read.bw_bytes' <<<"$report")"
}

sync
sleep "$settle"
for r in $(seq 1 "$runs"); do
    log "run $r of $runs"
    buffered="$work/buffered-$r" mapped="$work/mmap-$r"
    if (( r % 2 )); then
        sync; write_run psync "$buffered" buffered_write; buffered_bytes="$written"
        sync; write_run mmap "$mapped" mmap_write
    else
        sync; write_run mmap "$mapped" mmap_write
        sync; write_run psync "$buffered" buffered_write; buffered_bytes="$written"
    fi
    # A growing log fsynced as it goes: new pages too (the file is kept
    # until the run's end, like the two above).
    sync
    sync_opts=(--size=1g --runtime=5)
    [[ -z "$seconds" ]] || sync_opts=(--size="$size")
    report="$(fio_job "sync-1m-$r" --filename="$work/sync-1m-$r" --rw=write --bs=1M --fdatasync=1 "${sync_opts[@]}")"
    add sync_write_1m "$(jq '.jobs[0].write.bw_bytes' <<<"$report")"

    # Read back the buffered file just written, from page cache, then from
    # the disk (invalidate=1 evicts its pages, which sync made clean).
    read_run psync "$buffered" cache_read 0 "$buffered_bytes"
    read_run mmap "$buffered" cache_read_mmap 0 "$buffered_bytes"
    sync
    read_run psync "$buffered" disk_read 1 "$buffered_bytes"

    # Each recycled write fills the pages of the file deleted just before.
    rm -f "$mapped"
    write_run psync "$work/recycled-buffered-$r" buffered_write_recycled
    rm -f "$buffered"
    write_run mmap "$work/recycled-mmap-$r" mmap_write_recycled
    rm -f "$work/recycled-buffered-$r"
    write_run psync "$work/recycled-16k-$r" buffered_write_16k_recycled 16k
    rm -f "$work/recycled-mmap-$r" "$work/recycled-16k-$r"

    sync
    report="$(fio_job "sync-4k-$r" --filename="$work/sync-4k-$r" --rw=write --bs=4k --size=256m --fdatasync=1 --runtime=5)"
    add sync_append_4k_iops "$(jq '.jobs[0].write.iops' <<<"$report")"
    add sync_append_4k_write_p50_ns "$(jq '.jobs[0].write.clat_ns.percentile["50.000000"]' <<<"$report")"
    add sync_append_4k_sync_p50_ns "$(jq '.jobs[0].sync.lat_ns.percentile["50.000000"]' <<<"$report")"
    add sync_append_4k_sync_p99_ns "$(jq '.jobs[0].sync.lat_ns.percentile["99.000000"]' <<<"$report")"
    rm -f "$work/sync-1m-$r" "$work/sync-4k-$r"
    # Let the memory freed above be handed back before the next new-page run.
    (( r == runs )) || sleep "$settle"
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
- Fresh-file size $size${seconds:+, every write stopped after $seconds s (the length of a producing run)}, $runs runs each, median in bold; GB = 10^9 bytes.

$header median |
$rule---:|
EOF
row "Sequential write, 1 MiB \`pwrite\`, fresh file, new pages" buffered_write gbps
row "Sequential write through a shared map, fresh file, new pages" mmap_write gbps
row "Sequential write, 1 MiB \`pwrite\`, fresh file, recycled pages" buffered_write_recycled gbps
row "Sequential write through a shared map, fresh file, recycled pages" mmap_write_recycled gbps
row "Sequential write, 16 KiB \`pwrite\`, fresh file, recycled pages" buffered_write_16k_recycled gbps
row "Sequential read from page cache, 1 MiB \`pread\`" cache_read gbps
row "Sequential read from page cache through a map" cache_read_mmap gbps
row "Sequential read from disk, 1 MiB \`pread\`" disk_read gbps
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
        for key in buffered_write mmap_write buffered_write_recycled mmap_write_recycled \
                   buffered_write_16k_recycled \
                   cache_read cache_read_mmap disk_read sync_write_1m \
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
