#!/usr/bin/env bash
# The published run in progress, carried between machines. A session's machine can be replaced before the run
# ends (out/ is not kept), so each session saves the run's finished work here as xz parts and commits them, and
# the next one restores them before rerunning the suite, which reuses every finished run by its fingerprint.
#
#   runs/carry.sh save      # a new part: every file of out/suite-default and out/agent-experiment that no
#                           # earlier part holds as it is now
#                           # (finished runs without checkpoints, the proxy's data and agents, the oracle's
#                           # search records) and each base's base_eval.json (in bases/)
#   runs/carry.sh restore   # the parts, in order, into out/ (files already in out/ are kept), bases/ aside
#   runs/carry.sh bases     # the base records into out/, which the publication's compute reads, once every run
#                           # has finished (a base restored without its weights cannot start a run)
#
# Not carried: unfinished runs (the suite starts them again), checkpoints, the bases' weights (rebuilt, about
# 8 minutes each, where a seed still has runs to do), the results folder (rewritten). Removed once published.
set -euo pipefail
cd "$(dirname "$0")/.."
manifest=runs/manifest.txt   # sha256, path under out/, the part that holds that version
CARRIED="suite-default agent-experiment"  # the suite's folder, the agent experiment's (agent_experiment.py)
touch "$manifest"
case "${1:-}" in
  save)
    folders=$(for f in $CARRIED; do if [ -d "out/$f" ]; then echo "$f"; fi; done)
    unfinished=$(cd out && find $folders -name log.jsonl -printf '%h\n' | while read -r d; do
      [ -e "$d/eval.json" ] || echo "$d/"; done)
    list=$(mktemp)
    (cd out && find $folders -type f ! -name ckpt.pt ! -name '*.lock' ! -name '.*' ! -path '*/results/*'
     ls base-*/base_eval.json 2>/dev/null | sed 's|^|bases/|') | sort | while read -r f; do
      for d in $unfinished; do case "$f" in "$d"*) continue 2;; esac; done
      src="out/${f#bases/}"
      sum=$(sha256sum "$src" | cut -c1-64)
      grep -q "^$sum $f " "$manifest" || echo "$sum $f"
    done > "$list"
    if [ ! -s "$list" ]; then echo "nothing new to carry"; rm -f "$list"; exit 0; fi
    part="part-$(date -u +%Y%m%d-%H%M%S).tar.xz"
    stage=$(mktemp -d)
    cut -d' ' -f2 "$list" | while read -r f; do mkdir -p "$stage/$(dirname "$f")"; cp -p "out/${f#bases/}" "$stage/$f"; done
    cut -d' ' -f2 "$list" | tar -cJf "runs/$part" -C "$stage" -T -
    sed "s|\$| $part|" "$list" >> "$manifest"
    rm -rf "$stage" "$list"
    echo "runs/$part: $(tar -tJf "runs/$part" | wc -l) files, $(du -h "runs/$part" | cut -f1)" ;;
  restore|bases)
    stage=$(mktemp -d)
    for part in $(ls runs/part-*.tar.xz 2>/dev/null | sort); do tar -xJf "$part" -C "$stage"; done  # later wins
    mkdir -p out
    if [ "$1" = restore ]; then
      for folder in $CARRIED; do if [ -d "$stage/$folder" ]; then cp -rnp "$stage/$folder" out/; fi; done
      echo "restored $(find "$stage" -name eval.json | wc -l) finished runs into out/"
    else
      for b in "$stage"/bases/base-*/; do name=$(basename "$b")
        [ -e "out/$name/base_eval.json" ] || { mkdir -p "out/$name"; cp -p "$b/base_eval.json" "out/$name/"; }; done
    fi
    rm -rf "$stage" ;;
  *) echo "usage: runs/carry.sh save|restore|bases" >&2; exit 2 ;;
esac
