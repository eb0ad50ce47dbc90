#!/usr/bin/env bash
# Runs the project's suites on the GPU host the `device` tool lends (no network there).
#
#   bash tools/gpu_host.sh PIECES_DIR OUT_DIR install|gpu|cpu [pytest args...]
#
# The pytest args replace the default selection (tests/gpu, or tests without tests/gpu) when
# they name tests (test ids or paths).
#
# PIECES_DIR holds the ../shared/gpu bundle's parts (make-bundle.sh); extra test wheels, if
# any, lie in $WHEELS (default /var/tmp/whl; a wheel split in parts as NAME.whl.part-NN). `gpu`
# runs tests/gpu and merges its records into OUT_DIR/gpu-<family>-<card>.json; `cpu` runs
# the CPU suite (what `nox -s tests` runs) on the host's processor. LIMIT (seconds) stops
# pytest with an interrupt, so its summary and the records written so far still come back.
set -uo pipefail
pieces=${1:?pieces dir}; out=${2:?out dir}; what=${3:?gpu or cpu}; shift 3
# The bundle's parts may arrive as the piece-K folders make-bundle.sh writes: install.sh wants
# them side by side.
if [ ! -e "$pieces/install.sh" ]; then
  for piece in "$pieces"/piece-*/; do [ -d "$piece" ] && cp -n "$piece"* "$pieces"/; done
fi
if [ ! -d /opt/maxgpu/max ]; then
  bash "$pieces/install.sh" "$pieces" /opt/maxgpu > "$out/install.log" 2>&1 || {
    tail -20 "$out/install.log"; exit 1; }
fi
site=/tmp/site wheels=${WHEELS:-/var/tmp/whl}
if [ -d "$wheels" ] && [ ! -d "$site" ]; then
  mkdir -p /tmp/wheels
  for first in "$wheels"/*.whl.part-00; do
    [ -e "$first" ] || continue
    name=$(basename "$first" .part-00)
    cat "$wheels/$name".part-* > "/tmp/wheels/$name"
  done
  cp "$wheels"/*.whl /tmp/wheels/ 2>/dev/null
  python3 -m pip install -q --no-index --no-deps --no-compile --target "$site" /tmp/wheels/*.whl
fi
# The default selection, unless an argument names tests itself.
selection() {
  local default=$1; shift
  for arg in "$@"; do case "$arg" in tests*) return ;; esac; done
  echo "$default"
}
export PYTHONPATH=/opt/maxgpu:$site:$PWD PYTHONUNBUFFERED=1
nvidia-smi --query-gpu=name --format=csv,noheader
lscpu | grep -E '^Model name|^CPU\(s\)'
case "$what" in
  install)
    exit 0
    ;;
  gpu)
    MAXFAM_GPU_RECORDS="$out/rec" timeout -s INT "${LIMIT:-3000}" python3 -m pytest -p no:cacheprovider $(selection tests/gpu "$@") -m gpu "$@" \
      > "$out/gpu.log" 2>&1
    rc=$?
    python3 tools/gpu_results.py merge "$out/rec" --commit "${COMMIT:-unknown}" \
      --command "bash tools/gpu_host.sh PIECES OUT gpu $*" --out-dir "$out"
    [ -d "$out/rec" ] && tar czf "$out/records.tgz" -C "$out" rec && rm -rf "$out/rec"
    ;;
  cpu)
    MAXFAM_DEVICE=cpu timeout -s INT "${LIMIT:-3000}" python3 -m pytest -p no:cacheprovider $(selection "tests --ignore=tests/gpu" "$@") "$@" \
      > "$out/cpu.log" 2>&1
    rc=$?
    ;;
esac
grep -E "^(FAILED|ERROR)|passed|failed" "$out/$what.log" | tail -40
exit $rc
