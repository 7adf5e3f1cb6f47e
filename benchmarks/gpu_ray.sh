#!/usr/bin/env bash
# The Ray benchmarks on the GPU machine (16 cores, one GPU, no network), each phase one 10-minute device command.
# ray's wheel (75.6 MiB) is over what a call carries (64 MiB with the tree, itself about 20 MiB):
# benchmarks/slim_ray_wheel.py makes a 37.7 MiB one. Made here, once, in the repository root (each folder
# git-ignored through .git/info/exclude):
#     python3 -m pip download --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
#         --platform manylinux2014_x86_64 -d /tmp/wheels ray==2.60.0
#     python3 benchmarks/slim_ray_wheel.py /tmp/wheels/ray-2.60.0-cp312-cp312-manylinux2014_x86_64.whl .whl-ray
#     python3 ../shared/tools/device_wheels.py jsonschema --out .whl-js        # ray needs it: 0.5 MiB
#     python3 ../shared/tools/device_wheels.py pymfe --out .whl-mfe            # 5.7 MiB
#     python3 ../shared/tools/device_wheels.py rdkit --out .whl-rdkit          # 30.3 MiB
# Each call installs the wheel folders named in WHEELS into /tmp/site, which stays while the machine is warm;
# ray with pymfe or with rdkit is over the limit, so the order is (GENSDK_COMMIT=<HEAD here>: the machine's
# .git can be stale):
#     WHEELS=.whl-mfe bash benchmarks/gpu_ray.sh install                   carry .whl-mfe
#     WHEELS=".whl-ray .whl-js" bash benchmarks/gpu_ray.sh cpu [N]         carry .whl-ray .whl-js: local vs Ray at
#                                                                          1, 2, 4 workers (N=600: about 7 min)
#     bash benchmarks/gpu_ray.sh cpu16 [N]                                 the 10,000-dataset family, 16 workers
#     WHEELS=.whl-rdkit bash benchmarks/gpu_ray.sh gpu [N]                 carry .whl-rdkit: molecule sampling, one
#                                                                          Ray actor on the GPU vs the direct sampler
set -eu
for wheels in ${WHEELS:-}; do
  if compgen -G "$wheels/*.whl" > /dev/null; then
    python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site "$wheels"/*.whl
  fi
done
source benchmarks/device_env.sh
export PYTHONPATH=$PYTHONPATH:/tmp/site PYTHONUNBUFFERED=1
[ "$1" = install ] || python3 -c "import ray" || { echo "ray is not installed (see the top of this script)"; exit 1; }
case $1 in
  cpu)   result=ray_backend-gpu-host
         python3 benchmarks/ray_backend.py --n "${2:-600}" --workers 1 2 4 --tag gpu-host \
             --note "the GPU machine's CPU cores, a machine of its own" ;;
  cpu16) result=ray_backend-gpu-host-16
         python3 benchmarks/ray_backend.py --n "${2:-10000}" --workers 16 --tag gpu-host-16 \
             --note "the GPU machine's 16 cores, a machine of its own" ;;
  gpu)   result=ray_gpu_sampling
         nvidia-smi --query-gpu=name,memory.total --format=csv,noheader
         python3 benchmarks/ray_gpu_sampling.py --n "${2:-200000}" ;;
  install) ;;
  *)     echo "usage: bash benchmarks/gpu_ray.sh install|cpu|cpu16|gpu [N]"; exit 2 ;;
esac
[ -z "${result:-}" ] || cp "benchmarks/results/raw/$result.json" "benchmarks/results/$result.md" "$OUT"/
