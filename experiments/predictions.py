"""
The predictions docs/benchmark.md wrote for the published run of issue 33 before its rows ran ("What we expect of
the run in progress", commit a56f511, 2026-12-07), each one a check on the published files, so that "held" or "not
held" and the figures behind it are computed from the JSON, never typed:

    python -m experiments.predictions docs/benchmark

reads results.json and agent.json in that folder, writes predictions.json beside them (per prediction: what it
says, its thresholds, what the run measured, and held: true, false, or null where the files do not hold the
measure yet) and rewrites the predictions block of docs/benchmark.md from it. A prediction is written once,
before its run, and checked as written: a later run gets a list of its own here, never an edited one.
"""
import os
import sys

from common import DataError, read_json, write_json_atomic
from experiments.static_search import matching_search
from experiments.tables import beside, files_beside, interval_text, regenerate_pages, repository_pages

PAPER_DEFAULTS = ("bandit", "dbl", "velocity", "acodm", "regmix", "agent")
EPS = 1e-9  # a share "from 15% to 40%" includes both ends


def share_of(row):
    """A static row's target share: the one it was set to, or (natural) the one it realised."""
    return row.get("target_share", row.get("target_share_mean"))


def delta(interval):
    return "n/a" if interval is None else interval_text(interval, 4)


def grid_is_flat(results, agent):
    """The middle of the grid (15%-40% target share, both splits) within 0.015 of each other on validation, 65%
    and 80% more than 0.05 above the best static mixture, which is one of the middle points."""
    grid = [r for r in results["rows"] if r["role"] == "static"]
    best = next(r for r in grid if r["mixer"] == results["best_static"])
    middle = [r["val_objective_mean"] for r in grid if 0.15 - EPS <= share_of(r) <= 0.4 + EPS]
    high = [r["val_objective_mean"] for r in grid if share_of(r) >= 0.65 - EPS]
    spread, above, share = max(middle) - min(middle), min(high) - best["val_objective_mean"], share_of(best)
    return {"limits": {"middle_spread_at_most": 0.015, "high_above_best_more_than": 0.05, "middle": [0.15, 0.4],
                       "high": [0.65, 0.8]},
            "measured": {"middle_points": len(middle), "middle_val_spread": spread, "high_val_above_best": above,
                         "best_static_share": share},
            "held": spread <= 0.015 and above > 0.05 and 0.15 - EPS <= share <= 0.4 + EPS,
            "said": f"the {len(middle)} middle points' validation spread {spread:.4f}; 65% and 80% at least "
                    f"{above:.4f} above the best static mixture, whose share is {share:.2f}"}


def none_beats(results, agent):
    """None of the six paper defaults beats the best static mixture, and none beats its own twin."""
    rows = {r["mixer"]: r for r in results["rows"]}
    better = [f"{m} beats {against}" for m in PAPER_DEFAULTS for against, key in
              (("the best static mixture", "verdict_best_static"), ("its twin", "verdict_twin"))
              if rows[m][key] == "better"]
    return {"measured": {"better": better}, "held": not better,
            "said": "; ".join(better) if better else "no verdict of the six says better"}


def by_row(mixer, expect_best, expect_twin, extra=None):
    """The check of one paper default's two verdicts (Holm's, as results.json gives them): expect_* the verdicts
    that hold it (None: not predicted); extra(rows) -> (limits, measured, held, said) adds a condition."""
    def check(results, agent):
        rows = {r["mixer"]: r for r in results["rows"]}
        r = rows[mixer]
        out = {"row": mixer, "limits": {},
               "measured": {key: r.get(key) for key in ("delta_best_static", "verdict_best_static", "delta_twin",
                                                        "verdict_twin")},
               "held": r["verdict_best_static"] in expect_best and (expect_twin is None or
                                                                  r["verdict_twin"] in expect_twin),
               "said": f"against the best static mixture Δ {delta(r['delta_best_static'])}, "
                       f"{r['verdict_best_static']}; against its twin Δ {delta(r.get('delta_twin'))}, "
                       f"{r['verdict_twin']}"}
        if extra:
            limits, measured, held, said = extra(rows)
            out["limits"], out["measured"] = limits, {**out["measured"], **measured}
            out["held"], out["said"] = out["held"] and held, f"{out['said']}; {said}"
        return out
    return check


def velocity_most(rows):
    """Velocitune worse than the best static mixture by the most of the six, and by more than 0.1."""
    worst = max(PAPER_DEFAULTS, key=lambda m: rows[m]["delta_best_static"]["mean"])
    return {"delta_best_static_more_than": 0.1}, {"worst_against_best_static": worst}, \
        worst == "velocity" and rows["velocity"]["delta_best_static"]["mean"] > 0.1, \
        f"the furthest above the best static mixture of the six: {worst}"


def regmix_close(rows):
    """RegMix worse than the best static mixture by less than 0.02, or within noise of it."""
    r = rows["regmix"]
    close = r["verdict_best_static"] == "within noise" or r["delta_best_static"]["mean"] < 0.02
    return {"delta_best_static_less_than": 0.02}, {}, close, \
        "within 0.02 of the best static mixture" if close else "not within 0.02 of the best static mixture"


def oracle_shares(results, agent):
    """The oracle's search picks target shares of 0.15-0.5 at every interval, their time average 0.2-0.35."""
    shares = (results.get("oracle") or {}).get("schedule_shares")
    out = {"row": "oracle", "limits": {"shares": [0.15, 0.5], "time_average": [0.2, 0.35]}}
    if not shares:
        return {**out, "measured": {}, "held": None, "said": "results.json holds no schedule of shares"}
    average = sum(shares) / len(shares)  # the search's intervals are equal
    return {**out, "measured": {"schedule_shares": shares, "time_average": average},
            "held": all(0.15 - EPS <= s <= 0.5 + EPS for s in shares) and 0.2 - EPS <= average <= 0.35 + EPS,
            "said": f"shares {', '.join(f'{s:.2f}' for s in shares)}; their time average {average:.3f}"}


def oracle_within_noise(results, agent):
    """Frozen on the primary seeds, the oracle is within noise of its twin (by less than 0.005) and of the best
    static mixture (by less than 0.01)."""
    oracle = next((r for r in results["rows"] if r["mixer"] == "oracle"), None)
    out = {"row": "oracle", "limits": {"twin_abs_delta_below": 0.005, "best_static_abs_delta_below": 0.01}}
    if oracle is None or not oracle.get("delta_twin"):
        return {**out, "measured": {}, "held": None, "said": "results.json has no oracle row with a twin"}
    return {**out, "measured": {key: oracle[key] for key in ("delta_twin", "verdict_twin", "delta_best_static",
                                                             "verdict_best_static")},
            "held": oracle["verdict_twin"] == "within noise" and abs(oracle["delta_twin"]["mean"]) < 0.005 and
            oracle["verdict_best_static"] == "within noise" and abs(oracle["delta_best_static"]["mean"]) < 0.01,
            "said": f"against its twin Δ {delta(oracle['delta_twin'])}, {oracle['verdict_twin']}; against the "
                    f"best static mixture Δ {delta(oracle['delta_best_static'])}, {oracle['verdict_best_static']}"}


def no_bounded_share(results, agent):
    """No paper default's share of the oracle's gain has a bounded interval."""
    shares = {r["mixer"]: r.get("share_of_oracle_gain") for r in results["rows"] if r["mixer"] in PAPER_DEFAULTS}
    if not all(shares.values()):
        return {"row": "oracle", "measured": {}, "held": None, "said": "results.json has no shares of the oracle's gain"}
    bounded, gain = [m for m, s in shares.items() if s["bounded"]], next(iter(shares.values()))["oracle_gain"]
    return {"row": "oracle", "measured": {"bounded": bounded, "oracle_gain": gain}, "held": not bounded,
            "said": f"the oracle's gain over the best static mixture {'n/a' if gain is None else f'{gain:+.4f}'}; "
                    + (f"bounded: {', '.join(bounded)}" if bounded else "no share has a bounded interval")}


def trajectories_worse(results, agent):
    """The proxy trajectories on average worse than their static twins, fewer than half beating them, the best
    one's rerun on fresh seeds within noise of its twin."""
    twins = results.get("proxy_trajectory_twins")
    if not twins:
        return {"measured": {}, "held": None, "said": "results.json has no proxy trajectories beside their twins"}
    rerun = twins["best"]["rerun"]["delta"]
    within = rerun["lo"] is not None and rerun["lo"] <= 0 <= rerun["hi"]
    return {"measured": {key: twins[key] for key in ("count", "mean", "better_than_twin")} |
            {"best_rerun_delta": rerun},
            "held": twins["mean"] > 0 and twins["better_than_twin"] < twins["count"] / 2 and within,
            "said": f"{twins['count']} trajectories, trajectory minus twin on average {twins['mean']:+.4f}, "
                    f"{twins['better_than_twin']} better than their twin; the best one's rerun against its twin "
                    f"Δ {delta(rerun)}"}


def learning_curve_flat(results, agent):
    """The agent's first-boundary rank correlation with the final gain at 256 training trajectories lies inside
    the bootstrap interval of its value at 64."""
    key = "critic_rank_corr_first_boundary_final"
    points = {p["trajectories"]: p for p in ((agent or {}).get("learning_curve") or {}).get("points", [])}
    if 64 not in points or 256 not in points or points[64][f"{key}_interval"] is None:
        held = ", ".join(str(n) for n in sorted(points)) or "no points"
        return {"measured": {"trajectories": sorted(points)}, "held": None,
                "said": f"agent.json's learning curve is at {held} trajectories, not 64 and 256: not checkable "
                        "as written"}
    (lo, hi), at_64, at_256 = points[64][f"{key}_interval"], points[64][key], points[256][key]
    return {"measured": {"at_64": at_64, "at_64_interval": [lo, hi], "at_256": at_256}, "held": lo <= at_256 <= hi,
            "said": f"rank correlation at 64 trajectories {at_64:.3f} [{lo:.3f}, {hi:.3f}], at 256 {at_256:.3f}"}


def search_matches_every_default(results, agent):
    """For every paper default, the static search matches its test objective at some k, and k static runs cost
    fewer seconds than the row's own compute; a default no k matches counts against."""
    curve = (results.get("static_search") or {}).get("curve")
    rows = {r["mixer"]: r for r in results["rows"]}
    if not curve or not all(rows[m].get("compute_s") for m in PAPER_DEFAULTS):
        return {"measured": {}, "held": None, "said": "results.json has no static search or no compute_s"}
    measured, said = {}, []
    for m in PAPER_DEFAULTS:
        match, total = matching_search(curve, rows[m]["balanced_mean"]), rows[m]["compute_s"]["total"]
        measured[m] = {"row": m, "compute_s": total, "k": match and match["k"], "search_s": match and match["seconds"]}
        said.append(f"`{m}` {total:,.0f} s: " + (f"k = {match['k']}, {match['seconds']:,.0f} s" if match else
                                               "no k matches it"))
    held = all(x["k"] is not None and x["search_s"] < x["compute_s"] for x in measured.values())
    return {"measured": measured, "held": held, "said": "; ".join(said)}


PREDICTIONS = [  # (name, what docs/benchmark.md predicted, its check)
    ("grid", "the grid flat in the middle (15%-40%, both splits, within 0.015 on validation), 65% and 80% more "
             "than 0.05 above the best static mixture, which is a middle point", grid_is_flat),
    ("none beats", "none of the six paper defaults beats the best static mixture or its own twin", none_beats),
    ("bandit", "worse than the best static mixture and its twin", by_row("bandit", {"worse"}, {"worse"})),
    ("velocity", "worse than both, against the best static mixture by the most of the six (more than 0.1)",
     by_row("velocity", {"worse"}, {"worse"}, velocity_most)),
    ("dbl", "worse than the best static mixture", by_row("dbl", {"worse"}, None)),
    ("acodm", "worse than the best static mixture and its twin", by_row("acodm", {"worse"}, {"worse"})),
    ("regmix", "within noise of its twin; worse than the best static mixture by less than 0.02, or within noise",
     by_row("regmix", {"worse", "within noise"}, {"within noise"}, regmix_close)),
    ("agent", "within noise of the best static mixture and of its twin",
     by_row("agent", {"within noise"}, {"within noise"})),
    ("oracle's schedule", "target shares of 0.15-0.5 at each choice, time average 0.2-0.35", oracle_shares),
    ("oracle frozen", "within noise of its twin, by less than 0.005, and of the best static mixture, by less "
                      "than 0.01", oracle_within_noise),
    ("share of the oracle's gain", "no paper default's share has a bounded interval", no_bounded_share),
    ("trajectories", "on average worse than their twins, fewer than half better, the best one's rerun within "
                     "noise of its twin", trajectories_worse),
    ("learning curve", "flat: the agent's value at 256 trajectories inside the interval of its value at 64",
     learning_curve_flat),
    ("savings", "every paper default matched by a static search of fewer seconds than its own compute",
     search_matches_every_default),
]


def check(results, agent=None):
    """Every prediction checked on results.json (and agent.json, for the learning curve): a list of
    {name, predicted, row (where it is one row's), limits, measured, held, said}."""
    if not results.get("oracle"):
        raise DataError("results.json has no oracle search: it is a run from before issue 33, and these "
                        "predictions are for the run of issue 33; publish it first (python -m experiments.suite "
                        "--suite default --publish docs/benchmark)")
    out = []
    for name, predicted, function in PREDICTIONS:
        result = {"limits": {}, **function(results, agent)}
        held = result.pop("held")
        out.append({"name": name, "predicted": predicted, **result, "held": None if held is None else bool(held)})
    return out


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) != 1:
        sys.exit("usage: python -m experiments.predictions PUBLISH_DIR   (e.g. docs/benchmark)")
    folder = argv[0]
    results_path = os.path.join(folder, "results.json")
    try:
        if not os.path.exists(results_path):
            raise DataError(f"{folder} has no results.json; publish the run first (python -m experiments.suite "
                            f"--suite default --publish {folder})")
        results = read_json(results_path, "the published run's results")
        agent = beside(results_path, "agent.json")
        checked = {"what": "the predictions of docs/benchmark.md for the run of issue 33, written before it ran, "
                           "checked on results.json and agent.json (experiments/predictions.py); held null: the "
                           "files do not hold the measure yet", "predictions": check(results, agent)}
        write_json_atomic(os.path.join(folder, "predictions.json"), checked)
        regenerate_pages(repository_pages(folder, ["docs/benchmark.md"]), results, files_beside(results_path))
    except (OSError, ValueError, DataError) as e:
        sys.exit(f"error: {e}")
    for p in checked["predictions"]:
        print(f"{p['name']}: {'not measured yet' if p['held'] is None else 'held' if p['held'] else 'not held'} "
              f"({p['said']})")


if __name__ == "__main__":
    main()
