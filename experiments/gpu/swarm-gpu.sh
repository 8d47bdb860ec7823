#!/usr/bin/env bash
# Proxy swarms on one GPU (issue 23), the measurements in the issue's order, each step capped with `timeout`:
#   0. the default corpus (about 10 s; skipped when data/default exists)
#   1. the bench, 3 min: python -m experiments.bench --swarm (M = 64, 16, 4, 1 proxy members, the largest first so that a cap
#      keeps it, 200 steps, alone and as one swarm; fp32, TF32 off): the `swarm M=..` lines
#   2. the suite's proxy work, 6 min, timed end to end: the proxy base, 64 random trajectories, 64 RegMix
#      constant-mixture runs, the agent's tuning and its variants (agent_experiment.py's proxy work, as the suite
#      makes it), as swarms (--swarm on)
#   3. RegMix with 512 constant-mixture runs (its paper's count), the rest of the budget (4 min), timed, then
#      its regression's cross-validated rank correlation on them
# One call, from the repository root:  bash experiments/gpu/swarm-gpu.sh      (everything under out/swarm-gpu/)
# Each step's output goes to out/swarm-gpu/<step>.log; the timings and the bench lines to out/swarm-gpu/summary.txt.
set -u
OUT=out/swarm-gpu
mkdir -p "$OUT"
export PYTHONUNBUFFERED=1
SUMMARY="$OUT/summary.txt"
: > "$SUMMARY"
nvidia-smi --query-gpu=name,memory.total --format=csv,noheader | tee -a "$SUMMARY"

step() {  # step NAME SECONDS COMMAND...: run under the cap, time it, record its exit status
  local name=$1 cap=$2
  shift 2
  local t0=$SECONDS
  timeout "$cap" "$@" > "$OUT/$name.log" 2>&1
  local rc=$?
  echo "$name: exit $rc$([ $rc = 124 ] && echo ' (cap reached)'), $((SECONDS - t0)) s (cap $cap s)" | tee -a "$SUMMARY"
}

[ -f data/default/meta.json ] || step corpus 120 python prepare.py
step bench 180 python -m experiments.bench --swarm --swarm_sizes 64,16,4,1 --device cuda --out_dir "$OUT"
grep -E "^(swarm|device)" "$OUT/bench.log" | tee -a "$SUMMARY"
step proxy-work 360 python -m experiments.agent_experiment --settings none --offline false --device cuda --swarm on \
  --out_root "$OUT"
grep -E "trajectories in|tuning candidate|chosen" "$OUT/proxy-work.log" | tee -a "$SUMMARY"
step regmix-512 240 python -m experiments.suite --collect 512 --trajectories "$OUT/regmix-512" --swarm on -- \
  --config config/proxy.py --device cuda --out_dir "$OUT" --mixer random --random_schedule dirichlet_natural \
  --mix_interval 200 --seed 200000
step regmix-512-fit 60 python -c "import regmix; print('RegMix rank correlation (8-fold, 512 runs):', \
  regmix.cross_validated_rank('$OUT/regmix-512', 'lightgbm'))"
tail -n 3 "$OUT/regmix-512.log" "$OUT/regmix-512-fit.log" | tee -a "$SUMMARY"
