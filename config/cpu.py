# The CPU preset: what `python train.py` runs (these equal the defaults in options.py's OPTIONS; a test
# keeps them in step). Measured on a 2-core CPU: corpus 9 s, base 6 min, CPT 2 min (README).
n_layer = 4
n_head = 4
n_embd = 128
block_size = 128
batch_size = 16
grad_accum = 1
base_steps = 2500       # ~5M source tokens, ~10 epochs of the small source field
base_lr = 1e-3
steps = 800             # ~1.6M CPT tokens: at the natural mixture the target data is seen about 2.4 times
lr = 3e-3               # re-warmed CPT learning rate: makes forgetting real (docs/benchmark.md)
eval_interval = 50
device = "auto"
compile = False
