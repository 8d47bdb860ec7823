"""
The proxy work of the suite: what the Data Mixing Agent's and RegMix's rows learn from, made on a small proxy
model (config/proxy.py) and never on the suite's own runs, resumable piece by piece in out/<suite>/proxy:
RegMix's constant-mixture runs, the agent's random-mixing trajectories, the agent's options tuned on proxy seeds
of their own, and the agent's variants. The methods' own steps are in the library (trajectories.py, agent.py,
regmix.py); this file runs them at the suite's scale.
"""
import os
import time
from contextlib import redirect_stdout

import numpy as np

import agent
import train
from common import read_json, write_json_atomic
from data import Corpus, average_weights_of_run
from distributed import folder_lock
from evaluate import field_losses
from experiments import oracle, report, swarm
from mixer import objective
from options import MIXERS, config_for_mixer, parse_config, validate_config
from prepare import corpus_path, ensure_corpus
from trajectories import collect_trajectories, load_trajectories, whole_intervals

# the agent's rows: the tuned agent, its ablations (cloning only; CQL only, the offline evaluation's) and the
# control; each is trained from the tuned options with these changes
AGENT_VARIANTS = {"agent": {}, "agent-clone": {"cql_steps": 0}, "agent-cql": {"bc_steps": 0, "bc_weight": 0.0},
                  "agent-undiscounted": {"variant": "undiscounted"}}


# ----------------------------------------------------------------------------- collection

def collect(cfg, count, folder, log=print, swarm_mode="auto"):
    """`count` trajectories of cfg's mixer into `folder` (collect_into), from the config's corpus and base."""
    whole_intervals(cfg["steps"], interval_of(cfg))  # before the base is built
    corpus = ensure_corpus(cfg)
    base_dir = train.ensure_base(cfg, corpus, cfg["device"])
    with folder_lock(folder, "the trajectory folder"):
        collect_into(cfg, count, folder, corpus, base_dir, log, swarm_mode)


def interval_of(cfg):
    """A trajectory's interval: the random mixer's --mix_interval (the agent's data); for RegMix's constant runs
    (regmix_proxy), the whole run."""
    return cfg["mix_interval"] if cfg["mixer"] == "random" else cfg["steps"]


def collect_into(cfg, count, folder, corpus, base_dir, log=print, swarm_mode="auto"):
    """trajectories.collect_trajectories for a config of the random mixer or of regmix_proxy, the runs trained as
    swarms where swarm_mode says so (swarm.py)."""
    def run_cpts(run_cfgs):
        for i, run_dir, _, info, _ in swarm.run_cpts(run_cfgs, corpus, base_dir, cfg["device"], swarm_mode):
            yield i, run_dir, info
    collect_trajectories(config_for_mixer(cfg, cfg["mixer"]), count, folder, interval_of(cfg), corpus, base_dir,
                         run_cpts, log)


# ----------------------------------------------------------------------------- the proxy: the agent's and RegMix's data

def proxy_config(spec, train_args):
    """The proxy preset, then the suite's train.py options (so a test's tiny model applies to both)."""
    return validate_config(parse_config(["--config", spec["proxy"]["preset"]] + list(train_args)), readers=MIXERS)


def proxy_run_config(pcfg, mixer, options, seed, run_dir):
    run_cfg = {**config_for_mixer(pcfg, mixer), **options, "seed": seed, "run_name": os.path.abspath(run_dir),
               "resume": False, "overwrite": True}  # an unfinished proxy run is started again
    return validate_config(run_cfg)


def proxy_run(pcfg, mixer, options, seed, run_dir):
    """One run of `mixer` on the proxy from the proxy base (reused when finished); returns its final
    validation objective: tuning and the offline checks read val, never the test split."""
    if not os.path.exists(os.path.join(run_dir, "eval.json")):
        with open(os.devnull, "w") as quiet, redirect_stdout(quiet):
            train.run(proxy_run_config(pcfg, mixer, options, seed, run_dir))
        if os.path.exists(os.path.join(run_dir, "ckpt.pt")):
            os.remove(os.path.join(run_dir, "ckpt.pt"))  # a finished proxy run is read, never resumed
    return report.final_val_objective(run_dir, Corpus(corpus_path(pcfg)).fields)


def proxy_swarm(pcfg, runs, swarm_mode):
    """The unfinished runs of [(mixer, options, seed, run_dir)] trained as swarms (swarm.run_many) where
    swarm_mode batches; proxy_run then reads them (and runs alone any that a swarm did not finish)."""
    todo = [run for run in runs if not os.path.exists(os.path.join(run[3], "eval.json"))]
    if todo and swarm.batched(swarm_mode, pcfg["device"]):
        with open(os.devnull, "w") as quiet, redirect_stdout(quiet):
            swarm.run_many([proxy_run_config(pcfg, *run) for run in todo], pcfg["device"], swarm_mode)


def tune_agent(pcfg, folder, spec, tuning_dir, log, swarm_mode="auto"):
    """The agent's options, chosen on the proxy and never on the suite's runs: every candidate of the grid
    is trained on the trajectories' training part (agent.py holds the rest out) and deployed on the proxy
    from the tuning seeds; the lowest mean final validation objective wins. Cached in tuning.json."""
    path = os.path.join(tuning_dir, "tuning.json")
    if os.path.exists(path):
        return read_json(path, "the agent's tuning")
    os.makedirs(tuning_dir, exist_ok=True)
    rows, t0 = [], time.time()
    candidates = [os.path.join(tuning_dir, f"candidate-{i}.pt") for i in range(len(spec["agent_grid"]))]
    for options, agent_path in zip(spec["agent_grid"], candidates):
        if not os.path.exists(agent_path):
            agent.train_agent(folder, agent_path, options, log=lambda *a: None)
    runs = [[("agent", {"agent_path": agent_path}, seed, os.path.join(tuning_dir, f"candidate-{i}-s{seed}"))
             for seed in spec["tuning_seeds"]] for i, agent_path in enumerate(candidates)]
    proxy_swarm(pcfg, [run for row in runs for run in row], swarm_mode)  # every candidate's runs at once
    for i, options in enumerate(spec["agent_grid"]):
        objectives = [proxy_run(pcfg, *run) for run in runs[i]]
        rows.append({"options": options, "val_objective": float(sum(objectives) / len(objectives)),
                     "runs": objectives, **agent.load_agent(candidates[i])[1]["trained_on"]["offline"]})
        log(f"  tuning candidate {i} {options or '(the defaults)'}: proxy val objective "
            f"{rows[-1]['val_objective']:.4f}")
    best = min(rows, key=lambda r: r["val_objective"])
    tuning = {"grid": rows, "chosen": best["options"], "seeds": spec["tuning_seeds"], "seconds": time.time() - t0}
    write_json_atomic(path, tuning)
    return tuning


def weights_option(domains, mixture):
    """train.py's --weights for a static run at `mixture` (every digit kept, so the twin samples exactly it)."""
    return ",".join(f"{d}={float(x)!r}" for d, x in zip(domains, mixture))


BEST_RERUN_SEEDS = [320000, 320001, 320002, 320003, 320004]  # seeds no collection, tuning or replay uses


def trajectory_twins(pcfg, folder, twins_dir, log=print, swarm_mode="auto"):
    """Whether the agent's data holds anything to learn: each random-mixing trajectory of `folder` beside its
    static twin on the proxy (the same seed and base, at the mixture the trajectory realised: its rows per domain),
    both judged by the validation objective at the final step. Delta = trajectory - twin; a trajectory whose
    moving weights pay has delta < 0. The best of many is picked by its own noise as well (the winner's curse),
    so its schedule is rerun (rerun_best). Cached in twins_dir/twins.json while the folder holds as many
    trajectories (a larger collection adds the new ones' twins; finished twin runs are reused)."""
    path = os.path.join(twins_dir, "twins.json")
    trajectories, fields, t0 = load_trajectories(folder), None, time.time()
    if os.path.exists(path):
        cached = read_json(path, "the trajectories' twins")
        if cached.get("count") == len(trajectories) and "rerun" in cached["best"]:
            return cached
    runs = []
    for index, (arrays, meta) in enumerate(trajectories):
        rows = np.asarray(arrays["tokens_per_domain"], dtype=np.float64)
        runs.append(("static", {"weights": weights_option(meta["domains"], rows / rows.sum())}, meta["seed"],
                     os.path.join(twins_dir, f"twin-{index:05d}")))
        fields = meta["fields"]
    proxy_swarm(pcfg, runs, swarm_mode)
    deltas = []
    for (arrays, meta), run in zip(trajectories, runs):
        S, T = field_losses(np.asarray(arrays["val_loss"])[-1], fields)
        deltas.append(float(objective(S, T)) - proxy_run(pcfg, *run))
    best = int(np.argmin(deltas))
    rerun = rerun_best(pcfg, trajectories[best][0], os.path.join(twins_dir, "best"), swarm_mode)
    record = {"what": "each proxy trajectory's final validation objective minus its static twin's (same seed and "
                      "base, the mixture it realised); < 0: its moving weights paid. best.rerun: the best one's "
                      "schedule replayed on fresh seeds, each beside its own twin, paired",
              "count": len(deltas), "mean": float(np.mean(deltas)),
              "sd": float(np.std(deltas, ddof=1)) if len(deltas) > 1 else 0.0,
              "better_than_twin": int(sum(d < 0 for d in deltas)), "deltas": deltas,
              "best": {"index": best, "delta": deltas[best], "schedule": trajectories[best][1].get("schedule"),
                       "rerun": rerun},
              "seconds": time.time() - t0}
    write_json_atomic(path, record)
    log(f"  trajectories against their twins: mean {record['mean']:+.4f}, {record['better_than_twin']} of "
        f"{len(deltas)} better, the best {deltas[best]:+.4f} (trajectory {best}); rerun on {len(rerun['seeds'])} "
        f"seeds: {report.interval_text(rerun['delta'], 4)}")
    return record


def rerun_best(pcfg, arrays, rerun_dir, swarm_mode="auto", seeds=None):
    """A trajectory's schedule (its action at the start of each interval) replayed (mixer.ReplayMixer) on fresh
    seeds, each beside its twin at the mixture that replay realised: whether the best trajectory's gain over
    its twin survives a seed it was not picked on. Returns {"seeds", "replay", "twin": {seed: final validation
    objective}, "delta": the paired interval of replay - twin}."""
    seeds = BEST_RERUN_SEEDS if seeds is None else seeds
    corpus = Corpus(corpus_path(pcfg))
    os.makedirs(rerun_dir, exist_ok=True)
    schedule = os.path.join(rerun_dir, "schedule.json")
    weights = np.asarray(arrays["weights"], dtype=np.float64)
    oracle.write_replay(schedule, corpus.domains, [i * pcfg["mix_interval"] for i in range(len(weights))],
                        (weights / weights.sum(axis=1, keepdims=True)).tolist())
    replays = [("replay", {"replay": schedule}, seed, os.path.join(rerun_dir, f"replay-s{seed}")) for seed in seeds]
    proxy_swarm(pcfg, replays, swarm_mode)
    replay = {seed: proxy_run(pcfg, *run) for seed, run in zip(seeds, replays)}
    twins = [("static", {"weights": weights_option(corpus.domains, average_weights_of_run(run[3], corpus.domains))},
              run[2], os.path.join(rerun_dir, f"twin-s{run[2]}")) for run in replays]
    proxy_swarm(pcfg, twins, swarm_mode)
    twin = {seed: proxy_run(pcfg, *run) for seed, run in zip(seeds, twins)}
    return {"seeds": list(seeds), "replay": replay, "twin": twin, "delta": report.paired_interval(replay, twin)}


def prepare_proxy(spec, train_args, proxy_dir, needs, count=None, log=print, swarm_mode="auto"):
    """What the agent's and RegMix's rows need (`needs` names them), made on the proxy and resumable piece by
    piece: RegMix's constant-mixture runs; the agent's random trajectories, its tuning and its variants
    (AGENT_VARIANTS and the untrained control). Returns ({label: train.py options}, {label: proxy seconds})."""
    p, pcfg = spec["proxy"], proxy_config(spec, train_args)
    options, seconds = {}, {}
    if "regmix" in needs:
        folder = os.path.join(proxy_dir, "constant")
        log(f"\n#### proxy: {count or p['regmix_runs']} constant-mixture runs (RegMix's data)")
        collect({**pcfg, "mixer": "regmix_proxy", "seed": p["regmix_seed"]}, count or p["regmix_runs"], folder, log,
                swarm_mode)
        options["regmix"] = {"trajectories": folder}
        seconds["regmix"] = sum(m["wall_seconds"] for _, m in load_trajectories(folder))
    if "agent" in needs:
        folder = os.path.join(proxy_dir, "trajectories")
        log(f"\n#### proxy: {count or p['trajectories']} random-mixing trajectories (the agent's data)")
        collect({**pcfg, "mixer": "random", "seed": p["trajectory_seed"]}, count or p["trajectories"], folder, log,
                swarm_mode)
        collected = sum(m["wall_seconds"] for _, m in load_trajectories(folder))
        log("\n#### proxy: each trajectory beside its static twin (what the agent's data can teach)")
        trajectory_twins(pcfg, folder, os.path.join(proxy_dir, "twins"), log, swarm_mode)
        log("\n#### proxy: tuning the agent's options on the proxy")
        tuning = tune_agent(pcfg, folder, p, os.path.join(proxy_dir, "tuning"), log, swarm_mode)
        log(f"  chosen: {tuning['chosen'] or '(the defaults)'}")
        for label, variant in {**AGENT_VARIANTS, "agent-untrained": None}.items():
            path = os.path.join(proxy_dir, f"{label}.pt")
            if not os.path.exists(path) and variant is None:
                agent.untrained_agent(path, tuning["chosen"], log)
            elif not os.path.exists(path):
                log(f"\n#### proxy: training {label}")
                agent.train_agent(folder, path, {**tuning["chosen"], **variant}, log)
            options[label] = {"agent_path": path}
            seconds[label] = collected + tuning["seconds"] + agent.load_agent(path)[1]["train_seconds"]
    return options, seconds


