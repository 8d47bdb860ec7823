#!/usr/bin/env bash
# The agent's transfer settings (b), (c), (d) and the offline replays on one GPU machine, the four at once
# (docs/agent.md). Run from the repository root with a folder that holds what they read (nothing is fetched):
#   CARRY/data/{default,merged,licenses-source}     the corpora (agent_experiment.py derives the two others)
#   CARRY/out/base-<hash>/                          the proxy's base (config/proxy.py)
#   CARRY/out/suite-default/proxy/                  trajectories/, constant/, tuning/tuning.json, the agents (.pt)
#   CARRY/whl/lightgbm-*.whl                        only where lightgbm is not installed
# Finished runs keep eval.json and log.jsonl (no checkpoint) in RESULTS/transfer/<setting>/ and
# RESULTS/replay/: put them under out/agent-experiment/ and out/suite-default/proxy/replay/ and
# agent_experiment.py reuses them.
#   bash docs/agent-gpu.sh CARRY RESULTS
set -uo pipefail
carry=$1
results=$2
proxy="$carry/out/suite-default/proxy"
export PYTHONUNBUFFERED=1 OMP_NUM_THREADS=2
if ! python3 -c "import lightgbm" 2>/dev/null; then
  python3 -m pip install -q --no-index --no-deps --target /tmp/site "$carry"/whl/*.whl && export PYTHONPATH=/tmp/site
fi
mkdir -p "$results/transfer" "$results/replay"
ln -sfn "$(cd "$results/replay" && pwd)" "$proxy/replay"  # the replays write straight into RESULTS
nvidia-smi --query-gpu=name,memory.total --format=csv,noheader | tee "$results/device.txt"
for setting in b c d; do
  python3 agent_experiment.py --settings "$setting" --offline false --agents "$proxy" --device cuda \
      --data_dir "$carry/data" --out_dir "$results/transfer" > "$results/$setting.txt" 2>&1 &
done
python3 agent_experiment.py --settings none --out_root "$carry/out" --data_dir "$carry/data" --device cuda \
    > "$results/offline.txt" 2>&1 &
wait
tail -n 12 "$results"/*.txt
