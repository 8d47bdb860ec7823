#!/usr/bin/env bash
# The agent's transfer settings (b), (c) and (d) on one GPU machine: the 27 runs at once (each is a small model
# bound by Python, not by the GPU; on one H100 with 16 cores all 27 took 96 s). Each run is what
# `python -m experiments.agent_experiment --settings b,c,d` would start, written where it looks for them; it then reuses
# them (docs/agent.md). Run from the repository root with CARRY holding (nothing is fetched):
#   CARRY/data/{default,merged,licenses-source}     the corpora (agent_experiment.py derives the two others)
#   CARRY/agents/{agent,agent-untrained}.pt         the proxy's agents (out/suite-default/proxy/)
#   CARRY/whl/lightgbm-*.whl                        only where lightgbm is not installed (regmix.py imports it)
# The finished runs' eval.json and log.jsonl are packed into RESULTS/runs.tgz: unpack it in out/agent-experiment/.
#   bash experiments/gpu/agent-gpu.sh CARRY RESULTS
set -uo pipefail
carry=$(cd "$1" && pwd)
results=$2
runs=/tmp/agent-transfer
export OMP_NUM_THREADS=1
if ! python3 -c "import lightgbm" 2>/dev/null; then
  python3 -m pip install -q --no-index --no-deps --target /tmp/site "$carry"/whl/*.whl && export PYTHONPATH=/tmp/site
fi
mkdir -p "$results"
for seed in 1337 1338 1339; do
  for row in static agent agent-untrained; do
    mixer=static; agent=()
    if [ "$row" != static ]; then mixer=agent; agent=(--agent_path "$carry/agents/$row.pt"); fi
    common=(--device cuda --data_dir "$carry/data" --mixer "$mixer" --seed "$seed" "${agent[@]}")
    python3 train.py "${common[@]}" --corpus default --n_layer 6 --n_head 8 --n_embd 256 \
        --run_name "$runs/b/$row-s$seed" > /dev/null 2>&1 &
    python3 train.py "${common[@]}" --corpus merged --run_name "$runs/c/$row-s$seed" > /dev/null 2>&1 &
    python3 train.py "${common[@]}" --corpus licenses-source --run_name "$runs/d/$row-s$seed" > /dev/null 2>&1 &
  done
done
wait
cd "$runs" && tar czf "$results/runs.tgz" */*/eval.json */*/log.jsonl && echo "$(ls */*/eval.json | wc -l) runs in $results/runs.tgz"
