#!/usr/bin/env bash
# The Ray benchmarks on the GPU machine (16 cores, one GPU, no network), each phase one 10-minute device command.
# ray's wheel (75.6 MiB) is over what a call carries (64 MiB): benchmarks/slim_ray_wheel.py makes a 37.7 MiB one.
#   here, once, in the repository root:
#     echo /.whl/ >> .git/info/exclude; echo /.whl2/ >> .git/info/exclude
#     python3 -m pip download --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
#         --platform manylinux2014_x86_64 -d /tmp/wheels ray==2.60.0
#     python3 benchmarks/slim_ray_wheel.py /tmp/wheels/ray-2.60.0-cp312-cp312-manylinux2014_x86_64.whl .whl
#     python3 ../shared/tools/device_wheels.py jsonschema pymfe --out .whl    # 6.7 MiB with their needs
#     python3 ../shared/tools/device_wheels.py rdkit --out .whl2              # 30.3 MiB
#   then, as `GENSDK_COMMIT=<HEAD here> bash benchmarks/gpu_ray.sh PHASE` (the machine's .git can be stale):
#     cpu     carry .whl: the family of 400 datasets, local vs Ray at 1, 2, 4 workers        (about 8 minutes)
#     cpu16   carry .whl: the family of 10,000 datasets, local vs Ray at 16 workers          (about 7 minutes)
#     gpu     carry .whl2, right after a phase above (ray stays in /tmp/site while the machine is warm; ray and
#             rdkit together are over 64 MiB): molecule sampling, one Ray actor on the GPU vs the direct sampler
set -eu
for wheels in .whl .whl2; do
  if compgen -G "$wheels/*.whl" > /dev/null; then
    python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site "$wheels"/*.whl
  fi
done
source benchmarks/device_env.sh
export PYTHONPATH=$PYTHONPATH:/tmp/site PYTHONUNBUFFERED=1
python3 -c "import ray" || { echo "ray is not installed: carry .whl (see the top of this script)"; exit 1; }
case $1 in
  cpu)   python3 benchmarks/ray_backend.py --n "${2:-400}" --workers 1 2 4 --tag gpu-host \
             --note "the GPU machine's CPU cores, a machine of its own" ;;
  cpu16) python3 benchmarks/ray_backend.py --n "${2:-10000}" --workers 16 --tag gpu-host-16 \
             --note "the GPU machine's 16 cores, a machine of its own" ;;
  gpu)   nvidia-smi --query-gpu=name,memory.total --format=csv,noheader
         python3 benchmarks/ray_gpu_sampling.py --n "${2:-200000}" ;;
  *)     echo "usage: bash benchmarks/gpu_ray.sh cpu|cpu16|gpu [N]"; exit 2 ;;
esac
cp benchmarks/results/ray_*.json benchmarks/results/ray_*.md "$OUT"/ 2>/dev/null || true
