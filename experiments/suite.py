"""
The comparison suite: the static grid (target share x split within each field), the schedules, each mixer's paper
default beside its named variants ("<mixer>-<variant>"), and a static twin of every row whose weights move (the mixture
that run sampled, same seed); one model, optimiser and budget, each seed from a base of its own, seeds per row as
seed_plan says; one table, one JSON and the plots. A rerun finishes only what is missing: a finished run is
reused when its saved fingerprint (config, mixer code) is the one it would have now, and run again, saying what
changed, when not. A run that fails is reported by name while the others go on (the exit status says that
something failed). The agent's and RegMix's rows first need their proxy work (config/proxy.py, in
out/suite-default/proxy): 128 random-mixing trajectories, 64 constant-mixture runs, the agent's tuning on proxy
seeds of its own, the agent's variants (experiments/proxy.py). The oracle's row first needs its search
(experiments/oracle.py, in out/suite-default/oracle): a greedy look-ahead on validation, on a seed and base no row
runs, whose schedule then runs frozen on the primary seeds beside its twin; each paper default reports its share
of the oracle's gain over the best static mixture (report.share_of_oracle_gain).

    python -m experiments.suite --suite default               # CPU preset, the seed plan (many hours on 2 cores)
    python -m experiments.suite --suite default --preset gpu  # config/gpu.py, on one GPU
    python -m experiments.suite --suite default --seeds 1 --mixers static,bandit -- --steps 200  # then train.py's

Collection alone: N CPT runs of the random mixer (or of regmix_proxy) from the base, one trajectory file each.

    python -m experiments.suite --collect 64 --trajectories out/traj -- --config config/proxy.py
"""
import argparse
import hashlib
import inspect
import json
import os
import sys
import time
import traceback

import numpy as np

import train
from common import ConfigError, DataError, Parser, UserError, read_json, write_json_atomic
from data import Corpus
from distributed import folder_lock
from evaluate import load_result
from experiments import oracle, report, swarm
from experiments.proxy import AGENT_VARIANTS, collect, prepare_proxy
from mixer import options_of
from options import MIXERS, config_for_mixer, parse_config, validate_config
from prepare import corpus_path, ensure_corpus

SUITES = {  # the experiment; the preset (train.py's options) gives the model and the budget
    # exploratory rows and their twins (and agent_experiment.py's seeds): 2; the primary family 5 (the run before
    # this one had 3 and 5); the sizes that fit the published run in the machine time left (docs/headroom.md, its
    # budget)
    "default": {"seeds": 2,
                "primary_seeds": 5,  # the primary family: the six paper defaults and their twins
                "mixers": ["bandit", "dbl", "velocity", "acodm", "regmix", "agent"],
                # the static grid: these target shares and natural (the corpus' own) x the split within each field
                "sweep": [0.05, 0.15, 0.4, 0.5, 0.65, 0.8], "splits": ["tokens", "uniform"],
                # its seeds, adaptive on the validation objective (seed_plan); the others' are "seeds" above
                "grid_seeds": {"near": 0.01, "near_seeds": 5, "far": 0.05, "far_seeds": 1},
                "schedules": {"ramp_down": "0.8,0.05", "ramp_up": "0.05,0.8"},
                # the oracle (experiments/oracle.py): its greedy search on validation, at these target shares every
                # `interval` steps, on a seed (and base) of its own that no row runs, so that every seed it is
                # judged on is out of sample; the schedule it finds runs frozen (row "oracle") on the primary seeds
                # beside its twin, and each paper default reports its share of the oracle's gain
                "oracle": {"shares": [0.05, 0.15, 0.3, 0.5, 0.8], "interval": 100, "seed": 400000},
                # each mixer's default is its paper's form; these named variants (--<mixer>_variant NAME) run
                # beside it as rows "<mixer>-<variant>"; the agent's variants are AGENT_VARIANTS
                "variants": {"bandit": ["one_draw", "hedge", "code"], "dbl": ["code", "hold_flagged"],
                             "velocity": ["hold_flagged"], "acodm": ["rhat", "no_slice", "ours"], "regmix": ["best"]},
                # control rows (role "control"): the released AC-ODM in effect, its actor never stepped (frozen at its
                # random initialisation, with the slice); the agent's untrained control is AGENT_VARIANTS' companion
                "controls": {"acodm": {"acodm-released": {"acodm_untrained": True}}},
                "agent_offline_only": ["agent-cql"],  # AGENT_VARIANTS rows that only the offline evaluation runs
                # the agent's and RegMix's data come from proxy runs (a smaller model, shorter runs), never from
                # the suite's own runs; the agent's options are tuned there, on seeds of their own
                # 128 trajectories: 96 to train on after agent.py's held-out quarter, so the agent's learning curve
                # (agent_experiment.learning_curve) doubles twice, 24 to 96 (the published run before this one
                # collected 64; 384, the paper's count by a summary we could not check, would with their twins
                # cost about 7 hours of this machine)
                "proxy": {"preset": "config/proxy.py", "trajectories": 128, "trajectory_seed": 100000,
                          "regmix_runs": 64, "regmix_seed": 200000, "tuning_seeds": [300000, 300001],
                          "agent_grid": [{}, {"cql_alpha": 0.1}, {"cql_alpha": 5.0}, {"bc_weight": 0.25},
                                         {"bc_weight": 4.0}]}},  # around agent.py's defaults (alpha 1, weight 1)
}
PRESETS = {"cpu": [], "gpu": ["--config", "config/gpu.py"]}
# the proxy runs' mixers; the references; replay, which needs a schedule file (the oracle's: experiments/oracle.py)
NOT_IN_SUITE = {"random", "regmix_proxy", "static", "schedule", "replay"}
def trajectory_twins_record(suite_dir):
    """The agent's trajectories against their twins (proxy.trajectory_twins), where the proxy work made them."""
    path = os.path.join(suite_dir, "proxy", "twins", "twins.json")
    return read_json(path, "the trajectories' twins") if os.path.exists(path) else None


def suite_mixers(spec):
    """The suite's mixers in its order, then any registered mixer it does not list (new ones gain rows).
    The references (natural, the static grid, the schedules) come first in every suite."""
    listed = [m for m in spec["mixers"] if m in MIXERS]
    return listed + sorted(set(MIXERS) - set(listed) - NOT_IN_SUITE)


# ----------------------------------------------------------------------------- the suite

def grid_rows(sweep, splits, corpus):
    """The static grid: target share {sweep, natural} x split. Split "tokens" is --target_ratio r (each field
    split by train tokens), "uniform" is --init_weights uniform --target_ratio r (uniform within each field).
    Natural is the corpus' own target share by train tokens; its token-split row is "static" (the main job's).
    Where uniform over all domains is no grid point, the uniform split gains it ("static-uniform-all")."""
    target = corpus.field_indices("target")
    natural = float(corpus.train_tokens[target].sum() / corpus.train_tokens.sum())
    points = sorted([(float(share), f"{share:g}") for share in sweep] + [(natural, "natural")])
    uniform_all = len(target) / len(corpus.domains)
    extra = [] if any(abs(share - uniform_all) < 1e-9 for share, _ in points) else [(uniform_all, "all")]
    rows = {}
    for split in splits:
        for share, name in points + (extra if split == "uniform" else []):
            main = split == "tokens" and name == "natural"  # natural proportions, no --target_ratio: the main job's
            options = {"init_weights": "uniform"} if split == "uniform" else {}
            options.update({} if main or name == "all" else {"target_ratio": share})
            rows["static" if main else f"static-{split}-{name}"] = {
                "mixer": "static", "kind": "natural" if main else "sweep", "role": "static", "split": split,
                "target_share": share, **({"natural": True} if name == "natural" else {}), "options": options,
                "primary": False, "seeds_wanted": 1}
    return dict(sorted(rows.items(), key=lambda item: item[0] != "static"))  # the main job's row first


def suite_rows(spec, mixers, sweep, schedules, corpus, splits=None, oracle_shares=None, variants=True):
    """{label: {"mixer", "kind", "role", "options", "primary", "seeds_wanted", ...}}: the grid (grid_rows), the
    schedules, the oracle's frozen schedule ("oracle", role "oracle", its search's shares and interval in
    "search"; none where oracle_shares is empty, spec["oracle"]'s shares where it is None), each mixer's paper
    default ("paper_default") and named variants ("variant_of"; --<mixer>_variant NAME; the agent's:
    AGENT_VARIANTS' but the offline evaluation's, and the untrained agent, the control), each row whose weights
    move followed by its twin "<label>-twin" ("twin_of"; run at the mixture that row sampled). "primary": the
    suite's paper defaults and their twins, spec["primary_seeds"] seeds, as many for the oracle and its twin (every
    paper default's share of its gain pairs with it); the others spec["seeds"]; the grid 1 here (seed_plan decides).
    variants=False (--variants none): the paper defaults without their named variants and controls."""
    rows = grid_rows(sweep, spec["splits"] if splits is None else splits, corpus)
    moving = {f"schedule-{name}": {"mixer": "schedule", "kind": "schedule", "role": "schedule", "target_share": None,
                                   "options": {"schedule_shares": spec["schedules"][name]}} for name in schedules}
    for mixer in mixers:
        row = {"mixer": mixer, "kind": "mixer", "target_share": None}
        moving[mixer] = {**row, "role": "mixer", "paper_default": True, "options": {},
                         "primary": mixer in spec["mixers"]}
        if not variants:
            continue
        if mixer == "agent":
            named = {label: {} for label in AGENT_VARIANTS if label != "agent"
                     and label not in spec.get("agent_offline_only", [])}
        else:
            named = {f"{mixer}-{v}": {f"{mixer}_variant": v} for v in spec.get("variants", {}).get(mixer, [])}
        for label, options in named.items():
            moving[label] = {**row, "role": "variant", "variant_of": mixer, "options": options}
        if mixer == "agent":
            moving["agent-untrained"] = {**row, "role": "control", "variant_of": mixer, "options": {}}
        for label, options in spec.get("controls", {}).get(mixer, {}).items():
            moving[label] = {**row, "role": "control", "variant_of": mixer, "options": options}
    shares = (spec.get("oracle") or {}).get("shares", []) if oracle_shares is None else oracle_shares
    if shares:
        moving["oracle"] = {"mixer": "replay", "kind": "oracle", "role": "oracle", "target_share": None, "options": {},
                            "search": {"shares": list(shares), "seed": (spec.get("oracle") or {}).get("seed"),
                                       "interval": (spec.get("oracle") or {}).get("interval", oracle.INTERVAL)}}
    for label, row in moving.items():
        primary = row.get("primary", False)
        rows[label] = {**row, "primary": primary,
                       "seeds_wanted": spec["primary_seeds" if primary or row["role"] == "oracle" else "seeds"]}
        rows[f"{label}-twin"] = {"mixer": "static", "kind": "twin", "role": "twin", "twin_of": label,
                                 "target_share": None, "options": {}, "primary": primary,
                                 "seeds_wanted": rows[label]["seeds_wanted"]}
    return rows


def check_variant_rows(rows):
    """A variant row's --<mixer>_variant must be one of its mixer's options (else it would run the default)."""
    for label, row in rows.items():
        declared = options_of(MIXERS[row["mixer"]])
        missing = [key for key in row["options"] if key.endswith("_variant") and key not in declared]
        if missing:
            raise ConfigError(f"suite row {label} runs --{missing[0]}, which mixer {row['mixer']} does not declare; "
                              f"add it to the mixer's OPTIONS or drop the variant from SUITES")


def run_fingerprint(run_cfg):
    """What a suite run is made by: its config (less whether it resumes) and the sha256 of the source of the
    modules that define its mixer (the class and its bases) and of train.py (and a twin's, of the log it
    averages). Saved in the run's folder when it finishes (fingerprint.json) and compared when the suite would
    reuse it (changed_since)."""
    root = os.path.dirname(os.path.abspath(train.__file__))
    files = {inspect.getsourcefile(c) for c in MIXERS[run_cfg["mixer"]].__mro__ if c is not object}
    code = {}
    for path in sorted(files | {inspect.getsourcefile(train)}):
        with open(path, "rb") as f:
            code[os.path.relpath(path, root)] = hashlib.sha256(f.read()).hexdigest()
    if run_cfg["weights_from"]:  # a twin: the run whose mixture it trains is part of what makes it
        with open(os.path.join(run_cfg["weights_from"], "log.jsonl"), "rb") as f:
            code["weights_from log.jsonl"] = hashlib.sha256(f.read()).hexdigest()
    if run_cfg["mixer"] == "replay":  # the oracle's row: so is the schedule it replays (a new search makes a new one)
        with open(run_cfg["replay"], "rb") as f:
            code["replay schedule"] = hashlib.sha256(f.read()).hexdigest()
    config = json.loads(json.dumps({k: v for k, v in run_cfg.items() if k != "resume"}, default=str))
    return {"config": config, "code": code}


def changed_since(run_dir, fingerprint):
    """What differs between a finished run's saved fingerprint and the one it would have now, in words;
    None when nothing does (the run may be reused)."""
    path = os.path.join(run_dir, "fingerprint.json")
    if not os.path.exists(path):
        return "no saved fingerprint (finished before the suite kept them)"
    saved = read_json(path, "the run's fingerprint")
    old, new = saved["config"], fingerprint["config"]
    keys = [k for k in sorted(set(old) | set(new)) if old.get(k) != new.get(k)]
    files = [f for f in sorted(set(saved["code"]) | set(fingerprint["code"]))
             if saved["code"].get(f) != fingerprint["code"].get(f)]
    said = (["config " + ", ".join(f"{k} {old.get(k)!r:.40} -> {new.get(k)!r:.40}" for k in keys)] if keys else []) \
        + (["code of " + ", ".join(files)] if files else [])
    return "; ".join(said) or None


def run_suite(suite, preset, seeds, mixers, train_args, trajectories=None, sweep=None, schedules=None, publish=None,
              log=print, swarm_mode="auto", splits=None, oracle_shares=None, variants=True):
    """Prepare what is missing (corpus, base, trajectories, agent), run every planned (row, seed) that has no
    eval.json yet (resuming from its checkpoint if it has one), then write the results folder (and the
    benchmark files into `publish`). seeds: --seeds N, a cap on every row's; oracle_shares: the oracle search's
    candidate target shares (None: the suite's; []: no oracle); variants=False: no named variants or controls.
    Returns (summary, failed runs)."""
    spec = SUITES[suite]
    # train.py's options after -- serve every row and the proxy work: any mixer's may be given
    cfg = validate_config(parse_config(PRESETS[preset] + list(train_args)), readers=MIXERS)
    mixers = suite_mixers(spec) if mixers is None else mixers
    for flag, given, known in (("mixers", mixers, MIXERS), ("schedules", schedules or [], spec["schedules"]),
                               ("splits", splits or [], ("tokens", "uniform"))):
        unknown = [name for name in given if name not in known]
        if unknown:
            raise DataError(f"--{flag} {','.join(unknown)}: unknown; choose from {sorted(known)}")
    rows = suite_rows(spec, [m for m in mixers if m != "static"], spec["sweep"] if sweep is None else sweep,
                      spec["schedules"] if schedules is None else schedules, ensure_corpus(cfg), splits, oracle_shares,
                      variants)
    check_variant_rows(rows)
    most = max([r["seeds_wanted"] for r in rows.values()] + [spec["grid_seeds"]["near_seeds"], spec["seeds"]])
    seed_list = [cfg["seed"] + i for i in range(min(most, seeds) if seeds else most)]  # --seeds N: at most N
    name = f"suite-{suite}" + ("" if preset == "cpu" else f"-{preset}")
    with folder_lock(os.path.join(cfg["out_dir"], name), "the suite folder"):
        return run_jobs(suite, cfg, train_args, name, preset, seed_list, rows, trajectories, publish, log, swarm_mode,
                        cap=seeds)


# ----------------------------------------------------------------------------- the seed plan

def seed_plan(rows, objectives, spec, cap=None):
    """{label: seeds it runs}: its seeds_wanted, but the grid's decided on the VALIDATION objective at the final
    step of its finished runs (objectives: {label: [J_val per finished seed]}; test decides nothing): every point
    runs the first seed; against the best (means over the seeds each has), a point more than grid_seeds["far"]
    above stays at far_seeds, one within "near" gets near_seeds, the others spec["seeds"]. A function of the
    finished runs, so a rerun resumes the plan. cap (--seeds N) caps every row."""
    g = spec["grid_seeds"]
    means = {label: float(np.mean(objectives[label])) for label, r in rows.items()
             if r["role"] == "static" and objectives.get(label)}

    def wanted(gap):  # a grid point's seeds, by its mean's distance above the best
        return g["near_seeds"] if gap <= g["near"] else g["far_seeds"] if gap > g["far"] else spec["seeds"]
    plan = {label: wanted(means[label] - min(means.values())) if label in means else row["seeds_wanted"]
            for label, row in rows.items()}
    return {label: n if cap is None else min(n, cap) for label, n in plan.items()}


def job_order(rows, plan, seeds):
    """Every planned (label, seed), in the order that makes a partial suite useful: the grid's first seed;
    the primary rows and the oracle's seed by seed, each run followed by its twin (which averages it); the grid's
    further seeds; the exploratory rows and their twins, seed by seed."""
    def beside_primary(r):  # the primary rows, the oracle's and their twins
        own = rows.get(r.get("twin_of"), r)
        return own["primary"] or own["role"] == "oracle"
    grid = [label for label, r in rows.items() if r["role"] == "static"]
    primary = [label for label, r in rows.items() if r["role"] != "static" and beside_primary(r)]
    others = [label for label, r in rows.items() if r["role"] != "static" and not beside_primary(r)]
    jobs = [(label, seeds[0]) for label in grid] + [(label, s) for s in seeds for label in primary] \
        + [(label, s) for s in seeds[1:] for label in grid] + [(label, s) for s in seeds for label in others]
    return [(label, s) for label, s in jobs if seeds.index(s) < plan[label]]


def run_jobs(suite, cfg, train_args, name, preset, seeds, rows, trajectories, publish, log, swarm_mode="auto",
             cap=None):
    """The suite's work in out/<name>: the proxy work if needed, then one planned run at a time (job_order
    of seed_plan, planned anew after each run from the runs finished so far), the results. Seed s
    continues a base of its own: base_seed = --base_seed + (s - --seed) (--init_from: all the one checkpoint)."""
    spec, t_start, (extra, proxy, collected) = SUITES[suite], time.time(), ({}, {}, 0.0)
    offline = [label for label, r in rows.items() if r["mixer"] in ("agent", "regmix")]
    fields, suite_dir = Corpus(corpus_path(cfg)).fields, os.path.join(cfg["out_dir"], name)
    run_dirs = {label: {s: os.path.join(suite_dir, f"{label}-s{s}") for s in seeds} for label in rows}
    failed, visited, objectives = [], [], {}  # objectives: {label: [J_val of each finished run visited]}

    def finished(label, seed):
        return os.path.exists(os.path.join(run_dirs[label][seed], "eval.json"))

    def prepare_offline_mixers():
        """The proxy work the agent's and RegMix's rows need (prepare_proxy), in out/<suite>/proxy."""
        options, seconds = prepare_proxy(spec, train_args, os.path.join(suite_dir, "proxy"),
                                         {rows[label]["mixer"] for label in offline}, trajectories, log, swarm_mode)
        extra.update(options)
        proxy.update(seconds)
        for label in offline:  # a row that differs from its mixer's by a train.py option (regmix-best) shares its data
            extra.setdefault(label, extra.get(rows[label]["mixer"], {}))
            proxy.setdefault(label, seconds.get(rows[label]["mixer"]))
        return sum(seconds.get(label, 0.0) for label in ("regmix", "agent"))

    def prepare_oracle(label):
        """The oracle's search (experiments/oracle.py), validation only, on its own seed and base (the first
        seed's where the suite names none), in out/<suite>/oracle: run once, reused while its fingerprint
        (config, shares, interval, code, the schedule file it wrote) holds. A new search makes the replays of
        the old schedule stale: their unfinished checkpoints are removed (a finished one reruns by its
        fingerprint). Returns whether the search is there; a failed one is reported like a failed run."""
        search_dir, search = os.path.join(suite_dir, "oracle"), rows[label]["search"]
        seed = search["seed"] if search["seed"] is not None else seeds[0]
        search_cfg = validate_config({**config_for_mixer(cfg, "static"), "seed": seed,
                                      "base_seed": cfg["base_seed"] + (seed - cfg["seed"]),
                                      "run_name": os.path.join(name, "oracle")})
        schedule = os.path.join(search_dir, "schedule.json")

        def fingerprint():
            made = run_fingerprint(search_cfg)
            made["config"].update({"oracle_shares": search["shares"], "oracle_interval": search["interval"]})
            for key, path in (("experiments/oracle.py", inspect.getsourcefile(oracle)), ("schedule.json", schedule)):
                if os.path.exists(path):
                    with open(path, "rb") as f:
                        made["code"][key] = hashlib.sha256(f.read()).hexdigest()
            return made
        done = all(os.path.exists(os.path.join(search_dir, f)) for f in ("search.json", "schedule.json"))
        changed = changed_since(search_dir, fingerprint()) if done else None
        if done and not changed:
            log("#### the oracle's search: finished before, reused")
            record = read_json(os.path.join(search_dir, "search.json"), "the oracle's search")
        else:
            log("\n#### the oracle's search" + (f" (rerun: {changed})" if changed else "") + f", seed {seed}")
            for stale in (label, f"{label}-twin"):
                for s, run_dir in run_dirs[stale].items():
                    if not finished(stale, s) and os.path.exists(os.path.join(run_dir, "ckpt.pt")):
                        os.remove(os.path.join(run_dir, "ckpt.pt"))
                        log(f"  removed the checkpoint of {stale} seed {s}: it ran the old schedule")
            try:
                record = oracle.search(search_cfg, search["shares"], search["interval"], search_dir, log)
            except train.Interrupted:
                raise
            except Exception as e:  # like a failed run: reported by name, the suite goes on without the oracle
                if not isinstance(e, UserError):
                    traceback.print_exc()
                log(f"#### the oracle's search FAILED: {type(e).__name__}: {e}")
                failed.append("the oracle's search")
                return False
            write_json_atomic(os.path.join(search_dir, "fingerprint.json"), fingerprint())
        extra[label] = {"replay": schedule}
        proxy[label] = record["compute_seconds"]  # its compute, counted in full like a proxy's work
        searched.update({key: record[key] for key in oracle.SEARCH_KEYS if key in record})
        return True
    plan, searched = seed_plan(rows, objectives, spec, cap), {}
    while todo := [job for job in job_order(rows, plan, seeds) if job not in visited]:  # planned anew after each
        label, seed = todo[0]
        visited.append(todo[0])
        row, run_dir, number = rows[label], run_dirs[label][seed], f"{len(visited)}/{len(visited) + len(todo) - 1}"
        twin_of = row.get("twin_of")
        if twin_of and (not finished(twin_of, seed) or f"{twin_of} seed {seed}" in failed):
            log(f"#### suite run {number}: {label} seed {seed}: skipped, its row {twin_of} has no finished run")
            continue
        if label in offline and label not in extra:
            collected = prepare_offline_mixers()
        if row["role"] == "oracle" and label not in extra:
            if "the oracle's search" in failed or not prepare_oracle(label):
                log(f"#### suite run {number}: {label} seed {seed}: skipped, the oracle's search failed")
                continue
        run_cfg = {**config_for_mixer(cfg, row["mixer"]), **row["options"], **extra.get(label, {}),
                   **({"weights_from": run_dirs[twin_of][seed]} if twin_of else {}),
                   "seed": seed, "base_seed": cfg["base_seed"] + (seed - cfg["seed"]),
                   "run_name": os.path.join(name, f"{label}-s{seed}")}
        fingerprint, done = run_fingerprint(run_cfg), finished(label, seed)
        changed = changed_since(run_dir, fingerprint) if done else None
        if done and not changed:
            log(f"#### suite run {number}: {label} seed {seed}: finished before, reused")
        else:
            if changed:  # made by another config or code than this one would be: not this suite's run
                log(f"#### suite run {number}: {label} seed {seed}: finished before, rerun: {changed}")
            resume = not done and os.path.exists(os.path.join(run_dir, "ckpt.pt"))
            log(f"\n#### suite run {number}: {label} seed {seed}" + (" (resuming)" if resume else ""))
            try:
                run_cfg = {**run_cfg, "resume": resume, "overwrite": not resume}  # a changed run is run again
                train.run(validate_config(run_cfg))
                write_json_atomic(os.path.join(run_dir, "fingerprint.json"), fingerprint)
            except train.Interrupted:  # Ctrl-C or SIGTERM asks the suite to stop, not this run to fail
                raise
            except Exception as e:  # one failed run must not end the suite: report it and go on
                if not isinstance(e, UserError):
                    traceback.print_exc()
                log(f"#### suite run {number}: {label} seed {seed} FAILED: {type(e).__name__}: {e}")
                failed.append(f"{label} seed {seed}")
        if row["role"] == "static" and finished(label, seed):
            objectives.setdefault(label, []).append(report.final_val_objective(run_dir, fields))
            plan = seed_plan(rows, objectives, spec, cap)
    done = {label: {s: d for s, d in run_dirs[label].items() if (label, s) in visited and finished(label, s)}
            for label in rows if any(l == label and finished(l, s) for l, s in visited)}
    results = {label: {s: load_result(d) for s, d in dirs.items()} for label, dirs in done.items()}
    if not results:
        return None, failed
    finals = [r["final"] for by_seed in results.values() for r in by_seed.values()]
    used = sorted({s for dirs in done.values() for s in dirs})
    summary = report.suite_summary({label: {**r, "seeds_wanted": plan[label]} for label, r in rows.items()},
                                   results, done, proxy,
                                   {"suite": suite, "preset": preset, "seeds": used, "config": cfg,
                                    "base_seeds": {} if cfg["init_from"] else {  # --init_from: one base for all
                                        str(s): cfg["base_seed"] + (s - cfg["seed"]) for s in used},
                                    "task_test_problems": finals[0]["task_problems"],
                                    "proxy_replay": report.proxy_replays(os.path.join(suite_dir, "proxy", "replay")),
                                    "proxy_trajectory_twins": trajectory_twins_record(suite_dir),
                                    "oracle_search": searched or None,
                                    "invocation_seconds": time.time() - t_start, "failed": failed})
    paths = report.write_suite_outputs(summary, done, os.path.join(suite_dir, "results"))
    if publish and "static" in results:
        report.publish(summary, done, publish, wall_seconds(cfg, summary, collected, used, searched))
        paths.append(publish)
    log("\n" + report.suite_table(summary))
    log("\n" + "\n".join(f"wrote {p}" for p in paths))
    return summary, failed


def wall_seconds(cfg, summary, collected, seeds, searched=None):
    """The suite's compute as measured stage by stage, each piece of work once: the corpus build, the bases'
    pre-training (one per seed, and the oracle's search seed's), and the runs (CPT loops, each shared target
    estimation once, the proxy work, the oracle's search)."""
    corpus = Corpus(corpus_path(cfg))
    search = (searched or {}).get("compute_seconds") or 0.0
    bases = {train.base_dir_of({**cfg, "base_seed": cfg["base_seed"] + (s - cfg["seed"])}, corpus)
             for s in list(seeds) + ([searched["seed"]] if searched else [])}
    runs = report.compute_once(summary)
    base = [read_json(os.path.join(d, "base_eval.json"), "a base's evaluation")["run"].get("wall_seconds")
            for d in sorted(bases)]  # none for a downloaded base (--init_from: one base, whatever the seed)
    return {"corpus": corpus.meta.get("build_seconds"), "base": None if None in base else sum(base),
            "bases": len(base), **runs, "proxy": collected, "oracle_search": search,
            "suite": runs["cpt_runs"] + runs["target_estimates"] + collected + search}


USAGE = """Run the comparison suite, or collect proxy trajectories alone.

The suite: the static grid (target shares x the split within each field), every mixer's paper default and its
named variants, and the static twin of every row whose weights move, on seeds that each pre-train a base of their
own; then one table, one JSON and the plots in out/suite-<name>/results (with --publish DIR, the benchmark's files
too). Rerunning the same command finishes what is missing and reuses every finished run.

Cost on 2 CPU cores with the CPU preset (measured in the published run, docs/headroom.md): each row is one CPT run
per seed (about 3.5 minutes with its evaluations), each seed one base (about 11 minutes), the agent's and RegMix's
rows their proxy work (128 trajectories, each beside its static twin, and 64 constant runs: about 3 hours once;
--collect 64 collects fewer), the oracle its search (about 5 runs, once); --variants none leaves out the named
variants and controls (the paper defaults, the grid, the schedules and the oracle remain). A quick look, a few runs:

    python -m experiments.suite --suite default --seeds 1 --mixers bandit --sweep 0.1,0.8 --schedules none \
        --oracle none
    python -m experiments.suite --suite default -- --steps 200          # train.py's options after --
    python -m experiments.suite --collect 64 --trajectories out/traj -- --config config/proxy.py
"""


def main(argv=None):
    argv = list(sys.argv[1:] if argv is None else argv)
    train_args = argv[argv.index("--") + 1:] if "--" in argv else []
    own = argv[:argv.index("--")] if "--" in argv else argv
    parser = Parser(description=USAGE, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--suite", choices=sorted(SUITES), help="run this suite")
    parser.add_argument("--preset", default="cpu", choices=sorted(PRESETS), help="cpu (the defaults) or gpu")
    parser.add_argument("--seeds", type=int, default=None, help="at most this many seeds per row (default: the "
                        "suite's plan: 5 for the paper defaults, the oracle and their twins, 2 for the others, 1-5 for the grid)")
    parser.add_argument("--mixers", default=None, help="comma-separated mixers besides the references (default: "
                        "every mixer; 'none': the references alone)")
    parser.add_argument("--sweep", default=None, help="the static grid's target shares besides natural (default: "
                        "the suite's; 'none': natural alone)")
    parser.add_argument("--splits", default=None, help="the grid's splits in each field (default: tokens,uniform)")
    parser.add_argument("--schedules", default=None, help="hand-written schedules (default: the suite's; 'none')")
    parser.add_argument("--variants", default="all", choices=["all", "none"], help="the mixers' named variants and "
                        "controls beside their paper defaults (all), or the paper defaults alone (none)")
    parser.add_argument("--oracle", default=None, help="the oracle's candidate target shares (experiments/oracle.py;"
                        " default: the suite's, 0.05,0.15,0.3,0.5,0.8; 'none': no oracle row)")
    parser.add_argument("--collect", type=int, default=None,
                        help="proxy runs to collect, for the agent and for RegMix each (the suite's default: 128 "
                        "trajectories for the agent, 64 constant runs for RegMix)")
    parser.add_argument("--swarm", default="auto", choices=swarm.MODES, help="train the proxy runs as swarms "
                        "(swarm.py): auto = on a GPU (the CPU measured slower), on, off (one at a time)")
    parser.add_argument("--trajectories", default=None, help="without --suite: the folder that keeps them")
    parser.add_argument("--publish", default=None, metavar="DIR",
                        help="also write the benchmark's files there (report.publish; docs/benchmark for the record)")
    args = parser.parse_args(own)
    for flag in ("collect", "seeds"):
        if getattr(args, flag) is not None and getattr(args, flag) <= 0:
            sys.exit(f"error: --{flag} {getattr(args, flag)} must be a positive integer")
    if not args.suite and not (args.collect and args.trajectories):
        sys.exit("error: give --suite NAME (the comparison) or --collect N --trajectories DIR (trajectories only)")
    if args.suite and args.trajectories:
        sys.exit("error: --trajectories DIR is for collection alone; the suite keeps its own in its folder")
    if int(os.environ.get("WORLD_SIZE", "1")) > 1:
        sys.exit("error: the suite runs one process (it writes and deletes run folders); start it with python -m, "
                 "not torchrun")

    def listed(text):
        return None if text is None else [x for x in text.split(",") if x and x != "none"]

    def target_shares(flag):  # --sweep, --oracle: None (the suite's), [] (none) or target shares in [0, 1]
        text = getattr(args, flag)
        try:
            values = None if text is None else [float(x) for x in listed(text)]
            if values is None or (values or text == "none") and len(set(values)) == len(values) and all(
                    0 <= x <= 1 for x in values):
                return values
        except ValueError:
            pass
        sys.exit(f"error: --{flag} {text!r} must be distinct target shares like 0.05,0.5,0.8 (or none)")
    shares = {flag: target_shares(flag) for flag in ("sweep", "oracle")}
    try:
        if not args.suite:
            cfg = validate_config(parse_config(["--mixer", "random"] + train_args))  # or --mixer regmix_proxy
            return collect(cfg, args.collect, args.trajectories, swarm_mode=args.swarm)
        summary, failed = run_suite(args.suite, args.preset, args.seeds, listed(args.mixers), train_args,
                                    args.collect, shares["sweep"], listed(args.schedules), args.publish,
                                    swarm_mode=args.swarm, splits=listed(args.splits), oracle_shares=shares["oracle"],
                                    variants=args.variants == "all")
    except UserError as e:
        sys.exit(f"error: {e}")
    except train.Interrupted as e:  # the run stopped at a step boundary with its checkpoint: a rerun resumes it
        print(f"interrupted: {e}; every finished run is kept and the interrupted one continues from its "
              f"checkpoint: rerun the same command", file=sys.stderr, flush=True)
        sys.exit(128 + e.signum)
    if failed:
        sys.exit(f"error: {len(failed)} run(s) failed: {'; '.join(failed)}; the table holds the others; rerun "
                 "the same command to retry them")
    return summary


if __name__ == "__main__":
    main()
