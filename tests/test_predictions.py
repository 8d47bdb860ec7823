"""The predictions written before the published run, checked on its files (experiments/predictions.py): each one
holds on a planted run made to hold it, fails where one figure crosses its line, waits where the files lack the
measure; the block it writes quotes only figures the JSON holds; docs/benchmark/predictions.json, where it
exists, is what the published files give now."""

import copy
import json
import os

import pytest

from common import DataError
from conftest import ROOT_DIR
from experiments import predictions, tables
from test_figures import json_numbers, unsupported_figures

BENCHMARK = os.path.join(ROOT_DIR, "docs", "benchmark")


def interval(mean, half):
    return {"mean": mean, "lo": mean - half, "hi": mean + half}


def default(mixer, best, verdict_best, twin, verdict_twin, objective, compute):
    return {"mixer": mixer, "role": "mixer", "paper_default": True, "primary": True, "balanced_mean": objective,
            "delta_best_static": interval(best, 0.01), "verdict_best_static": verdict_best,
            "delta_twin": interval(twin, 0.01), "verdict_twin": verdict_twin, "compute_s": {"total": compute},
            "share_of_oracle_gain": {"mean": None, "lo": None, "hi": None, "seeds": 8, "bounded": False,
                                     "oracle_gain": 0.0021}}


@pytest.fixture
def planted():
    """(results, agent) of a run on which every prediction holds."""
    grid = [("static-tokens-0.05", 0.05, 2.130), ("static-tokens-0.15", 0.15, 2.100), ("static", None, 2.105),
            ("static-uniform-0.4", 0.4, 2.110), ("static-tokens-0.65", 0.65, 2.160), ("static-tokens-0.8", 0.8, 2.300)]
    rows = [{"mixer": m, "role": "static", "val_objective_mean": val, "target_share_mean": share or 0.29,
             **({"target_share": share} if share else {"natural": True})} for m, share, val in grid]
    rows += [default("bandit", 0.05, "worse", 0.04, "worse", 2.40, 900.0),
             default("dbl", 0.08, "worse", 0.02, "within noise", 2.43, 950.0),
             default("velocity", 0.30, "worse", 0.20, "worse", 2.65, 950.0),
             default("acodm", 0.05, "worse", 0.03, "worse", 2.40, 900.0),
             default("regmix", 0.012, "worse", 0.001, "within noise", 2.36, 1900.0),
             default("agent", 0.002, "within noise", -0.001, "within noise", 2.345, 2500.0),
             {"mixer": "oracle", "role": "oracle", "delta_twin": interval(-0.001, 0.004), "verdict_twin": "within noise",
              "delta_best_static": interval(-0.003, 0.005), "verdict_best_static": "within noise"}]
    results = {"best_static": "static-tokens-0.15", "rows": rows,
               "oracle": {"row": "oracle", "seed": 400000, "schedule_shares": [0.3, 0.15, 0.3, 0.5]},
               "proxy_trajectory_twins": {"count": 10, "mean": 0.0123, "better_than_twin": 3,
                                          "best": {"rerun": {"delta": interval(0.001, 0.003)}}},
               "static_search": {"curve": [{"k": 1, "expected_test_objective": 2.40, "seconds": 180.0},
                                           {"k": 2, "expected_test_objective": 2.35, "seconds": 360.0},
                                           {"k": 3, "expected_test_objective": 2.34, "seconds": 540.0}]}}
    points = [{"trajectories": n, "critic_rank_corr_first_boundary_final": value,
               "critic_rank_corr_first_boundary_final_interval": [value - 0.15, value + 0.15]}
              for n, value in ((64, 0.10), (128, 0.12), (256, 0.15))]
    return results, {"learning_curve": {"points": points}}


def held(results, agent):
    return {p["name"]: p["held"] for p in predictions.check(results, agent)}


def rows_of(results):
    return {r["mixer"]: r for r in results["rows"]}


def test_each_prediction_holds_on_a_run_made_to_hold_it_and_fails_where_one_figure_crosses_its_line(planted):
    results, agent = planted
    assert held(results, agent) == {name: True for name, _, _ in predictions.PREDICTIONS}

    def crossed(change):
        r, a = copy.deepcopy(results), copy.deepcopy(agent)
        change(r, a)
        return sorted(name for name, ok in held(r, a).items() if not ok)

    assert crossed(lambda r, a: rows_of(r)["static-tokens-0.65"].update(val_objective_mean=2.14)) == ["grid"]
    assert crossed(lambda r, a: rows_of(r)["static"].update(val_objective_mean=2.12)) == ["grid"]  # spread 0.02
    assert crossed(lambda r, a: r.update(best_static="static-tokens-0.05")) == ["grid"]  # the best not a middle point
    assert crossed(lambda r, a: rows_of(r)["agent"].update(verdict_twin="better")) == ["agent", "none beats"]
    assert crossed(lambda r, a: rows_of(r)["bandit"].update(verdict_best_static="within noise")) == ["bandit"]
    assert crossed(lambda r, a: rows_of(r)["velocity"]["delta_best_static"].update(mean=0.04)) == ["velocity"]
    assert crossed(lambda r, a: rows_of(r)["dbl"].update(verdict_twin="better")) == ["none beats"]  # dbl's twin
    assert crossed(lambda r, a: rows_of(r)["regmix"]["delta_best_static"].update(mean=0.03)) == ["regmix"]
    assert crossed(lambda r, a: r["oracle"].update(schedule_shares=[0.8, 0.3, 0.3, 0.3])) == ["oracle's schedule"]
    assert crossed(lambda r, a: r["oracle"].update(schedule_shares=[0.5, 0.5, 0.4, 0.4])) == ["oracle's schedule"]
    assert crossed(lambda r, a: rows_of(r)["oracle"]["delta_twin"].update(mean=-0.006)) == ["oracle frozen"]
    assert crossed(lambda r, a: rows_of(r)["bandit"]["share_of_oracle_gain"].update(bounded=True)) == \
        ["share of the oracle's gain"]
    assert crossed(lambda r, a: [rows_of(r)[m]["share_of_oracle_gain"].update(seeds=0, oracle_gain=None)
                                 for m in predictions.PAPER_DEFAULTS]) == []  # no seed in common: no gain to say
    assert crossed(lambda r, a: r["proxy_trajectory_twins"].update(better_than_twin=5)) == ["trajectories"]
    assert crossed(lambda r, a: r["proxy_trajectory_twins"]["best"]["rerun"].update(
        delta=interval(0.01, 0.003))) == ["trajectories"]
    assert crossed(lambda r, a: a["learning_curve"]["points"][2].update(
        critic_rank_corr_first_boundary_final=0.3)) == ["learning curve"]
    assert crossed(lambda r, a: rows_of(r)["agent"].update(balanced_mean=2.30)) == ["savings"]  # no k matches it
    assert crossed(lambda r, a: rows_of(r)["regmix"]["compute_s"].update(total=300.0)) == ["savings"]  # cheaper


def test_a_measure_the_files_lack_waits_and_a_run_from_before_the_oracle_is_refused(planted):
    results, agent = planted
    r = copy.deepcopy(results)
    del r["proxy_trajectory_twins"], r["static_search"], r["rows"][-1]
    waiting = sorted(name for name, ok in held(r, None).items() if ok is None)
    assert waiting == ["learning curve", "oracle frozen", "savings", "trajectories"]
    del r["oracle"]
    with pytest.raises(DataError, match="before issue 33"):
        predictions.check(r, agent)


def test_the_block_quotes_only_figures_its_json_holds_and_counts_the_verdicts(planted):
    results, agent = planted
    r = copy.deepcopy(results)
    rows_of(r)["regmix"]["delta_best_static"].update(mean=0.03)
    checked = {"predictions": predictions.check(r, agent)}
    block = tables.predictions_table(checked)
    assert "| `regmix` | " in block and "not held |" in block
    assert f"Held {len(predictions.PREDICTIONS) - 1} of {len(predictions.PREDICTIONS)}, not held 1" in block
    numbers = [n for doc in (r, agent, json.loads(json.dumps(checked))) for n in json_numbers(doc)]
    page = f"<!-- results:begin predictions -->\n{block}\n<!-- results:end -->\n"
    assert unsupported_figures(page, numbers) == []
    assert "Not checked yet" in tables.predictions_table(None)


def test_the_command_writes_predictions_json_and_names_a_missing_results_json(planted, tmp_path, capsys):
    results, agent = planted
    with pytest.raises(SystemExit, match="no results.json"):
        predictions.main([str(tmp_path)])
    (tmp_path / "results.json").write_text(json.dumps(results))
    predictions.main([str(tmp_path)])  # no agent.json: the learning curve waits
    written = json.loads((tmp_path / "predictions.json").read_text())["predictions"]
    assert {p["name"]: p["held"] for p in written}["learning curve"] is None
    assert "learning curve: not measured yet" in capsys.readouterr().out


def test_the_published_predictions_are_what_the_published_files_give_now():
    path = os.path.join(BENCHMARK, "predictions.json")
    if not os.path.exists(path):
        pytest.skip("no predictions.json published yet (python -m experiments.predictions docs/benchmark)")
    with open(path) as f, open(os.path.join(BENCHMARK, "results.json")) as g:
        published, results = json.load(f), json.load(g)
    agent = tables.beside(path, "agent.json")
    assert published["predictions"] == json.loads(json.dumps(predictions.check(results, agent))), \
        "docs/benchmark/predictions.json is stale: rerun python -m experiments.predictions docs/benchmark"
