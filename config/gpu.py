# The GPU preset: a GPT-2-small-class model (12 layers, 12 heads, 768 wide, ~88M parameters without
# embeddings), bf16 autocast and torch.compile on one modern GPU. Measured on one H200 (docs/performance.md):
# the whole first run (base + CPT + evaluation) in about 2.5 minutes once data/default-x8 exists.
#   python train.py --config config/gpu.py
n_layer = 12
n_head = 12
n_embd = 768
block_size = 512
corpus_scale = 8        # data/default-x8: ~8x the text per domain (code runs out at ~6.5x; the others allow 8x)
batch_size = 64         # 32k tokens a step: MFU 41.6% on an H200 against 39.4% with 32 rows (compiled, bf16)
grad_accum = 1
base_steps = 1500       # ~49M source tokens, a few epochs of the scaled source field
base_lr = 6e-4
base_warmup_steps = 100
steps = 500             # ~16M CPT tokens
lr = 3e-4
warmup_steps = 25
eval_interval = 50
mix_interval = 50       # dynamic mixers and the agent re-weight at the loop's own evaluations
base_eval_interval = 250
eval_windows = 64
ckpt_interval = 250
device = "auto"
compile = True
