"""
The experiments that drive many runs: the comparison suite and the Data Mixing Agent's trajectory
collection. Nothing imports this file.

The suite: every mixer from the same base, with the same model, optimiser, budget and seeds, one table,
one JSON and the plots; a rerun finishes only what is missing, and a run that fails is reported by name
while the others go on (the exit status says that something failed).

    python suite.py --suite default                  # CPU preset, 3 seeds (about an hour on 2 cores)
    python suite.py --suite default --preset gpu     # config/gpu.py, on one GPU
    python suite.py --suite default --seeds 1 --mixers static,bandit -- --steps 200   # train.py options after --

Trajectory collection (the agent's and RegMix's data): N CPT runs of the random mixer from the base.

    python suite.py --collect 12 --trajectories out/traj -- --steps 200
"""

import argparse
import math
import os
import shutil
import sys
import time
import traceback
from contextlib import redirect_stdout

import numpy as np
from tqdm import tqdm

import agent
import train
from data import DataError
from distributed import folder_lock
from evaluate import COLUMNS, field_mean, fmt, load_result, read_log
from mixer import ConfigError, RandomMixer
from options import MIXERS, config_for_mixer, make_mixer, parse_config, validate_config
from prepare import write_json_atomic, write_text_atomic

SUITES = {  # the experiment; the preset (train.py's options) gives the model and the budget
    "default": {"seeds": 3, "trajectories": 12, "trajectory_seed": 100000,
                "mixers": ["static", "bandit", "dbl", "velocity", "acodm", "regmix", "agent"]},
}
PRESETS = {"cpu": [], "gpu": ["--config", "config/gpu.py"]}
NOT_IN_SUITE = {"random"}  # the exploration mixer: its runs are the agent's trajectories


def suite_mixers(spec):
    """The suite's mixers in its order, then any registered mixer it does not list (new ones gain rows)."""
    listed = [m for m in spec["mixers"] if m in MIXERS]
    return listed + sorted(set(MIXERS) - set(listed) - NOT_IN_SUITE)


def mean_and_spread(values):
    values = [v for v in values if v is not None and math.isfinite(v)]
    if not values:
        return None, None
    return float(np.mean(values)), float(np.std(values, ddof=1)) if len(values) > 1 else 0.0


# ----------------------------------------------------------------------------- trajectories

def collect_trajectories(cfg, count, folder, log=print):
    """The Data Mixing Agent's environment: `count` CPT runs of the random mixer from the base, each
    T = steps / mix_interval intervals with feedback at every boundary (seed = --seed + index, schedules
    taken in turn unless --random_schedule names one). Each finished run becomes one file of the
    trajectory buffer, then its run folder is deleted; a rerun collects only the missing indices."""
    if cfg["steps"] % cfg["mix_interval"]:
        raise ConfigError(f"--collect: --steps {cfg['steps']} must be a multiple of --mix_interval "
                          f"{cfg['mix_interval']} (a trajectory is whole intervals)")
    corpus = train.ensure_corpus(cfg)
    base_dir = train.ensure_base(cfg, corpus, cfg["device"])
    with folder_lock(folder, "the trajectory folder"):
        collect_into(cfg, count, folder, corpus, base_dir, log)


def collect_into(cfg, count, folder, corpus, base_dir, log):
    buffer = agent.TrajectoryBuffer(folder)
    for name in os.listdir(folder):  # the run folder of a trajectory that was interrupted
        if name.startswith("run-"):
            shutil.rmtree(os.path.join(folder, name))
    missing = buffer.missing(count)
    log(f"{count - len(missing)} of {count} trajectories already in {folder}")
    for index in tqdm(missing, desc="trajectories", initial=count - len(missing), total=count, unit="traj",
                      file=sys.stdout, dynamic_ncols=True):
        schedule = cfg["random_schedule"] or RandomMixer.SCHEDULES[index % len(RandomMixer.SCHEDULES)]
        run_cfg = {**config_for_mixer(cfg, "random"), "random_schedule": schedule, "seed": cfg["seed"] + index,
                   "run_name": os.path.join(os.path.abspath(folder), f"run-{index:05d}"), "resume": False,
                   "eval_interval": cfg["mix_interval"], "ckpt_interval": cfg["steps"], "log_interval": cfg["steps"]}
        with open(os.devnull, "w") as quiet, redirect_stdout(quiet):  # one progress bar, not every run's lines
            mixer = make_mixer("random", corpus, run_cfg)
            run_dir, _, mixer, info = train.run_cpt(run_cfg, corpus, base_dir, mixer, cfg["device"])
        arrays = agent.trajectory_from_log(read_log(run_dir), cfg["mix_interval"])
        buffer.save(index, arrays, {"domains": corpus.domains, "fields": corpus.fields, "schedule": schedule,
                                    "seed": run_cfg["seed"], "interval": cfg["mix_interval"], "base_dir": base_dir,
                                    "wall_seconds": info["wall_seconds"], "config": run_cfg})
        shutil.rmtree(run_dir)
    seconds = sum(buffer.load(i)[1]["wall_seconds"] for i in buffer.finished())
    log(f"{len(buffer.finished())} trajectories in {folder} ({seconds:.0f} s of CPT in all)")


# ----------------------------------------------------------------------------- the suite

def run_suite(suite, preset, seeds, mixers, train_args, trajectories=None, log=print):
    """Prepare what is missing (corpus, base, trajectories, agent), run every (mixer, seed) that has no
    eval.json yet (resuming from its checkpoint if it has one), then write the results folder. Returns
    (summary, failed runs)."""
    spec = SUITES[suite]
    cfg = parse_config(PRESETS[preset] + list(train_args))
    validate_config(cfg)
    mixers = mixers or suite_mixers(spec)
    unknown = [m for m in mixers if m not in MIXERS]
    if unknown:
        raise DataError(f"--mixers {','.join(unknown)}: unknown; choose from {sorted(MIXERS)}")
    seeds = [cfg["seed"] + i for i in range(seeds or spec["seeds"])]
    name = f"suite-{suite}" + ("" if preset == "cpu" else f"-{preset}")
    with folder_lock(os.path.join(cfg["out_dir"], name), "the suite folder"):
        return run_jobs(suite, cfg, name, preset, seeds, mixers, trajectories, log)


def run_jobs(suite, cfg, name, preset, seeds, mixers, trajectories, log):
    """The suite's work in out/<name>: trajectories and agent if needed, every missing run, the results."""
    spec, suite_dir = SUITES[suite], os.path.join(cfg["out_dir"], name)
    t_start = time.time()
    extra, proxy = {}, {}
    if {"agent", "regmix"} & set(mixers):
        folder = os.path.join(suite_dir, "trajectories")
        count = trajectories or spec["trajectories"]
        log(f"\n#### suite: {count} random-mixing trajectories (the agent's and RegMix's data)")
        collect_trajectories({**cfg, "seed": spec["trajectory_seed"]}, count, folder, log)
        collected = sum(m["wall_seconds"] for _, m in agent.load_trajectories(folder))
        extra["regmix"] = {"trajectories": folder}
        proxy["regmix"] = collected
        if "agent" in mixers:
            agent_path = os.path.join(suite_dir, "agent.pt")
            if not os.path.exists(agent_path):
                log("\n#### suite: training the Data Mixing Agent on the trajectories")
                agent.train_agent(folder, agent_path, {}, log)
            extra["agent"] = {"agent_path": agent_path}
            proxy["agent"] = collected + agent.load_agent(agent_path)[1]["train_seconds"]
    jobs = [(m, s) for m in mixers for s in seeds]
    failed = []
    for number, (mixer, seed) in enumerate(jobs, 1):
        run_dir = os.path.join(suite_dir, f"{mixer}-s{seed}")
        if os.path.exists(os.path.join(run_dir, "eval.json")):
            log(f"#### suite run {number}/{len(jobs)}: {mixer} seed {seed}: finished before, reused")
            continue
        resume = os.path.exists(os.path.join(run_dir, "ckpt.pt"))
        log(f"\n#### suite run {number}/{len(jobs)}: {mixer} seed {seed}" + (" (resuming)" if resume else ""))
        run_cfg = {**config_for_mixer(cfg, mixer), "seed": seed, "run_name": os.path.join(name, f"{mixer}-s{seed}"),
                   "resume": resume, **extra.get(mixer, {})}
        try:
            validate_config(run_cfg)
            train.run(run_cfg)
        except Exception as e:  # one failed run must not end the suite: report it and go on
            if not isinstance(e, train.USER_ERRORS):
                traceback.print_exc()
            log(f"#### suite run {number}/{len(jobs)}: {mixer} seed {seed} FAILED: {type(e).__name__}: {e}")
            failed.append(f"{mixer} seed {seed}")
    done = {m: [s for s in seeds if os.path.exists(os.path.join(suite_dir, f"{m}-s{s}", "eval.json"))]
            for m in mixers}
    results = {m: {s: load_result(os.path.join(suite_dir, f"{m}-s{s}")) for s in done[m]} for m in mixers if done[m]}
    if not results:
        return None, failed
    out_dir = os.path.join(suite_dir, "results")
    summary = suite_summary(results, proxy, {"suite": suite, "preset": preset, "seeds": seeds, "config": cfg,
                                             "invocation_seconds": time.time() - t_start, "failed": failed})
    paths = write_suite_outputs(summary, results, suite_dir, out_dir)
    log("\n" + suite_table(summary))
    log("\n" + "\n".join(f"wrote {p}" for p in paths))
    return summary, failed


def suite_summary(results, proxy, info):
    """Every number of the suite: per mixer, per seed and mean/spread of each metric, tokens, epochs, times."""
    mixers = {}
    for mixer, by_seed in results.items():
        first = next(iter(by_seed.values()))
        fields = first["final"]["fields"]
        target = [i for i, f in enumerate(fields) if f == "target"]
        runs = {}
        for seed, r in by_seed.items():
            run = r["run"]
            runs[str(seed)] = {**{key: r["summary"][key] for _, key in COLUMNS},
                               "tokens_per_domain": run["tokens_per_domain"],
                               "target_epochs": float(np.mean([run["epochs_per_domain"][i] for i in target])),
                               "wall_seconds": run["wall_seconds"],
                               "estimate_seconds": run.get("estimate_seconds")}
        stats = {}
        for key in [k for _, k in COLUMNS] + ["target_epochs", "wall_seconds"]:
            stats[key] = dict(zip(("mean", "spread"), mean_and_spread([x[key] for x in runs.values()])))
        stats["tokens_per_domain"] = np.mean([x["tokens_per_domain"] for x in runs.values()], axis=0).tolist()
        estimate = mean_and_spread([x["estimate_seconds"] for x in runs.values()])[0]
        mixers[mixer] = {"runs": runs, "stats": stats, "proxy_seconds": proxy.get(mixer),
                         "estimate_seconds": estimate}
    first = next(iter(next(iter(results.values())).values()))
    return {**info, "domains": first["final"]["domains"], "fields": first["final"]["fields"], "mixers": mixers}


def suite_table(summary):
    """Rows = mixers; each metric as mean ± spread (sample standard deviation over seeds)."""
    metrics = [c for c in COLUMNS if c[1] != "task_logprob"]
    header = ("| mixer | " + " | ".join(c for c, _ in metrics) + " | k tokens per domain (" +
              "/".join(summary["domains"]) + ") | target epochs | wall s | extra s |")
    lines = [f"{len(summary['seeds'])} seed(s) {summary['seeds']}, mean ± spread (sample std); extra s = target "
             "estimation (dbl, velocity) or proxy work: trajectories (regmix), trajectories + agent training (agent)",
             "", header, "|" + "---|" * (len(metrics) + 5)]
    for mixer, m in summary["mixers"].items():
        st = m["stats"]
        cells = [f"{fmt(st[k]['mean'])} ± {fmt(st[k]['spread'])}" for _, k in metrics]
        tokens = "/".join(f"{t / 1e3:.0f}" for t in st["tokens_per_domain"])
        extra = m["proxy_seconds"] if m["proxy_seconds"] is not None else m["estimate_seconds"]
        lines.append(f"| {mixer} | " + " | ".join(cells) + f" | {tokens} | {fmt(st['target_epochs']['mean'], 2)} | "
                     f"{fmt(st['wall_seconds']['mean'], 0)} | {fmt(extra, 0)} |")
    return "\n".join(lines)


def eval_points(run_dir, fields):
    """(tokens, per-domain val losses, balanced loss) at each periodic evaluation of a run."""
    rows = [r for r in read_log(run_dir) if "val_loss" in r and None not in r["val_loss"]]
    return [(r["tokens"], r["val_loss"], (field_mean(r["val_loss"], fields, "source")
                                         + field_mean(r["val_loss"], fields, "target")) / 2) for r in rows]


def mean_curves(suite_dir, mixer, seeds, fields):
    """A mixer's evaluation curves averaged over seeds (the steps shared by all its runs)."""
    curves = [eval_points(os.path.join(suite_dir, f"{mixer}-s{s}"), fields) for s in seeds]
    tokens = sorted(set.intersection(*[{p[0] for p in c} for c in curves]))
    by_tokens = [{p[0]: p for p in c} for c in curves]
    loss = [np.mean([c[t][1] for c in by_tokens], axis=0) for t in tokens]
    balanced = [np.mean([c[t][2] for c in by_tokens]) for t in tokens]
    return np.array(tokens), np.array(loss), np.array(balanced)


def write_suite_outputs(summary, results, suite_dir, out_dir):
    """results.md, results.json and four PNGs, each written to a temp name and renamed."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    os.makedirs(out_dir, exist_ok=True)
    paths = [os.path.join(out_dir, "results.md"), os.path.join(out_dir, "results.json")]
    write_text_atomic(paths[0], suite_table(summary) + "\n")
    write_json_atomic(paths[1], summary)
    mixers, domains, fields, seeds = list(summary["mixers"]), summary["domains"], summary["fields"], summary["seeds"]

    def save(fig, filename, legend_from=None):
        path = os.path.join(out_dir, filename)
        tmp = f"{path}.tmp-{os.getpid()}.png"
        if legend_from is not None:  # one legend for all panels, in a margin on the right
            fig.legend(*legend_from.get_legend_handles_labels(), loc="center right", fontsize=7)
        fig.tight_layout(rect=(0, 0, 0.86, 1) if legend_from is not None else None)
        fig.savefig(tmp, dpi=72)
        plt.close(fig)
        os.replace(tmp, path)
        paths.append(path)

    cols = min(4, len(mixers))
    rows = math.ceil(len(mixers) / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(3.2 * cols, 2.4 * rows), squeeze=False, sharey=True)
    for ax, mixer in zip(axes.flat, mixers):
        train_rows = [r for r in read_log(os.path.join(suite_dir, f"{mixer}-s{seeds[0]}")) if "weights" in r]
        ax.stackplot([r["step"] for r in train_rows], np.array([r["weights"] for r in train_rows]).T, labels=domains)
        ax.set(title=f"{mixer} (seed {seeds[0]})", ylim=(0, 1), xlabel="step")
    for ax in list(axes.flat)[len(mixers):]:
        ax.axis("off")
    axes[0, 0].set_ylabel("sampling weight")
    save(fig, "weights.png", legend_from=axes[0, 0])

    curves = {m: mean_curves(suite_dir, m, seeds, fields) for m in mixers}
    cols = min(3, len(domains))
    rows = math.ceil(len(domains) / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(3.6 * cols, 2.6 * rows), squeeze=False)
    for d, ax in enumerate(axes.flat[:len(domains)]):
        for mixer in mixers:
            tokens, loss, _ = curves[mixer]
            ax.plot(tokens / 1e3, loss[:, d], label=mixer, lw=1)
        ax.set(title=f"{domains[d]} ({fields[d]})", xlabel="k tokens", ylabel="val loss")
    for ax in list(axes.flat)[len(domains):]:
        ax.axis("off")
    save(fig, "val_loss.png", legend_from=axes[0, 0])

    fig, ax = plt.subplots(figsize=(6, 3.5))
    for mixer in mixers:
        tokens, _, balanced = curves[mixer]
        ax.plot(tokens / 1e3, balanced, label=mixer, lw=1)
    after_start = [b for m in mixers for b in curves[m][2][1:]]  # the base's point (token 0) is far above
    if after_start:
        ax.set_ylim(min(after_start) - 0.05, max(after_start) + 0.05)
    ax.set(xlabel="k tokens", ylabel="balanced loss (S + T) / 2", title="balanced loss (mean over seeds)")
    ax.legend(fontsize=7)
    save(fig, "balanced.png")

    fig, ax = plt.subplots(figsize=(5, 4))
    for mixer in mixers:
        runs = summary["mixers"][mixer]["runs"].values()
        points = ax.scatter([r["forgetting"] for r in runs], [r["gain"] for r in runs], s=12, alpha=0.5)
        st = summary["mixers"][mixer]["stats"]
        ax.scatter([st["forgetting"]["mean"]], [st["gain"]["mean"]], s=60, marker="x",
                   color=points.get_facecolor()[0], label=mixer)
    ax.set(xlabel="forgetting (source loss rise, nats)", ylabel="gain (target loss drop, nats)",
           title="forgetting vs gain (x = mean over seeds)")
    ax.legend(fontsize=7)
    save(fig, "tradeoff.png")
    return paths


def main(argv=None):
    argv = list(sys.argv[1:] if argv is None else argv)
    train_args = argv[argv.index("--") + 1:] if "--" in argv else []
    own = argv[:argv.index("--")] if "--" in argv else argv
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--suite", choices=sorted(SUITES), help="run this suite")
    parser.add_argument("--preset", default="cpu", choices=sorted(PRESETS), help="cpu (the defaults) or gpu")
    parser.add_argument("--seeds", type=int, default=None, help="seeds per mixer (default: the suite's, 3)")
    parser.add_argument("--mixers", default="", help="comma-separated subset (default: every mixer)")
    parser.add_argument("--collect", type=int, default=None,
                        help="random-mixing trajectories to collect (the suite's default: 12)")
    parser.add_argument("--trajectories", default=None, help="without --suite: the folder that keeps them")
    args = parser.parse_args(own)
    for flag in ("collect", "seeds"):
        if getattr(args, flag) is not None and getattr(args, flag) <= 0:
            sys.exit(f"error: --{flag} {getattr(args, flag)} must be a positive integer")
    if not args.suite and not (args.collect and args.trajectories):
        sys.exit("error: give --suite NAME (the comparison) or --collect N --trajectories DIR (trajectories only)")
    if args.suite and args.trajectories:
        sys.exit("error: --trajectories DIR is for collection alone; the suite keeps its own in its folder")
    if int(os.environ.get("WORLD_SIZE", "1")) > 1:
        sys.exit("error: suite.py runs one process (it writes and deletes run folders); start it with python, "
                 "not torchrun")
    try:
        if not args.suite:
            cfg = parse_config(train_args)
            validate_config(cfg)
            return collect_trajectories(cfg, args.collect, args.trajectories)
        mixers = [m for m in args.mixers.split(",") if m]
        summary, failed = run_suite(args.suite, args.preset, args.seeds, mixers, train_args, args.collect)
    except train.USER_ERRORS as e:
        sys.exit(f"error: {e}")
    if failed:
        sys.exit(f"error: {len(failed)} run(s) failed: {'; '.join(failed)}; the table holds the others; rerun "
                 "the same command to retry them")
    return summary


if __name__ == "__main__":
    main()
