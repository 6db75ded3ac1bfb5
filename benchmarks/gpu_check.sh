#!/usr/bin/env bash
# GPU check of the Triton kernels and the benchmarks, in under 10 minutes on one CUDA GPU.
#
#   benchmarks/gpu_check.sh [OUT_DIR]        (default: runs/gpu-check-<date>)
#
# Steps (each with its own time limit, all within a total budget of GPU_CHECK_BUDGET seconds,
# default 570; a failed or timed-out step is logged and the next one still runs):
#   1. versions and device (fails fast without a CUDA device);
#   2. the Triton kernel tests compiled natively on the GPU (TRITON_INTERPRET unset);
#   3. the Open Neuromorphic workload (Linear+LIF, B=16, T=500, N=16384, forward+backward, peak
#      memory): snnlearn[triton], snnlearn[torch] and the installed peers, float32 then bfloat16;
#   4. `snnlearn bench --device cuda` on the BENCHMARKS.md GPU shapes against the installed peers
#      (snnlearn's default backend, "auto" = triton on CUDA);
#      and `snnlearn bench --device cuda --workloads rules` (every gradient rule's epoch);
#   5. the same for snnlearn alone with SNNLEARN_KERNELS=torch (the plain torch loops), for the
#      triton/torch ratio.
# Tables and logs go to OUT_DIR (summary.md gathers them); exit status 1 if any step failed.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
OUT="${1:-$ROOT/runs/gpu-check-$(date +%Y%m%d-%H%M%S)}"
BUDGET="${GPU_CHECK_BUDGET:-570}"
PY="${PYTHON:-python}"
mkdir -p "$OUT"
OUT="$(cd "$OUT" && pwd)"
export PYTHONPATH="$ROOT/src${PYTHONPATH:+:$PYTHONPATH}"
unset TRITON_INTERPRET
cd "$ROOT"
FAILED=()

log() { echo "[gpu_check $(date +%T) +${SECONDS}s] $*" | tee -a "$OUT/log.txt" >&2; }

# step NAME LIMIT_S CMD...: run CMD with output in OUT/NAME.log, killed after
# min(LIMIT_S, what is left of the budget) seconds.
step() {
  local name="$1" limit="$2" left rc
  shift 2
  left=$((BUDGET - SECONDS - 5))
  if ((left < 20)); then
    log "SKIPPED $name: budget of ${BUDGET}s spent"
    FAILED+=("$name (skipped)")
    return 0
  fi
  ((limit > left)) && limit=$left
  log "start $name (limit ${limit}s)"
  if timeout --kill-after=10 "$limit" "$@" >"$OUT/$name.log" 2>&1; then
    log "ok $name"
  else
    rc=$?
    log "FAILED $name (exit $rc; 124 = timed out); tail of $OUT/$name.log:"
    tail -n 15 "$OUT/$name.log" | tee -a "$OUT/log.txt" >&2 || true
    FAILED+=("$name")
  fi
}

# 1. versions and device
step versions 60 "$PY" - <<'EOF'
import importlib.metadata as md
import platform
import sys

import torch

print("python", sys.version.split()[0], platform.platform())
print("torch", torch.__version__, "cuda", torch.version.cuda,
      "cudnn", torch.backends.cudnn.version())
for name in ("triton", "numba", "snntorch", "norse", "spikingjelly", "cupy", "cupy-cuda12x"):
    try:
        print(name, md.version(name))
    except md.PackageNotFoundError:
        print(name, "not installed")
if not torch.cuda.is_available():
    sys.exit("no CUDA device visible to torch")
for k in range(torch.cuda.device_count()):
    p = torch.cuda.get_device_properties(k)
    print(f"cuda:{k}", p.name, f"{p.total_memory / 2**30:.0f} GiB", f"sm_{p.major}{p.minor}",
          p.multi_processor_count, "SMs")
from snnlearn.kernels.dispatch import resolve_backend
print("auto backend on cuda:", resolve_backend("auto", torch.zeros(1, device="cuda")))
EOF
cat "$OUT/versions.log" >&2
if ! grep -q '^cuda:0' "$OUT/versions.log"; then
  log "no CUDA device: stopping"
  exit 2
fi
command -v nvidia-smi >/dev/null && nvidia-smi >"$OUT/nvidia-smi.txt" 2>&1 || true

# 2. the Triton kernel tests, compiled on the GPU
step tests 150 "$PY" -m pytest -q -x -p no:cacheprovider tests/kernels/test_triton.py \
  tests/kernels/test_dispatch.py

# 3. the Open Neuromorphic workload, one step per dtype (records written as they are made)
for dtype in float32 bfloat16; do
  step "open_neuromorphic_$dtype" 150 "$PY" - "$OUT/open_neuromorphic.jsonl" "$dtype" <<'EOF'
import json
import sys

import torch

from snnlearn.bench.open_neuromorphic import run_open_neuromorphic

path, dtype = sys.argv[1], getattr(torch, sys.argv[2])


def write(record):
    print(json.dumps(record), flush=True)
    with open(path, "a") as f:
        f.write(json.dumps(record) + "\n")


run_open_neuromorphic(backends=("triton", "torch"), device="cuda", dtype=dtype, repeats=5,
                      warmup=2, on_record=write)
EOF
done
if [[ -s "$OUT/open_neuromorphic.jsonl" ]]; then
  "$PY" - "$OUT/open_neuromorphic.jsonl" >"$OUT/open_neuromorphic.md" <<'EOF' || true
import json
import sys

from snnlearn.bench.open_neuromorphic import on_markdown

records = [json.loads(line) for line in open(sys.argv[1]) if line.strip()]
print("# Open Neuromorphic workload (Linear + LIF, forward + backward)\n")
print(on_markdown(records))
EOF
fi

# 4. the BENCHMARKS.md GPU shapes against the installed peers (snnlearn: default backend), and
#    the per-rule table (seconds per epoch of every gradient rule, SHD-shaped network)
step bench_triton 240 "$PY" -m snnlearn bench --device cuda --repeats 10 \
  --out "$OUT/bench-triton"
step bench_rules 120 "$PY" -m snnlearn bench --device cuda --workloads rules --peers '' \
  --out "$OUT/bench-rules"

# 5. snnlearn alone with the plain torch loops
step bench_torch 120 env SNNLEARN_KERNELS=torch "$PY" -m snnlearn bench --device cuda \
  --peers '' --repeats 5 --out "$OUT/bench-torch"

{
  echo "# GPU check ($(date -Iseconds), ${SECONDS}s)"
  echo
  echo '```'
  cat "$OUT/versions.log"
  echo '```'
  echo
  echo "## Triton kernel tests (native)"
  echo
  echo '```'
  tail -n 5 "$OUT/tests.log" 2>/dev/null || echo "no test log"
  echo '```'
  echo
  cat "$OUT/open_neuromorphic.md" 2>/dev/null || echo "(no Open Neuromorphic table)"
  echo
  for b in bench-triton bench-torch bench-rules; do
    echo "## $b"
    echo
    sed '1,/^$/d' "$OUT/$b/bench.md" 2>/dev/null || echo "(no table: see $b log)"
    echo
  done
  echo "Failed steps: ${FAILED[*]:-none}"
} >"$OUT/summary.md"
log "done: $OUT/summary.md; failed steps: ${FAILED[*]:-none}"
((${#FAILED[@]} == 0))
