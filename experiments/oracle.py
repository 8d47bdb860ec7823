"""
An oracle for the headroom of adapting: a budgeted search over schedules that reads validation only.

Greedy look-ahead. The run's steps are cut into intervals of --interval steps. At each interval the live run
(model, optimizer, sampler and generator state: a checkpoint) is continued under each candidate mixture for that
one interval, every branch from the same checkpoint, and the branch with the lowest validation objective
(mixer.objective over the interval's last evaluation) becomes the live run. The learning rate follows the whole
run's schedule throughout, so the live run after the last interval is a CPT run like any other. Its compute is
every branch's: about as many CPT runs as there are candidates.

The schedule found is written as a replay file (mixer.ReplayMixer), which train.py runs frozen on any seed, its
twin beside it (a static run at the mixture it sampled):

    python -m experiments.oracle --out_dir out/oracle                       # seed 1337 (train.py's defaults)
    python -m experiments.oracle --out_dir out/oracle --shares 0.1,0.3,0.6 --interval 200 -- --seed 1338
    python -m experiments.oracle --mixtures mixtures.json -- --corpus skills ...   # named mixtures of domains
    python train.py --mixer replay --replay out/oracle/schedule.json --seed S --run_name replay-S   # per seed S
    python train.py --mixer static --weights_from out/replay-S --seed S --run_name twin-S
    python train.py --seed S --run_name static-S                                   # natural (seed 1337: cpt-static)
    python -m experiments.oracle --judge out                   # the paired intervals over the seeds found there
    python -m experiments.oracle --judge out --search out/oracle --publish docs/benchmark/headroom.json

Greedy is myopic (a mixture that pays within one interval can cost later), so what it finds is a lower bound
on what adapting can win here, not the best schedule. The candidates are target-field shares, each field's
share split by its domains' training tokens (the static grid's "tokens" split), or with --mixtures a JSON file of
named mixtures over the domains ({"copy_first": {"prose": 0.3, "copy": 0.7}, ...}; a domain left out gets 0), for
a setting where the split within a field is what matters. The test split is never read: the frozen runs'
reports judge the schedule.
"""

import argparse
import json
import os
import shutil
import sys
import time

import numpy as np

import train
from common import DataError, UserError, read_json, write_json_atomic
from data import average_weights_of_run
from distributed import setup_distributed
from evaluate import field_losses, load_result, read_log
from experiments.report import paired_interval
from experiments.tables import interval_text
from mixer import ReplayMixer, field_split, objective
from model import load_checkpoint
from options import parse_config, validate_config
from prepare import ensure_corpus

SHARES = "0.05,0.15,0.3,0.5,0.8"  # the candidates' target shares: the static grid's range
INTERVAL = 100  # steps: 8 decisions in the default 800-step run


def val_objective(record, fields):
    """The objective of one logged evaluation: (S + T) / 2 over its validation losses."""
    return float(objective(*field_losses(record["val_loss"], fields)))


def candidate_mixtures(corpus, shares):
    tokens = np.asarray(corpus.train_tokens, dtype=np.float64)
    target = np.array([f == "target" for f in corpus.fields])
    return [field_split(tokens, target, share).tolist() for share in shares]


def named_mixtures(corpus, path):
    """{name: weights in the corpus' domain order} from a JSON file of {name: {domain: weight}}, each normalised;
    a bad file is refused naming what to fix."""
    try:
        with open(path) as f:
            named = json.load(f)
    except (OSError, ValueError) as e:
        raise DataError(f"--mixtures {path} cannot be read as JSON ({e}); write {{\"NAME\": {{\"DOMAIN\": WEIGHT}}}}")
    if not isinstance(named, dict) or not named or not all(isinstance(m, dict) for m in named.values()):
        raise DataError(f"--mixtures {path} must hold {{\"NAME\": {{\"DOMAIN\": WEIGHT, ...}}, ...}}, one or more")
    mixtures = {}
    for name, mixture in named.items():
        unknown = sorted(set(mixture) - set(corpus.domains))
        weights = np.array([mixture.get(d, 0.0) for d in corpus.domains], dtype=np.float64)
        if unknown or not np.all(np.isfinite(weights)) or np.any(weights < 0) or weights.sum() <= 0:
            raise DataError(f"--mixtures {path}: mixture {name} needs weights >= 0, not all 0, over this corpus' "
                            f"domains {corpus.domains}" + (f" (it names {unknown})" if unknown else ""))
        mixtures[str(name)] = (weights / weights.sum()).tolist()
    return mixtures


def write_replay(path, domains, steps, weights):
    write_json_atomic(path, {"domains": list(domains), "steps": list(steps), "weights": [list(w) for w in weights]})


def runner_up_margin(scores):
    """How much the interval's choice mattered: the second-lowest validation objective minus the lowest (None
    where there was one candidate)."""
    ranked = sorted(scores)
    return ranked[1] - ranked[0] if len(ranked) > 1 else None


def search(cfg, shares, interval, out_dir, log=print, mixtures=None):
    """The greedy look-ahead over `shares` (or the named `mixtures` file) every `interval` steps from cfg's base
    (cfg: train.py's validated options; its mixer options are not read). Writes out_dir/schedule.json (the
    replay file) and out_dir/search.json (every branch's validation objective, the choices, the compute);
    returns the latter."""
    rank, world, device = setup_distributed(cfg["device"])
    if world > 1:
        raise UserError("the oracle's search runs in one process; start it with python, not torchrun")
    corpus = ensure_corpus(cfg)
    base_dir = train.ensure_base(cfg, corpus, device)
    if mixtures:
        named = named_mixtures(corpus, mixtures)
        names, candidates, folders = list(named), list(named.values()), [f"mixture-{n}" for n in named]
    else:
        names, candidates = [str(s) for s in shares], candidate_mixtures(corpus, shares)
        folders = [f"share-{s}" for s in shares]
    steps = cfg["steps"]
    bounds = list(range(0, steps, interval)) + [steps]
    chosen, intervals, live, t0 = [], [], None, time.time()
    for i, (start, end) in enumerate(zip(bounds, bounds[1:])):
        scores, seconds = [], []
        for c, weights in enumerate(candidates):
            branch = os.path.join(out_dir, f"interval-{i}", folders[c])
            if os.path.exists(branch):
                shutil.rmtree(branch)  # a search is rerun whole: a branch folder holds one try
            os.makedirs(branch)
            write_replay(os.path.join(branch, "schedule.json"), corpus.domains, bounds[:i + 1], chosen + [weights])
            mixer = ReplayMixer(corpus, {**cfg, "replay": os.path.join(branch, "schedule.json")})
            resume_state = None
            if live is not None:  # a fresh copy for every branch: training changes the optimizer's state in place
                shutil.copy(os.path.join(live, "log.jsonl"), os.path.join(branch, "log.jsonl"))
                resume_state = load_checkpoint(os.path.join(live, "ckpt.pt"))
            model = train.base_model(base_dir, cfg["seed"], device)
            schedule = train.Schedule("oracle", end, cfg["lr"], cfg["warmup_steps"], steps, cfg["eval_interval"],
                                      cfg["seed"])
            info = train.train(cfg, corpus, model, mixer, branch, schedule, device, resume_state)
            last = [r for r in read_log(branch) if "val_loss" in r][-1]
            assert last["step"] == end, f"{branch}: the last evaluation is at step {last['step']}, not {end}"
            scores.append(val_objective(last, corpus.fields))
            seconds.append(info["wall_seconds"] - (resume_state or {}).get("wall_seconds", 0.0))
        best = int(np.argmin(scores))
        chosen.append(candidates[best])
        live = os.path.join(out_dir, f"interval-{i}", folders[best])
        intervals.append({"start": start, "end": end, "val_objective": dict(zip(names, scores)), "chosen": names[best],
                          **({} if mixtures else {"chosen_share": shares[best]}),
                          "margin": runner_up_margin(scores), "seconds": sum(seconds)})
        log(f"oracle: steps {start}-{end}: " + ", ".join(f"{n} {v:.4f}" for n, v in zip(names, scores))
            + f" -> {names[best]}")
    write_replay(os.path.join(out_dir, "schedule.json"), corpus.domains, bounds[:-1], chosen)
    record = {"what": "greedy look-ahead over " + ("the named mixtures of " + mixtures if mixtures else
                                                   "target shares (split by tokens within each field)") +
                      ", on validation", "seed": cfg["seed"], "base_dir": base_dir, "steps": steps,
              "interval": interval, "candidates": dict(zip(names, candidates)), "domains": corpus.domains,
              "intervals": intervals, "schedule": [x["chosen"] for x in intervals],
              **({} if mixtures else {"shares": shares, "schedule_shares": [x["chosen_share"] for x in intervals]}),
              "final_val_objective": min(intervals[-1]["val_objective"].values()),
              "compute_seconds": float(sum(x["seconds"] for x in intervals)), "wall_seconds": time.time() - t0}
    write_json_atomic(os.path.join(out_dir, "search.json"), record)
    return record


SEARCH_KEYS = ("what", "seed", "steps", "interval", "shares", "candidates", "schedule", "schedule_shares",
               "final_val_objective", "compute_seconds", "intervals")  # what a search's record publishes
JUDGED = ("replay", "twin", "static")  # the frozen schedule, its twin, natural: the run folders NAME-SEED


def judge(runs_dir, names=JUDGED):
    """The frozen schedule against its twin and against natural, paired by seed, on the test split: the run
    folders replay-S, twin-S and static-S (cpt-static for seed 1337) under runs_dir, or those named `names`
    (schedule, twin, natural). Returns {"seeds", "replay", "twin", "natural": {seed: test objective},
    "delta_twin", "delta_natural": paired intervals, "runs": {folder: its test losses and validation curve}}."""
    objectives, runs = {}, {}
    for role, name in zip(JUDGED, names):
        for folder in sorted(os.listdir(runs_dir)):
            seed = folder[len(name) + 1:]
            if folder.startswith(f"{name}-") and seed.isdigit() and os.path.exists(os.path.join(runs_dir, folder,
                                                                                                 "eval.json")):
                objectives.setdefault(role, {})[int(seed)] = judged_run(runs_dir, folder, role, runs)
    if names[2] == "static" and os.path.exists(os.path.join(runs_dir, "cpt-static", "eval.json")):
        objectives.setdefault("static", {}).setdefault(1337, judged_run(runs_dir, "cpt-static", "static", runs))
    if not objectives.get("replay"):
        raise UserError(f"{runs_dir} holds no finished {names[0]}-SEED run; run the schedule frozen first (python "
                        "train.py --mixer replay --replay out/oracle/schedule.json --seed S --run_name replay-S)")
    replay, twin, natural = (objectives.get(role, {}) for role in JUDGED)
    return {"seeds": sorted(replay), "replay": replay, "twin": twin, "natural": natural,
            "delta_twin": paired_interval(replay, twin), "delta_natural": paired_interval(replay, natural),
            "runs": runs}


def judged_run(runs_dir, folder, role, runs):
    """A judged run's test objective; records in `runs` its role, per-domain test losses, validation curve, final
    validation objective and the mixture it sampled (its rows per domain over the run)."""
    result = load_result(os.path.join(runs_dir, folder))
    curve = [r for r in read_log(os.path.join(runs_dir, folder)) if "val_loss" in r]
    runs[folder] = {"role": role, "objective": result["summary"]["balanced_loss"],
                    "domains": result["final"]["domains"], "test_loss": result["final"]["test_loss"],
                    "val_steps": [r["step"] for r in curve], "val_loss": [r["val_loss"] for r in curve],
                    "val_objective": val_objective(curve[-1], result["final"]["fields"]) if curve else None,
                    "mixture": average_weights_of_run(os.path.join(runs_dir, folder), result["final"]["domains"])
                    .tolist()}
    return runs[folder]["objective"]


def publish(path, setting, judged, what, search_dir=None):
    """Writes (or replaces) `setting`'s section of the headroom file at `path` (docs/benchmark/headroom.json):
    what was run, the search (its schedule, validation objective and compute) where there was one, and the
    judged runs with their paired intervals. The other settings' sections are kept."""
    record = read_json(path, "the headroom file") if os.path.exists(path) else {}
    search_record = read_json(os.path.join(search_dir, "search.json"), "the oracle's search") if search_dir else None
    for x in (search_record or {}).get("intervals", []):  # a search from before the record kept its margins
        x.setdefault("margin", runner_up_margin(list(x["val_objective"].values())))
    record[setting] = {"what": what, "search": search_record and {
        key: search_record[key] for key in SEARCH_KEYS if key in search_record}, **judged}
    write_json_atomic(path, record)
    return record[setting]


def main(argv=None):
    argv = sys.argv[1:] if argv is None else list(argv)
    ours, train_args = (argv[:argv.index("--")], argv[argv.index("--") + 1:]) if "--" in argv else (argv, [])
    parser = argparse.ArgumentParser(prog="python -m experiments.oracle", description=__doc__.split("\n\n")[1],
                                     formatter_class=argparse.RawDescriptionHelpFormatter,
                                     epilog="train.py's options follow --, e.g. -- --seed 1338 --out_dir out")
    parser.add_argument("--out_dir", default="out/oracle", help="the search's folder (default out/oracle)")
    parser.add_argument("--shares", default=SHARES, help=f"the candidates' target shares (default {SHARES})")
    parser.add_argument("--mixtures", metavar="FILE", help="candidates: a JSON file of named mixtures over the "
                        "domains, {\"NAME\": {\"DOMAIN\": WEIGHT}}, instead of --shares")
    parser.add_argument("--interval", type=int, default=INTERVAL, help=f"steps per decision (default {INTERVAL})")
    parser.add_argument("--judge", metavar="RUNS_DIR", help="print the frozen schedule's paired intervals against "
                        "its twin and natural from the runs in RUNS_DIR, then stop")
    parser.add_argument("--names", default=",".join(JUDGED), help="with --judge: the run folders' names (NAME-SEED) "
                        "of the schedule, its twin and natural (default %(default)s)")
    parser.add_argument("--publish", metavar="FILE", help="with --judge: write the judged runs (and --search's "
                        "record) as the section --setting of FILE, e.g. docs/benchmark/headroom.json")
    parser.add_argument("--setting", default="default", help="with --publish: the section's name")
    parser.add_argument("--what", default="", help="with --publish: what the runs were, in a sentence")
    parser.add_argument("--search", metavar="DIR", help="with --publish: the search's folder (its search.json)")
    args = parser.parse_args(ours)
    if args.judge:
        names = args.names.split(",")
        if len(names) != 3 or not all(names):
            parser.error(f"--names {args.names}: give three folder names, the schedule's, its twin's, natural's")
        try:
            judged = judge(args.judge, names)
            if args.publish:
                publish(args.publish, args.setting, judged, args.what, args.search)
        except UserError as e:
            sys.exit(f"error: {e}")
        for seed in judged["seeds"]:
            print(f"seed {seed}: replay {judged['replay'][seed]:.4f}, twin {judged['twin'].get(seed, float('nan')):.4f}"
                  f", natural {judged['natural'].get(seed, float('nan')):.4f}")
        for name in ("twin", "natural"):
            d = judged[f"delta_{name}"]
            print(f"replay - {name}: {interval_text(d, 4) if d['seeds'] else 'n/a'} over {d['seeds']} seeds")
        return judged
    if args.mixtures and args.shares != SHARES:
        parser.error("--shares and --mixtures each give the candidates: choose one")
    try:
        shares = [float(x) for x in args.shares.split(",")]
    except ValueError:
        parser.error(f"--shares {args.shares} must be numbers in [0, 1], e.g. {SHARES}")
    if not shares or not all(0 <= s <= 1 for s in shares) or args.interval <= 0:
        parser.error(f"--shares must be numbers in [0, 1] (e.g. {SHARES}) and --interval a positive integer")
    try:
        # the search's folder is its run folder (a finished cpt-static beside it is no concern of the search's)
        cfg = validate_config(parse_config(train_args + ["--run_name", os.path.abspath(args.out_dir)]))
        record = search(cfg, shares, args.interval, args.out_dir, mixtures=args.mixtures)
    except UserError as e:
        sys.exit(f"error: {e}")
    print(f"oracle: {record['schedule']}, validation objective {record['final_val_objective']:.4f}, "
          f"{record['compute_seconds']:,.0f} s; run it frozen: python train.py --mixer replay --replay "
          f"{os.path.join(args.out_dir, 'schedule.json')}")
    return record


if __name__ == "__main__":
    main()
