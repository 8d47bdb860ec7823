"""
The suite's tables in markdown: results.md from the suite's summary (suite_table), and the tables that
README.md and docs/*.md hold between markers, generated from docs/benchmark/results.json (and calibration.json)
alone so that a page cannot say what the JSON does not (tests/test_publish.py regenerates them and fails on any
difference):

    <!-- results:begin primary -->   the primary family: six paper defaults, against the best static mixture
    ...                              and against each one's own static twin, Holm-adjusted (README.md)
    <!-- results:end -->

    <!-- results:begin full -->      every row, exploratory rows marked (docs/benchmark.md)

    <!-- results:begin mixers:bandit,dbl -->   these mixers' paper defaults and variants (docs/online.md)

    <!-- results:begin calibration -->  the setting's criteria and the compute, from calibration.json beside it

    <!-- results:begin savings -->   each paper default's compute against the static runs that match it

    <!-- results:begin oracle -->    the oracle's headroom and each paper default's share of its gain

    <!-- results:begin trajectories -->  the agent's proxy trajectories against their static twins

    <!-- results:begin learning_curve -->  the agent's learning curve, from agent.json beside results.json

    <!-- results:begin predictions -->  the predictions written before the run, held or not, from predictions.json
                                        beside results.json (experiments/predictions.py writes it)

report.publish rewrites the blocks after a published run; `python -m experiments.tables` rewrites them from the JSON
(and the calibration.json, predictions.json and agent.json in its folder):

    python -m experiments.tables docs/benchmark/results.json README.md docs/benchmark.md \
        docs/online.md docs/agent.md docs/headroom.md
"""
import json
import os
import re
import sys

from common import DataError, write_text_atomic
from evaluate import fmt
from experiments.static_search import matching_search

BLOCK = re.compile(r"(<!-- results:begin (\S+) -->\n)(.*?)(<!-- results:end -->)", re.S)


def interval_text(interval, digits=3):
    if interval is None or interval["mean"] is None:
        return "n/a"
    if interval["lo"] is None:
        return f"{interval['mean']:+.{digits}f}"
    return f"{interval['mean']:+.{digits}f} [{interval['lo']:+.{digits}f}, {interval['hi']:+.{digits}f}]"


def verdict(interval):
    """An unadjusted 95% interval said in words: better (below zero), worse (above) or within noise."""
    if interval["hi"] is None:
        return "one seed: no interval"
    return "better" if interval["hi"] < 0 else "worse" if interval["lo"] > 0 else "within noise"


def suite_table(summary):
    """Rows with mean ± spread (sample std over seeds) and the paired differences of the objective."""
    metrics = [("balanced (objective)", "balanced_loss"), ("source loss", "source_loss"),
               ("target loss", "target_loss"), ("forgetting", "forgetting"), ("gain", "gain"),
               ("task acc", "task_accuracy")]
    lines = [f"seeds up to {summary['seeds']}, mean ± spread (sample std) on the test split; val = the validation "
             f"objective at the final step, which picks the best static mixture ({summary['best_static']}); Δ = the "
             "objective's paired difference (95% t-interval over the seeds both rows have; negative = better) against "
             "natural, the best static mixture and the row's own static twin; verdicts: Holm over the primary family, "
             "else the unadjusted interval (exploratory); extra s = target estimation (dbl, velocity), proxy work "
             "(regmix: its constant-mixture proxy runs; agent rows: the trajectories, the tuning and that agent's "
             "training) or the oracle's search", "",
             "| row | seeds | " + " | ".join(c for c, _ in metrics) + " | val | target share | target epochs | "
             "Δ natural | Δ best static | vs best static | Δ twin | vs twin | by | wall s | extra s |",
             "|" + "---|" * (len(metrics) + 13)]
    for label, r in summary["rows"].items():
        st = r["stats"]
        cells = [f"{fmt(st[k]['mean'])} ± {fmt(st[k]['spread'])}" for _, k in metrics]
        extra = r["proxy_seconds"] if r["proxy_seconds"] is not None else r["estimate_seconds"]
        lines.append(f"| {label} | {len(r['runs'])} | " + " | ".join(cells) + " | "
                     f"{fmt((st.get('val_objective') or {}).get('mean'), 4)} | {fmt(st['target_share']['mean'], 2)} | "
                     f"{fmt(st['target_epochs']['mean'], 2)} | {interval_text(r['delta_natural'])} | "
                     f"{interval_text(r['delta_best_static'])} | {r.get('verdict_best_static') or 'n/a'} | "
                     f"{interval_text(r.get('delta_twin'))} | {r.get('verdict_twin') or ''} | "
                     f"{r.get('verdict_by', '')} | {fmt(st['wall_seconds']['mean'], 0)} | {fmt(extra, 0)} |")
    return "\n".join(lines)


def p_text(p):
    return "n/a" if p is None else f"{p:.3f}"


def primary_table(results):
    """README's table: per paper default, its objective and its two comparisons of the primary family (Δ with
    the 95% interval, the Holm-adjusted p, the verdict)."""
    comparisons, rows = results["comparisons"], {r["mixer"]: r for r in results["rows"]}
    best, twins = results["best_static"], {r["twin_of"]: r["mixer"] for r in results["rows"] if r.get("twin_of")}
    own_bases = all(None not in r["base_seeds"] for r in results["rows"])
    bases = "each its own base" if own_bases else "all continuing one --init_from checkpoint"
    lines = [f"Best static mixture (the grid's lowest validation objective): `{best}`, test objective "
             f"{fmt(rows[best]['balanced_mean'])}; the primary family's {len(comparisons['family'])} comparisons,",
             f"paired t over the seeds ({bases}), Holm-adjusted, decided at p < {comparisons['alpha']}; beside it the "
             "exact sign-flip p (unadjusted; n/a where the run did not compute it); Δ < 0 = better.", "",
             "| paper default | seeds | objective | Δ best static [95%] | p (Holm) | sign-flip p | verdict "
             "| Δ own twin [95%] | p (Holm) | sign-flip p | verdict |", "|---|---|---|---|---|---|---|---|---|---|---|"]
    for label in dict.fromkeys(entry["row"] for entry in comparisons["family"]):
        cells = []
        for against in (best, twins.get(label)):
            entry = next((e for e in comparisons["family"] if e["row"] == label and e["against"] == against), None)
            cells += [interval_text(entry, 4), p_text(entry["p_holm"]), p_text(entry.get("p_signflip")),
                      entry["verdict"]] if entry else ["n/a"] * 4
        lines.append(f"| {label} | {len(rows[label]['seeds'])} | {fmt(rows[label]['balanced_mean'])} | "
                     + " | ".join(cells) + " |")
    return "\n".join(lines + [""] + primary_reading(results))


READING = {  # (against, verdict): the words for it, and what follows from it
    ("best static", "better"): ("beats the best static mixture", ""),
    ("best static", "worse"): ("is worse than the best static mixture", ""),
    ("best static", "within noise"): ("is within noise of the best static mixture", ""),
    ("twin", "better"): ("beats its own average mixture", ": it adapts usefully"),
    ("twin", "worse"): ("is worse than its own average mixture", ": how it moves costs here (its weights over time, "
                                                                 "or how its batches are drawn from them)"),
    ("twin", "within noise"): ("is within noise of its own average mixture", ": the moving adds nothing measurable"),
}


def primary_reading(results):
    """The table in words, one line per paper default, then the exploratory moving rows and twins that an
    unadjusted interval calls better than the best static mixture: generated, so that no sentence can say what
    the JSON does not."""
    comparisons, best = results["comparisons"], results["best_static"]
    rows, lines, counts = {r["mixer"]: r for r in results["rows"]}, [], {"best static": 0, "twin": 0}
    for label in dict.fromkeys(entry["row"] for entry in comparisons["family"]):
        said = []
        for entry in (e for e in comparisons["family"] if e["row"] == label):
            against = "best static" if entry["against"] == best else "twin"
            figures = f"(Δ {interval_text(entry, 4)}, Holm p {p_text(entry['p_holm'])})"
            if against == "twin" and rows[label].get("reweightings_mean") == 0:  # RegMix: a constant mixture
                said.append(f"is within noise of its own average mixture {figures}: its weights never move, so this "
                            "compares a mixture with itself, and the twin reproduces it" if entry["verdict"] ==
                            "within noise" else f"differs from its own average mixture {figures} although its "
                            "weights never move: the twin does not reproduce the run (a fault of the twin)")
                continue
            if (against, entry["verdict"]) not in READING:
                said.append(f"against {entry['against']}: {entry['verdict']}")
                continue
            counts[against] += entry["verdict"] == "better"
            words, then = READING[(against, entry["verdict"])]
            if entry["verdict"] == "within noise" and (entry["lo"] > 0 or entry["hi"] < 0):
                then = ": its unadjusted interval excludes zero, which Holm's adjustment does not let count"
            flip = entry.get("p_signflip")
            if flip is not None and entry["p"] is not None and (flip < comparisons["alpha"]) != \
                    (entry["p"] < comparisons["alpha"]):  # the two tests disagree, unadjusted
                then += (f" (the t-test's unadjusted p {p_text(entry['p'])} and the exact sign-flip p {p_text(flip)} "
                         f"disagree at {comparisons['alpha']})")
            said.append(f"{words} {figures}{then}")
        lines.append(f"- **{label}** " + "; ".join(said) + ".")
    defaults, bootstrap = len(lines), comparisons.get("document_bootstrap")
    if bootstrap:  # a verdict that another draw of the test documents would change
        fragile = [f"{e['row']} against {e['against']} ({e['document_bootstrap']['same_verdict']:.0%})"
                   for e in comparisons["family"] if e["document_bootstrap"]["same_verdict"] < 0.95]
        lines.append(f"Resampling the test documents ({bootstrap['draws']} draws, the family redone on each): " +
                     ("every verdict holds in at least 95% of them" if not fragile else "the verdicts that depend on "
                      "which documents were held out (the share of draws that keep each): " + ", ".join(fragile)) + ".")
    lines.insert(0, f"In words: of the {defaults} paper defaults, {counts['best static']} beat the best static "
                    f"mixture and {counts['twin']} beat their own twin.")
    leads = [r["mixer"] + (" (a grid point: the pick on validation missed it, the winner's curse)"
                           if r["role"] == "static" else "")
             for r in results["rows"] if r.get("verdict_by") == "exploratory" and r.get("verdict_best_static") == "better"]
    lines.append("Exploratory rows, twins and grid points better than the best static mixture by their unadjusted "
                 "interval (a lead to follow, not a finding): " + (", ".join(leads) if leads else "none") + ".")
    return lines


def full_table(results):
    """docs/benchmark.md's table: every row of results.json, in its order, with what it is, its objective on
    validation (which picks the best static mixture) and on test, and both verdicts with the rule that gave them."""
    lines = ["| row | role | split, share | seeds | val objective | test objective | forgetting | gain | task acc "
             "| Δ best static [95%] | vs best static | Δ own twin [95%] | vs twin | verdicts by |",
             "|" + "---|" * 14]
    for r in results["rows"]:
        share = "" if r.get("split") is None else f"{r['split']} {fmt(r.get('target_share'), 2)}" + (
            " (natural)" if r.get("natural") else "")
        twin = f"{r['twin_of']}'s twin" if r.get("twin_of") else r["role"]
        verdict = "reference" if r["mixer"] == results["best_static"] else r.get("verdict_best_static") or "n/a"
        lines.append(f"| {r['mixer']} | {twin} | {share} | {len(r['seeds'])} | {fmt(r['val_objective_mean'], 4)} | "
                     f"{fmt(r['balanced_mean'], 4)} ± {fmt(r['balanced_std'], 4)} | {fmt(r['forgetting_mean'])} | "
                     f"{fmt(r['gain_mean'])} | {fmt(r['task_acc_mean'])} | {interval_text(r['delta_best_static'], 4)} | "
                     f"{verdict} | {interval_text(r.get('delta_twin'), 4) if r.get('delta_twin') else ''} | "
                     f"{r.get('verdict_twin') or ''} | "
                     f"{'Holm (primary)' if r.get('verdict_by') == 'holm' else 'exploratory'} |")
    return "\n".join(lines)


def mixers_table(results, mixers):
    """A page's table for some mixers (block "mixers:bandit,dbl"): each one's paper default and named variants,
    their objective, both comparisons (Holm's in the primary family, else unadjusted), how their weights moved."""
    lines = ["| row | role | seeds | test objective | Δ best static [95%] | vs best static | Δ own twin [95%] "
             "| vs twin | target share | re-weightings | mean abs weight change | forgetting | gain | task acc |",
             "|" + "---|" * 14]
    for r in results["rows"]:
        if r["mixer"] in mixers or r.get("variant_of") in mixers:
            objective = f"{fmt(r['balanced_mean'], 4)} ± {fmt(r['balanced_std'], 4)}"
            cells = [r["mixer"], r["role"], len(r["seeds"]), objective,
                     interval_text(r["delta_best_static"], 4), r.get("verdict_best_static") or "n/a",
                     interval_text(r.get("delta_twin"), 4), r.get("verdict_twin") or "n/a",
                     fmt(r["target_share_mean"], 2), fmt(r.get("reweightings_mean"), 1),
                     fmt(r["mean_abs_weight_change"], 3), fmt(r["forgetting_mean"]), fmt(r["gain_mean"]),
                     fmt(r["task_acc_mean"])]
            lines.append("| " + " | ".join(str(c) for c in cells) + " |")
    return "\n".join(lines)


def met(*values, test):
    """A criterion's verdict: n/a where a figure was not measured (no task, too few evaluations)."""
    return "n/a" if any(v is None for v in values) else "yes" if test(*values) else "**no**"


def calibration_table(calibration):
    """docs/benchmark.md's criteria for a setting that can tell mixers apart (each as required and as measured in
    the published run, from calibration.json), then the run's compute. Only figures the JSON holds are printed:
    a criterion on two figures shows both."""
    if "grid" not in calibration:
        raise DataError("calibration.json predates the static grid (it has no \"grid\"); publish a new run with "
                        "python -m experiments.suite --suite default --publish docs/benchmark")
    grid = {(g["split"], "natural" if g["natural"] else round(g["target_share"], 2)): g for g in calibration["grid"]}
    natural, bases = calibration["natural"], list(calibration["base"]["task_acc_per_seed"].values())
    half = natural["answer_logprob_gain_second_half_share"]
    rows = [(f"(a) the bases' task accuracy, {calibration['task_test_problems']} test problems", "≤ 5% each",
             ", ".join(fmt(a) for a in bases), met(*bases, test=lambda *a: max(a) <= 0.05)),
            ("(a) static natural CPT's task accuracy", "20% to 80%", fmt(natural["task_acc_mean"]),
             met(natural["task_acc_mean"], test=lambda a: 0.2 <= a <= 0.8)),
            (f"(b) target epochs at the natural mixture (share {fmt(calibration['natural_target_share'], 3)})", "≥ 2",
             fmt(natural["target_epochs"], 2), met(natural["target_epochs"], test=lambda e: e >= 2)),
            ("(c) answer log-prob gain made in the second half of natural CPT", "≥ 15%",
             "n/a" if half is None else f"{100 * half:.1f}%", met(half, test=lambda h: h >= 0.15))]
    for split in ("tokens", "uniform"):
        low, high = grid.get((split, 0.05), {}), grid.get((split, 0.8), {})  # n/a where the grid has no such point
        acc, forgetting = [g.get("task_acc_mean") for g in (low, high)], [g.get("forgetting_mean") for g in (low, high)]
        rows += [(f"(d) {split} split: task accuracy at 5% and at 80%", "80% at least 10 points above 5%",
                  ", ".join(fmt(a) for a in acc), met(*acc, test=lambda lo, hi: round(hi - lo, 9) >= 0.10)),
                 (f"(d) {split} split: forgetting at 5% and at 80%", "5% ≤ a third of 80%",
                  ", ".join(fmt(f) for f in forgetting), met(*forgetting, test=lambda lo, hi: lo <= hi / 3))]
    lines = ["| criterion | required | measured | met |", "|---|---|---|---|"]
    lines += [f"| {what} | {required} | {measured} | {verdict} |" for what, required, measured, verdict in rows]
    wall = calibration["wall_s"]
    base_s = "from one --init_from checkpoint" if wall["base"] is None else f"{wall['base']:,.0f} s"
    lines += ["", f"Compute, each piece of work once (`wall_s`): corpus {fmt(wall['corpus'], 0)} s, "
                  f"bases ({wall['bases']}) {base_s}, the suite's {wall['cpt_runs']:,.0f} s of CPT runs, "
                  f"{wall['target_estimations']} target estimations {wall['target_estimates']:,.0f} s"
                  + (f", the oracle's search {wall['oracle_search']:,.0f} s" if wall.get("oracle_search") else "")
                  + f" and its proxy work {wall['proxy']:,.0f} s: the suite {wall['suite']:,.0f} s "
                  f"({wall['suite'] / 3600:.1f} hours) with the {calibration['preset']} preset."]
    return "\n".join(lines)


def savings_table(results):
    """What each paper default saves against tuning static mixtures: its compute (run, proxy work, target
    estimation) beside the number of random static grid runs whose validation-best matches its test objective
    in expectation (results.json's static_search)."""
    curve = (results.get("static_search") or {}).get("curve")
    if not curve:
        return "This run did not record the static search (runs from before experiments/static_search.py)."
    lines = [f"The expected test objective of the validation-best of k static grid runs drawn at random, k = 1 to "
             f"{curve[-1]['k']}: " + ", ".join(f"{fmt(p['expected_test_objective'], 4)} (k = {p['k']})"
                                                for p in curve) + ".", "",
             "| paper default | objective | its compute (s) | run, proxy, estimation (s) | static runs to match it "
             "| their compute (s) |", "|---|---|---|---|---|---|"]
    said = [""]
    for r in (r for r in results["rows"] if r.get("paper_default") and r.get("compute_s")):
        c, match = r["compute_s"], matching_search(curve, r["balanced_mean"])
        lines.append(f"| {r['mixer']} | {fmt(r['balanced_mean'], 4)} | {c['total']:,.0f} | {c['run']:,.0f}, "
                     f"{c['proxy']:,.0f}, {c['estimate']:,.0f} | " + (f"{match['k']} | {match['seconds']:,.0f} |" if
                     match else f"none: even all {curve[-1]['k']} miss it | n/a |"))
        said.append(f"- To match `{r['mixer']}` ({fmt(r['balanced_mean'], 4)}), tune {match['k']} static "
                    f"run{'s' if match['k'] > 1 else ''} ({match['seconds']:,.0f} s); `{r['mixer']}` cost {c['total']:,.0f} s." if match else
                    f"- No search of the grid's static runs matches `{r['mixer']}` ({fmt(r['balanced_mean'], 4)}); "
                    f"`{r['mixer']}` cost {c['total']:,.0f} s.")
    return "\n".join(lines + said)


def share_text(share):
    """A paper default's share of the oracle's gain (report.share_of_oracle_gain), with why it has no interval."""
    if share is None or not share["seeds"]:
        return "n/a"
    if share["mean"] is None:
        return "none: the oracle did not beat the best static mixture"
    if share["seeds"] < 2:
        return f"{share['mean']:.2f} (one seed: no interval)"
    if not share["bounded"]:
        return f"{share['mean']:.2f} (no interval: the oracle's gain is within noise)"
    return f"{share['mean']:.2f} [{share['lo']:.2f}, {share['hi']:.2f}]"


def oracle_table(results):
    """The headroom the published run measured: the oracle's schedule (searched on validation), its frozen runs
    against the best static mixture and its own twin, its compute, and each paper default's share of its gain
    (results.json's oracle, its row and share_of_oracle_gain)."""
    search, rows = results.get("oracle"), {r["mixer"]: r for r in results["rows"]}
    if not search or "oracle" not in rows:
        return "This run has no oracle row (a run from before the suite had one, or one with --oracle none)."
    o = rows["oracle"]
    chosen = ", ".join(fmt(x, 2) for x in search.get("schedule_shares") or []) or ", ".join(search["schedule"])
    lines = [f"The oracle's schedule, searched on validation from seed {search['seed']}'s base (a choice every "
             f"{search['interval']} steps, {search['compute_seconds']:,.0f} s of search): {chosen}. Frozen on "
             f"{len(o['seeds'])} seeds, its test objective {fmt(o['balanced_mean'], 4)}: against the best static "
             f"mixture ({results['best_static']}) {interval_text(o['delta_best_static'], 4)}, against its own twin "
             f"{interval_text(o.get('delta_twin'), 4)} (negative: the oracle is better).", "",
             "| paper default | seeds | test objective | Δ best static [95%] | share of the oracle's gain [95%] |",
             "|---|---|---|---|---|"]
    for r in results["rows"]:
        if r.get("share_of_oracle_gain"):
            lines.append(f"| {r['mixer']} | {r['share_of_oracle_gain']['seeds']} | {fmt(r['balanced_mean'], 4)} | "
                         f"{interval_text(r['delta_best_static'], 4)} | {share_text(r['share_of_oracle_gain'])} |")
    return "\n".join(lines)


def trajectories_table(results):
    """What the agent's data can teach: its proxy trajectories beside their static twins (results.json's
    proxy_trajectory_twins, from proxy.trajectory_twins), the best one's schedule rerun on fresh seeds."""
    twins = results.get("proxy_trajectory_twins")
    if not twins:
        return "This run did not put the proxy trajectories beside their twins (a run from before issue 33)."
    best, rerun = twins["best"], twins["best"]["rerun"]
    return (f"{twins['count']} proxy trajectories, each against its static twin on the validation objective at "
            f"the final step: trajectory minus twin {twins['mean']:+.4f} on average (sd {twins['sd']:.4f}), "
            f"{twins['better_than_twin']} of {twins['count']} better than their twin. The best (trajectory "
            f"{best['index']}, {best['delta']:+.4f}), its schedule replayed on {len(rerun['seeds'])} fresh proxy "
            f"seeds beside their twins: Δ {interval_text(rerun['delta'], 4)}, {verdict(rerun['delta'])}.")


def learning_curve_table(agent):
    """The agent's learning curve (agent.json's learning_curve, from agent_experiment.learning_curve): agents
    trained on the first 64, 128, 256 ... training trajectories, each ranking the same held-out ones."""
    curve = (agent or {}).get("learning_curve")
    if not curve:
        return ("agent.json has no learning curve (written before issue 33's run): python -m "
                "experiments.agent_experiment --settings a --publish docs/benchmark adds it.")

    def corr(point, key):
        ci = point.get(f"{key}_interval")
        return "n/a" if point.get(key) is None else f"{point[key]:.3f}" + (f" [{ci[0]:.3f}, {ci[1]:.3f}]" if ci else "")
    lines = ["| training trajectories | rank corr, every boundary | first boundary, against its return [95%] | "
             "first boundary, against the run's end [95%] | held-out cloning loss |", "|---|---|---|---|---|"]
    lines += [f"| {p['trajectories']} | {fmt(p.get('critic_rank_corr'), 3)} | "
              f"{corr(p, 'critic_rank_corr_first_boundary')} | {corr(p, 'critic_rank_corr_first_boundary_final')} | "
              f"{fmt(p.get('held_out_cloning_loss'), 4)} |" for p in curve["points"]]
    held_out = curve["points"][0].get("held_out_trajectories") if curve["points"] else None
    last = ("one point: no doubling to judge" if len(curve["points"]) < 2 else "the last doubling " +
            ("left" if curve["plateau"] else "did not leave") + " the first boundary's correlation with the run's "
            "end inside the interval of the point before")
    return "\n".join(lines + ["", f"{held_out} held-out trajectories, the same for every point, of "
                                  f"{curve['training_trajectories_available']} training trajectories available; "
                                  f"{last}."])


def predictions_table(checked):
    """The predictions written before the run, each with what the run measured and whether it held
    (predictions.json, written by experiments/predictions.py from results.json and agent.json)."""
    if checked is None:
        return ("Not checked yet: `python -m experiments.predictions docs/benchmark` checks them once the run and "
                "the agent's experiment are published.")
    word = {True: "held", False: "not held", None: "not measured yet"}
    lines = ["| prediction | what it said | what the run measured | held |", "|---|---|---|---|"]
    for p in checked["predictions"]:  # a row's label in code: "agent" is also a word
        name = f"`{p['name']}`" if p.get("row") == p["name"] else p["name"]
        lines.append(f"| {name} | {p['predicted']} | {p['said']} | {word[p['held']]} |")
    held = [p["held"] for p in checked["predictions"]]
    return "\n".join(lines + ["", f"Held {held.count(True)} of {len(held)}, not held {held.count(False)}, not measured "
                                   f"yet {held.count(None)}."])


TABLES = {"primary": primary_table, "full": full_table, "mixers": mixers_table,  # "mixers" takes ":m1,m2"
          "calibration": calibration_table, "savings": savings_table,  # calibration: from calibration.json
          "oracle": oracle_table, "trajectories": trajectories_table,
          "predictions": predictions_table, "learning_curve": learning_curve_table}  # these two: files BESIDE


def known(name):
    """Whether a block's name asks for a table: "primary", "full", "mixers:bandit,dbl" or one of TABLES' other
    names."""
    kind, _, listed = name.partition(":")
    return kind in TABLES and (kind == "mixers") == bool(listed)


BESIDE = ("calibration.json", "predictions.json", "agent.json")  # the files beside results.json that blocks read


def table(name, results, files=None):
    """The table a block's name asks for (its name already known); files: the BESIDE files by name (None where
    absent)."""
    kind, _, listed = name.partition(":")
    files = files or {}
    if kind == "predictions":
        return predictions_table(files.get("predictions.json"))
    if kind == "learning_curve":
        return learning_curve_table(files.get("agent.json"))
    if kind == "calibration":
        if files.get("calibration.json") is None:
            raise DataError("a calibration block needs calibration.json: keep it beside results.json (both are "
                            "written by python -m experiments.suite --suite default --publish docs/benchmark)")
        return calibration_table(files["calibration.json"])
    return TABLES[kind](results, listed.split(",")) if listed else TABLES[kind](results)


def regenerate(text, results, page="the page", files=None):
    """The page's text with every generated block rewritten from results (the block's name picks the table;
    calibration, predictions and learning_curve blocks read their file of `files`)."""
    names = [m.group(2) for m in BLOCK.finditer(text)]
    if not names:
        raise DataError(f"{page} has no generated block; add the lines <!-- results:begin NAME --> and "
                        f"<!-- results:end --> where a table goes (NAME: {', '.join(TABLES)})")
    unknown = [name for name in names if not known(name)]
    if unknown:
        raise DataError(f"{page}: unknown generated block {unknown[0]}; name one of primary, full, "
                        "mixers:NAME,NAME (the mixers' rows), " + ", ".join(k for k in TABLES if k != "mixers"))
    return BLOCK.sub(lambda m: m.group(1) + table(m.group(2), results, files) + "\n" + m.group(4), text)


def beside(results_path, name):
    """The JSON file `name` in the folder of results.json (one of BESIDE), or None."""
    path = os.path.join(os.path.dirname(results_path), name)
    if not os.path.exists(path):
        return None
    with open(path) as f:
        return json.load(f)


def files_beside(results_path):
    """Every BESIDE file of results.json's folder by name, None where absent."""
    return {name: beside(results_path, name) for name in BESIDE}


PAGES = ("README.md", "docs/benchmark.md", "docs/online.md", "docs/agent.md", "docs/headroom.md")  # with blocks


def repository_pages(publish_dir, names=PAGES):
    """The repository's pages `names` when publish_dir is its docs/benchmark (a run published there rewrites
    their blocks), none when it is elsewhere."""
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    here = os.path.realpath(publish_dir) == os.path.realpath(os.path.join(root, "docs", "benchmark"))
    return [os.path.join(root, name) for name in names] if here else []


def regenerate_pages(pages, results, files=None):
    """Rewrites the generated blocks of each page (atomically, only where they changed); returns the pages."""
    for page in pages:
        with open(page) as f:
            text = f.read()
        new = regenerate(text, results, page, files)
        if new != text:
            write_text_atomic(page, new)
    return list(pages)


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) < 2:
        sys.exit("usage: python -m experiments.tables RESULTS_JSON PAGE [PAGE ...]")
    try:
        with open(argv[0]) as f:
            results = json.load(f)
        if "comparisons" not in results:
            raise DataError(f"{argv[0]} has no comparisons (written by a suite before the static grid and Holm's "
                            "family); publish a new run with python -m experiments.suite --suite default --publish docs/benchmark")
        print("\n".join(f"regenerated {page}" for page in regenerate_pages(argv[1:], results,
                                                                            files_beside(argv[0]))))
    except (OSError, ValueError, DataError) as e:
        sys.exit(f"error: {e}")


if __name__ == "__main__":
    main()
