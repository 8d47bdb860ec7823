"""
The suite's figures, from its summary and its runs' logs: the weights over CPT, the validation curves, the
objective over CPT, every mixer over the static grid (the frontier), and every row's objective against its
compute beside a search over static mixtures (compute.png). report.py decides which rows they draw.
"""

import math
import os

import numpy as np

from evaluate import field_losses, read_log, series_style
from mixer import objective


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


def plot_frontier(ax, rows, labels, grid_labels, best=None):
    """The static grid's (forgetting, gain) lines, one per within-field split, and every moving row's seeds and
    mean with its twin (a hollow circle of its colour, a dotted line to the row), zoomed on them (frontier_box);
    an outlier's mean is drawn at the edge (a triangle pointing its way) with its values. Through the best
    static mixture, the line of equal objective: (S + T) / 2 = (S_base + forgetting + T_base - gain) / 2, so
    gain = forgetting + constant for the rows on the same bases; a point above it has a lower objective."""
    def means(label):
        return np.array([rows[label]["stats"][k]["mean"] for k in ("forgetting", "gain")])
    grid = {}
    for label in sorted(grid_labels, key=lambda label: rows[label]["stats"]["target_share"]["mean"]):
        grid.setdefault(rows[label].get("split", "tokens"), []).append(label)
    for split, (style, color) in (("tokens", ("-o", "k")), ("uniform", ("--s", "0.5"))):
        xy = np.array([means(label) for label in grid.get(split, [])]).reshape(-1, 2)
        ax.plot(xy[:, 0], xy[:, 1], style, color=color, ms=4, lw=1, label=f"static grid, split by {split}")
        for label, (x, y) in zip(grid.get(split, []), xy):
            ax.annotate(f"{rows[label]['stats']['target_share']['mean']:.2f}", (x, y), fontsize=6, color=color,
                        xytext=(3, -8 if split == "tokens" else 4), textcoords="offset points")
    twins = {r["twin_of"]: label for label, r in rows.items() if r.get("twin_of") in labels}
    lo, hi = frontier_box(np.array([means(label) for split in grid.values() for label in split]).reshape(-1, 2),
                          np.array([means(label) for label in labels + list(twins.values())]).reshape(-1, 2))
    for i, label in enumerate(labels):
        style = series_style(i, marker=True)
        runs = rows[label]["runs"].values()
        ax.scatter([x["forgetting"] for x in runs], [x["gain"] for x in runs], s=10, alpha=0.4, color=style["color"])
        edge = np.clip(means(label), lo, hi)
        if label in twins:
            twin = np.clip(means(twins[label]), lo, hi)
            ax.scatter(*twin, s=40, facecolors="none", edgecolors=style["color"], lw=1,
                       label="static twin (hollow, dotted to its row)" if label == next(iter(twins)) else None)
            ax.plot([twin[0], edge[0]], [twin[1], edge[1]], ":", color=style["color"], lw=0.8)
        if np.array_equal(edge, means(label)):
            ax.scatter(*edge, s=60, label=label, **style)
            continue
        side = 0 if means(label)[0] != edge[0] else 1  # the axis it left by
        pointer = ("<>" if side == 0 else "v^")[int(means(label)[side] > hi[side])]
        ax.scatter(*edge, s=60, marker=pointer, color=style["color"], clip_on=False, label=f"{label} (off the plot)")
        ax.annotate(f"{label}: {means(label)[0]:+.2f}, {means(label)[1]:.2f}", edge, fontsize=6, color=style["color"],
                    xytext=(-4 if side == 0 and pointer == ">" else 4, 4 if side == 0 or pointer == "v" else -8),
                    textcoords="offset points", ha="right" if pointer == ">" else "left", annotation_clip=False)
    if best is not None:
        ax.axline(tuple(means(best)), slope=1, color="tab:green", ls="-.", lw=0.8,
                  label=f"objective of the best static ({best}); above: lower")
    ax.set(xlim=(lo[0], hi[0]), ylim=(lo[1], hi[1]), xlabel="forgetting (source loss rise, nats)",
           ylabel="gain (target loss drop, nats)", title="every mixer over the static grid (mean over seeds)")


def write_plots(summary, run_dirs, out_dir, dynamic, grid):
    """The PNGs (weights, validation curves, objective curves, the frontier), each written to a temp name and
    renamed; returns their paths. dynamic: the rows whose weights move, then natural's "static"; grid: the
    static grid's rows."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    paths = []
    rows, domains, fields = summary["rows"], summary["domains"], summary["fields"]

    def save(fig, filename, legend_from=None):
        path = os.path.join(out_dir, filename)
        tmp = f"{path}.tmp-{os.getpid()}.png"
        if legend_from is not None:  # one legend for all panels, in a margin on the right
            fig.legend(*legend_from.get_legend_handles_labels(), loc="outside right center", fontsize=7)
        fig.savefig(tmp, dpi=100)
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

    # every row's objective minus natural's at the same tokens: the rows end within a few hundredths of each other,
    # which a plot of the objective itself draws as one line
    fig, ax = plt.subplots(figsize=(10, 5.5), layout="constrained")
    natural_tokens, natural_objective = curves["static"][0], curves["static"][2]
    for i, label in enumerate(dynamic[:-1]):  # past the base's point
        tokens, objective = curves[label][0][1:], curves[label][2][1:]
        ax.plot(tokens / 1e3, objective - np.interp(tokens, natural_tokens, natural_objective), label=label, lw=1,
                **series_style(i))
    ax.axhline(0, color="k", lw=0.8, label="static (natural)")
    ax.set(xlabel="k tokens", ylabel="objective (S + T) / 2 on val, minus natural's",
           title="each row's objective against static natural's over CPT (mean over seeds; below 0: better)")
    save(fig, "balanced.png", legend_from=ax)

    fig, ax = plt.subplots(figsize=(10, 6.5), layout="constrained")
    plot_frontier(ax, rows, dynamic[:-1], grid, summary.get("best_static"))
    save(fig, "frontier.png", legend_from=ax)

    fig, ax = plt.subplots(figsize=(10, 6), layout="constrained")
    plot_compute(ax, rows, dynamic[:-1], grid, summary.get("static_search") or [])
    save(fig, "compute.png", legend_from=ax)
    return paths


def plot_compute(ax, rows, labels, grid_labels, curve):
    """What each row cost against what it reached: its compute per seed (run, proxy work, target estimation,
    the oracle's search: report's compute_seconds) against its mean test objective, the static grid's points in
    grey, every moving row in its own style and its twin as a hollow circle of its colour; and the search a user
    could run instead, the validation-best of k random grid runs (static_search's curve), against k static
    runs' seconds. A row left of and below the curve reached its objective for less than the search that
    matches it."""
    if curve:
        ax.plot([p["seconds"] for p in curve], [p["expected_test_objective"] for p in curve], "k-", marker=".",
                lw=1, label="best of k static grid runs, picked on validation")

    def point(label):
        return rows[label]["compute_seconds"]["total"], rows[label]["stats"]["balanced_loss"]["mean"]
    grey = [point(label) for label in grid_labels if rows[label].get("compute_seconds")]
    if grey:
        ax.scatter(*zip(*grey), color="0.6", s=12, label="static grid points")
    for i, label in enumerate(label for label in labels if rows[label].get("compute_seconds")):
        style = series_style(i, marker=True)
        ax.scatter(*point(label), color=style["color"], marker=style["marker"], s=30, label=label)
        if rows.get(f"{label}-twin", {}).get("compute_seconds"):  # its twin: a hollow circle of its colour
            ax.scatter(*point(f"{label}-twin"), facecolors="none", edgecolors=style["color"], s=30)
    ax.set_xscale("log")
    ax.set(xlabel="compute per seed, s (log scale)", ylabel="test objective (S + T) / 2, mean over seeds",
           title="each row's objective against its compute, and the search over static mixtures it saves")
