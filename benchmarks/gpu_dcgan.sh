#!/usr/bin/env bash
# DCGAN speed on a 2-GPU machine: 1 GPU with/without torch.compile, 2 GPUs data parallel (torchrun),
# fp32 for reference. Writes JSON records to $OUT (or ./benchmarks/results/raw/dcgan_speed).
set -euo pipefail
source benchmarks/device_env.sh
export NCCL_NVLS_ENABLE=0 TORCH_SYMM_MEM_DISABLE_MULTICAST=1 NVSHMEM_DISABLE_NVLS=1
out=${OUT:-benchmarks/results/raw/dcgan_speed}
S="--steps 1000 --log-every 100"
python3 benchmarks/dcgan_speed.py $S --json $out/dcgan_1gpu.json
python3 benchmarks/dcgan_speed.py $S --compile --json $out/dcgan_1gpu_compile.json
torchrun --standalone --nproc-per-node 2 benchmarks/dcgan_speed.py $S --json $out/dcgan_2gpu.json
torchrun --standalone --nproc-per-node 2 benchmarks/dcgan_speed.py $S --compile --json $out/dcgan_2gpu_compile.json
torchrun --standalone --nproc-per-node 2 benchmarks/dcgan_speed.py $S --compile --batch-size 128 --json $out/dcgan_2gpu_compile_b128.json
python3 benchmarks/dcgan_speed.py $S --compile --no-bf16 --json $out/dcgan_1gpu_compile_fp32.json
