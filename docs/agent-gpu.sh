#!/usr/bin/env bash
# The agent's transfer settings (b), (c) and (d) on one GPU machine, the three at once (docs/agent.md).
# Run from the repository root with a folder that holds what the runs read (nothing is fetched):
#   CARRY/data/{default,merged,licenses-source}   the corpora (agent_experiment.py derives the two others)
#   CARRY/agents/{agent,agent-untrained}.pt       the proxy's agents (out/suite-default/proxy/)
#   CARRY/whl/lightgbm-*.whl                      only where lightgbm is not installed
# The runs' eval.json, log.jsonl and each setting's log are copied to RESULTS; put them back under
# out/agent-experiment/ and python agent_experiment.py reuses them.
#   bash docs/agent-gpu.sh CARRY RESULTS
set -uo pipefail
carry=$1
results=$2
work=/tmp/agent-transfer
export PYTHONUNBUFFERED=1 OMP_NUM_THREADS=4
if ! python3 -c "import lightgbm" 2>/dev/null; then
  python3 -m pip install -q --no-index --no-deps --target /tmp/site "$carry"/whl/*.whl && export PYTHONPATH=/tmp/site
fi
nvidia-smi --query-gpu=name,memory.total --format=csv,noheader | tee "$results/device.txt"
for setting in b c d; do
  python3 agent_experiment.py --settings "$setting" --offline false --agents "$carry/agents" --device cuda \
      --data_dir "$carry/data" --out_dir "$work" > "$results/$setting.txt" 2>&1 &
done
wait
tail -n 8 "$results"/[bcd].txt
(cd "$work" && find . \( -name eval.json -o -name log.jsonl -o -name "*.log" \) -print | tar -cf - -T -) | tar -xf - -C "$results"
