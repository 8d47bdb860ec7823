# The proxy preset: the small, short runs on which the Data Mixing Agent's trajectories and RegMix's
# constant-mixture runs are collected (experiments/suite.py --suite default does it; python -m experiments.suite --collect N
# --trajectories DIR -- --config config/proxy.py by hand). A 2x64 GPT and 200 CPT steps with a re-weighting
# every 10 steps: the same 20 intervals as a default run (800 steps, mix_interval 40), so the agent's
# progress feature means the same on both. Measured on 2 cores: base 94 s, one trajectory about 22 s.
n_layer = 2
n_head = 2
n_embd = 64
block_size = 128
batch_size = 16
base_steps = 1000
steps = 200
warmup_steps = 10
mix_interval = 10
eval_windows = 16
feedback_problems = 32
