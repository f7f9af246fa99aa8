#!/usr/bin/env bash
# The GPU reference set: the default comparison on CUDA for jax, torch and torch-compile.
#
# Runs adbench from the working tree on a machine whose PyTorch and JAX are built for CUDA
# (no install there): array-api-compat, pure Python, comes from ./.device-vendor when the
# machine lacks it (pip install --no-deps --target .device-vendor array-api-compat).
# Writes results/reference/compare-cuda.csv (+ .json) and, first, a short smoke run so a
# broken device path shows in seconds rather than after the full run. Copies both to $OUT
# when it is set (the device tool's folder of files that come back).
#
#   LIMIT=420 bash tools/gpu_reference.sh      (SMOKE=0 skips the smoke run)
set -u
PYTHON=${PYTHON:-python3}
LIMIT=${LIMIT:-420}   # seconds for the full run; SIGTERM then keeps every finished case
DEVICE=${DEVICE:-cuda}
DEST=${DEST:-results/reference}
export PYTHONPATH=".:.device-vendor${PYTHONPATH:+:$PYTHONPATH}"

nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv || true
"$PYTHON" - <<'EOF'
import sys, torch, jax, array_api_compat
print("python", sys.version.split()[0], "| torch", torch.__version__, "cuda", torch.version.cuda,
      torch.cuda.is_available(), "| jax", jax.__version__, jax.devices(), "| array-api-compat",
      array_api_compat.__version__)
EOF

mkdir -p "$DEST"
if [ "${SMOKE:-1}" = 1 ]; then
    timeout -s TERM 120 "$PYTHON" -m adbench compare --quick --device "$DEVICE" --backends jax,torch,torch-compile \
        --problems basic,loss --output /tmp/adbench-smoke.csv
    echo "smoke exit $?"
fi

start=$(date +%s)
timeout -s TERM "$LIMIT" "$PYTHON" -m adbench compare --device "$DEVICE" --backends jax,torch,torch-compile \
    --timeout 120 --output "$DEST/compare-$DEVICE.csv"
echo "full run exit $? after $(( $(date +%s) - start )) s"

if [ -n "${OUT:-}" ]; then
    cp /tmp/adbench-smoke.csv /tmp/adbench-smoke.json "$DEST/compare-$DEVICE.csv" "$DEST/compare-$DEVICE.json" "$OUT"/ 2>/dev/null
    ls -l "$OUT"
fi
