#!/usr/bin/env bash
# The agent's transfer settings (b), (c), (d) and the offline replays on one GPU machine, the four at once
# (docs/agent.md). Run from the repository root with a folder that holds what they read (nothing is fetched):
#   CARRY/data/{default,merged,licenses-source}     the corpora (agent_experiment.py derives the two others)
#   CARRY/out/base-<hash>/                          the proxy's base (config/proxy.py)
#   CARRY/out/suite-default/proxy/                  trajectories/, constant/, tuning/tuning.json, the agents (.pt)
#   CARRY/whl/lightgbm-*.whl                        only where lightgbm is not installed
# The runs' eval.json and log.jsonl and the logs are copied to RESULTS: put transfer/ under
# out/agent-experiment/ and replay/ under out/suite-default/proxy/, and agent_experiment.py reuses them.
#   bash docs/agent-gpu.sh CARRY RESULTS
set -uo pipefail
carry=$1
results=$2
work=/tmp/agent-transfer
proxy="$carry/out/suite-default/proxy"
export PYTHONUNBUFFERED=1 OMP_NUM_THREADS=3
if ! python3 -c "import lightgbm" 2>/dev/null; then
  python3 -m pip install -q --no-index --no-deps --target /tmp/site "$carry"/whl/*.whl && export PYTHONPATH=/tmp/site
fi
nvidia-smi --query-gpu=name,memory.total --format=csv,noheader | tee "$results/device.txt"
for setting in b c d; do
  python3 agent_experiment.py --settings "$setting" --offline false --agents "$proxy" --device cuda \
      --data_dir "$carry/data" --out_dir "$work" > "$results/$setting.txt" 2>&1 &
done
python3 agent_experiment.py --settings none --out_root "$carry/out" --data_dir "$carry/data" --device cuda \
    > "$results/offline.txt" 2>&1 &
wait
tail -n 12 "$results"/*.txt
mkdir -p "$results/transfer" "$results/replay"
(cd "$work" && find . \( -name eval.json -o -name log.jsonl -o -name "*.log" \) -print | tar -cf - -T -) \
    | tar -xf - -C "$results/transfer"
(cd "$proxy/replay" && find . \( -name eval.json -o -name log.jsonl \) -print | tar -cf - -T -) \
    | tar -xf - -C "$results/replay"
