#!/usr/bin/env bash
# The GPU checks, as one script (docs/performance.md reports what it printed): the GPU preset's speed and
# every mixer's overhead, one GPU-preset run end to end, and CPT from a tiny GPT-2 checkpoint on CUDA.
# Run from the repository root on a machine with a GPU, the corpus data/default-x8 already built
# (python prepare.py --corpus default-x8 is what train.py --config config/gpu.py builds when it is missing).
# The MFU of the GPU preset and of the GPT-2 recipe from random init: bash experiments/gpu/gpu-mfu.sh
#   bash experiments/gpu/gpu-check.sh [LOG_FOLDER] [WORK_FOLDER]
set -uo pipefail
out=${1:-out/gpu-check}
work=${2:-out/gpu-check-work}
mkdir -p "$out" "$work"
export PYTHONUNBUFFERED=1
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv | tee "$out/device.txt"
python3 -c "import torch; print('torch', torch.__version__, torch.cuda.get_device_name(), 'bf16', torch.cuda.is_bf16_supported())" \
    | tee -a "$out/device.txt"

# 1. the GPU preset end to end: base pre-training (compiled, bf16; its console lines carry the MFU), CPT, evaluation
python3 train.py --config config/gpu.py 2>&1 | tee "$out/train-gpu-preset.txt"

# 2. every mixer's step time against static on the GPU preset's model (eager: each mixer's copy would compile apart)
python3 -m experiments.bench --config config/gpu.py --compile false --steps 20 --rounds 3 2>&1 | tee "$out/bench-gpu-preset.txt"

# 3. --init_from on CUDA: a tiny random GPT-2 in the Hugging Face layout, its tokenizer, a corpus, CPT with a mixer
python3 examples/tiny_inputs.py gpt2 "$work/tiny-gpt2"
python3 examples/tiny_inputs.py sources "$work/src"
python3 prepare.py --data_dir "$work/data" --corpus tiny-gpt2 --tokenizer "$work/tiny-gpt2" --val_permille 100 \
    --task arith --domain prose="$work/src/prose" --field prose=source --domain code="$work/src/code" \
    --field code=source --domain arith="$work/src/arith.jsonl" --field arith=target 2>&1 | tee "$out/init-from.txt"
python3 train.py --data_dir "$work/data" --corpus tiny-gpt2 --out_dir "$work/runs" --init_from "$work/tiny-gpt2" \
    --block_size 32 --batch_size 8 --steps 50 --eval_interval 25 --mixer bandit --device cuda --compile true \
    2>&1 | tee -a "$out/init-from.txt"
