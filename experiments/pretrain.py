"""
The pretrain experiment: ODM and AC-ODM in the regime their papers claim, pre-training from scratch.
Every run pre-trains a base on the source field with a mixer (train.py --base_mixer), from a fresh
init, with validation every --base_eval_interval steps. Nothing imports this file.

    python -m experiments.pretrain                                # 3 seeds on the CPU (about an hour on 2 cores)
    python -m experiments.pretrain --publish docs/benchmark       # and write online.json, pretrain-summary.json there
    python -m experiments.pretrain --seeds 1 -- --base_steps 60   # train.py options after --
    python -m experiments.pretrain --summary docs/benchmark/pretrain-summary.json --publish docs/benchmark
                                  # online.json again from a new CPT suite, the published pretrain rows reused

Rows, each paired by seed with the static run of its own model:
    proxy  static             natural source proportions, the default model (the reference)
    proxy  bandit             ODM (the bandit mixer)
    proxy  acodm              AC-ODM learning online (the paper's non-proxy mode); its actor is saved
    larger static             the reference of the larger model (--n_embd 192)
    larger acodm              the same seed's proxy actor, frozen (the paper's proxy mode)
    larger acodm (untrained)  a frozen random actor (the control)
    ... twin                  each moving row's static twin: its own model pre-trained at the mixture that row
                              sampled, averaged over the run (train.py --base_weights_from)
The measure: steps to reach the reference's final mean source validation loss (linear between
evaluations; a run that never gets there counts as its whole budget and is marked as not reached), and
its paired difference to the reference with a 95% t-interval (report.paired_interval).

What the papers predict, written before the runs: ODM (Albalak et al., 2023) reaches the final
perplexity of the next best method in 19% fewer iterations (The Pile, 1B parameters); AC-ODM (Ma et al.,
2025) reaches the optimal validation perplexity in up to 66% fewer steps than competitive baselines
(Pythia-1B), with a policy trained on a small proxy and transferred to the larger model. At our scale
the predictions are: bandit and AC-ODM reach static's final loss earlier (a negative difference whose
interval excludes 0), by about 19% and up to 66% of the budget, and the transferred actor beats the
untrained one.
"""

import argparse
import json
import os
import sys
import time

import numpy as np

import train
from experiments import report
from common import Parser, UserError, read_json, write_json_atomic
from evaluate import read_log
from options import parse_config, validate_config
from prepare import ensure_corpus

SEEDS = [1337, 1338, 1339]
BUDGET = ["--base_steps", "400", "--base_warmup_steps", "20", "--base_eval_interval", "20", "--task_problems", "100"]
LARGER = ["--n_embd", "192"]
TRANSFER, CONTROL = "larger acodm (proxy actor)", "larger acodm (untrained)"
TWINNED = ["bandit", "acodm", TRANSFER, CONTROL]  # the moving rows: each gets "<row> twin"


def rows(folder, seed):
    """{label: (model, train.py options)} for one seed; the transfer loads the same seed's proxy actor."""
    actor = os.path.join(folder, f"acodm-actor-s{seed}.pt")
    return {
        "static": ("proxy", []),
        "bandit": ("proxy", ["--base_mixer", "bandit"]),
        "acodm": ("proxy", ["--base_mixer", "acodm", "--acodm_save", actor]),
        "larger static": ("larger", LARGER),
        TRANSFER: ("larger", LARGER + ["--base_mixer", "acodm", "--acodm_load", actor,
                                                           "--acodm_frozen"]),
        CONTROL: ("larger", LARGER + ["--base_mixer", "acodm", "--acodm_untrained"]),
    }


def twin_options(label, base_dir):
    """A moving row's twin: the same model, its base pre-trained static at the mixture the row's base sampled."""
    return (LARGER if label.startswith("larger") else []) + ["--base_weights_from", base_dir]


def source_curve(base_dir):
    """(steps, mean source-field validation loss) at every evaluation of a base's pre-training."""
    records = [r for r in read_log(base_dir) if "val_loss" in r]
    fields = np.array(read_json(os.path.join(base_dir, "base_eval.json"), "a base's evaluation")
                      ["eval"]["fields"])
    return (np.array([r["step"] for r in records], dtype=np.float64),
            np.array([np.mean(np.array(r["val_loss"])[fields == "source"]) for r in records]))


def steps_to_reach(steps, losses, level):
    """The first step at which the curve is at or below level, linear between evaluations; None if never."""
    below = np.flatnonzero(losses <= level)
    if not len(below):
        return None
    i = below[0]
    if i == 0:
        return float(steps[0])
    fraction = (losses[i - 1] - level) / (losses[i - 1] - losses[i])
    return float(steps[i - 1] + fraction * (steps[i] - steps[i - 1]))


def summarize(base_dirs, budget):
    """Per row and seed: steps to reach the reference's final loss, the final loss; per row: the paired
    differences to the reference."""
    curves = {label: {s: source_curve(d) for s, d in by_seed.items()} for label, by_seed in base_dirs.items()}
    summary = {}
    for label, by_seed in curves.items():
        reference = "larger static" if label.startswith("larger") else "static"
        runs = {}
        for seed, (steps, losses) in by_seed.items():
            if seed not in curves.get(reference, {}):
                continue
            level = curves[reference][seed][1][-1]
            reached = steps_to_reach(steps, losses, level)
            runs[seed] = {"steps_to_reach": budget if reached is None else reached, "reached": reached is not None,
                          "final_source_val_loss": float(losses[-1]), "reference_final": float(level)}
        ref_runs = {s: r for s, r in summary.get(reference, {}).get("runs", {}).items()}
        summary[label] = {
            "reference": reference, "runs": runs,
            "steps_to_reach_mean": float(np.mean([r["steps_to_reach"] for r in runs.values()])) if runs else None,
            "not_reached": sum(not r["reached"] for r in runs.values()),
            "delta_static": report.paired_interval({s: r["steps_to_reach"] for s, r in runs.items()},
                                                   {s: r["steps_to_reach"] for s, r in ref_runs.items()}),
            "delta_final_loss": report.paired_interval(
                {s: r["final_source_val_loss"] for s, r in runs.items()},
                {s: r["final_source_val_loss"] for s, r in ref_runs.items()})}
    for label in TWINNED:  # did the moving help, against the same mixture held still? (steps, and the final loss,
        if label in summary and f"{label} twin" in summary:  # which a run that never reaches the level still has)
            for key, measure in (("delta_twin", "steps_to_reach"), ("delta_twin_final_loss", "final_source_val_loss")):
                summary[label][key] = report.paired_interval(
                    {s: r[measure] for s, r in summary[label]["runs"].items()},
                    {s: r[measure] for s, r in summary[f"{label} twin"]["runs"].items()})
    transfer, control = summary.get(TRANSFER), summary.get(CONTROL)
    if transfer and control:  # did the proxy's training help, against the same actor untrained?
        transfer["delta_untrained"] = report.paired_interval(
            {s: r["steps_to_reach"] for s, r in transfer["runs"].items()},
            {s: r["steps_to_reach"] for s, r in control["runs"].items()})
    return summary


def table(summary, budget):
    lines = [f"steps to reach the reference's final mean source validation loss (budget {budget} steps); "
             "differences paired by seed, 95% t-interval",
             "| row | seeds | steps to reach | not reached | vs reference (steps) | final loss vs reference (nats) "
             "| vs own twin (steps) | final loss vs own twin (nats) |", "|---|---|---|---|---|---|---|---|"]
    for label, r in summary.items():
        steps = "n/a" if r["steps_to_reach_mean"] is None else f"{r['steps_to_reach_mean']:.1f}"
        lines.append(f"| {label} | {len(r['runs'])} | {steps} | {r['not_reached']} | "
                     f"{report.interval_text(r['delta_static'])} | {report.interval_text(r['delta_final_loss'])} | "
                     + (report.interval_text(r["delta_twin"]) if "delta_twin" in r else "") + " | "
                     + (report.interval_text(r["delta_twin_final_loss"]) if "delta_twin_final_loss" in r else "")
                     + " |")
    return "\n".join(lines)


def main(argv=None):
    argv = list(sys.argv[1:] if argv is None else argv)
    train_args = argv[argv.index("--") + 1:] if "--" in argv else []
    own = argv[:argv.index("--")] if "--" in argv else argv
    parser = Parser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", type=int, default=len(SEEDS), help="seeds per row (default 3)")
    parser.add_argument("--publish", default=None, metavar="DIR", help="also write DIR/online.json, with the CPT "
                        "suite's numbers from --cpt_results, and DIR/pretrain-summary.json (out/pretrain/summary.json)")
    parser.add_argument("--cpt_results", default=os.path.join("out", "suite-default", "results", "results.json"),
                        help="the CPT suite's results.json (python -m experiments.suite --suite default) for online.json")
    parser.add_argument("--summary", default=None, metavar="FILE", help="with --publish: the pretrain rows from this "
                        "summary (a published pretrain-summary.json) instead of running them")
    args = parser.parse_args(own)
    if args.seeds <= 0:
        sys.exit(f"error: --seeds {args.seeds} must be a positive integer")
    if args.summary:
        if not args.publish:
            sys.exit("error: --summary FILE only republishes; give --publish DIR with it")
        try:
            with open(args.summary) as f:
                summary = json.load(f)
            if not isinstance(summary, dict) or not {"rows", "budget_steps"} <= summary.keys():
                raise KeyError("rows, budget_steps")
        except (OSError, ValueError, KeyError) as e:
            sys.exit(f"error: --summary {args.summary} is not a pretrain summary ({type(e).__name__}); give the "
                     "pretrain-summary.json a run published, or run the experiment without --summary")
        return publish(args.publish, args.cpt_results, summary)
    seeds = [SEEDS[0] + i for i in range(args.seeds)]
    t_start = time.time()
    try:
        cfg = parse_config(BUDGET + train_args)
        cfg = validate_config(cfg)
        folder = os.path.join(cfg["out_dir"], "pretrain")
        os.makedirs(folder, exist_ok=True)
        base_dirs = {}
        jobs = [(label, seed, options) for seed in seeds for label, (_, options) in rows(folder, seed).items()]
        for number, (label, seed, options) in enumerate(sorted(jobs, key=lambda j: j[0].startswith("larger")), 1):
            print(f"\n#### pretrain run {number}/{len(jobs)}: {label} seed {seed}")
            run_cfg = parse_config(BUDGET + train_args + options + ["--out_dir", folder, "--base_seed", str(seed)])
            run_cfg = validate_config(run_cfg)
            corpus = ensure_corpus(run_cfg)
            base_dirs.setdefault(label, {})[seed] = train.ensure_base(run_cfg, corpus, run_cfg["device"])
        for label, seed in [(label, seed) for label in TWINNED for seed in seeds]:
            print(f"\n#### pretrain twin: {label} twin seed {seed}")
            options = twin_options(label, base_dirs[label][seed])
            run_cfg = validate_config(parse_config(BUDGET + train_args + options + ["--out_dir", folder,
                                                                                  "--base_seed", str(seed)]))
            base_dirs.setdefault(f"{label} twin", {})[seed] = train.ensure_base(run_cfg, ensure_corpus(run_cfg),
                                                                              run_cfg["device"])
    except UserError as e:
        sys.exit(f"error: {e}")
    summary = {"budget_steps": cfg["base_steps"], "seeds": seeds, "train_args": BUDGET + train_args,
               "rows": summarize(base_dirs, cfg["base_steps"]), "invocation_seconds": time.time() - t_start,
               # every base's own training seconds, whether this invocation trained it or found it made
               "compute_seconds": sum(read_json(os.path.join(d, "base_eval.json"), "a base's evaluation")["run"]
                                      ["wall_seconds"] for by_seed in base_dirs.values() for d in by_seed.values())}
    write_json_atomic(os.path.join(folder, "summary.json"), summary)
    print("\n" + table(summary["rows"], cfg["base_steps"]))
    if "delta_untrained" in summary["rows"].get(TRANSFER, {}):
        print(f"{TRANSFER} against {CONTROL}, steps: "
              f"{report.interval_text(summary['rows'][TRANSFER]['delta_untrained'])}")
    return publish(args.publish, args.cpt_results, summary) if args.publish else summary


def publish(folder, cpt_results, summary):
    """online.json (the CPT suite's numbers from cpt_results beside the pretrain rows) and pretrain-summary.json
    (the summary as written) in `folder`."""
    cpt = read_json(cpt_results, "the CPT suite's results") if os.path.exists(cpt_results) else None
    if cpt is None:
        print(f"{cpt_results} does not exist (run python -m experiments.suite --suite default first): online.json "
              "gets the pretrain rows alone")
    os.makedirs(folder, exist_ok=True)
    for name, content in (("online.json", report.benchmark_online(cpt, summary)), ("pretrain-summary.json", summary)):
        write_json_atomic(os.path.join(folder, name), content)
        print(f"wrote {os.path.join(folder, name)}")
    return summary


if __name__ == "__main__":
    main()
