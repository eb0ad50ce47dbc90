#!/usr/bin/env bash
# One device lease's GPU work, started in the background so it outlives the `device` call that
# starts it; later calls poll it and collect what it wrote. Runs on the GPU host.
#
#   COMMIT=sha bash tools/gpu_lease.sh start PIECES_DIR   # install MAX, copy the tree, start
#   bash tools/gpu_lease.sh poll                          # progress of every job
#   bash tools/gpu_lease.sh collect OUT_DIR               # OUT_DIR/lease.tgz: logs, records
#   bash tools/gpu_lease.sh stop                          # interrupt the jobs
#
# The device tool gives the machine back 30 s after a call ends and the next starts bare:
# send the calls back to back (poll with `sleep N; bash tools/gpu_lease.sh poll`) and collect
# in the call that ends the lease.
#
# Jobs (each optional but the first):
#   listed   the GPU suite as the repository lists encodings (tools/gpu_host.sh gpu), on GPU 0;
#            SUITE_ENCODINGS (default float32,float16), SUITE_FIRST: space-separated patterns,
#            tests matching the first go first, and so on (the rest keep pytest's order);
#            SUITE_WORKERS (default 12); SUITE_K, a pytest -k expression, narrows it.
#            At d5d6aee one test process held 128 of the card's 140 GB and the tests beside it
#            ran out of memory; which test is not known (graph capture, which pre-backs memory
#            for the KV cache, is the suspect), so run the capture tests apart:
#            SUITE_K='not capture' here, then the capture tests alone.
#   explore  EXPLORE_K (a pytest -k expression) on a copy listing every float encoding
#            (tools/explore_copy.py), with EXPLORE_ENCODINGS, EXPLORE_WORKERS (default 4), GPU 0.
#   bench    BENCH_ARGS (tools/bench.py's arguments, --out excepted; several lists separated by
#            ';' run one after the other, bench-gpu-K.json; an entry starting with tools/ runs
#            that script, e.g. tools/step_profile.py, with the same --out), alone on GPU 1 and on
#            cores 0-7, with the suite on the other cores, so it times a quiet card; needs two GPUs.
#            With CAPTURE_K (a pytest -k expression) those GPU tests run there first, one at a
#            time (CAPTURE_LIMIT seconds, default 600), then the bench. BENCH_IN=explore runs
#            the bench in the copy listing every float encoding (bfloat16 figures).
#   serial   SERIAL_K (a pytest -k expression): those GPU tests one at a time on GPU 2 (needs three
#            GPUs), for tests that each hold most of a card (`max serve` with graph capture on
#            held 115-128 GB at every GPT-2 size); exclude them from SUITE_K. With four GPUs
#            CAPTURE_K's tests run on GPU 3 beside the bench instead of before it.
#   repro    REPRO_RUNS: ';'-separated argument lists for tools/max_llama_repro.py (MAX's own
#            Llama against HF, no project code), two at a time on GPU 0, after a 60 s wait.
# LIMIT (seconds, default 1200) stops every job with an interrupt; what it finished comes back.
set -uo pipefail
verb=${1:?start, poll, collect or stop}
work=/var/tmp/lease

ordered_tests() {  # the suite's test ids, SUITE_FIRST's patterns first
  MAXFAM_GPU_ENCODINGS=$SUITE_ENCODINGS python3 -m pytest -p no:cacheprovider tests/gpu -m gpu \
    ${SUITE_K:+-k "$SUITE_K"} --collect-only -q 2>/dev/null | grep '::' | python3 -c '
import re, sys
ids = sys.stdin.read().split()
first = sys.argv[1:]
rank = lambda t: next((i for i, p in enumerate(first) if re.search(p, t)), len(first))
print("\n".join(sorted(ids, key=rank)))' ${SUITE_FIRST:-}
}

case "$verb" in
  start)
    pieces=${2:?pieces dir}
    mkdir -p "$work/out/listed" "$work/out/explore" "$work/out/bench" "$work/out/repro"
    bash tools/gpu_host.sh "$pieces" "$work/out" install || exit 1
    rm -rf "$work/repo" "$work/explore"
    mkdir -p "$work/repo"
    tar --exclude=./.gpu --exclude=./.whl --exclude=./.venv -cf - . | tar -xf - -C "$work/repo"
    cd "$work/repo" || exit 1
    export PYTHONPATH=/opt/maxgpu:$PWD
    gpus=$(nvidia-smi -L | wc -l) last=$(($(nproc) - 1))
    suite_cpus=0-$last
    if [ -n "${EXPLORE_K:-}" ] || [ "${BENCH_IN:-repo}" = explore ]; then
      python3 tools/explore_copy.py "$work/explore" > "$work/out/explore/listing.txt"
    fi
    if [ -n "${BENCH_ARGS:-}" ] && [ "$gpus" -ge 2 ]; then
      suite_cpus=8-$last
      # CAPTURE_K (a pytest -k expression): those tests first, one at a time (a capture process
      # holds ~127 GB), alone on GPU 1, then the bench; BENCH_IN=explore benches the copy
      # listing every float encoding (bfloat16 figures for what is not listed yet).
      capture=":"
      if [ -n "${CAPTURE_K:-}" ]; then
        mkdir -p "$work/out/capture"
        capture="MAXFAM_GPU_ENCODINGS=float32 LIMIT=${CAPTURE_LIMIT:-600} bash tools/gpu_host.sh"
        capture+=" $pieces $work/out/capture gpu -n 1 -v -k '$CAPTURE_K'"
        capture+=" > $work/out/capture/host.log 2>&1"
        if [ "$gpus" -ge 4 ]; then
          CUDA_VISIBLE_DEVICES=3 LIMIT=${LIMIT:-1200} setsid nohup bash -c "$capture" \
            < /dev/null > /dev/null 2>&1 &
          capture=":"
        fi
      fi
      bench_dir=$work/repo
      [ "${BENCH_IN:-repo}" = explore ] && bench_dir=$work/explore
      # BENCH_ARGS may hold several ';'-separated argument lists, run one after the other
      # (bench-gpu-K.json, bench-K.log, K from 1).
      echo "$BENCH_ARGS" | tr ';' '\n' | grep . > "$work/out/bench/runs.txt"
      # An entry naming a script (tools/step_profile.py ...) runs that script instead.
      benches="cd $bench_dir; k=0; while read -r args; do k=\$((k + 1)); tool=tools/bench.py;"
      benches+=" case \$args in tools/*) tool= ;; esac; python3 \$tool"
      benches+=" \$args --out $work/out/bench/bench-gpu-\$k.json"
      benches+=" > $work/out/bench/bench-\$k.log 2>&1; done < $work/out/bench/runs.txt"
      CUDA_VISIBLE_DEVICES=1 COMMIT=${COMMIT:-unknown} setsid nohup timeout -s INT \
        "${LIMIT:-1200}" taskset -c 0-7 bash -c "$capture; $benches" \
        < /dev/null > /dev/null 2>&1 &
    fi
    SUITE_ENCODINGS=${SUITE_ENCODINGS:-float32,float16}
    tests=$(ordered_tests)
    MAXFAM_GPU_ENCODINGS=$SUITE_ENCODINGS CUDA_VISIBLE_DEVICES=0 LIMIT=${LIMIT:-1200} \
      setsid nohup taskset -c "$suite_cpus" bash tools/gpu_host.sh "$pieces" "$work/out/listed" \
      gpu -n "${SUITE_WORKERS:-12}" -v $tests > "$work/out/listed/host.log" 2>&1 < /dev/null &
    if [ -n "${EXPLORE_K:-}" ]; then
      cd "$work/explore" || exit 1
      MAXFAM_GPU_ENCODINGS=${EXPLORE_ENCODINGS:-float16} CUDA_VISIBLE_DEVICES=0 \
        LIMIT=${LIMIT:-1200} setsid nohup taskset -c "$suite_cpus" bash tools/gpu_host.sh \
        "$pieces" "$work/out/explore" gpu -n "${EXPLORE_WORKERS:-4}" -v -k "$EXPLORE_K" \
        > "$work/out/explore/host.log" 2>&1 < /dev/null &
    fi
    if [ -n "${SERIAL_K:-}" ] && [ "$gpus" -ge 3 ]; then
      cd "$work/repo" || exit 1
      mkdir -p "$work/out/serial"
      MAXFAM_GPU_ENCODINGS=$SUITE_ENCODINGS CUDA_VISIBLE_DEVICES=2 LIMIT=${LIMIT:-1200} \
        setsid nohup bash tools/gpu_host.sh "$pieces" "$work/out/serial" gpu -n 1 -v \
        -k "$SERIAL_K" > "$work/out/serial/host.log" 2>&1 < /dev/null &
    fi
    if [ -n "${REPRO_RUNS:-}" ]; then
      cd "$work/repo" || exit 1
      echo "$REPRO_RUNS" | tr ';' '\n' | grep . > "$work/out/repro/runs.txt"
      CUDA_VISIBLE_DEVICES=0 setsid nohup timeout -s INT "${LIMIT:-1200}" bash -c "sleep 60;
        xargs -P 2 -I{} sh -c 'python3 tools/max_llama_repro.py {} >> $work/out/repro/repro.log 2>&1' \
        < $work/out/repro/runs.txt" > /dev/null 2>&1 < /dev/null &
    fi
    sleep 5
    echo "started: $(echo "$tests" | wc -l) listed tests; explore: ${EXPLORE_K:-none};" \
      "bench: ${BENCH_ARGS:-none} ($gpus GPUs, suite on cores $suite_cpus)"
    ;;
  poll)
    for job in listed explore serial capture; do
      log=$work/out/$job/gpu.log
      [ -f "$log" ] || continue
      echo "$job: $(ls "$work/out/$job/rec" 2>/dev/null | wc -l) records;" \
        "$(grep -cE 'PASSED|FAILED' "$log") reported; last: $(tail -c 300 "$log" | tr '\n' ' ')"
    done
    [ -f "$work/out/repro/repro.log" ] && echo "repro: $(grep -c REPRO "$work/out/repro/repro.log") done"
    ls "$work"/out/bench/bench-*.log > /dev/null 2>&1 &&
      grep -hE "batch|wrote|Error" "$work"/out/bench/bench-*.log | cut -c1-160 | tail -6
    nvidia-smi --query-gpu=index,memory.used,utilization.gpu --format=csv,noheader
    uptime
    ;;
  collect)
    # One archive: the device tool brings back only a few files per call.
    out=${2:?out dir}
    tar czf "$out/lease.tgz" -C "$work/out" --exclude=install.log .
    ls -l "$out"
    ;;
  stop)
    # Interrupts the jobs (pytest prints its summary; records stay). Matches by the jobs'
    # own command lines, never this script's.
    pkill -INT -f "python3 -m pytest -p no:cacheprovider" ; pkill -INT -f "tools/bench.py"
    pkill -INT -f "tools/max_llama_repro.py"
    sleep 10
    ;;
esac
