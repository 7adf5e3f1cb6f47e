#!/usr/bin/env bash
# The molecules benchmarks on the GPU machine, in phases that each fit one 10-minute device command.
# Carry .whl (wheels of rdkit/fcd/selfies, a slim molsets with the MOSES files in .whl/pkgs, and
# earlier samples in .whl/samples). Usage: bash benchmarks/gpu_molecules.sh train|resume|finish|search
set -u
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl
export PYTHONPATH=$PWD:/tmp/site:$PWD/.whl/pkgs PYTHONUNBUFFERED=1
B="python benchmarks/molecules_moses.py"
KINDS="char-rnn vae graph"
mkdir -p $OUT/logs
case $1 in
  train)   # three models share the GPU; each plan fills its minutes at the speed its probe saw
    $B train --kind char-rnn --minutes 14 > $OUT/logs/char-rnn.log 2>&1 &
    $B train --kind vae --minutes 14 > $OUT/logs/vae.log 2>&1 &
    $B train --kind graph --minutes 11 --options '{"hidden": 128, "layers": 4}' > $OUT/logs/graph.log 2>&1 &
    sleep ${2:-560}; pkill -f molecules_moses.py; sleep 5 ;;
  resume)
    for k in $KINDS; do [ -f runs/moses/$k/model/config.json ] || $B train --kind $k --resume >> $OUT/logs/$k.log 2>&1 & done
    sleep ${2:-560}; pkill -f molecules_moses.py; sleep 5 ;;
  finish)  # save the trained models, search in the background, 30,000 samples each, MOSES metrics of all four
    for k in $KINDS; do [ -f runs/moses/$k/model/config.json ] || timeout 150 $B train --kind $k --resume >> $OUT/logs/$k.log 2>&1 & done; wait
    for t in qed plogp mpo; do timeout ${2:-420} python benchmarks/molecules_search.py --prior runs/moses/char-rnn/model \
      --vae runs/moses/vae/model --budget 20000 --tasks $t --out runs/moses/search/$t > $OUT/logs/search_$t.log 2>&1 & done
    mkdir -p runs/moses/transformer; cp .whl/samples/transformer.smi.gz runs/moses/transformer/samples.smi.gz
    for k in $KINDS; do timeout 60 $B sample --kind $k --n 30000 >> $OUT/logs/$k.log 2>&1; done
    for k in transformer $KINDS; do timeout 100 $B evaluate --kind $k >> $OUT/logs/$k.log 2>&1; done
    mkdir -p $OUT/w; for k in char-rnn vae graph; do python benchmarks/weight_shards.py split runs/moses/$k/model $OUT/w $k; done
    mv $OUT/w/*.config.json runs/moses/; wait ;;
  search)
    timeout ${2:-500} python benchmarks/molecules_search.py --prior runs/moses/char-rnn/model --vae runs/moses/vae/model \
      --budget 20000 --out runs/moses/search > $OUT/logs/search.log 2>&1 ;;
esac
for k in $KINDS; do tail -3 runs/moses/$k/log.jsonl 2>/dev/null; done
tar czf $OUT/results.tgz --exclude=checkpoint.pt --exclude=prepared.pt --exclude=model runs/moses $OUT/logs 2>/dev/null
ls -la $OUT
