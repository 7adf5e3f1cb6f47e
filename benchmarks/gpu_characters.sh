#!/usr/bin/env bash
# The characters benchmarks on the GPU machine. Carry .whl (../shared/tools/device_wheels.py images) and
# data/characters.npz (benchmarks/characters_lowdata.py render). Usage: bash benchmarks/gpu_characters.sh VERB [ARGS]
set -euo pipefail
if compgen -G ".whl/*.whl" > /dev/null; then  # none needed where the packages are installed (a CPU check here)
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl
fi
source benchmarks/device_env.sh
export PYTHONPATH=$PYTHONPATH:/tmp/site NO_ALBUMENTATIONS_UPDATE=1
verb=$1; shift
case $verb in
  smoke)  # a few steps of everything, to catch a GPU-only fault before the long run
    python3 benchmarks/characters_lowdata.py run --data data/characters.npz --out /tmp/smoke --per-class 5 \
      --seed 0 --steps 100 --pretrain-steps 100 --classifier-steps 100 --factor 2 "$@" ;;
  lowdata)  # work in runs/ (kept on a warm machine between calls, so a later call resumes); at most 8
    # files come back from $OUT: the merged results, the log and seed 0's grids
    timeout "${BUDGET:-540}" python3 benchmarks/characters_lowdata.py run --data data/characters.npz \
      --out runs/lowdata "$@" || echo "stopped (rc $?): resumable"
    cat runs/lowdata/seed*/results.jsonl > "$OUT/results.jsonl"
    tail -n 40 runs/lowdata/seed*.log runs/lowdata/seed*.run.json > "$OUT/log.txt" || true
    for f in runs/lowdata/seed0-*/grid-*.png; do [ -e "$f" ] && cp "$f" "$OUT/"; done; true ;;
  probe)  # variants side by side: each argument is one quoted set of run options
    i=0; for variant in "$@"; do
      python3 benchmarks/characters_lowdata.py run --data data/characters.npz --out /tmp/probe$i --per-class 5 \
        --seed 0 --no-parallel $variant > /tmp/probe$i.log 2>&1 &
      i=$((i+1)); done; wait
    for j in $(seq 0 $((i-1))); do echo "== variant $j"; cat /tmp/probe$j/seed0/results.jsonl; done > "$OUT/probe.txt"
    for j in $(seq 0 $((i-1))); do tail -3 /tmp/probe$j.log; done
    python3 - "$i" <<'PY'
import sys
from PIL import Image
grids = [Image.open(p) for j in range(int(sys.argv[1])) for p in sorted(__import__("glob").glob(f"/tmp/probe{j}/seed0/grid-*.png"))]
w = sum(g.width for g in grids) + 10 * len(grids); canvas = Image.new("RGB", (w, max(g.height for g in grids)), "red"); x = 0
for g in grids: canvas.paste(g, (x, 0)); x += g.width + 10
canvas.save(__import__("os").environ["OUT"] + "/probe.png")
PY
    ;;
  round2)  # issue 24: tune on the validation fonts, then the table (benchmarks/characters_lowdata.py). Each
    # call works for BUDGET seconds (default 530), then returns the finished cells in $OUT/round2-state.tgz:
    # copy it to .runs/ here and carry it in the next call, so that a cold machine resumes from it too
    # (generator checkpoints survive only on a warm machine). "$@": options both verbs take (--per-class ...);
    # TUNE_ARGS: the tune verb's own (--ratios, --filters, --guidance).
    if [ -f .runs/round2-state.tgz ]; then tar xzf .runs/round2-state.tgz --skip-old-files; fi
    end=$((SECONDS + ${BUDGET:-530}))
    left() { echo $((end - SECONDS > 1 ? end - SECONDS : 1)); }  # never 0: timeout 0 would mean no limit
    export PYTHONUNBUFFERED=1 OMP_NUM_THREADS=${OMP_NUM_THREADS:-2}  # up to 8 processes share the 16 cores
    { timeout -k 30 "$(left)" python3 benchmarks/characters_lowdata.py tune --data data/characters.npz \
        --out runs/lowdata2/tuning "$@" ${TUNE_ARGS:-} \
      && timeout -k 30 "$(left)" python3 benchmarks/characters_lowdata.py run --data data/characters.npz \
        --out runs/lowdata2 --tuned runs/lowdata2/tuning/tuned.json \
        --pretrain-fonts benchmarks/results/raw/characters_pretrained_pool.json "$@" \
      && echo "round2: every cell done"; } || echo "round2: stopped (rc $?): call again to resume"
    # the -pre rows' generator is the one that ships (characters_pretrained.py): export it once trained
    if [ -f runs/lowdata2/pretrained/style-pre/model/config.json ]; then
      python3 benchmarks/characters_pretrained.py export --run runs/lowdata2/pretrained/style-pre \
        --tuned runs/lowdata2/tuning/tuned.json --out /tmp/shipped/pretrained && tar czf "$OUT/shipped.tgz" -C /tmp/shipped pretrained
    fi
    # what comes back: at most 8 files; the state holds the finished cells and the trained -pre generator
    { find runs/lowdata2 -name results.jsonl -o -name tuned.json; find runs/lowdata2/pretrained -path '*/model/*' -type f 2>/dev/null; } \
      | tar czf "$OUT/round2-state.tgz" -T -
    cat runs/lowdata2/seed*/results.jsonl > "$OUT/results.jsonl" 2>/dev/null || true
    cp runs/lowdata2/tuning/tuned.json "$OUT/" 2>/dev/null || true
    tail -n 15 runs/lowdata2/*.log runs/lowdata2/tuning/*.log > "$OUT/log.txt" 2>/dev/null || true
    find runs/lowdata2 -maxdepth 2 -name 'grid-*.png' -path '*seed0-*' | tar czf "$OUT/grids.tgz" -T - ;;
  speed)
    python3 benchmarks/characters_augment_speed.py --data data/characters.npz --out "$OUT/speed" "$@" ;;
esac
