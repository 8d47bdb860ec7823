# The GPT-2 recipe: continual pre-training of GPT-2 small (124M parameters, the Hugging Face `gpt2` folder)
# on your own domains, on one GPU. docs/pretrained.md says how to get the folder and what 1,000 steps cost.
# It serves a Llama-family checkpoint of that size too (SmolLM2-135M; its context must hold the block of 1024
# below): the learning rate, batch and schedule are set by the model's size, not by its family.
#   python prepare.py --corpus mine --tokenizer gpt2/ --domain ... --field ...
#   python train.py --config config/gpt2.py --init_from gpt2/ --corpus mine --mixer bandit
# The model's shape (12 layers, 12 heads, 768 wide, vocab 50257) comes from gpt2/config.json; the
# --n_layer/--n_head/--n_embd options and the base_* options do not apply (the checkpoint is the base).

# context: GPT-2's own (n_positions = 1024); a shorter block would waste the position table it learned
block_size = 1024

# learning rate. A model of GPT-2 small's size pre-trains at a peak of 6e-4 (GPT-3 Small in the GPT-3
# paper's table 2.1; nanoGPT's reproduction of GPT-2). Common CPT practice re-warms the learning rate and decays it again (Gupta et al. 2023,
# "Continual Pre-Training of Large Language Models: How to (re)warm your model?"; Ibrahim et al. 2024,
# "Simple and Scalable Strategies to Continually Pre-train Large Language Models"), to a peak at or below
# the pre-training peak: a higher peak adapts faster to the new domains and forgets more of the old ones.
# 3e-4, half of GPT-2's peak, sits in the usual 1e-4..3e-4 range: re-warmed enough that the
# adaptation/forgetting trade-off the mixers steer is visible, low enough not to undo the pre-training.
# (The CPU preset's 3e-3 is for a 1.3M-parameter model; on GPT-2 it would wreck the checkpoint.)
lr = 3e-4
# linear warm-up: only the weights are loaded, AdamW's moment estimates start at zero, and the first
# steps on a new mixture have large gradients; 50 steps (5% of the run, 6.5M tokens) let both settle
warmup_steps = 50
min_lr_ratio = 0.1      # cosine decay to 3e-5, as GPT-2-style pre-training decays to a tenth of its peak
weight_decay = 0.1      # GPT-3's AdamW settings (nanoGPT's too): decay 0.1, betas (0.9, 0.95), clip 1.0
beta1 = 0.9
beta2 = 0.95
grad_clip = 1.0
dropout = 0.0           # as in pre-training at scale: CPT sees each token about once, with nothing to over-fit

# batch: 16 rows x 8 micro-batches x 1024 tokens = 131,072 tokens per optimizer step, a quarter of GPT-2's
# ~0.5M (nanoGPT: 12 x 40 x 1024 = 491,520). A quick CPT of ~100M tokens at 0.5M tokens a step would be
# ~200 optimizer steps and 4 re-weightings at mix_interval = 50; at 131k it is 1,000 steps and 20
# re-weightings, and the learning rate is already lower than pre-training's. 16 rows a micro-batch keep
# the peak memory near 15-20 GB (estimate in docs/pretrained.md), so a 24 GB card runs it; on an 80 GB
# GPU, batch_size = 32 with grad_accum = 4 is the same step with fewer, larger matmuls (slightly higher MFU).
batch_size = 16
grad_accum = 8
steps = 1000            # 131M tokens; set it for your data (the report gives epochs per domain: keep the target's
                        # to a few); docs/pretrained.md gives the time per 1,000 steps

# evaluation and mixing: one validation pass (eval_windows windows of 1024 tokens per domain, forward only)
# costs about half an optimizer step with three domains; every 50 steps that is ~1% of the run.
# mix_interval = eval_interval, so the dynamic mixers re-weight at the loop's own evaluations (no extra pass)
eval_interval = 50
mix_interval = 50
eval_windows = 64       # 64 x 1024 = 65k validation tokens per domain (the GPU preset's count of windows)
log_interval = 50
ckpt_interval = 250     # a checkpoint is ~1.5 GB (fp32 weights + AdamW's two moments) and a few seconds to write

# system: bf16 autocast is automatic on a CUDA GPU that has it (Ampere and later: model.autocast); TF32 for
# the rest. torch.compile: one compilation at the start, then faster steps (docs/performance.md).
device = "auto"
compile = True
