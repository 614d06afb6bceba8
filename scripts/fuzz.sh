#!/usr/bin/env bash
# Builds the fuzz targets of fuzz/ on stable Rust and runs them.
#
#   scripts/fuzz.sh [--smoke] [--time SECONDS] [--cpu SECONDS] [--keep-going] [--asan] [--build-only] [TARGET...]
#
# Without TARGETs every target runs, one after the other, each for --time seconds (default 60),
# starting from the committed seeds (fuzz/seeds/TARGET) and the corpus it grew before
# (fuzz/corpus/TARGET, not in git); with --cpu, rounds of --time seconds are repeated until the
# target has used that much CPU time. Logs go to fuzz/logs/TARGET.log. --smoke runs each target
# for a few seconds from the seeds alone and keeps nothing: the CI check that the targets build
# and the seeds pass. Crashes, timeouts (10 s) and inputs that take over 2 GB land in
# fuzz/artifacts/TARGET/ and make the script fail (inputs found by earlier runs do not); a target
# stops at its first finding unless --keep-going (libFuzzer's fork mode, for long campaigns).
# Each target's CPU time, executions and last libFuzzer status line are printed.
# --asan (needs a nightly toolchain) adds AddressSanitizer.
#
# cargo-fuzz needs nightly for its -Zsanitizer flags; coverage instrumentation alone is a stable
# LLVM pass, so the flags cargo-fuzz would pass are given here directly.
set -euo pipefail
cd "$(dirname "$0")/../fuzz"

smoke=0 seconds=60 cpu_goal=0 keep_going=0 asan=0 build_only=0 targets=()
while (($#)); do
    case "$1" in
        --smoke) smoke=1; seconds=3 ;;
        --time) seconds="$2"; shift ;;
        --cpu) cpu_goal="$2"; shift ;;
        --keep-going) keep_going=1 ;;
        --asan) asan=1 ;;
        --build-only) build_only=1 ;;
        -*) echo "unknown option $1" >&2; exit 2 ;;
        *) targets+=("$1") ;;
    esac
    shift
done
if ((${#targets[@]} == 0)); then
    targets=(index_table bundle graph_def graph_text state_file meta_graph tensor_proto v1)
fi

host=$(rustc -vV | sed -n 's/^host: //p')
toolchain=() flags=(
    --cfg fuzzing -Cpasses=sancov-module -Cllvm-args=-sanitizer-coverage-level=4
    -Cllvm-args=-sanitizer-coverage-inline-8bit-counters -Cllvm-args=-sanitizer-coverage-pc-table
    -Cllvm-args=-sanitizer-coverage-trace-compares -Cdebug-assertions -Coverflow-checks
    -Cforce-frame-pointers=yes
)
if ((asan)); then
    toolchain=(+nightly)
    flags+=(-Zsanitizer=address)
fi
# Built apart from the main workspace's artifacts (other flags), but under the same target/.
export CARGO_TARGET_DIR="$PWD/../target/fuzz"
((asan)) && CARGO_TARGET_DIR+=-asan
# --target keeps the flags off build scripts, as cargo-fuzz does.
RUSTFLAGS="${flags[*]}" cargo "${toolchain[@]}" build --quiet --release --locked --target "$host" \
    $(printf -- '--bin %s ' "${targets[@]}")
((build_only)) && exit 0

# Targets that read files from disk write them here (tmpfs when there is one).
scratch=$(mktemp -d "$( [[ -d /dev/shm ]] && echo /dev/shm || echo "${TMPDIR:-/tmp}")/fastckpt-fuzz.XXXXXX")
trap 'rm -rf "$scratch"' EXIT

options=(-rss_limit_mb=2048 -timeout=10 -print_final_stats=1)
((keep_going)) && options+=(-fork=1 -ignore_crashes=1 -ignore_timeouts=1 -ignore_ooms=1)
TIMEFORMAT='%U %S'
failed=()
for target in "${targets[@]}"; do
    if ((smoke)); then
        corpus="$scratch/corpus-$target" log="$scratch/$target.log"
    else
        corpus="corpus/$target" log="logs/$target.log"
    fi
    mkdir -p "$corpus" "artifacts/$target" logs
    : >"$log"
    found_before=$(find "artifacts/$target" -type f | wc -l)
    cpu=0 runs=0 status=0
    # Rounds of --time seconds until the target has had --cpu seconds of CPU (one round without):
    # on a busy machine a niced fuzzer gets less CPU than wall time.
    while :; do
        # The CPU time of libFuzzer and its fork-mode children: "user system" seconds.
        { time TMPDIR="$scratch" "$CARGO_TARGET_DIR/$host/release/$target" "$corpus" "seeds/$target" \
            -max_total_time="$seconds" -artifact_prefix="artifacts/$target/" "${options[@]}" \
            >>"$log" 2>&1 || status=$?; } 2>"$scratch/$target.cpu"
        read -r user system <"$scratch/$target.cpu"
        cpu=$(awk "BEGIN { print $cpu + $user + $system }")
        # libFuzzer's last status line: "#<runs> DONE cov: <edges> ft: <features> ..." (fork mode:
        # "#<runs>: cov: ... oom/timeout/crash: ...").
        stats=$(grep -E '^#[0-9]+[:[:space:]].*cov: ' "$log" | tail -1 || true)
        runs=$((runs + $(sed -E 's/^#([0-9]+).*/\1/' <<<"${stats:-#0}")))
        if ((status != 0)) || awk "BEGIN { exit !($cpu >= $cpu_goal) }"; then
            break
        fi
    done
    printf '%-13s cpu %7.1fs  runs %10d  last: %s\n' "$target" "$cpu" "$runs" "${stats:-(none, exit $status)}"
    # Fork mode exits 0 after findings: what counts is the inputs this run added.
    if ((status != 0 || $(find "artifacts/$target" -type f | wc -l) > found_before)); then
        failed+=("$target")
        tail -40 "$log" >&2
    fi
done
if ((${#failed[@]})); then
    echo "fuzz targets with findings: ${failed[*]} (inputs in fuzz/artifacts/)" >&2
    exit 1
fi
