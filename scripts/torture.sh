#!/usr/bin/env bash
# Long crash-loss torture runs: scripts/torture.sh --cycles N --seed S [--acks all|1] [...]
# Builds release binaries, then runs the harness (see torture/src/lib.rs).
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release -q -p runnel-broker -p runnel-torture
RUNNEL_BROKER_BIN="$PWD/target/release/runnel-broker" exec target/release/runnel-torture "$@"
