#!/usr/bin/env bash
# MFU on one GPU, as one command: (1) the GPU preset's model and (2) the GPT-2 recipe (config/gpt2.py), both
# from random initialisation for a few hundred steps; train.py's console line every 25 steps carries tokens/s
# and MFU (wall time, evaluations included: read the windows without one). docs/performance.md reports it.
# Run from the repository root on a machine with a GPU:
#   bash experiments/gpu/gpu-mfu.sh [LOG_FOLDER] [WORK_FOLDER]
# (1) uses data/default-x8 (train.py builds it when missing; build it beforehand on a CPU to save GPU time).
# (2) needs no download: a GPT-2 small of the real shape (12 layers, 12 heads, 768 wide, 1024 positions,
# vocab 50257) with random weights, written by transformers next to a tiny tokenizer's vocab.json/merges.txt
# (the tests' tiny GPT-2 tokenizer: the corpus uses ids below 271, the model computes all 50257 logits, so
# the FLOPs are GPT-2's). EXTRA (environment) is appended to both train.py commands, e.g. for a CPU smoke test:
#   PARTS=gpt2 STEPS=4 EXTRA="--device cpu --compile false --batch_size 4 --grad_accum 1 --block_size 64" \
#       bash experiments/gpu/gpu-mfu.sh
set -euo pipefail
out=${1:-out/gpu-mfu}
work=${2:-out/gpu-mfu-work}
steps=${STEPS:-300}           # steps of each measurement
parts=${PARTS:-"preset gpt2"}  # which measurements
mkdir -p "$out" "$work"
export PYTHONUNBUFFERED=1
python3 -c "import torch; print('torch', torch.__version__, torch.cuda.get_device_name() if torch.cuda.is_available() else 'no CUDA')" \
    | tee "$out/device.txt"

# 1. the GPU preset: base pre-training from random init is the measurement (CPT is one step)
if [[ " $parts " == *" preset "* ]]; then
    python3 train.py --config config/gpu.py --base_steps "$steps" --base_eval_interval "$steps" --steps 1 \
        --log_interval 25 --out_dir "$work/runs" ${EXTRA:-} 2>&1 | tee "$out/mfu-gpu-preset.txt"
fi
if [[ " $parts " != *" gpt2 "* ]]; then exit 0; fi

# 2. the GPT-2 recipe: a random GPT-2 small in the Hugging Face layout, a corpus tokenized by its tokenizer,
#    CPT with config/gpt2.py (the static mixer: the loop's cost alone)
python3 - "$work" <<'EOF'
import os, sys
sys.path.insert(0, "examples")
import torch, transformers
from tiny_inputs import write_tiny_gpt2, write_tiny_sources
work = sys.argv[1]
folder = os.path.join(work, "gpt2-random")
if not os.path.exists(os.path.join(folder, "model.safetensors")) or os.path.getsize(os.path.join(folder, "model.safetensors")) < 1e8:
    write_tiny_gpt2(folder)  # the tokenizer files; the tiny model is replaced below
    torch.manual_seed(0)
    config = transformers.GPT2Config(eos_token_id=270, bos_token_id=270)  # GPT-2 small: 12 x 768, 1024 positions, vocab 50257
    transformers.GPT2LMHeadModel(config).save_pretrained(folder)
if not os.path.exists(os.path.join(work, "src")):
    write_tiny_sources(os.path.join(work, "src"), scale=10)
EOF
if [ ! -d "$work/data/gpt2-mfu" ]; then
    python3 prepare.py --data_dir "$work/data" --corpus gpt2-mfu --tokenizer "$work/gpt2-random" --val_permille 100 \
        --task arith --domain prose="$work/src/prose" --field prose=source --domain code="$work/src/code" \
        --field code=source --domain arith="$work/src/arith.jsonl" --field arith=target 2>&1 | tee "$out/prepare-gpt2.txt"
fi
python3 train.py --config config/gpt2.py --init_from "$work/gpt2-random" --data_dir "$work/data" --corpus gpt2-mfu \
    --out_dir "$work/runs" --steps "$steps" --eval_interval 100 --mix_interval 100 --log_interval 25 \
    --task_problems 50 ${EXTRA:-} 2>&1 | tee "$out/mfu-gpt2-recipe.txt"
grep -h "mfu\|MFU" "$out"/mfu-*.txt | tail -n 30
