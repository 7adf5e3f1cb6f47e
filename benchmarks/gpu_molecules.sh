#!/usr/bin/env bash
# The molecules benchmarks on the GPU machine, in two phases that each fit one 10-minute device command
# (the second must follow the first while the machine is still warm: it reads runs/moses).
# Carry .whl: wheels of rdkit/fcd/selfies, and in .whl/pkgs a slim molsets (the MOSES csv.gz files and
# the filter lists, read by path).   Usage: bash benchmarks/gpu_molecules.sh train|finish|latent|long1|long2|long3 [SECONDS [MINUTES]]
# Run it as `GENSDK_COMMIT=<hash of HEAD here> bash ...`: the machine's copy of .git can be older than the tree.
#   train   three models share the GPU: the transformer on 4 random SMILES of each molecule (SMILES
#           enumeration), the VAE with word dropout and free bits, the graph model; meanwhile the MOSES
#           reference statistics are built. Killed at SECONDS; checkpoints make finish resume it.
#   finish  resume what is unfinished; sample 30,000 of each model (the transformer at 3 temperatures),
#           MOSES metrics of each on the GPU, then the search benchmark (2 seeds) on the transformer
#           prior and the VAE's latent space. Everything stops by SECONDS and is packed into $OUT.
set -u
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl
source benchmarks/device_env.sh
export PYTHONPATH=$PYTHONPATH:/tmp/site:$PWD/.whl/pkgs PYTHONUNBUFFERED=1 GENSDK_CACHE=$PWD/runs/cache
B="python benchmarks/molecules_moses.py"
END=${2:-560}
left() { local x=$(( END - SECONDS - ${1:-0} )); echo $(( x > 1 ? x : 1 )); }  # seconds to the end, less $1
build_references() {  # the MOSES test and test-scaffolds statistics, cached under GENSDK_CACHE
  python -c "from gensdk_plugins.molecules.metrics import moses_reference as r; import time; t=time.time(); \
r('test'); r('test_scaffolds'); print('references built in', round(time.time()-t, 1), 's')" > $OUT/logs/refs.log 2>&1
}
TR=transformer-r4 TL=transformer-r4-long GRAPH="--options {\"hidden\":128,\"layers\":4}"
mkdir -p $OUT/logs runs/moses
nvidia-smi --query-gpu=name,memory.total --format=csv,noheader
case $1 in
  train)
    build_references &
    $B train --kind transformer --name $TR --minutes 9 --options '{"randomize": 4}' > $OUT/logs/$TR.log 2>&1 &
    $B train --kind vae --name vae-wd --minutes 6.5 --options '{"word_dropout": 0.25, "free_bits": 0.1}' \
      > $OUT/logs/vae-wd.log 2>&1 &
    $B train --kind graph --minutes 7 --options '{"hidden": 128, "layers": 4}' > $OUT/logs/graph.log 2>&1 &
    sleep $(left); pkill -f molecules_moses.py; sleep 3 ;;
  finish)
    for n in $TR vae-wd graph; do
      k=${n%%-*}
      [ -f runs/moses/$n/model/config.json ] || timeout $(left) $B train --kind $k --name $n --resume >> $OUT/logs/$n.log 2>&1 &
    done
    for n in vae-wd graph; do  # sample and score each of these two as soon as it is trained
      ( k=${n%%-*}; while [ ! -f runs/moses/$n/model/config.json ] && [ $(left) -gt 5 ]; do sleep 5; done
        timeout 150 $B sample --kind $k --name $n --n 30000 && timeout $(left) $B evaluate --kind $k --name $n ) >> $OUT/logs/$n.log 2>&1 &
    done
    while [ ! -f runs/moses/$TR/model/config.json ] && [ $(left) -gt 5 ]; do sleep 5; done
    for t in 1.0 1.1 1.2; do timeout 200 $B sample --kind transformer --name $TR --n 30000 --temperature $t >> $OUT/logs/$TR.log 2>&1; done
    timeout $(left) $B evaluate --kind transformer --name $TR >> $OUT/logs/$TR.log 2>&1  # alone: the GPU scoring time
    for s in 0 1; do for task in qed plogp mpo; do
      timeout $(left 15) python benchmarks/molecules_search.py --prior runs/moses/$TR/model --vae runs/moses/vae-wd/model \
        --budget 20000 --tasks $task --seed $s --workers 2 --out runs/moses/search/$task-s$s > $OUT/logs/search_$task-s$s.log 2>&1 &
    done; done
    for t in 1.1 1.2; do timeout $(left 15) $B evaluate --kind transformer --name $TR --temperature $t >> $OUT/logs/$TR.log 2>&1; done
    sleep $(left 12); pkill -f molecules_; sleep 2 ;;
  long1)  # round 3, three commands in a row on one warm machine: the randomized transformer alone on the GPU
    # for ${3:-12.5} minutes (killed at SECONDS, resumed by long2); the references and, once the transformer
    # trains, the graph model's training tensor are built on the CPU meanwhile
    build_references &
    $B train --kind transformer --name $TL --minutes ${3:-12.5} --options '{"randomize": 4}' > $OUT/logs/$TL.log 2>&1 &
    ( while [ ! -f runs/moses/$TL/plan.json ] && [ $(left) -gt 5 ]; do sleep 5; done
      $B train --kind graph --prepare-only $GRAPH ) > $OUT/logs/graph.log 2>&1 &
    sleep $(left); pkill -f molecules_moses.py; sleep 3 ;;
  long2)  # the transformer's last minutes, its samples and MOSES metrics; then REINVENT and random sampling on
    # it (2 seeds) while the graph model trains for ${3:-3} minutes beside them
    # (on 2026-12-03 the steps ran 17% slower than long1's probe, with the CPU work beside them, and this
    # timeout cut the resume 1,000 steps short: a third command finished it; give long1 more minutes)
    timeout $(left 60) $B train --kind transformer --name $TL --resume >> $OUT/logs/$TL.log 2>&1
    timeout 120 $B sample --kind transformer --name $TL --n 30000 >> $OUT/logs/$TL.log 2>&1
    timeout $(left) $B evaluate --kind transformer --name $TL >> $OUT/logs/$TL.log 2>&1  # alone: the GPU scoring time
    for s in 0 1; do for task in qed plogp mpo; do
      timeout $(left 8) python benchmarks/molecules_search.py --prior runs/moses/$TL/model --methods reinvent,random \
        --budget 20000 --tasks $task --seed $s --workers 2 --out runs/moses/search-r3/$task-s$s > $OUT/logs/search_$task-s$s.log 2>&1 &
    done; done
    timeout $(left 5) $B train --kind graph --minutes ${3:-3} $GRAPH >> $OUT/logs/graph.log 2>&1 &
    sleep $(left 3); pkill -f molecules_; sleep 2 ;;
  long3)  # the graph model: finish, sample 30,000, MOSES metrics
    [ -f runs/moses/graph/model/config.json ] || timeout $(left 90) $B train --kind graph --resume >> $OUT/logs/graph.log 2>&1
    timeout $(left 60) $B sample --kind graph --n 30000 >> $OUT/logs/graph.log 2>&1
    timeout $(left) $B evaluate --kind graph >> $OUT/logs/graph.log 2>&1 ;;
  latent)  # on a fresh machine: the VAE alone (same options, fewer minutes), then its latent search, 2 seeds
    timeout $(left 150) $B train --kind vae --name vae-wd --minutes ${3:-2.5} --options '{"word_dropout": 0.25, "free_bits": 0.1}' \
      > $OUT/logs/vae-wd.log 2>&1
    for s in 0 1; do for task in qed plogp mpo; do
      timeout $(left 10) python benchmarks/molecules_search.py --prior runs/moses/vae-wd/model --vae runs/moses/vae-wd/model \
        --methods latent --budget 20000 --tasks $task --seed $s --workers 2 --out runs/moses/search/$task-s$s \
        > $OUT/logs/search_$task-s$s.log 2>&1 &
    done; done; wait ;;
esac
for n in $TR $TL vae-wd graph; do tail -2 runs/moses/$n/log.jsonl 2>/dev/null; done
tar czf $OUT/results.tgz --exclude=checkpoint.pt --exclude=prepared.pt --exclude=model --exclude=cache runs/moses $OUT/logs 2>/dev/null
ls -la $OUT
