#!/usr/bin/env bash
# fuzzing_gpu.py on the device machine across two commands (10 minutes at most each); the machine
# stays warm between them, so the background job and /tmp carry over.
#   bash benchmarks/fuzzing_gpu_session.sh start WATCH_S [fuzzing_gpu.py ARGS...]   launch, watch WATCH_S seconds
#   bash benchmarks/fuzzing_gpu_session.sh finish WATCH_S                          watch until done
# Each command copies what the job has written so far to $OUT.
set -u
phase=$1 watch_s=$2
shift 2
job=/tmp/fuzzing_gpu
[ -d /tmp/site ] || python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --target /tmp/site .whl/*.whl
source benchmarks/device_env.sh
export PYTHONPATH=$PYTHONPATH:/tmp/site PYTHONUNBUFFERED=1
if [ "$phase" = start ]; then
    nvidia-smi --query-gpu=name,memory.total --format=csv,noheader
    rm -rf $job && mkdir -p $job/out
    setsid nohup python3 benchmarks/fuzzing_gpu.py --out $job/out "$@" > $job/run.log 2>&1 < /dev/null &
fi
end=$((SECONDS + watch_s))
while [ $SECONDS -lt $end ] && [ ! -f $job/out/DONE ] && pgrep -f benchmarks/fuzzing_gpu.py > /dev/null; do sleep 5; done
grep -v Warning $job/run.log | tail -n 30
cp $job/run.log $job/out/bundle.tar.gz $job/out/weights* $job/out/fuzzing_gpu.json "${OUT:-/tmp/fuzzing_gpu_copy}"/ 2>/dev/null
ls $job/out
