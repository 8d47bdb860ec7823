"""
What a learned mixer saves: the compute of every row in one unit, and the baseline a practitioner would use
instead of a learned mixer, a search over static mixtures.

The static-search curve: a practitioner runs k static mixtures of the grid, picked at random, and keeps the one
with the lowest validation objective. On a seed whose grid has n runs, sorted by validation objective (rank r = 0
the best), run r is the one kept with probability C(n - 1 - r, k - 1) / C(n, k) (it is in the k and the k - 1
others are all ranked after it), so the expected test objective of the search is

    E_k = sum_r C(n - 1 - r, k - 1) / C(n, k) * J_test(r)

computed per seed (each seed its own base) and averaged over the seeds whose grid has at least k runs; its cost
is k times the mean static run. A row "is matched by k static runs" where E_k <= its mean test objective.
report.py calls this; tables.py prints the sentence.
"""

from math import comb

import numpy as np


def compute_seconds(row):
    """One row's compute per seed, in seconds, each piece a user of that method alone would pay: its own run
    (the CPT loop and the evaluations), its proxy work (RegMix's proxy runs, the agent's trajectories and
    training; the suite does it once, for every seed) and its target estimation (DBL's and Velocitune's, which
    the suite shares between them per seed)."""
    run = float(np.mean([x["wall_seconds"] for x in row["runs"].values()]))
    proxy, estimate = row.get("proxy_seconds") or 0.0, row.get("estimate_seconds") or 0.0
    return {"run": run, "proxy": proxy, "estimate": estimate, "total": run + proxy + estimate}


def expected_search(val, test, k):
    """E_k of one seed's grid: the expected test objective of the validation-best of k runs drawn at random
    without replacement from runs with these validation and test objectives."""
    order = np.argsort(val, kind="stable")
    n = len(order)
    return float(sum(comb(n - 1 - r, k - 1) * test[i] for r, i in enumerate(order)) / comb(n, k))


def static_search_curve(grid):
    """The curve over the static grid's rows (report.py's summary rows), for k = 1 up to the largest grid of any
    seed: [{k, expected_test_objective, seeds, seconds}], where seeds counts the seeds whose grid has k runs or
    more and seconds is k mean static runs."""
    seeds = sorted({s for r in grid.values() for s in r["runs"]}, key=int)
    per_seed = {s: [(r["runs"][s]["val_objective"], r["runs"][s]["balanced_loss"]) for r in grid.values()
                    if s in r["runs"] and r["runs"][s]["val_objective"] is not None] for s in seeds}
    static_run = float(np.mean([x["wall_seconds"] for r in grid.values() for x in r["runs"].values()]))
    curve = []
    for k in range(1, max((len(runs) for runs in per_seed.values()), default=0) + 1):
        values = [expected_search(*zip(*runs), k) for runs in per_seed.values() if len(runs) >= k]
        curve.append({"k": k, "expected_test_objective": float(np.mean(values)), "seeds": len(values),
                      "seconds": k * static_run})
    return curve


def matching_search(curve, objective):
    """The first point of the curve whose expected test objective is at or below `objective`, or None."""
    return next((point for point in curve if point["expected_test_objective"] <= objective), None)
