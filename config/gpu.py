# The GPU preset: a GPT-2-small-class model (12 layers, 12 heads, 768 wide, ~85M parameters without
# embeddings), bf16 autocast and torch.compile on one modern GPU.
#   python train.py --config config/gpu.py
n_layer = 12
n_head = 12
n_embd = 768
block_size = 512
corpus_scale = 8        # data/default-x8: ~8x the text per domain (the standard library and man pages allow it)
batch_size = 32
grad_accum = 1
base_steps = 3000       # ~49M source tokens, a few epochs of the scaled source field
base_lr = 6e-4
base_warmup_steps = 200
steps = 1000
lr = 3e-4
warmup_steps = 50
eval_interval = 100
mix_interval = 100      # dynamic mixers and the agent re-weight at the loop's own evaluations
base_eval_interval = 500
eval_windows = 64
ckpt_interval = 500
device = "auto"
compile = True
