"""
The Data Mixing Agent and RegMix at a scale where learning can show (docs/agent.md): the offline
evaluation of the agent before any deployment, and its transfer, unchanged, to other models and domain
spaces. Resumable: every finished run is reused.

    python -m experiments.agent_experiment                              # everything below, then the tables
    python -m experiments.agent_experiment --publish docs/benchmark     # also writes agent.json
    python -m experiments.agent_experiment --settings b,c,d --device cuda   # the transfer runs alone (e.g. on a GPU)
    python -m experiments.agent_experiment --settings c -- --steps 200      # train.py options after --

1. The proxy work, shared with the suite (proxy.prepare_proxy, in out/suite-default/proxy): 128 random
   trajectories, 64 constant-mixture runs for RegMix, the agent's tuning on proxy seeds, its variants.
2. Offline evaluation: the critic's rank correlation on held-out trajectories (agent.offline_evaluation,
   computed when each variant is trained), and its learning curve (agents on 24, 48, 96, ... of the training
   trajectories ranking the same held-out ones; learning_curve); every variant, RegMix and static natural
   replayed on the proxy from held-out starts (seeds that neither collection nor tuning used), their final
   validation objective and its paired difference to natural.
3. Transfer, the proxy's agent deployed unchanged, each against static natural and the untrained agent:
   (a) the default model, the suite's rows and their seeds (python -m experiments.suite --suite default); (b) a larger model;
   (c) merged domains; (d) a source field it never saw (licence texts of the machine, sources.py).
"""

import argparse
import os
import sys
import time
from contextlib import redirect_stdout

import numpy as np

import prepare
import sources
import train
from experiments import proxy, report, suite, swarm, tables
from agent import agent_options, load_agent, train_agent
from common import Parser, UserError, read_json, write_json_atomic
from evaluate import load_result, read_log
from mixer import objective
from options import config_for_mixer, parse_bool, parse_config, validate_config
from regmix import cross_validated_rank
from trajectories import TrajectoryBuffer, field_losses_per_boundary, held_out_split, load_trajectories

SPEC = suite.SUITES["default"]
HELD_OUT_SEEDS = [310000, 310001, 310002]  # the offline replays' starts: not collection's, not tuning's
REPLAYED = ["static", "agent", "agent-clone", "agent-cql", "agent-undiscounted", "agent-untrained", "regmix", "regmix-best"]
SETTINGS = {  # the transfer settings besides (a): train.py options, and a corpus derived from the default one
    "b": {"what": "a larger model: 6 layers x 256, 5.77M parameters (the default: 4 x 128, 1.31M)",
          "args": ["--n_layer", "6", "--n_head", "8", "--n_embd", "256"]},
    "c": {"what": "another domain space: code + shell and the two maths domains merged (3 domains)",
          "corpus": "merged", "derive": ["--merge", "code_shell=code,shell", "--merge", "math=math_compare,math_numbers"]},
    "d": {"what": "a source field it never saw: the machine's licence texts replace code, docs and shell",
          "corpus": "licenses-source", "derive": ["--drop", "code,docs,shell", "--add", "licenses={text}",
                                                  "--field", "licenses=source", "--val_permille", "100"]},
}
TRANSFER_ROWS = {"static": ("static", None), "agent": ("agent", "agent"),
                 "agent-untrained": ("agent", "agent-untrained")}


def proxy_work(proxy_args, log, swarm_mode="auto"):
    """The proxy's trajectories, RegMix's runs, the tuning and the agent variants (made if missing, as the
    suite makes them: proxy_args are train.py options for the proxy, e.g. --out_dir)."""
    proxy_dir = os.path.join(parse_config(proxy_args)["out_dir"], "suite-default", "proxy")
    options, seconds = proxy.prepare_proxy(SPEC, proxy_args, proxy_dir, {"agent", "regmix"}, log=log,
                                           swarm_mode=swarm_mode)
    return proxy_dir, options, seconds


def offline_evaluation(proxy_dir, options, proxy_args, log, swarm_mode="auto"):
    """The variants' held-out numbers and their replays on the proxy from HELD_OUT_SEEDS (as swarms where
    swarm_mode batches: proxy.proxy_swarm)."""
    pcfg = proxy.proxy_config(SPEC, proxy_args)
    mixer_options = {**options, "regmix-best": {**options.get("regmix", {}), "regmix_variant": "best"}}
    replays = {(label, seed): (label.split("-")[0], mixer_options.get(label, {}), seed,
                               os.path.join(proxy_dir, "replay", f"{label}-s{seed}"))
               for label in REPLAYED for seed in HELD_OUT_SEEDS}
    proxy.proxy_swarm(pcfg, list(replays.values()), swarm_mode)
    objectives = {label: {seed: proxy.proxy_run(pcfg, *replays[label, seed]) for seed in HELD_OUT_SEEDS}
                  for label in REPLAYED}
    trajectories = load_trajectories(os.path.join(proxy_dir, "trajectories"))
    final = [objective(*field_losses_per_boundary(a["val_loss"], m["fields"]))[-1] for a, m in trajectories]
    rows = {}
    for label in REPLAYED:
        trained_on = load_agent(options[label]["agent_path"])[1]["trained_on"] if label.startswith("agent") else {}
        rows[label] = {"replay_val_objective": float(np.mean(list(objectives[label].values()))),
                       "delta_natural": report.paired_interval(objectives[label], objectives["static"]),
                       **trained_on.get("offline", {})}
        log(f"  {label:16s} proxy val objective {rows[label]['replay_val_objective']:.4f}, vs natural "
            f"{fmt_interval(rows[label]['delta_natural'])}" + (f", critic rank corr {rows[label]['critic_rank_corr']:.3f}"
                                                              if "critic_rank_corr" in rows[label] else ""))
    return {"seeds": HELD_OUT_SEEDS, "rows": rows,
            "trajectory_val_objective": {"best": float(min(final)), "median": float(np.median(final)),
                                         "worst": float(max(final))},
            "regmix_cv_rank_corr": {model: cross_validated_rank(os.path.join(proxy_dir, "constant"), model)
                                    for model in ("lightgbm", "linear")}}


def critic_first_boundary(rows):
    """What decides whether the critic ranks whole runs, per trained variant: its rank correlation at the first
    boundary (every trajectory starts from one state, so only the action orders them) against the return it
    estimates and against the final objective's gain, each with its 95% bootstrap interval over the held-out
    trajectories; `informative` says whether that interval excludes zero (agent.py --holdout sets how many)."""
    keys = ("critic_rank_corr_first_boundary", "critic_rank_corr_first_boundary_final")
    return {label: {"held_out_trajectories": row.get("held_out_trajectories"), "gamma": row.get("gamma"),
                    **{key: {"value": row[key], "interval95": row.get(f"{key}_interval"),
                             "informative": bool(row.get(f"{key}_interval") and
                                                 (row[f"{key}_interval"][0] > 0 or row[f"{key}_interval"][1] < 0))}
                       for key in keys if key in row}}
            for label, row in rows.items() if "critic_rank_corr_first_boundary" in row}


CURVE_START = 24  # trajectories of the learning curve's first agent; each next one trains on twice as many (the
#                   suite's 96 training trajectories: 24, 48, 96)
CURVE_KEYS = ("critic_rank_corr", "critic_rank_corr_first_boundary", "critic_rank_corr_first_boundary_interval",
              "critic_rank_corr_first_boundary_final", "critic_rank_corr_first_boundary_final_interval",
              "held_out_cloning_loss", "held_out_trajectories")


def learning_curve(folder, options, out_dir, log=print, start=CURVE_START):
    """The agent's learning curve: agents trained (with `options`) on the first 24, 48, 96, ... training
    trajectories of `folder` (agent.py --train_trajectories; the held-out trajectories are the same for all),
    each one's offline ranking of the held-out ones, while the folder has that many. `plateau`: whether the
    last doubling left the first boundary's rank correlation (against the final objective's gain) within its
    bootstrap interval of the one before, i.e. more trajectories no longer measurably help."""
    total = len(held_out_split(len(load_trajectories(folder)), agent_options(options)["holdout"])[0])
    os.makedirs(out_dir, exist_ok=True)
    points, n = [], start
    while n <= total:
        path = os.path.join(out_dir, f"agent-{n}.pt")
        if not os.path.exists(path):  # made once: a rerun reads the agents already trained
            train_agent(folder, path, {**options, "train_trajectories": n}, log=lambda *a: None)
        offline = load_agent(path)[1]["trained_on"]["offline"]
        points.append({"trajectories": n, **{key: offline.get(key) for key in CURVE_KEYS}})
        log(f"  learning curve: {n} trajectories, first-boundary rank corr with the final gain "
            f"{offline.get('critic_rank_corr_first_boundary_final', float('nan')):.3f}")
        n *= 2
    key = "critic_rank_corr_first_boundary_final"
    plateau = len(points) >= 2 and points[-2][f"{key}_interval"] is not None and \
        points[-2][f"{key}_interval"][0] <= points[-1][key] <= points[-2][f"{key}_interval"][1]
    return {"what": "the agent trained on the first n training trajectories, ranking the same held-out ones",
            "training_trajectories_available": total, "points": points, "plateau": bool(plateau)}


def fmt_interval(d):
    return f"{report.interval_text(d)} ({report.verdict(d)})"


def setting_corpus(setting, data_dir, corpus, log):
    """The corpus name of a setting, derived from `corpus` the first time (prepare.py --regroup)."""
    spec = SETTINGS[setting]
    if "corpus" not in spec:
        return corpus
    if not os.path.exists(os.path.join(data_dir, spec["corpus"], "meta.json")):
        text = os.path.join(data_dir, "licenses-text")
        if "{text}" in " ".join(spec["derive"]) and not os.path.exists(text):
            sources.write_license_texts(text)
        derive = [a.replace("{text}", text) for a in spec["derive"]]
        log(f"deriving corpus {spec['corpus']}: prepare.py --regroup {' '.join(derive)}")
        prepare.main(["--data_dir", data_dir, "--corpus", spec["corpus"], "--regroup",
                      os.path.join(data_dir, corpus)] + derive)
    return spec["corpus"]


def transfer_runs(setting, agents, train_args, out_dir, log):
    """Static natural, the agent and the untrained agent, SPEC's seeds (2), in out_dir/<setting>/ (finished runs reused)."""
    cfg = parse_config(train_args)
    corpus = setting_corpus(setting, cfg["data_dir"], cfg["corpus"], log)
    cfg = parse_config(train_args + SETTINGS[setting].get("args", []) + ["--corpus", corpus])
    cfg = validate_config(cfg, readers=[mixer for mixer, _ in TRANSFER_ROWS.values()])  # options for every row
    os.makedirs(out_dir, exist_ok=True)
    run_dirs = {}
    for label, (mixer, agent_label) in TRANSFER_ROWS.items():
        for seed in [cfg["seed"] + i for i in range(SPEC["seeds"])]:
            run_dir = os.path.abspath(os.path.join(out_dir, setting, f"{label}-s{seed}"))
            run_dirs.setdefault(label, {})[seed] = run_dir
            if os.path.exists(os.path.join(run_dir, "eval.json")):
                continue
            t0 = time.time()
            run_cfg = {**config_for_mixer(cfg, mixer), "seed": seed, "run_name": run_dir, "resume": False,
                       "overwrite": True,  # an unfinished run is started again
                       **({"agent_path": os.path.abspath(agents[agent_label])} if agent_label else {})}
            run_cfg = validate_config(run_cfg)
            with open(os.path.join(out_dir, f"{setting}.log"), "a") as f, redirect_stdout(f):
                train.run(run_cfg)
            os.remove(os.path.join(run_dir, "ckpt.pt"))  # a finished run is read, never resumed
            log(f"  ({setting}) {label} seed {seed}: {time.time() - t0:.0f} s")
    return run_dirs


def transfer_rows(setting, run_dirs):
    """agent.json's transfer entries of one setting: each row against natural (the setting's only static
    mixture) and against the untrained agent, from the runs' final reports."""
    objective_of = {label: {s: load_result(d)["summary"]["balanced_loss"] for s, d in dirs.items()}
                    for label, dirs in run_dirs.items()}
    device = load_result(next(iter(run_dirs["static"].values())))["config"]["device"]
    return [{"setting": setting, "mixer": label, "seeds": len(values), "what": SETTINGS[setting]["what"],
             "device": device, "balanced_mean": float(np.mean(list(values.values()))),
             "reference": "static natural (the setting's only static mixture)",
             "delta_best_static": report.paired_interval(values, objective_of["static"]),
             "delta_untrained": report.paired_interval(values, objective_of["agent-untrained"])}
            for label, values in objective_of.items()]


def suite_rows(results_path):
    """Setting (a): the suite's agent and RegMix rows (out/suite-default/results/results.json)."""
    results = read_json(results_path, "the suite's results (python -m experiments.suite --suite default)")
    rows = results["rows"]
    if "agent" not in rows:
        return []
    untrained = {s: x["balanced_loss"] for s, x in rows["agent-untrained"]["runs"].items()}
    return [{"setting": "a", "mixer": label, "seeds": len(r["runs"]), "what": "the default model (the suite)",
             "device": results["config"]["device"], "balanced_mean": r["stats"]["balanced_loss"]["mean"],
             "reference": f"best static of the sweep ({results['best_static']})",
             "delta_natural": r["delta_natural"], "delta_best_static": r["delta_best_static"],
             "delta_untrained": report.paired_interval({s: x["balanced_loss"] for s, x in r["runs"].items()}, untrained)}
            for label, r in rows.items() if label in ("agent", "agent-clone", "agent-untrained", "regmix")]


def plot_agent_weights(run_dirs_by_setting, path):
    """What the agent does: the target field's share over the run (trained agent solid, untrained dashed),
    every seed of every setting, and the per-domain weights of setting (a)'s first seed."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 3.6))
    colours = dict(zip(run_dirs_by_setting, plt.rcParams["axes.prop_cycle"].by_key()["color"]))
    for setting, run_dirs in run_dirs_by_setting.items():
        for label, style in (("agent", "-"), ("agent-untrained", "--")):
            for i, run_dir in enumerate(run_dirs.get(label, {}).values()):
                fields = np.array(load_result(run_dir)["final"]["fields"])
                rows = [r for r in read_log(run_dir) if "weights" in r]
                share = [np.asarray(r["weights"])[fields == "target"].sum() for r in rows]
                left.plot([r["step"] / rows[-1]["step"] for r in rows], share, style, color=colours[setting], lw=1,
                          label=f"({setting}) {label}" if i == 0 else None)
    left.set(xlabel="run progress", ylabel="target field's share", ylim=(0, 1), title="the agent's target share")
    left.legend(fontsize=7)
    first = next(iter(run_dirs_by_setting.values()))["agent"]
    run_dir = next(iter(first.values()))
    rows = [r for r in read_log(run_dir) if "weights" in r]
    right.stackplot([r["step"] for r in rows], np.array([r["weights"] for r in rows]).T,
                    labels=load_result(run_dir)["final"]["domains"])
    right.set(xlabel="step", ylim=(0, 1), title=f"{next(iter(run_dirs_by_setting))}: the agent's weights, one seed")
    right.legend(fontsize=7, loc="upper right")
    fig.tight_layout()
    tmp = f"{path}.tmp-{os.getpid()}.png"
    fig.savefig(tmp, dpi=72)
    plt.close(fig)
    os.replace(tmp, path)


def collection_numbers(proxy_dir):
    """Trajectory count and collection time (collection.json sums every invocation's wall time)."""
    folder = os.path.join(proxy_dir, "trajectories")
    clock = read_json(os.path.join(folder, "collection.json"), "the collection clock")
    walls = [TrajectoryBuffer(folder).load(i)[1]["wall_seconds"] for i in TrajectoryBuffer(folder).finished()]
    return {"trajectories": len(walls), "collection_wall_s": clock["wall_seconds"],
            "one_after_another_s_per_trajectory": clock["wall_seconds"] / len(walls),
            "median_trajectory_s": float(np.median(walls)), "slowest_trajectory_s": float(max(walls))}


def main(argv=None):
    parser = Parser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--settings", default="a,b,c,d", help="transfer settings to run (a = the suite's rows; none)")
    parser.add_argument("--offline", default=True, type=parse_bool, help="run the offline evaluation (default true)")
    parser.add_argument("--device", default="auto", help="device of the transfer runs (b, c, d)")
    parser.add_argument("--data_dir", default="data", help="where the corpora live (the derived ones are made there)")
    parser.add_argument("--out_root", default="out", help="train.py's --out_dir: the suite's and the proxy's folders")
    parser.add_argument("--out_dir", default=os.path.join("out", "agent-experiment"), help="the transfer runs' folder")
    parser.add_argument("--agents", default=None, help="folder holding agent.pt and agent-untrained.pt (default: "
                                                       "the proxy's, made if missing)")
    parser.add_argument("--publish", default=None, metavar="DIR", help="write agent.json there")
    parser.add_argument("--swarm", default="auto", choices=swarm.MODES, help="the proxy runs as swarms (swarm.py): "
                        "auto = on a GPU, on, off (one at a time)")
    argv = list(sys.argv[1:] if argv is None else argv)
    train_args = argv[argv.index("--") + 1:] if "--" in argv else []  # train.py options for every transfer run
    args = parser.parse_args(argv[:argv.index("--")] if "--" in argv else argv)
    settings = [s for s in args.settings.split(",") if s and s != "none"]
    unknown = sorted(set(settings) - set(SETTINGS) - {"a"})
    if unknown:
        sys.exit(f"error: --settings {','.join(unknown)}: unknown; choose from a, {', '.join(SETTINGS)}")
    proxy_args = ["--out_dir", args.out_root, "--data_dir", args.data_dir, "--device", args.device]
    try:
        if args.agents:
            agents = {label: os.path.join(args.agents, f"{label}.pt") for label in ("agent", "agent-untrained")}
            proxy_dir, options, proxy_seconds = None, {}, {}
        else:
            # proxy_seconds: the CPT seconds of each row's proxy work
            proxy_dir, options, proxy_seconds = proxy_work(proxy_args, print, args.swarm)
            agents = {label: options[label]["agent_path"] for label in ("agent", "agent-untrained")}
        offline = (offline_evaluation(proxy_dir, options, proxy_args, print, args.swarm) if args.offline and proxy_dir
                   else None)
        transfer, run_dirs_by_setting = [], {}
        if "a" in settings:
            results_path = os.path.join(args.out_root, "suite-default", "results", "results.json")
            transfer = suite_rows(results_path)
            suite_runs = read_json(results_path, "the suite's results")["rows"]  # each row its own seeds
            run_dirs_by_setting["a"] = {label: {s: os.path.join(args.out_root, "suite-default", f"{label}-s{s}")
                                                for s in suite_runs[label]["runs"]}
                                        for label in ("agent", "agent-untrained") if label in suite_runs}
        for setting in [s for s in settings if s != "a"]:
            print(f"\n#### transfer ({setting}): {SETTINGS[setting]['what']}")
            run_dirs = transfer_runs(setting, agents, ["--device", args.device, "--data_dir", args.data_dir]
                                     + train_args, args.out_dir, print)
            transfer += transfer_rows(setting, run_dirs)
            run_dirs_by_setting[setting] = run_dirs
    except UserError as e:
        sys.exit(f"error: {e}")
    print("\n| setting | mixer | seeds | balanced | Δ reference [95%] | Δ untrained agent [95%] |\n|---|---|---|---|---|---|")
    for row in transfer:
        deltas = [fmt_interval(row[key]) if row[key]["mean"] else "reference" for key in ("delta_best_static",
                                                                                        "delta_untrained")]
        print(f"| {row['setting']} | {row['mixer']} | {row['seeds']} | {row['balanced_mean']:.4f} | "
              + " | ".join(deltas) + " |")
    if args.publish:
        if not (proxy_dir and offline):
            sys.exit("error: --publish needs the proxy work and the offline evaluation (drop --agents, keep --offline)")
        tuning = read_json(os.path.join(proxy_dir, "tuning", "tuning.json"), "the agent's tuning")
        print("\n#### the agent's learning curve (the tuned options, more trajectories each time)")
        curve = learning_curve(os.path.join(proxy_dir, "trajectories"), tuning["chosen"],
                               os.path.join(proxy_dir, "learning-curve"), print)
        agent_json = {**collection_numbers(proxy_dir),
                      "critic_rank_corr": offline["rows"]["agent"]["critic_rank_corr"],
                      "critic_first_boundary": critic_first_boundary(offline["rows"]),
                      "transfer": transfer, "offline": offline, "tuning": tuning, "learning_curve": curve,
                      "regmix_runs": len(load_trajectories(os.path.join(proxy_dir, "constant"))),
                      "proxy_seconds": proxy_seconds}
        os.makedirs(args.publish, exist_ok=True)
        write_json_atomic(os.path.join(args.publish, "agent.json"), agent_json)
        plot_agent_weights(run_dirs_by_setting, os.path.join(args.publish, "agent_weights.png"))
        print(f"wrote {os.path.join(args.publish, 'agent.json')} and agent_weights.png")
        results_path = os.path.join(args.publish, "results.json")
        if os.path.exists(results_path):  # the learning curve's block (docs/agent.md), beside the suite's tables
            pages = tables.repository_pages(args.publish, ["docs/agent.md"])
            print("".join(f"regenerated {page}\n" for page in tables.regenerate_pages(
                pages, read_json(results_path, "the published run's results"), tables.files_beside(results_path))))


if __name__ == "__main__":
    main()
