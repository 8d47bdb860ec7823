"""
The suite's report: from the eval.json and log.jsonl of every (row, seed) run, the table, the static grid,
paired-seed intervals against natural, the best static mixture and each moving row's static twin, the family
of primary comparisons under Holm's rule, the plots, and the benchmark files of docs/benchmark/ (publish).
suite.py runs the runs; this reads them.

Rows (suite.suite_rows): the static grid (role "static": target share x within-field split "tokens" or
"uniform"; the natural token-split row keeps the label "static"), the schedules, each mixer's paper default
(role "mixer") and its named variants ("variant", "control"), and a static twin for every row whose weights
move (role "twin", "twin_of": that row): a static run at the time-average of the rows that run sampled, per
seed. "primary" marks the six paper defaults and their twins. Every number comes from the runs.

Paired-seed intervals: seed s of two rows shares the base (each seed pre-trains its own), the batches' order
and the initialisation of everything the mixer does not change, so d_s = J_row(s) - J_ref(s) removes what
the seeds share. The interval is the 95% Student-t interval of the mean of d over the seeds both rows have,
mean ± t(0.975, n-1) sd(d) / sqrt(n); negative = better than the reference. The best static mixture is the
grid row with the lowest mean validation objective at the final step (the test split judges, never picks).

The primary family: each paper default against the best static mixture and against its own twin (12
comparisons for six mixers), two-sided paired t-tests, p-values adjusted by Holm's step-down rule; a verdict
"better" or "worse" needs p_holm < ALPHA. Every other row is exploratory: its verdict is its unadjusted 95%
interval excluding zero, and it is marked so. A bootstrap over the test documents (document_bootstrap) says
whether any of the family's verdicts depends on which documents were held out.
"""

import json
import math
import os

import numpy as np

from common import write_json_atomic, write_text_atomic
from evaluate import COLUMNS, field_losses, load_result, read_log
from experiments.plots import write_plots
from experiments.static_search import compute_seconds, matching_search, static_search_curve
from experiments.tables import (files_beside, interval_text, regenerate_pages, repository_pages, suite_table,  # noqa: F401
                               verdict)
from mixer import objective

# t(0.975, df) for df = 1..30; past 30 the normal's 1.96 is within 4% of it
T_975 = [12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179, 2.160, 2.145, 2.131,
         2.120, 2.110, 2.101, 2.093, 2.086, 2.080, 2.074, 2.069, 2.064, 2.060, 2.056, 2.052, 2.048, 2.045, 2.042]
ALPHA = 0.05  # the primary family's level, after Holm's adjustment
MOVING = ("schedule", "mixer", "variant", "control", "oracle")  # the roles whose weights move: each has a twin


def role_of(row):
    """A row's role; rows made before roles existed say it by their kind."""
    return row.get("role") or {"natural": "static", "sweep": "static"}.get(row["kind"], row["kind"])


def incomplete_beta(a, b, x):
    """The regularized incomplete beta function I_x(a, b), by its continued fraction (evaluated with
    Lentz's method) on the side of x where it converges fast: I_x(a, b) = 1 - I_(1-x)(b, a)."""
    if x <= 0.0 or x >= 1.0:
        return 0.0 if x <= 0.0 else 1.0
    if x > (a + 1) / (a + b + 2):
        return 1.0 - incomplete_beta(b, a, 1.0 - x)
    front = math.exp(math.lgamma(a + b) - math.lgamma(a) - math.lgamma(b) + a * math.log(x) + b * math.log1p(-x)) / a
    tiny, f, c, d = 1e-300, 1.0, 1.0, 0.0  # Lentz's method on f = 1 + d_1 / (1 + d_2 / (1 + ...)); I = front / f
    for n in range(1, 400):
        k = n // 2  # d_(2k+1) = -(a+k)(a+b+k) x / ((a+2k)(a+2k+1)), d_(2k) = k(b-k) x / ((a+2k-1)(a+2k))
        term = (k * (b - k) * x / ((a + 2 * k - 1) * (a + 2 * k)) if n % 2 == 0
                else -(a + k) * (a + b + k) * x / ((a + 2 * k) * (a + 2 * k + 1)))
        d = 1.0 + term * d
        d = 1.0 / (d if abs(d) > tiny else tiny)
        c = 1.0 + term / c
        c = c if abs(c) > tiny else tiny
        f *= c * d
        if abs(c * d - 1.0) < 1e-15:
            break
    return front / f


def student_t_cdf(t, df):
    """P(T <= t) for Student's t with df degrees of freedom: with x = df / (df + t^2), the tail beyond |t| is
    I_x(df / 2, 1 / 2) / 2."""
    tail = 0.5 * incomplete_beta(df / 2, 0.5, df / (df + t * t))
    return 1.0 - tail if t >= 0 else tail


def paired_p(row, ref):
    """The two-sided p-value of the paired t-test of J_row(s) - J_ref(s) over the seeds both have, t = mean(d) /
    (sd(d) / sqrt(n)) on n - 1 degrees of freedom; None under two seeds."""
    d = np.array([row[s] - ref[s] for s in sorted(set(row) & set(ref))])
    if len(d) < 2:
        return None
    sd = d.std(ddof=1)
    if sd == 0:
        return 1.0 if d.mean() == 0 else 0.0
    t = d.mean() / (sd / math.sqrt(len(d)))
    return incomplete_beta((len(d) - 1) / 2, 0.5, (len(d) - 1) / (len(d) - 1 + t * t))


def signflip_p(row, ref):
    """The exact two-sided paired sign-flip (permutation) p-value of J_row(s) - J_ref(s) over the seeds both have:
    the share of the 2^n sign patterns s whose |mean(s d)| is at least the observed |mean(d)| (ties counted, with a
    relative tolerance for rounding). Distribution-free, so with n seeds it cannot go below 2 / 2^n; None under two
    seeds."""
    d = np.array([row[s] - ref[s] for s in sorted(set(row) & set(ref))])
    if len(d) < 2:
        return None
    signs = 1 - 2 * ((np.arange(2 ** len(d))[:, None] >> np.arange(len(d))) & 1)  # every pattern of +-1
    means = np.abs(signs @ d) / len(d)
    return float(np.mean(means >= abs(d.mean()) * (1 - 1e-12)))


def holm(p_values):
    """Holm's step-down adjustment of a family of m p-values: sorted p_(1) <= ... <= p_(m), p_holm_(i) =
    max over j <= i of min(1, (m - j + 1) p_(j)); a comparison is decided where p_holm < ALPHA, which holds the
    chance of any wrong decision in the family at ALPHA. A missing p-value (one seed) counts in m, stays None."""
    m, adjusted, running = len(p_values), [None] * len(p_values), 0.0
    for rank, i in enumerate(sorted((i for i, p in enumerate(p_values) if p is not None), key=lambda i: p_values[i])):
        running = max(running, min(1.0, (m - rank) * p_values[i]))
        adjusted[i] = running
    return adjusted


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


def share_of_oracle_gain(row, best, oracle):
    """A row's share of the oracle's gain over the best static mixture, (J_best - J_row) / (J_best - J_oracle),
    over the seeds all three have: 1 = as good as the oracle's schedule, 0 = as good as the best static mixture,
    below 0 = worse than it. The estimate is the ratio of the paired means, mean(a) / mean(b) with a_s = J_best(s)
    - J_row(s) and b_s = J_best(s) - J_oracle(s). Its 95% interval is Fieller's: every q with (mean(a) - q
    mean(b))^2 <= t^2 var(a - q b) / n, the q where the paired difference a - q b is within noise of zero, which
    is a quadratic inequality in q. A share means something only where the oracle gained: where mean(b) <= 0
    (the oracle did not beat the best static mixture) there is none ("mean" None), and where its gain is not
    clear of noise (mean(b)^2 <= t^2 var(b) / n) Fieller's set is no bounded interval: "bounded" is False and lo,
    hi are None. "oracle_gain" is mean(b), which says which."""
    seeds = sorted(set(row) & set(best) & set(oracle))
    a = np.array([best[s] - row[s] for s in seeds])
    b = np.array([best[s] - oracle[s] for s in seeds])
    n = len(seeds)
    out = {"mean": None, "lo": None, "hi": None, "seeds": n, "bounded": False,
           "oracle_gain": float(b.mean()) if n else None}
    if n == 0 or b.mean() <= 0:  # no gain to take a share of
        return out
    out["mean"] = float(a.mean() / b.mean())
    if n < 2:
        return out
    t2 = (T_975[n - 2] if n - 1 <= len(T_975) else 1.96) ** 2
    var_a, var_b, cov_ab = a.var(ddof=1), b.var(ddof=1), float(np.cov(a, b, ddof=1)[0, 1])
    quad = b.mean() ** 2 - t2 * var_b / n  # q^2 quad - 2 q half_lin + const <= 0
    half_lin = a.mean() * b.mean() - t2 * cov_ab / n
    const = a.mean() ** 2 - t2 * var_a / n
    if quad <= 0:  # the oracle's gain is within noise: the set is unbounded (or everything)
        return out
    root = math.sqrt(max(0.0, half_lin ** 2 - quad * const))  # >= 0: the estimate itself satisfies the inequality
    return {**out, "lo": float((half_lin - root) / quad), "hi": float((half_lin + root) / quad), "bounded": True}


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
    L_tgt| that divides Velocitune's V, and the fit's flag (hold_flagged holds a flagged domain's share). L_tgt,
    L_init and gap are means over the seeds (each seed has its own estimate), the flags listed per seed."""
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
        summary_rows[label]["compute_seconds"] = compute_seconds(summary_rows[label])
        if rows[label]["mixer"] in ("dbl", "velocity"):
            summary_rows[label]["loss_targets"] = loss_targets(run_dirs[label],
                                                               next(iter(by_seed.values()))["final"]["domains"])
    best, pick = best_static_mixture(summary_rows)
    objective_of = {label: {int(s): x["balanced_loss"] for s, x in r["runs"].items()}
                    for label, r in summary_rows.items()}
    twins = {r["twin_of"]: label for label, r in summary_rows.items() if r.get("twin_of")}
    for label, r in summary_rows.items():
        for name, ref in (("delta_natural", "static"), ("delta_best_static", best), ("delta_twin", twins.get(label))):
            r[name] = paired_interval(objective_of[label], objective_of[ref]) if ref in objective_of else None
    oracle = next((label for label, r in summary_rows.items() if role_of(r) == "oracle"), None)
    for label, r in summary_rows.items():  # each paper default's share of what the oracle's schedule won
        if oracle in objective_of and best in objective_of and r.get("primary") and role_of(r) == "mixer":
            r["share_of_oracle_gain"] = share_of_oracle_gain(objective_of[label], objective_of[best],
                                                             objective_of[oracle])
    first = next(iter(next(iter(results.values())).values()))
    errors = target_errors(run_dirs["velocity"], run_dirs.get("static", {}),
                           first["final"]["domains"]) if "velocity" in run_dirs else None
    compared = comparisons(summary_rows, objective_of, best, twins)
    compared["document_bootstrap"] = document_bootstrap(compared["family"], results, first["final"]["fields"])
    return {**info, "domains": first["final"]["domains"], "fields": first["final"]["fields"], "best_static": best,
            "best_static_pick": pick, "comparisons": compared,
            "static_search": static_search_curve({label: r for label, r in summary_rows.items()
                                                  if role_of(r) == "static"}),
            "velocity_target_error_nats": errors, "rows": summary_rows}


def best_static_mixture(rows):
    """The best static mixture: the grid row that wins the most pairwise comparisons of the mean VALIDATION
    objective, each pair compared over the seeds both rows have (a seed is its own base, which moves a row's mean
    by ~0.01 nats: comparing means over different seeds would favour the row that has the luckier seeds); ties go
    to the row with more seeds. Returns (its label, the pick: how it was made and the winner's curse, measured on
    the rows that have every seed of the pick: the pick's rank on the test split among them, and its validation
    margin over the runner-up beside the same pair's test margin)."""
    statics = {label: r for label, r in rows.items() if role_of(r) == "static"}
    if not statics:
        return None, None

    def mean(label, seeds, key):
        return float(np.mean([statics[label]["runs"][s][key] for s in seeds]))

    def beats(a, b):
        common = set(statics[a]["runs"]) & set(statics[b]["runs"])
        return bool(common) and mean(a, common, "val_objective") < mean(b, common, "val_objective")
    wins = {a: sum(beats(a, b) for b in statics if b != a) for a in statics}
    best = max(statics, key=lambda a: (wins[a], len(statics[a]["runs"])))
    seeds = set(statics[best]["runs"])
    peers = [label for label, r in statics.items() if seeds <= set(r["runs"])]
    by_val = sorted(peers, key=lambda label: mean(label, seeds, "val_objective"))
    by_test = sorted(peers, key=lambda label: mean(label, seeds, "balanced_loss"))
    pick = {"by": "pairwise wins on validation, each pair over its common seeds", "wins": wins[best],
            "of": len(statics) - 1, "seeds": sorted(int(s) for s in seeds), "peers": len(peers),
            "test_rank": by_test.index(best) + 1}
    runner_up = next((label for label in by_val if label != best), None)
    if runner_up:
        pick.update(runner_up=runner_up,
                    val_margin=mean(runner_up, seeds, "val_objective") - mean(best, seeds, "val_objective"),
                    test_margin=mean(runner_up, seeds, "balanced_loss") - mean(best, seeds, "balanced_loss"))
    return best, pick


def comparisons(rows, objective_of, best, twins):
    """The primary family (each paper default against the best static mixture and against its own twin, where
    that row has results) under Holm's rule, and every row's two verdicts, written into the row: from the
    family for its rows ("verdict_by": "holm"), from the unadjusted 95% interval for all others ("exploratory")."""
    family = []
    for label, r in rows.items():
        for against in (best, twins.get(label)) if r.get("primary") and role_of(r) == "mixer" else ():
            if against in objective_of:
                interval = paired_interval(objective_of[label], objective_of[against])
                family.append({"row": label, "against": against, "n": interval["seeds"],
                               **{k: interval[k] for k in ("mean", "lo", "hi")},
                               "p": paired_p(objective_of[label], objective_of[against]),
                               "p_signflip": signflip_p(objective_of[label], objective_of[against])})
    for entry, p_holm in zip(family, holm([entry["p"] for entry in family])):
        entry["p_holm"] = p_holm
        entry["verdict"] = holm_verdict(p_holm, entry["mean"])
    for label, r in rows.items():
        decided = {entry["against"]: entry["verdict"] for entry in family if entry["row"] == label}
        r["verdict_by"] = "holm" if decided else "exploratory"
        for key, ref in (("best_static", best), ("twin", twins.get(label))):
            unadjusted = verdict(r[f"delta_{key}"]) if r[f"delta_{key}"] else None
            r[f"verdict_{key}"] = decided.get(ref, unadjusted)
    return {"rule": "holm", "alpha": ALPHA, "test": "two-sided paired t-test of the test objective over the seeds "
            "both rows have; p_holm: Holm's step-down adjustment over the family; better/worse where p_holm < alpha; "
            "p_signflip: the exact paired sign-flip p over the same seeds, beside the t-test's",
            "family": family, "exploratory": "every other comparison: the unadjusted 95% paired t-interval, better/"
            "worse where it excludes zero (verdict_by: exploratory)"}


def holm_verdict(p_holm, mean):
    return "one seed: no interval" if p_holm is None else "within noise" if p_holm >= ALPHA else \
        "better" if mean < 0 else "worse"


BOOTSTRAP_DRAWS = 1000  # resamples of the test documents; a share of 0.95 is known to +-0.007


def document_bootstrap(family, results, fields, draws=BOOTSTRAP_DRAWS, seed=0):
    """Whether a verdict of the primary family depends on which documents were held out for test. Each of `draws`
    resamples draws every domain's test documents with replacement (one resample for all runs: they share the
    split), recomputes every run's test objective from its per-document loss sums (evaluate.full_evaluation's
    "test_documents") and the family's paired t-tests under Holm's rule. Writes into each family entry the share
    of resamples that give its published verdict and the 2.5-97.5% range of its mean difference; returns what was
    done, or None where a run has no per-document sums (runs from before they were recorded)."""
    labels = {entry["row"] for entry in family} | {entry["against"] for entry in family}
    documents = {(label, int(s)): results[label][s]["final"].get("test_documents")
                 for label in labels for s in results[label]}
    if not family or any(d is None for d in documents.values()) or \
            len({tuple(len(d["tokens"]) for d in run) for run in documents.values()}) != 1:
        return None
    rng = np.random.default_rng(seed)
    counts = [rng.multinomial(len(d["tokens"]), np.full(len(d["tokens"]), 1 / len(d["tokens"])), size=draws)
              for d in next(iter(documents.values()))]  # (draws, documents) per domain: how often each is drawn
    source, target = ([i for i, f in enumerate(fields) if f == field] for field in ("source", "target"))

    def objectives(run):  # (draws,) test objectives of one run
        losses = np.stack([c @ np.array(d["loss_sums"]) / (c @ np.array(d["tokens"])) for c, d in zip(counts, run)])
        return objective(losses[source].mean(axis=0), losses[target].mean(axis=0))
    drawn = {key: objectives(run) for key, run in documents.items()}
    same, means = np.zeros(len(family)), [[] for _ in family]
    for b in range(draws):
        values = [({s: v[b] for (label, s), v in drawn.items() if label == entry["row"]},
                   {s: v[b] for (label, s), v in drawn.items() if label == entry["against"]}) for entry in family]
        for i, (entry, (row, ref), p_holm) in enumerate(zip(family, values, holm([paired_p(r, f) for r, f in values]))):
            mean = paired_interval(row, ref)["mean"]
            same[i] += holm_verdict(p_holm, mean) == entry["verdict"]
            means[i].append(mean)
    for entry, n_same, mean in zip(family, same, means):
        entry["document_bootstrap"] = {"same_verdict": float(n_same / draws),
                                       "mean_lo": float(np.percentile(mean, 2.5)),
                                       "mean_hi": float(np.percentile(mean, 97.5))}
    return {"draws": draws, "seed": seed, "what": "each domain's test documents resampled with replacement (one "
            "resample for every run), every run's test objective recomputed from its per-document loss sums, the "
            "family's t-tests and Holm's adjustment redone: same_verdict is the share of resamples giving the "
            "published verdict, mean_lo/mean_hi the 2.5-97.5% range of the mean paired difference"}


def compute_once(summary):
    """The suite's runs' compute, each piece of work counted once: every run's own CPT loop, and each target
    estimation once. One estimation (out/estimate-<hash>/) serves every DBL and Velocitune run of a seed;
    each of those runs copies its record (seconds and tokens, read from the one targets.json, so equal to
    the last digit), which is how the estimation is known here."""
    runs = [x for r in summary["rows"].values() for x in r["runs"].values()]
    estimates = {(x["estimate_seconds"], x.get("estimate_tokens")) for x in runs if x["estimate_seconds"] is not None}
    return {"cpt_runs": sum(x["wall_seconds"] for x in runs), "target_estimates": sum(s for s, _ in estimates),
            "target_estimations": len(estimates)}


def interval(i):
    return None if i is None else {k: i[k] for k in ("mean", "lo", "hi")}


def benchmark_results(summary):
    """docs/benchmark/results.json: the table as data (differences in the objective, 95% paired t-intervals,
    the primary family's comparisons), every row with what it is (role, primary, split, twin_of ...)."""
    replays = (summary.get("proxy_replay") or {}).get("rows", {})
    base_seeds = summary.get("base_seeds") or {}
    curve = summary.get("static_search")

    def decided_by(label, r):
        """What decides the row's method: loss targets (dbl, velocity), the proxy replay (regmix, agent)."""
        out = {"loss_targets": r["loss_targets"]} if r.get("loss_targets") else {}
        if label in replays:
            out["proxy_replay"] = {"val_objective_mean": replays[label]["val_objective_mean"],
                                   "delta_natural": interval(replays[label]["delta_natural"])}
        return out

    def per_seed(run, base_seed):
        """One seed's run as a reader needs it to redo every published statistic."""
        return {"base_seed": base_seed, "test_objective": run["balanced_loss"], "val_objective": run["val_objective"],
                "source_loss": run["source_loss"], "target_loss": run["target_loss"],
                "task_accuracy": run["task_accuracy"], "target_share": run["target_share"]}

    def row(label, r):
        seeds = sorted(int(s) for s in r["runs"])
        stat = {name: r["stats"][key]["mean"] for name, key in (
            ("val_objective_mean", "val_objective"), ("balanced_mean", "balanced_loss"),
            ("forgetting_mean", "forgetting"), ("gain_mean", "gain"), ("task_acc_mean", "task_accuracy"),
            ("target_share_mean", "target_share"), ("mean_abs_weight_change", "mean_abs_weight_change"),
            ("reweightings_mean", "reweightings"))}
        return {"mixer": label, "role": role_of(r), "primary": bool(r.get("primary")),
                **{k: r[k] for k in ("paper_default", "variant_of", "twin_of", "split", "target_share", "natural")
                   if r.get(k) not in (None, False)},
                "seeds": seeds, "base_seeds": [base_seeds.get(str(s)) for s in seeds], **stat,
                "per_seed": {str(s): per_seed(r["runs"][str(s)], base_seeds.get(str(s))) for s in seeds},
                "balanced_std": r["stats"]["balanced_loss"]["spread"], "delta_natural": interval(r["delta_natural"]),
                "delta_best_static": interval(r["delta_best_static"]),
                **({"delta_twin": interval(r["delta_twin"])} if r.get("delta_twin") else {}),
                **({"share_of_oracle_gain": r["share_of_oracle_gain"]} if r.get("share_of_oracle_gain") else {}),
                "verdict_best_static": r.get("verdict_best_static"), "verdict_twin": r.get("verdict_twin"),
                "verdict_by": r.get("verdict_by"), "compute_s": r.get("compute_seconds"),
                **({"static_search_match": matching_search(curve, stat["balanced_mean"])}  # None: no k matches it
                   if r.get("paper_default") and curve else {}), **decided_by(label, r)}
    return {"objective": "balanced loss (S + T) / 2 on the test split, nats; lower is better",
            "interval": "95% Student-t interval of the mean paired difference over the seeds both rows have",
            "best_static": summary["best_static"],
            "best_static_by": "the static grid's row that wins the most pairwise comparisons of the mean validation "
                              "objective at the final step, each pair over the seeds both rows have",
            "best_static_pick": summary.get("best_static_pick"),
            "comparisons": summary.get("comparisons"),
            "loss_targets": "per domain: L_tgt (the scaling-law target; DBL's reference loss is this estimate, "
                            "not a reference model's loss), L_init (the base's validation loss), gap = |L_init - "
                            "L_tgt|, each fit's flag per seed (the papers' form uses every fit; hold_flagged holds a "
                            "flagged domain's share)",
            "velocity_target_error_nats": summary.get("velocity_target_error_nats"),
            "oracle": summary.get("oracle_search") and {"row": "oracle", **summary["oracle_search"]},  # its row's
            "share_of_oracle_gain": "per paper default: (J_best_static - J_row) / (J_best_static - J_oracle) over the "
                                    "seeds the three rows share, the ratio of the paired means with Fieller's 95% "
                                    "interval; bounded false where the oracle's own gain is within noise (no interval)",
            "proxy_replay": (summary.get("proxy_replay") or {}).get("what"),
            "proxy_trajectory_twins": summary.get("proxy_trajectory_twins"),
            "compute_s": "per row and seed, seconds on the suite's machine: its run, its proxy work and its target "
                         "estimation (each counted in full for every row that needs it), and their total",
            "static_search_match": "per paper default: the first point of the static search's curve whose "
                                   "expected test objective is at or below the row's (null: no k matches it)",
            "static_search": {"what": "the expected test objective of the validation-best of k static grid runs "
                                      "drawn at random (per seed, averaged over the seeds whose grid has k runs), "
                                      "and k mean static runs' seconds (experiments/static_search.py)",
                              "curve": summary.get("static_search")},
            "rows": [row(label, r) for label, r in summary["rows"].items()]}


def benchmark_calibration(summary, preset, wall):
    """docs/benchmark/calibration.json: the default setting's criteria, as measured in the suite's runs: the
    bases' and natural's task accuracy, the static grid (both splits) and the schedules, the compute."""
    rows = summary["rows"]
    natural = rows["static"]

    def row_mean(r, key):
        return r["stats"][key]["mean"]
    grid = sorted((label for label, r in rows.items() if role_of(r) == "static"),
                  key=lambda label: (rows[label].get("split", "tokens"), row_mean(rows[label], "target_share")))
    return {"preset": preset, "seeds": summary["seeds"], "base_seeds": summary.get("base_seeds"),
            "task_test_problems": summary["task_test_problems"],
            "base": {"task_acc": mean_and_spread([x["base_task_accuracy"] for x in natural["runs"].values()])[0],
                     "task_acc_per_seed": {s: x["base_task_accuracy"] for s, x in natural["runs"].items()}},
            "natural_target_share": row_mean(natural, "target_share"),
            "natural": {"task_acc_mean": row_mean(natural, "task_accuracy"),
                        "target_epochs": row_mean(natural, "target_epochs"),
                        "answer_logprob_gain_second_half_share":
                            row_mean(natural, "answer_logprob_gain_second_half_share")},
            "best_static": summary["best_static"],
            "grid": [{"row": label, "split": rows[label].get("split", "tokens"),
                      "target_share": rows[label].get("target_share") or row_mean(rows[label], "target_share"),
                      "natural": bool(rows[label].get("natural")), "seeds": len(rows[label]["runs"]),
                      "val_objective_mean": row_mean(rows[label], "val_objective"),
                      "balanced_mean": row_mean(rows[label], "balanced_loss"),
                      "balanced_std": rows[label]["stats"]["balanced_loss"]["spread"],
                      **{f"{name}_mean": row_mean(rows[label], key) for name, key in (
                          ("forgetting", "forgetting"), ("gain", "gain"), ("task_acc", "task_accuracy"))},
                      "target_epochs": row_mean(rows[label], "target_epochs")} for label in grid],
            "schedules": [{"name": label, "balanced_mean": row_mean(r, "balanced_loss"),
                           "balanced_std": r["stats"]["balanced_loss"]["spread"],
                           "task_acc_mean": row_mean(r, "task_accuracy")}
                          for label, r in rows.items() if role_of(r) == "schedule"],
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
                          **{key: {k: r[key][k] for k in ("mean", "lo", "hi")}
                             for key in ("delta_untrained", "delta_twin", "delta_final_loss", "delta_twin_final_loss")
                             if key in r}}
                         for label, r in (pretrain["rows"].items() if pretrain else [])],
            "pretrain_budget_steps": pretrain and pretrain["budget_steps"]}


def plotted_rows(summary):
    """(the rows whose weights move, then natural's "static"; the static grid's rows): what the plots draw."""
    rows = summary["rows"]
    return ([label for label, r in rows.items() if role_of(r) in MOVING] + ["static"],
            [label for label, r in rows.items() if role_of(r) == "static"])


def write_suite_outputs(summary, run_dirs, out_dir):
    """The suite's results folder: results.md, results.json (the whole summary) and the PNGs."""
    os.makedirs(out_dir, exist_ok=True)
    paths = [os.path.join(out_dir, "results.md"), os.path.join(out_dir, "results.json")]
    write_text_atomic(paths[0], suite_table(summary) + "\n")
    write_json_atomic(paths[1], summary)
    return paths + write_plots(summary, run_dirs, out_dir, *plotted_rows(summary))


def publish(summary, run_dirs, publish_dir, wall, pages=None):
    """Every file of docs/benchmark/ that the suite makes: results.json (benchmark_results), calibration.json,
    results.md and the PNGs, each written to a temp name and renamed; then the generated tables of `pages`,
    from the results.json and calibration.json just written alone (tables.py; predictions and learning_curve
    blocks from the predictions.json and agent.json already there, which `python -m experiments.predictions` and
    experiments.agent_experiment rewrite for the new run). pages: by default README.md,
    docs/benchmark.md, docs/online.md, docs/agent.md and docs/headroom.md of this repository when publish_dir is its
    docs/benchmark, none elsewhere.
    Returns the paths written."""
    os.makedirs(publish_dir, exist_ok=True)
    paths = [os.path.join(publish_dir, name) for name in ("results.json", "calibration.json", "results.md")]
    write_json_atomic(paths[0], benchmark_results(summary))
    write_json_atomic(paths[1], benchmark_calibration(summary, summary["preset"], wall))
    write_text_atomic(paths[2], suite_table(summary) + "\n")
    paths += write_plots(summary, run_dirs, publish_dir, *plotted_rows(summary))
    with open(paths[0]) as f:
        return paths + regenerate_pages(repository_pages(publish_dir) if pages is None else pages, json.load(f),
                                        files_beside(paths[0]))
