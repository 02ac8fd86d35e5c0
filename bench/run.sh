#!/usr/bin/env bash
# The end-to-end benchmark of Runnel: machine limits, then the standard
# matrix with `runnel bench` against a release broker, written out as a
# Markdown section for BENCHMARKS.md (every figure beside the limit it is
# a fraction of).
#
# Usage: bench/run.sh [--quick] [--out FILE] [--dir DIR] [--no-limits]
#
#   --quick      one run each, small sizes: to try the script out (~2 min).
#   --out FILE   write the Markdown section to FILE (default:
#                target/bench-run/section.md); it is also printed.
#   --dir DIR    parent of the broker's data directories (default /var/tmp;
#                tmpfs and ramfs are refused: they measure memory).
#   --no-limits  skip fio and iperf3 (the limits columns stay empty).
#   --resume     keep the results directory of an interrupted run: reuse its
#                limits and every summary already there, run the rest.
#
# In one run:
#   limits   bench/limits.sh (fio: fresh-file buffered and mmap writes for
#            as long as a producing run lasts,
#            1 MiB write+fdatasync, 4 KiB fdatasync latency) and iperf3
#            loopback, single stream.
#   build    cargo build --release -p runnel-broker -p runnel-cli.
#   matrix   against one release broker on a fresh data directory, each
#            item RUNS times (3; 1 with --quick), median reported:
#     (1) produce 1 KiB, 1 producer, 1 partition, acks=1 and acks=all
#     (2) produce 100 B, 1 producer, 1 partition, acks=1
#     (3) produce 1 KiB, 4 producers, 8 partitions, acks=all
#     (4) consume 1 KiB from page cache: 1 consumer on 8 partitions, and a
#         4-member group on the same 8 partitions
#     (5) e2e latency at a fixed rate of half the median of (1), acks=1
#         and acks=all (each at half its own maximum; acks=1 also with
#         consumers at isolation.level=read_unflushed), and at fixed rates
#         of 20k, 100k and 200k msgs/s (latency against load: on 2 cores
#         the consumer competes with the producer and the broker, so half
#         the producer-only maximum already saturates the machine)
#     (6) 10,000 partitions: topic create time, broker RSS (VmRSS),
#         produce throughput spread over them, open files and maps
#     (7) recovery after kill -9 with 1 GiB (and 10 GiB when the disk has
#         room, not with --quick): start-to-"listening" time and the
#         log's `recovery complete ... elapsed_ms`
#   Broker CPU per message for (1) and (2): utime+stime deltas from
#   /proc/<pid>/stat over each run, divided by the records appended.
#
# Scaled for a 2-core machine: producer runs last 5 s after a 1 s warm-up,
# consume runs read 4 Mi records (4 GiB, about 2 s: a sub-second run moved
# by ±30 % between runs); the full run takes about 18
# minutes after the build (limits about 4 of them, (7) with 10 GiB about 3).
# Full-speed producing runs, like the fresh-file limits, start after freed
# memory has been handed back (8 s), so both write into new pages.
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
quick=0
resume=0
limits=1
out="$repo/target/bench-run/section.md"
parent="/var/tmp"
while [[ $# -gt 0 ]]; do
    case "$1" in
        --quick) quick=1; shift ;;
        --no-limits) limits=0; shift ;;
        --resume) resume=1; shift ;;
        --out) out="$2"; shift 2 ;;
        --dir) parent="$2"; shift 2 ;;
        -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
        *) echo "run.sh: unknown argument $1" >&2; exit 2 ;;
    esac
done

log() { echo "run.sh: $*" >&2; }
# Seconds for freed memory to be handed back to the host (as limits.sh).
settle=8

if (( quick )); then
    runs=1; secs=2; warm=1s; consume_count=100000; limit_runs=1; limit_size=256m
    recovery_sizes=(256); big_partitions=1000; limit_secs=""
else
    runs=3; secs=5; warm=1s; consume_count=4194304; limit_runs=3
    recovery_sizes=(1024); big_partitions=10000
    # The write limits cover what a producing run writes: as much as fio
    # can in the run's length (warm-up + measured), into files of up to
    # 12 GiB (a quarter of the free disk at most: three are kept at once).
    limit_secs=$(( secs + ${warm%s} ))
    free_gib=$(( $(df --output=avail -k "$parent" | tail -1) / 1048576 ))
    limit_size="$(( free_gib / 4 < 12 ? free_gib / 4 : 12 ))g"
fi

command -v jq >/dev/null || { log "needs jq"; exit 1; }
fstype="$(df --output=fstype "$parent" | tail -1 | tr -d ' ')"
case "$fstype" in
    tmpfs|ramfs) log "$parent is on $fstype; give a directory on disk with --dir"; exit 2 ;;
esac
work="$(mktemp -d "$parent/runnel-bench.XXXXXX")"
broker_pid=""
cleanup() {
    [[ -n "$broker_pid" ]] && kill -9 "$broker_pid" 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT
mkdir -p "$(dirname "$out")"
# Every run's JSON summary is kept here, beside the section.
results="$(dirname "$out")/results"
(( resume )) || rm -rf "$results"
mkdir -p "$results"
load_before="$(cut -d' ' -f1-3 /proc/loadavg)"
started_at="$(date -u '+%Y-%m-%d %H:%M UTC')"

# ---------------------------------------------------------------- limits
limit_md=""
declare -A lim=()
if (( resume )) && [[ -f "$results/limits.json" ]]; then
    log "reusing the limits in $results"
    limit_md="$(cat "$results/limits.md")"
    for key in buffered_write mmap_write sync_write_1m sync_append_4k_sync_p99_ns; do
        lim[$key]="$(jq ".results.$key.median" "$results/limits.json")"
    done
    [[ -f "$results/tcp" ]] && lim[tcp]="$(cat "$results/tcp")"
elif (( limits )); then
    log "measuring storage limits (bench/limits.sh --runs $limit_runs --size $limit_size${limit_secs:+ --seconds $limit_secs})"
    limit_md="$(bash "$repo/bench/limits.sh" --json "$work/limits.json" --runs "$limit_runs" \
        --size "$limit_size" ${limit_secs:+--seconds "$limit_secs"} "$work/limits")"
    for key in buffered_write mmap_write sync_write_1m sync_append_4k_sync_p99_ns; do
        lim[$key]="$(jq ".results.$key.median" "$work/limits.json")"
    done
    cp "$work/limits.json" "$results/"
    echo "$limit_md" >"$results/limits.md"
    if ! command -v iperf3 >/dev/null; then
        if [[ $(id -u) -eq 0 ]]; then
            log "installing iperf3"
            apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq iperf3 >/dev/null
        else
            log "iperf3 is missing and installing it needs root"
        fi
    fi
    if command -v iperf3 >/dev/null; then
        log "measuring loopback TCP (iperf3, one stream)"
        iperf3 -s -1 -p 5299 >/dev/null 2>&1 &
        iperf_pid=$!
        sleep 0.5
        lim[tcp]="$(iperf3 -c 127.0.0.1 -p 5299 -t 5 -J | jq '.end.sum_received.bits_per_second / 8')"
        echo "${lim[tcp]}" >"$results/tcp"
        wait "$iperf_pid" 2>/dev/null || true
    fi
fi
# The fresh-file write limit: the faster of buffered and mmap.
fresh_write="$(awk -v a="${lim[buffered_write]:-0}" -v b="${lim[mmap_write]:-0}" 'BEGIN {print (a > b ? a : b)}')"

# ---------------------------------------------------------------- build
log "building release binaries"
(cd "$repo" && cargo build --release -q -p runnel-broker -p runnel-cli)
broker_bin="$repo/target/release/runnel-broker"
runnel_bin="$repo/target/release/runnel"

# start_broker DATA_DIR: starts a broker; sets broker_pid, addr, and
# listen_ms (milliseconds from spawn to its "listening" line).
port=19170
start_broker() {
    local data="$1" t0 line
    mkdir -p "$data"
    port=$((port + 1))
    : >"$work/broker.log"
    t0="$(date +%s%N)"
    RUST_LOG=info NO_COLOR=1 "$broker_bin" --data-dir "$data" --listen "127.0.0.1:$port" \
        --metrics-listen 127.0.0.1:0 >/dev/null 2>>"$work/broker.log" &
    broker_pid=$!
    for _ in $(seq 1 6000); do
        if grep -v metrics "$work/broker.log" | grep -q "listening"; then
            listen_ms=$(( ($(date +%s%N) - t0) / 1000000 ))
            addr="127.0.0.1:$port"
            return 0
        fi
        kill -0 "$broker_pid" 2>/dev/null || { log "broker exited:"; cat "$work/broker.log" >&2; exit 1; }
        sleep 0.01
    done
    log "broker did not start"; exit 1
}
stop_broker() { kill -9 "$broker_pid" 2>/dev/null || true; wait "$broker_pid" 2>/dev/null || true; broker_pid=""; }

runnel() { "$runnel_bin" --broker "$addr" "$@"; }
# Broker CPU time in µs (user + system).
cpu_us() { awk -v hz="$(getconf CLK_TCK)" '{print ($14 + $15) * 1e6 / hz}' "/proc/$broker_pid/stat"; }
rss_kib() { awk '/^VmRSS/ {print $2}' "/proc/$broker_pid/status"; }
# Records appended to TOPIC so far (sum of log end offsets).
appended() { runnel --output json topic describe "$1" | jq '[.partitions[].log_end_offset] | add'; }
median() { sort -g | awk '{v[NR]=$1} END {print v[int((NR+1)/2)]}'; }

# bench KEY ARGS...: runs `runnel bench ARGS` RUNS times, keeping each JSON
# summary in $results/KEY.N.json and the broker CPU per appended record.
bench() {
    local key="$1"; shift
    if (( resume )) && [[ -f "$results/$key.$runs.json" ]]; then
        log "$key: reusing $runs earlier runs"
        return 0
    fi
    local topic="" prev=""
    for a in "$@"; do [[ "$prev" == "--topic" ]] && topic="$a"; prev="$a"; done
    for r in $(seq 1 "$runs"); do
        local c0 a0=0 a1
        runnel topic describe "$topic" >/dev/null 2>&1 && a0="$(appended "$topic")"
        c0="$(cpu_us)"
        if ! runnel --output json bench "$@" >"$results/$key.$r.json"; then
            log "$key run $r failed"
            rm -f "$results/$key.$r.json"
            continue
        fi
        a1="$(appended "$topic")"
        awk -v c0="$c0" -v c1="$(cpu_us)" -v n=$((a1 - a0)) \
            'BEGIN {print (n > 0 ? (c1 - c0) / n : 0)}' >"$results/$key.$r.cpu"
        log "$key run $r: $(jq -c '{msgs_per_sec, mb_per_sec, p99: .latency_ms.p99}' "$results/$key.$r.json")"
        # A producing run writes gigabytes: each starts on a fresh topic so
        # the matrix fits on the disk (consume runs read what is there).
        # The deletion's own disk work (freeing gigabytes of blocks) is
        # finished before the next run starts.
        if [[ "$1" != consume && -z "${keep_topic:-}" ]]; then
            runnel topic delete "$topic" >/dev/null
            sync -f "$work"
            # A full-speed producing run then waits, as the fresh-file
            # limits do, for the freed memory to be handed back: otherwise
            # it would start in pages still backed (recycled), several
            # times faster on a virtual machine than the new pages a
            # growing log takes in steady state.
            if [[ "$1" == produce && " $* " != *" --rate "* ]] && (( ! quick )); then
                sleep "$settle"
            fi
        fi
    done
}
# med KEY JQ: median over the runs of a JSON figure.
med() { for f in "$results/$1".*.json; do [[ -f "$f" ]] && jq "$2" "$f"; done | median; }
med_cpu() { cat "$results/$1".*.cpu | median; }

# ---------------------------------------------------------------- matrix
start_broker "$work/data"
log "broker $broker_pid on $addr, data in $work/data"
p="--duration $secs --warmup $warm"
# The limits' files were deleted just now: see `settle` in bench().
(( quick )) || sleep "$settle"
bench p1_acks1   produce --topic p1a1 --partitions 1 --message-size 1024 --acks 1   $p
bench p1_acksall produce --topic p1aa --partitions 1 --message-size 1024 --acks all $p
bench p2         produce --topic p2   --partitions 1 --message-size 100  --acks 1   $p
bench p3         produce --topic p3   --partitions 8 --message-size 1024 --acks all --producers 4 $p
# (4): the first run fills the topic (untimed), every run reads it back
# from the page cache.
bench c1 consume --topic c8 --partitions 8 --message-size 1024 --count "$consume_count" --warmup 10000
for r in $(seq 1 "$runs"); do
    (( resume )) && [[ -f "$results/c4.$r.json" ]] && continue
    runnel --output json bench consume --topic c8 --message-size 1024 --count "$consume_count" \
        --warmup 10000 --consumers 4 --group "bench-$RANDOM-$r" >"$results/c4.$r.json"
    log "c4 run $r: $(jq -c '{msgs_per_sec, mb_per_sec}' "$results/c4.$r.json")"
done
rate1="$(med p1_acks1 .msgs_per_sec | awk '{printf "%d", $1 / 2}')"
rateall="$(med p1_acksall .msgs_per_sec | awk '{printf "%d", $1 / 2}')"
(( rate1 > 0 )) || rate1=1
(( rateall > 0 )) || rateall=1
# acks=1 twice: consumers reading durable records (the default) wait for
# the fsync like acks=all; read_unflushed consumers see each append.
unflushed="-X isolation.level=read_unflushed"
# The rate curve first, lowest rate first: a run near the machine's edge
# leaves writeback and freed pages behind that the next run would meet.
curve_rates=(20000 100000 200000)
(( quick )) && curve_rates=(20000)
for rate in "${curve_rates[@]}"; do
    bench "e_curve_1_$rate"   e2e --topic ec1 --partitions 1 --message-size 1024 --acks 1   --rate "$rate" $p
    bench "e_curve_1u_$rate"  e2e --topic ec1u --partitions 1 --message-size 1024 --acks 1  --rate "$rate" $p $unflushed
    bench "e_curve_all_$rate" e2e --topic eca --partitions 1 --message-size 1024 --acks all --rate "$rate" $p
done
bench e_acks1   e2e --topic e1 --partitions 1 --message-size 1024 --acks 1   --rate "$rate1"   $p
bench e_acks1u  e2e --topic e1u --partitions 1 --message-size 1024 --acks 1  --rate "$rate1"   $p $unflushed
bench e_acksall e2e --topic ea --partitions 1 --message-size 1024 --acks all --rate "$rateall" $p

# (6) many partitions, on a fresh broker. Its figures are kept in
# $results/big.env, so --resume reuses them whole (a partial rerun would
# measure a broker that never produced to the partitions).
stop_broker
if (( resume )) && [[ -f "$results/big.env" ]]; then
    log "(6): reusing the earlier measurements"
    # shellcheck source=/dev/null
    source "$results/big.env"
else
    rm -f "$results/big".*
    # The first run creates the topic (timed by the bench, with a request
    # timeout long enough for it) and sends one record.
    rm -rf "$work/data"
    start_broker "$work/data"
    rss0="$(rss_kib)"
    t0="$(date +%s%N)"
    runnel --output json bench produce --topic big --partitions "$big_partitions" --count 1 \
        -X request.timeout.ms=600000 -X delivery.timeout.ms=1200000 >"$results/big-create.json" \
        2>"$results/big-create.err" || log "creating $big_partitions partitions failed: $(cat "$results/big-create.err")"
    create_ms="$(jq '.settings.topic_create_ms // empty' "$results/big-create.json" 2>/dev/null | awk '{printf "%.0f ms", $1}')"
    create_error="$(cat "$results/big-create.err")"
    [[ -n "$create_ms" ]] || create_ms="failed after $(( ($(date +%s%N) - t0) / 1000000 )) ms: ${create_error:-?}"
    rss1="$(rss_kib)"
    runs_saved="$runs"; runs=1; keep_topic=1
    bench big produce --topic big --message-size 1024 --acks 1 --producers 4 $p
    runs="$runs_saved"; keep_topic=""
    rss2="$(rss_kib)"
    fds="$(ls "/proc/$broker_pid/fd" | wc -l)"
    fd_limit="$(awk '/Max open files/ {print $4}' "/proc/$broker_pid/limits")"
    maps="$(wc -l <"/proc/$broker_pid/maps")"
    map_limit="$(cat /proc/sys/vm/max_map_count)"
    cp "$work/broker.log" "$results/broker-matrix.log"
    limit_errors="$(grep -ciE 'too many open files|cannot allocate memory|EMFILE|ENOMEM' "$work/broker.log" || true)"
    stop_broker
    rm -rf "$work/data"
    for var in create_ms rss0 rss1 rss2 fds fd_limit maps map_limit limit_errors; do
        printf '%s=%q\n' "$var" "${!var}"
    done >"$results/big.env"
fi

# (7) recovery after kill -9.
avail_gib="$(df --output=avail -BG "$work" | tail -1 | tr -dc 0-9)"
if (( ! quick )) && (( avail_gib > 30 )); then recovery_sizes+=(10240); fi
declare -A rec_listen=() rec_log=()
for mib in "${recovery_sizes[@]}"; do
    data="$work/rec-$mib"
    start_broker "$data"
    runnel --output json bench produce --topic rec --partitions 8 --message-size 1024 --acks 1 \
        --producers 2 --count "$((mib * 1024))" >/dev/null
    listen=() logged=()
    for r in $(seq 1 "$runs"); do
        stop_broker
        start_broker "$data"
        listen+=("$listen_ms")
        logged+=("$(grep 'recovery complete' "$work/broker.log" | tail -1 | sed 's/\x1b\[[0-9;]*m//g' \
            | grep -o 'elapsed_ms=[0-9]*' | cut -d= -f2)")
    done
    rec_listen[$mib]="$(printf '%s\n' "${listen[@]}" | median)"
    rec_log[$mib]="$(printf '%s\n' "${logged[@]}" | median)"
    log "recovery $mib MiB: listening after ${rec_listen[$mib]} ms, recovery elapsed_ms ${rec_log[$mib]}"
    stop_broker
    rm -rf "$data"
done
load_after="$(cut -d' ' -f1-3 /proc/loadavg)"

# ---------------------------------------------------------------- report
mb() { awk -v b="$1" 'BEGIN {printf "%.0f MB/s", b / 1e6}'; }
pct() { awk -v a="$1" -v b="$2" 'BEGIN {if (b > 0) printf "%.0f %%", 100 * a / b; else print "n/a"}'; }
num() { awk -v v="$1" 'BEGIN {printf "%.0f", v}'; }
ms() { awk -v v="$1" 'BEGIN {printf "%.2f ms", v}'; }
mbps() { med "$1" .mb_per_sec; }
# throughput_row LABEL KEY LIMIT_BYTES LIMIT_NAME
throughput_row() {
    local m; m="$(mbps "$2")"
    echo "| $1 | $(num "$(med "$2" .msgs_per_sec)") | $(awk -v v="$m" 'BEGIN {printf "%.0f", v}') | $(ms "$(med "$2" .latency_ms.p50)") / $(ms "$(med "$2" .latency_ms.p99)") / $(ms "$(med "$2" .latency_ms.p999)") | $4: $( [[ "$3" != 0 ]] && mb "$3" || echo n/a) | $(pct "$(awk -v v="$m" 'BEGIN {print v * 1e6}')" "$3") |"
}
commit="$(git -C "$repo" rev-parse --short HEAD)$(git -C "$repo" diff --quiet HEAD -- broker producer consumer client protocol cli || echo ' (working tree differs)')"
{
    echo "### Run of $started_at$( (( quick )) && echo ' (--quick: 1 run each, small sizes)')"
    echo
    echo "- Machine: $(nproc) CPUs, $(free -g | awk '/^Mem:/ {print $2}') GiB RAM, kernel $(uname -r); data on $fstype ($(df --output=source "$work" | tail -1)) under \`$parent\`."
    echo "- Commit $commit; release build (\`lto = \"thin\"\`); broker and load generator on the same machine."
    echo "- Load average (1/5/15 min) before: $load_before; after: $load_after."
    echo "- Each figure is the median of $runs run(s); producer runs: ${secs} s measured after a ${warm} warm-up; consume runs: $consume_count records of 1 KiB."
    echo
    if [[ -n "$limit_md" ]]; then
        echo "#### Machine limits"
        echo
        echo "$limit_md"
        echo
        echo "Loopback TCP, one stream (iperf3, 5 s): **$( [[ -n "${lim[tcp]:-}" ]] && mb "${lim[tcp]}" || echo 'not measured')**."
        echo
    fi
    echo "#### Throughput"
    echo
    echo "| Workload | msgs/s | MB/s | latency p50 / p99 / p99.9 | limit | fraction of limit |"
    echo "|---|---:|---:|---|---|---:|"
    throughput_row "(1) produce 1 KiB, 1 producer, 1 partition, acks=1" p1_acks1 "$fresh_write" "fresh-file write"
    throughput_row "(1) produce 1 KiB, 1 producer, 1 partition, acks=all" p1_acksall "${lim[sync_write_1m]:-0}" "1 MiB write+fdatasync"
    throughput_row "(2) produce 100 B, 1 producer, 1 partition, acks=1" p2 "$fresh_write" "fresh-file write"
    throughput_row "(3) produce 1 KiB, 4 producers, 8 partitions, acks=all" p3 "${lim[sync_write_1m]:-0}" "1 MiB write+fdatasync"
    throughput_row "(4) consume 1 KiB, 1 consumer, 8 partitions (page cache)" c1 "${lim[tcp]:-0}" "loopback TCP"
    throughput_row "(4) consume 1 KiB, 4-member group, 8 partitions (page cache)" c4 "${lim[tcp]:-0}" "loopback TCP"
    throughput_row "(6) produce 1 KiB, 4 producers, $big_partitions partitions, acks=1 (1 run)" big "$fresh_write" "fresh-file write"
    echo
    echo "Latency in the produce rows is send to acknowledgement, at full load (so it includes queueing in the producer)."
    echo
    echo "#### Broker CPU per message"
    echo
    echo "| Workload | CPU µs per message (user+system) |"
    echo "|---|---:|"
    echo "| (1) 1 KiB, acks=1 | $(awk -v v="$(med_cpu p1_acks1)" 'BEGIN {printf "%.2f", v}') |"
    echo "| (1) 1 KiB, acks=all | $(awk -v v="$(med_cpu p1_acksall)" 'BEGIN {printf "%.2f", v}') |"
    echo "| (2) 100 B, acks=1 | $(awk -v v="$(med_cpu p2)" 'BEGIN {printf "%.2f", v}') |"
    echo
    echo "#### End-to-end latency at a fixed rate (5)"
    echo
    echo "Producer timestamp (the intended send time) to the consumer seeing the record; coordinated-omission safe."
    echo
    echo "| Workload | rate (msgs/s) | p50 | p90 | p99 | p99.9 | max | limit |"
    echo "|---|---:|---:|---:|---:|---:|---:|---|"
    pairs=("e_acks1:acks=1:$rate1" "e_acks1u:acks=1, read_unflushed:$rate1" "e_acksall:acks=all:$rateall")
    for rate in "${curve_rates[@]}"; do
        pairs+=("e_curve_1_$rate:acks=1:$rate" "e_curve_1u_$rate:acks=1, read_unflushed:$rate"
            "e_curve_all_$rate:acks=all:$rate")
    done
    for pair in "${pairs[@]}"; do
        IFS=: read -r key label rate <<<"$pair"
        limit="-"
        [[ "$label" == acks=all && -n "${lim[sync_append_4k_sync_p99_ns]:-}" ]] \
            && limit="fdatasync p99 $(awk -v v="${lim[sync_append_4k_sync_p99_ns]}" 'BEGIN {printf "%.2f ms", v / 1e6}')"
        echo "| 1 KiB, 1 partition, $label | $rate | $(ms "$(med "$key" .latency_ms.p50)") | $(ms "$(med "$key" .latency_ms.p90)") | $(ms "$(med "$key" .latency_ms.p99)") | $(ms "$(med "$key" .latency_ms.p999)") | $(ms "$(med "$key" .latency_ms.max)") | $limit |"
    done
    echo
    echo "#### $big_partitions partitions (6)"
    echo
    echo "| Measurement | value | limit |"
    echo "|---|---:|---|"
    echo "| \`topic create -p $big_partitions\` | $create_ms | - |"
    echo "| broker RSS before / after create / after produce | $((rss0 / 1024)) / $((rss1 / 1024)) / $((rss2 / 1024)) MiB | 1024 MiB |"
    echo "| open files | $fds | $fd_limit (broker's limit) |"
    echo "| memory maps | $maps | $map_limit (vm.max_map_count) |"
    echo "| limit errors in the broker log | $limit_errors | 0 |"
    echo
    echo "#### Recovery after kill -9 (7)"
    echo
    echo "| Data | spawn to \"listening\" | \`recovery complete\` elapsed_ms |"
    echo "|---|---:|---:|"
    for mib in "${recovery_sizes[@]}"; do
        echo "| $((mib / 1024)) GiB$( (( mib < 1024 )) && echo " ($mib MiB)") in 8 partitions | ${rec_listen[$mib]} ms | ${rec_log[$mib]} ms |"
    done
} >"$out"
cat "$out"
log "wrote $out"
