"""
The suite's report: from the eval.json and log.jsonl of every (row, seed) run, the table, the static
frontier, paired-seed intervals against natural and against the best static mixture, the plots, and the
benchmark files (docs/benchmark/results.json, calibration.json). suite.py runs the runs; this reads them.

A row is a mixer with its options: "static" (the natural mixture), "static-0.05" ... (the sweep of the
target share), "schedule-ramp_down" ... (hand-written schedules), then each mixer's paper default and its
named variants ("dbl-code" runs --dbl_variant code), each with its role (static, schedule, mixer, variant,
control). Every number comes from the runs; none is typed in.

Paired-seed intervals: every row runs the same seeds, and seed s of two rows shares the base, the batches'
order and the initialisation of everything the mixer does not change, so the difference of the objective
d_s = J_row(s) - J_ref(s) removes what the seeds share. The interval is the 95% Student-t interval of the
mean of d over seeds, mean ± t(0.975, n-1) sd(d) / sqrt(n); negative = better than the reference. A row
beats the reference only where the whole interval is below zero.
"""

import math
import os

import numpy as np

from evaluate import COLUMNS, field_losses, fmt, load_result, read_log, series_style
from mixer import objective
from prepare import write_json_atomic, write_text_atomic

# t(0.975, df) for df = 1..30; past 30 the normal's 1.96 is within 4% of it
T_975 = [12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179, 2.160, 2.145, 2.131,
         2.120, 2.110, 2.101, 2.093, 2.086, 2.080, 2.074, 2.069, 2.064, 2.060, 2.056, 2.052, 2.048, 2.045, 2.042]


def mean_and_spread(values):
    values = [v for v in values if v is not None and math.isfinite(v)]
    if not values:
        return None, None
    return float(np.mean(values)), float(np.std(values, ddof=1)) if len(values) > 1 else 0.0


def paired_interval(row, ref):
    """Mean and 95% t-interval of J_row(s) - J_ref(s) over the seeds both have (None bounds for one seed)."""
    seeds = sorted(set(row) & set(ref))
    d = np.array([row[s] - ref[s] for s in seeds])
    if len(d) == 0:
        return {"mean": None, "lo": None, "hi": None, "seeds": 0}
    if len(d) == 1:
        return {"mean": float(d[0]), "lo": None, "hi": None, "seeds": 1}
    half = (T_975[len(d) - 2] if len(d) - 1 <= len(T_975) else 1.96) * d.std(ddof=1) / math.sqrt(len(d))
    return {"mean": float(d.mean()), "lo": float(d.mean() - half), "hi": float(d.mean() + half), "seeds": len(d)}


def verdict(interval):
    if interval["hi"] is None:
        return "one seed: no interval"
    return "better" if interval["hi"] < 0 else "worse" if interval["lo"] > 0 else "within noise"


def final_val_objective(run_dir, fields):
    """The objective on the validation split at the run's last evaluation: what picks the best static
    mixture, so that the test split stays the report's alone."""
    evals = [r for r in read_log(run_dir) if "val_loss" in r]
    return objective(*field_losses(evals[-1]["val_loss"], fields)) if evals else None


def second_half_share(run_dir):
    """Of the dev problems' answer log-prob gain over the run, the share gained in its second half."""
    points = [(r["step"], r["feedback_logprob"]) for r in read_log(run_dir) if "feedback_logprob" in r]
    if len(points) < 3:
        return None
    mid = min(points, key=lambda p: abs(p[0] - points[-1][0] / 2))[1]
    total = points[-1][1] - points[0][1]
    return (points[-1][1] - mid) / total if total else None


def weight_movement(run_dir):
    """(re-weightings, mean |w_t - w_1|): the steps at which the weights changed, and the mean over steps and
    domains of their distance from the first step's weights."""
    weights = np.array([r["weights"] for r in read_log(run_dir) if "weights" in r], dtype=np.float64)
    if len(weights) == 0:
        return 0, None
    changes = int(np.sum(np.any(weights[1:] != weights[:-1], axis=1)))
    return changes, float(np.mean(np.abs(weights - weights[0])))


def target_errors(run_dirs, natural_dirs, domains):
    """Velocitune's predicted target minus the static natural run's final validation loss (same seed), for every
    domain, averaged over the seeds both have: how well the estimation predicts the full run's end point."""
    errors = []
    for seed, run_dir in run_dirs.items():
        records = read_log(run_dir)
        targets = next((r["mixer_state"].get("targets") for r in records if r.get("mixer_state", {}).get("targets")),
                       None)
        natural = [r for r in read_log(natural_dirs[seed]) if "val_loss" in r] if seed in natural_dirs else []
        if targets and natural:
            errors.append(np.array(targets, dtype=np.float64) - np.array(natural[-1]["val_loss"], dtype=np.float64))
    if not errors:
        return None
    mean = np.mean(errors, axis=0)
    return {d: float(e) for d, e in zip(domains, mean)}


def loss_targets(run_dirs, domains):
    """What drives Velocitune and DBL, per domain, as their runs used it: L_tgt (the estimate's target, the
    log's mixer_state), L_init (the base's validation loss, the log's step-0 evaluation), the gap |L_init -
    L_tgt| that divides Velocitune's V, and the fit's flag (a flagged domain is not chased). L_tgt, L_init and
    gap are means over the seeds (each seed has its own estimate), the flags listed per seed."""
    seeds = {}
    for seed, run_dir in run_dirs.items():
        records = read_log(run_dir)
        state = next((r["mixer_state"] for r in records if (r.get("mixer_state") or {}).get("targets")), None)
        first = next((r for r in records if "val_loss" in r), None)
        if state and first and first["step"] == 0:
            seeds[seed] = (np.array(state["targets"]), np.array(first["val_loss"]),
                           state.get("fit_flags") or [None] * len(domains))
    if not seeds:
        return None
    target = np.mean([t for t, _, _ in seeds.values()], axis=0)
    initial = np.mean([i for _, i, _ in seeds.values()], axis=0)
    gap = np.mean([np.abs(i - t) for t, i, _ in seeds.values()], axis=0)
    return {d: {"L_tgt": float(target[k]), "L_init": float(initial[k]), "gap": float(gap[k]),
                "fit_flags": {str(seed): flags[k] for seed, (_, _, flags) in seeds.items()}}
            for k, d in enumerate(domains)}


def proxy_replays(replay_dir):
    """The offline evaluation's replays on the proxy (agent_experiment.py writes them into the suite's
    proxy/replay/<label>-s<seed>, the numbers agent.json's "offline" rows hold): per label, the final
    validation objective's mean and its paired difference to static natural's replay. None without them."""
    objectives = {}
    for name in sorted(os.listdir(replay_dir)) if os.path.isdir(replay_dir) else []:
        label, _, seed = name.rpartition("-s")
        run_dir = os.path.join(replay_dir, name)
        if seed.isdigit() and os.path.exists(os.path.join(run_dir, "eval.json")):
            fields = load_result(run_dir)["final"]["fields"]
            objectives.setdefault(label, {})[int(seed)] = final_val_objective(run_dir, fields)
    if "static" not in objectives:
        return None
    return {"what": "replays on the proxy from held-out seeds (agent_experiment.py, as in agent.json's offline rows): "
                    "the validation objective at the final step; delta_natural against static natural's replay",
            "rows": {label: {"seeds": sorted(values), "val_objective_mean": float(np.mean(list(values.values()))),
                             "delta_natural": paired_interval(values, objectives["static"])}
                     for label, values in objectives.items()}}


def suite_summary(rows, results, run_dirs, proxy, info):
    """Every number of the suite. rows: {label: {"mixer", "kind", "target_share"}}; results and run_dirs:
    {label: {seed: eval.json contents / run folder}}."""
    summary_rows = {}
    for label, by_seed in results.items():
        fields = next(iter(by_seed.values()))["final"]["fields"]
        target = [i for i, f in enumerate(fields) if f == "target"]
        runs = {}
        for seed, r in by_seed.items():
            run = r["run"]
            runs[seed] = {**{key: r["summary"][key] for _, key in COLUMNS},
                          "base_task_accuracy": r["summary"]["base_task_accuracy"],
                          "val_objective": final_val_objective(run_dirs[label][seed], fields),
                          "answer_logprob_gain_second_half_share": second_half_share(run_dirs[label][seed]),
                          "tokens_per_domain": run["tokens_per_domain"],
                          "target_share": float(np.sum(np.array(run["tokens_per_domain"])[target])
                                                / max(1, np.sum(run["tokens_per_domain"]))),
                          "target_epochs": float(np.mean([run["epochs_per_domain"][i] for i in target])),
                          "wall_seconds": run["wall_seconds"], "estimate_seconds": run.get("estimate_seconds"),
                          "estimate_tokens": run.get("estimate_tokens")}
            runs[seed]["reweightings"], runs[seed]["mean_abs_weight_change"] = weight_movement(run_dirs[label][seed])
        stats = {key: dict(zip(("mean", "spread"), mean_and_spread([x[key] for x in runs.values()])))
                 for key in [k for _, k in COLUMNS] + ["val_objective", "target_share", "target_epochs", "reweightings",
                                                       "mean_abs_weight_change", "wall_seconds",
                                                       "answer_logprob_gain_second_half_share"]}
        stats["tokens_per_domain"] = np.mean([x["tokens_per_domain"] for x in runs.values()], axis=0).tolist()
        summary_rows[label] = {**rows[label], "runs": {str(s): x for s, x in runs.items()}, "stats": stats,
                               "proxy_seconds": proxy.get(label),
                               "estimate_seconds": mean_and_spread([x["estimate_seconds"] for x in runs.values()])[0]}
        if rows[label]["mixer"] in ("dbl", "velocity"):
            summary_rows[label]["loss_targets"] = loss_targets(run_dirs[label],
                                                               next(iter(by_seed.values()))["final"]["domains"])
    statics = [label for label, r in summary_rows.items() if r["kind"] in ("natural", "sweep")]
    best = min(statics, key=lambda label: summary_rows[label]["stats"]["val_objective"]["mean"]) if statics else None
    objective_of = {label: {int(s): x["balanced_loss"] for s, x in r["runs"].items()}
                    for label, r in summary_rows.items()}
    for label, r in summary_rows.items():
        for name, ref in (("delta_natural", "static"), ("delta_best_static", best)):
            r[name] = paired_interval(objective_of[label], objective_of[ref]) if ref in objective_of else None
    first = next(iter(next(iter(results.values())).values()))
    errors = target_errors(run_dirs["velocity"], run_dirs.get("static", {}),
                           first["final"]["domains"]) if "velocity" in run_dirs else None
    return {**info, "domains": first["final"]["domains"], "fields": first["final"]["fields"], "best_static": best,
            "velocity_target_error_nats": errors, "rows": summary_rows}


def compute_once(summary):
    """The suite's runs' compute, each piece of work counted once: every run's own CPT loop, and each target
    estimation once. One estimation (out/estimate-<hash>/) serves every DBL and Velocitune run of a seed;
    each of those runs copies its record (seconds and tokens, read from the one targets.json, so equal to
    the last digit), which is how the estimation is known here."""
    runs = [x for r in summary["rows"].values() for x in r["runs"].values()]
    estimates = {(x["estimate_seconds"], x.get("estimate_tokens")) for x in runs if x["estimate_seconds"] is not None}
    return {"cpt_runs": sum(x["wall_seconds"] for x in runs), "target_estimates": sum(s for s, _ in estimates),
            "target_estimations": len(estimates)}


def interval_text(interval):
    if interval is None or interval["mean"] is None:
        return "n/a"
    if interval["lo"] is None:
        return f"{interval['mean']:+.3f}"
    return f"{interval['mean']:+.3f} [{interval['lo']:+.3f}, {interval['hi']:+.3f}]"


def suite_table(summary):
    """Rows with mean ± spread (sample std over seeds) and the paired differences of the objective."""
    metrics = [("balanced (objective)", "balanced_loss"), ("source loss", "source_loss"),
               ("target loss", "target_loss"), ("forgetting", "forgetting"), ("gain", "gain"),
               ("task acc", "task_accuracy")]
    lines = [f"{len(summary['seeds'])} seed(s) {summary['seeds']}, mean ± spread (sample std) on the test split; "
             f"Δ = the objective's paired difference (95% t-interval over seeds; negative = better) against "
             f"natural and against the best static mixture ({summary['best_static']}, picked on validation); "
             "extra s = target estimation (dbl, velocity) or proxy work (regmix: its constant-mixture proxy runs; "
             "agent rows: the trajectories, the tuning and that agent's training)", "",
             "| row | " + " | ".join(c for c, _ in metrics) + " | target share | target epochs | Δ natural | "
             "Δ best static | vs best static | wall s | extra s |", "|" + "---|" * (len(metrics) + 8)]
    for label, r in summary["rows"].items():
        st = r["stats"]
        cells = [f"{fmt(st[k]['mean'])} ± {fmt(st[k]['spread'])}" for _, k in metrics]
        extra = r["proxy_seconds"] if r["proxy_seconds"] is not None else r["estimate_seconds"]
        lines.append(f"| {label} | " + " | ".join(cells) + f" | {fmt(st['target_share']['mean'], 2)} | "
                     f"{fmt(st['target_epochs']['mean'], 2)} | {interval_text(r['delta_natural'])} | "
                     f"{interval_text(r['delta_best_static'])} | "
                     f"{verdict(r['delta_best_static']) if r['delta_best_static'] else 'n/a'} | "
                     f"{fmt(st['wall_seconds']['mean'], 0)} | {fmt(extra, 0)} |")
    return "\n".join(lines)


def benchmark_results(summary):
    """docs/benchmark/results.json: the table as data (differences in the objective, 95% paired t-intervals)."""
    def interval(i):
        return None if i is None else {k: i[k] for k in ("mean", "lo", "hi")}
    replays = (summary.get("proxy_replay") or {}).get("rows", {})

    def decided_by(label, r):
        """What decides the row's method: loss targets (dbl, velocity), the proxy replay (regmix, agent)."""
        out = {"loss_targets": r["loss_targets"]} if r.get("loss_targets") else {}
        if label in replays:
            out["proxy_replay"] = {"val_objective_mean": replays[label]["val_objective_mean"],
                                   "delta_natural": interval(replays[label]["delta_natural"])}
        return out
    return {"objective": "balanced loss (S + T) / 2 on the test split, nats; lower is better",
            "interval": "95% Student-t interval of the mean paired difference over seeds",
            "best_static": summary["best_static"],
            "loss_targets": "per domain: L_tgt (the scaling-law target; DBL's reference loss is this estimate, "
                            "not a reference model's loss), L_init (the base's validation loss), gap = |L_init - "
                            "L_tgt|, each fit's flag per seed (a flagged domain is not chased)",
            "velocity_target_error_nats": summary.get("velocity_target_error_nats"),
            "proxy_replay": (summary.get("proxy_replay") or {}).get("what"),
            "rows": [{"mixer": label, "role": r.get("role"),
                      **({"paper_default": True} if r.get("paper_default") else {}),
                      **({"variant_of": r["variant_of"]} if r.get("variant_of") else {}),
                      "seeds": len(r["runs"]), "balanced_mean": r["stats"]["balanced_loss"]["mean"],
                      "balanced_std": r["stats"]["balanced_loss"]["spread"],
                      "forgetting_mean": r["stats"]["forgetting"]["mean"], "gain_mean": r["stats"]["gain"]["mean"],
                      "task_acc_mean": r["stats"]["task_accuracy"]["mean"],
                      "target_share_mean": r["stats"]["target_share"]["mean"],
                      "mean_abs_weight_change": r["stats"]["mean_abs_weight_change"]["mean"],
                      "delta_natural": interval(r["delta_natural"]),
                      "delta_best_static": interval(r["delta_best_static"]), **decided_by(label, r)}
                     for label, r in summary["rows"].items()]}


def benchmark_calibration(summary, preset, wall):
    """docs/benchmark/calibration.json: the default setting's criteria, as measured in the suite's runs."""
    rows = summary["rows"]
    natural = rows["static"]
    first_run = next(iter(natural["runs"].values()))

    def row_mean(r, key):
        return r["stats"][key]["mean"]
    return {"preset": preset, "seeds": summary["seeds"],
            "task_test_problems": summary["task_test_problems"],
            "base": {"task_acc": first_run["base_task_accuracy"]},
            "natural_target_share": row_mean(natural, "target_share"),
            "natural": {"task_acc_mean": row_mean(natural, "task_accuracy"),
                        "target_epochs": row_mean(natural, "target_epochs"),
                        "answer_logprob_gain_second_half_share":
                            row_mean(natural, "answer_logprob_gain_second_half_share")},
            "sweep": [{"target_share": row_mean(r, "target_share") if r["target_share"] is None else r["target_share"],
                       "balanced_mean": row_mean(r, "balanced_loss"),
                       "balanced_std": r["stats"]["balanced_loss"]["spread"],
                       "forgetting_mean": row_mean(r, "forgetting"), "gain_mean": row_mean(r, "gain"),
                       "task_acc_mean": row_mean(r, "task_accuracy"), "target_epochs": row_mean(r, "target_epochs")}
                      for r in sorted((r for r in rows.values() if r["kind"] in ("natural", "sweep")),
                                      key=lambda r: row_mean(r, "target_share"))],
            "schedules": [{"name": label, "balanced_mean": row_mean(r, "balanced_loss"),
                           "balanced_std": r["stats"]["balanced_loss"]["spread"],
                           "task_acc_mean": row_mean(r, "task_accuracy")}
                          for label, r in rows.items() if r["kind"] == "schedule"],
            "wall_s": wall}


def benchmark_online(cpt, pretrain):
    """docs/benchmark/online.json: the online mixers' numbers from the CPT suite's results.json (Velocitune's
    target errors, every dynamic mixer's weight updates and movement in the default run) and from
    pretrain.py's summary (steps to reach static's final validation loss). Either may be None."""
    dynamic = ("dbl", "dbl-code", "velocity", "bandit", "bandit-hedge", "acodm", "acodm-no_slice", "acodm-ours")
    rows = cpt["rows"] if cpt else {}

    def stat(label, key):
        return rows[label]["stats"][key]["mean"] if label in rows and key in rows[label]["stats"] else None
    return {"velocity_target_error_nats": cpt and cpt.get("velocity_target_error_nats"),
            "updates": {m: stat(m, "reweightings") for m in dynamic},
            "mean_abs_weight_change": {m: stat(m, "mean_abs_weight_change") for m in dynamic},
            "pretrain": [{"mixer": label, "seeds": len(r["runs"]), "steps_to_reach_mean": r["steps_to_reach_mean"],
                          "not_reached": r["not_reached"],
                          "delta_static": {k: r["delta_static"][k] for k in ("mean", "lo", "hi")},
                          **({"delta_untrained": {k: r["delta_untrained"][k] for k in ("mean", "lo", "hi")}}
                             if "delta_untrained" in r else {})}
                         for label, r in (pretrain["rows"].items() if pretrain else [])],
            "pretrain_budget_steps": pretrain and pretrain["budget_steps"]}


def mean_curves(run_dirs, fields):
    """(tokens, per-domain val losses, objective) at the evaluations shared by every seed's run, averaged."""
    curves = [{r["tokens"]: r["val_loss"] for r in read_log(d) if "val_loss" in r and None not in r["val_loss"]}
              for d in run_dirs]
    tokens = sorted(set.intersection(*[set(c) for c in curves]))
    loss = np.array([np.mean([c[t] for c in curves], axis=0) for t in tokens])
    return np.array(tokens), loss, np.array([objective(*field_losses(row, fields)) for row in loss])


def frontier_box(sweep_xy, row_xy, fence=3.0):
    """The frontier plot's limits over (forgetting, gain): the static sweep and every row but the outliers,
    padded by 10%. An outlier is a row beyond Tukey's far-out fences on either axis (3 interquartile ranges,
    at least 0.01 nats, past the quartiles of all the means), so one wild row cannot squash the others."""
    every = np.vstack([sweep_xy, row_xy])
    q1, q3 = np.percentile(every, [25, 75], axis=0)
    reach = fence * np.maximum(q3 - q1, 0.01)
    kept = np.vstack([sweep_xy, row_xy[np.all((row_xy >= q1 - reach) & (row_xy <= q3 + reach), axis=1)]])
    lo, hi = kept.min(axis=0), kept.max(axis=0)
    pad = np.maximum(0.1 * (hi - lo), 0.01)
    return lo - pad, hi + pad


def plot_frontier(ax, rows, labels):
    """The static sweep's (forgetting, gain) line and every mixer's seeds and mean, zoomed on them
    (frontier_box); an outlier's mean is drawn at the edge (a triangle pointing its way) with its values."""
    sweep = sorted((label for label, r in rows.items() if r["kind"] in ("natural", "sweep")),
                   key=lambda label: rows[label]["stats"]["target_share"]["mean"])
    means = {label: np.array([rows[label]["stats"][k]["mean"] for k in ("forgetting", "gain")])
             for label in sweep + labels}
    xy = np.array([means[label] for label in sweep])
    ax.plot(xy[:, 0], xy[:, 1], "k-o", ms=4, lw=1, label="static sweep (target share)")
    for label, (x, y) in zip(sweep, xy):
        ax.annotate(f"{rows[label]['stats']['target_share']['mean']:.2f}", (x, y), fontsize=6, xytext=(3, -8),
                    textcoords="offset points")
    lo, hi = frontier_box(xy, np.array([means[label] for label in labels]).reshape(-1, 2))
    for i, label in enumerate(labels):
        style = series_style(i, marker=True)
        runs = rows[label]["runs"].values()
        ax.scatter([x["forgetting"] for x in runs], [x["gain"] for x in runs], s=10, alpha=0.4, color=style["color"])
        edge = np.clip(means[label], lo, hi)
        if np.array_equal(edge, means[label]):
            ax.scatter(*means[label], s=60, label=label, **style)
            continue
        side = 0 if means[label][0] != edge[0] else 1  # the axis it left by
        pointer = ("<>" if side == 0 else "v^")[int(means[label][side] > hi[side])]
        ax.scatter(*edge, s=60, marker=pointer, color=style["color"], clip_on=False, label=f"{label} (off the plot)")
        ax.annotate(f"{label}: {means[label][0]:+.2f}, {means[label][1]:.2f}", edge, fontsize=6, color=style["color"],
                    xytext=(-4 if side == 0 and pointer == ">" else 4, 4 if side == 0 or pointer == "v" else -8),
                    textcoords="offset points", ha="right" if pointer == ">" else "left", annotation_clip=False)
    ax.set(xlim=(lo[0], hi[0]), ylim=(lo[1], hi[1]), xlabel="forgetting (source loss rise, nats)",
           ylabel="gain (target loss drop, nats)", title="every mixer over the static frontier (mean over seeds)")
    ax.legend(fontsize=6, loc="best")


def write_suite_outputs(summary, run_dirs, out_dir):
    """results.md, results.json and the PNGs (weights, validation curves, objective curves, the frontier),
    each written to a temp name and renamed."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    os.makedirs(out_dir, exist_ok=True)
    paths = [os.path.join(out_dir, "results.md"), os.path.join(out_dir, "results.json")]
    write_text_atomic(paths[0], suite_table(summary) + "\n")
    write_json_atomic(paths[1], summary)
    rows, domains, fields = summary["rows"], summary["domains"], summary["fields"]
    dynamic = [label for label, r in rows.items() if r["kind"] in ("mixer", "schedule")] + ["static"]

    def save(fig, filename, legend_from=None):
        path = os.path.join(out_dir, filename)
        tmp = f"{path}.tmp-{os.getpid()}.png"
        if legend_from is not None:  # one legend for all panels, in a margin on the right
            fig.legend(*legend_from.get_legend_handles_labels(), loc="outside right center", fontsize=7)
        fig.savefig(tmp, dpi=72)
        plt.close(fig)
        os.replace(tmp, path)
        paths.append(path)

    cols = min(4, len(dynamic))
    lines = math.ceil(len(dynamic) / cols)
    fig, axes = plt.subplots(lines, cols, figsize=(3.2 * cols, 2.4 * lines), squeeze=False, sharey=True,
                             layout="constrained")
    for ax, label in zip(axes.flat, dynamic):
        train_rows = [r for r in read_log(next(iter(run_dirs[label].values()))) if "weights" in r]
        ax.stackplot([r["step"] for r in train_rows], np.array([r["weights"] for r in train_rows]).T, labels=domains)
        ax.set(ylim=(0, 1), xlabel="step")
        ax.set_title(label, fontsize=8)
    for ax in list(axes.flat)[len(dynamic):]:
        ax.axis("off")
    axes[0, 0].set_ylabel("sampling weight")
    fig.suptitle("sampling weights over CPT, each row's first seed", fontsize=9)
    save(fig, "weights.png", legend_from=axes[0, 0])

    curves = {label: mean_curves(list(run_dirs[label].values()), fields) for label in dynamic}
    cols = min(3, len(domains))
    lines = math.ceil(len(domains) / cols)
    fig, axes = plt.subplots(lines, cols, figsize=(3.6 * cols, 2.6 * lines), squeeze=False, layout="constrained")
    for d, ax in enumerate(axes.flat[:len(domains)]):
        for i, label in enumerate(dynamic):
            ax.plot(curves[label][0] / 1e3, curves[label][1][:, d], label=label, lw=1, **series_style(i))
        ax.set(title=f"{domains[d]} ({fields[d]})", xlabel="k tokens", ylabel="val loss")
    for ax in list(axes.flat)[len(domains):]:
        ax.axis("off")
    save(fig, "val_loss.png", legend_from=axes[0, 0])

    fig, ax = plt.subplots(figsize=(6, 3.5), layout="constrained")
    for i, label in enumerate(dynamic):  # past the base's point
        ax.plot(curves[label][0][1:] / 1e3, curves[label][2][1:], label=label, lw=1, **series_style(i))
    ax.set(xlabel="k tokens", ylabel="objective (S + T) / 2 on val", title="the objective (mean over seeds)")
    ax.legend(fontsize=7)
    save(fig, "balanced.png")

    plot_frontier(plt.subplots(figsize=(6.5, 4.5), layout="constrained")[1], rows, dynamic[:-1])
    save(plt.gcf(), "frontier.png")
    return paths


def publish(summary, run_dirs, publish_dir, wall):
    """STUB (helper suitegrid, for its tests; the publish helper's report.publish replaces it): the old
    --publish, results.json and calibration.json into publish_dir."""
    os.makedirs(publish_dir, exist_ok=True)
    write_json_atomic(os.path.join(publish_dir, "results.json"), benchmark_results(summary))
    write_json_atomic(os.path.join(publish_dir, "calibration.json"),
                      benchmark_calibration(summary, summary["preset"], wall))
