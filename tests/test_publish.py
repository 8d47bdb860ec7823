"""The report's statistics and the published files: the Student-t CDF against its tables, Holm's rule on planted
p-values, the best static mixture picked on validation at the final step (a made-up suite where test or an earlier
step would pick another), the primary family and the twins, publish() writing every file, the generated tables of
README.md and docs/benchmark.md regenerated from docs/benchmark/results.json without a difference (the figures
the pages quote in their prose: tests/test_figures.py)."""

import itertools
import json
import math
import os

import numpy as np
import pytest

from experiments import report, static_search, tables
from common import DataError
from conftest import ROOT_DIR
from evaluate import COLUMNS
from test_figures import json_numbers, unsupported_figures

BENCHMARK = os.path.join(ROOT_DIR, "docs", "benchmark")


# ----------------------------------------------------------------------------- the statistics

def test_student_t_cdf_matches_the_printed_tables_and_the_closed_forms():
    for df, t in enumerate(report.T_975, 1):  # the two-sided 5% points, printed to 3 decimals
        assert report.student_t_cdf(t, df) == pytest.approx(0.975, abs=2e-4), df
    assert report.student_t_cdf(4.604, 4) == pytest.approx(0.995, abs=1e-5)  # t(0.995, 4)
    assert report.student_t_cdf(1.812, 10) == pytest.approx(0.95, abs=1e-4)  # t(0.95, 10)
    assert report.student_t_cdf(2.528, 20) == pytest.approx(0.99, abs=1e-4)  # t(0.99, 20)
    for t in (-30.0, -2.0, -0.3, 0.0, 0.7, 5.0, 80.0):
        assert report.student_t_cdf(t, 1) == pytest.approx(0.5 + math.atan(t) / math.pi, abs=1e-12)  # Cauchy
        assert report.student_t_cdf(t, 2) == pytest.approx(0.5 + t / (2 * math.sqrt(2 + t * t)), abs=1e-12)
        assert report.student_t_cdf(t, 3) + report.student_t_cdf(-t, 3) == pytest.approx(1.0, abs=1e-12)
        assert report.student_t_cdf(t, 2000) == pytest.approx(0.5 * (1 + math.erf(t / math.sqrt(2))), abs=2e-4)
    assert report.incomplete_beta(2, 3, 0.4) == pytest.approx(0.5248, abs=1e-12)  # sum of binomial terms


def test_paired_p_is_the_two_sided_t_test_over_the_seeds_both_rows_have():
    row, ref = {1: 3.0, 2: 4.0, 3: 5.0, 9: 100.0}, {1: 2.0, 2: 2.0, 3: 2.0, 4: -100.0}  # d = 1, 2, 3 on seeds 1-3
    t = 2.0 / (1.0 / math.sqrt(3))
    assert report.paired_p(row, ref) == pytest.approx(1 - t / math.sqrt(2 + t * t), abs=1e-12)  # df 2, closed form
    assert report.paired_p({1: 1.0}, {1: 0.0}) is None
    assert report.paired_p({1: 1.0, 2: 1.0}, {1: 1.0, 2: 1.0}) == 1.0


def test_holm_on_planted_p_values():
    # sorted 0.005, 0.01, 0.03, 0.04: x4 = 0.02, x3 = 0.03, x2 = 0.06, x1 = 0.04 -> 0.06 (never below the one before)
    assert report.holm([0.01, 0.04, 0.03, 0.005]) == pytest.approx([0.03, 0.06, 0.06, 0.02])
    decided = [p < report.ALPHA for p in report.holm([0.01, 0.04, 0.03, 0.005])]
    assert decided == [True, False, False, True]  # 0.04 and 0.03 are below 0.05 unadjusted, not after Holm
    assert report.holm([None, 0.01, 0.02]) == [None, pytest.approx(0.03), pytest.approx(0.04)]  # None counts in m = 3
    assert report.holm([0.6, 0.7]) == [1.0, 1.0]


# ----------------------------------------------------------------------------- a made-up suite

NOISE = [0.002, -0.001, 0.0005, -0.0015]
# label: (row, seeds, test objective, validation objective at step 10, at step 20, the final step)
PLAN = {
    "static": ({"mixer": "static", "kind": "natural", "role": "static", "split": "tokens", "target_share": 0.3,
                "natural": True}, 3, 2.300, 2.40, 2.33),
    "static-uniform-0.4": ({"mixer": "static", "kind": "sweep", "role": "static", "split": "uniform",
                            "target_share": 0.4}, 3, 2.310, 2.45, 2.31),
    "static-tokens-0.8": ({"mixer": "static", "kind": "sweep", "role": "static", "split": "tokens",
                           "target_share": 0.8}, 1, 2.280, 2.50, 2.35),
    "bandit": ({"mixer": "bandit", "kind": "mixer", "role": "mixer", "paper_default": True, "primary": True},
               4, 2.260, 2.42, 2.30),
    "bandit-twin": ({"mixer": "static", "kind": "twin", "role": "twin", "twin_of": "bandit", "primary": True},
                    3, 2.261, 2.42, 2.30),
    "bandit-hedge": ({"mixer": "bandit", "kind": "mixer", "role": "variant", "variant_of": "bandit"},
                     3, 2.340, 2.44, 2.36),
}


def fabricated_suite(folder):
    """(rows, results, run_dirs, info) as experiments/suite.py hands them to report.suite_summary: 2 domains, every run's log
    with evaluations at steps 0, 10 and 20, eval.json contents with the test objective of PLAN. Validation at the
    final step picks static-uniform-0.4; test would pick static-tokens-0.8, step 10 would pick static."""
    rows, results, run_dirs = {}, {}, {}
    for k, (label, (row, seeds, test, val10, val20)) in enumerate(PLAN.items()):
        rows[label] = {"options": {}, "primary": False, "seeds_wanted": seeds, **row}
        share = row.get("target_share", 0.35)
        for i, seed in enumerate(range(1337, 1337 + seeds)):
            run_dir = os.path.join(folder, f"{label}-s{seed}")
            os.makedirs(run_dir)
            with open(os.path.join(run_dir, "log.jsonl"), "w") as f:
                for step, val in ((0, 4.0), (10, val10), (20, val20)):
                    f.write(json.dumps({"step": step, "tokens": 100 * step, "weights": [1 - share, share],
                                        "feedback_logprob": -10.0 + step / 4, "val_loss": [val + 0.2, val - 0.2]})
                            + "\n")
            objective = test + NOISE[(i + k) % 4]  # each row its own pattern over the seeds
            summary = {key: 0.1 * k for _, key in COLUMNS}
            summary.update(balanced_loss=objective, source_loss=objective + 0.1, target_loss=objective - 0.1,
                           base_task_accuracy=0.01 + 0.001 * i)
            results.setdefault(label, {})[seed] = {
                "final": {"domains": ["web", "math"], "fields": ["source", "target"], "task_problems": 10},
                "summary": summary, "run": {"tokens_per_domain": [1000 - 1000 * share, 1000 * share],
                                            "epochs_per_domain": [0.5, 2.0], "wall_seconds": 10.0 + k}}
            run_dirs.setdefault(label, {})[seed] = run_dir
    info = {"suite": "default", "preset": "cpu", "seeds": [1337, 1338, 1339, 1340], "task_test_problems": 10,
            "base_seeds": {str(s): 7 + s - 1337 for s in range(1337, 1341)}}
    return rows, results, run_dirs, info


@pytest.fixture
def made_up(tmp_path):
    rows, results, run_dirs, info = fabricated_suite(str(tmp_path / "runs"))
    return report.suite_summary(rows, results, run_dirs, {}, info), run_dirs, results


def test_best_static_is_picked_on_validation_at_the_final_step_not_on_test_or_an_earlier_step(made_up):
    summary, run_dirs, results = made_up
    grid = ["static", "static-uniform-0.4", "static-tokens-0.8"]
    test_mean = {label: np.mean([r["summary"]["balanced_loss"] for r in results[label].values()]) for label in grid}
    assert min(grid, key=test_mean.get) == "static-tokens-0.8"  # the planted case: test picks another row,
    assert min(grid, key=lambda label: PLAN[label][3]) == "static"  # and so does the evaluation at step 10
    assert summary["best_static"] == "static-uniform-0.4"
    for label in grid:  # the validation objective is (S + T) / 2 of the log's last validation losses, not test's
        assert summary["rows"][label]["stats"]["val_objective"]["mean"] == pytest.approx(PLAN[label][4])
        assert summary["rows"][label]["stats"]["val_objective"]["mean"] != pytest.approx(test_mean[label])


def test_twins_the_primary_family_under_holm_and_exploratory_verdicts(made_up):
    summary, _, results = made_up
    rows = summary["rows"]

    def paired(label, ref):
        seeds = sorted(set(results[label]) & set(results[ref]))
        d = np.array([results[label][s]["summary"]["balanced_loss"] - results[ref][s]["summary"]["balanced_loss"]
                      for s in seeds])
        t = d.mean() / (d.std(ddof=1) / math.sqrt(len(d)))
        half = 4.303 * d.std(ddof=1) / math.sqrt(len(d))  # t(0.975, 2): 3 seeds in common
        return d.mean(), d.mean() - half, d.mean() + half, 1 - abs(t) / math.sqrt(2 + t * t), len(d)

    family = summary["comparisons"]["family"]
    assert summary["comparisons"]["rule"] == "holm" and summary["comparisons"]["alpha"] == 0.05
    assert [(e["row"], e["against"]) for e in family] == [("bandit", "static-uniform-0.4"), ("bandit", "bandit-twin")]
    by_hand = [paired("bandit", "static-uniform-0.4"), paired("bandit", "bandit-twin")]
    p = [x[3] for x in by_hand]
    holm = [min(1, 2 * min(p)) if q == min(p) else max(min(1, 2 * min(p)), q) for q in p]
    for entry, (mean, lo, hi, p_value, n), p_holm in zip(family, by_hand, holm):
        assert entry["n"] == n == 3  # the seeds both rows have (bandit has a fourth)
        assert (entry["mean"], entry["lo"], entry["hi"]) == pytest.approx((mean, lo, hi))
        assert entry["p"] == pytest.approx(p_value) and entry["p_holm"] == pytest.approx(p_holm)
    assert [e["verdict"] for e in family] == ["better", "within noise"]
    assert rows["bandit"]["delta_twin"]["mean"] == pytest.approx(by_hand[1][0])
    assert (rows["bandit"]["verdict_best_static"], rows["bandit"]["verdict_twin"]) == ("better", "within noise")
    assert rows["bandit"]["verdict_by"] == "holm" and rows["bandit-hedge"]["verdict_by"] == "exploratory"
    assert rows["bandit-hedge"]["verdict_best_static"] == "worse"  # its unadjusted interval is above zero
    assert rows["bandit-hedge"]["delta_twin"] is None and rows["static"]["delta_twin"] is None
    assert rows["static-tokens-0.8"]["verdict_best_static"] == "one seed: no interval"


def test_results_json_and_calibration_json_say_what_every_row_is(made_up):
    summary = made_up[0]
    results = json.loads(json.dumps(report.benchmark_results(summary)))
    assert results["best_static"] == "static-uniform-0.4" and results["comparisons"]["rule"] == "holm"
    rows = {r["mixer"]: r for r in results["rows"]}
    assert list(rows) == list(PLAN)
    for label, r in rows.items():
        assert r["role"] == PLAN[label][0]["role"] and r["primary"] == PLAN[label][0].get("primary", False)
        assert r["seeds"] == list(range(1337, 1337 + PLAN[label][1]))
        assert r["base_seeds"] == [7 + s - 1337 for s in r["seeds"]] and len(set(r["base_seeds"])) == len(r["seeds"])
        assert r["val_objective_mean"] == pytest.approx(PLAN[label][4])
        assert ("delta_twin" in r) == (label == "bandit") and set(r.get("delta_twin", {})) <= {"mean", "lo", "hi"}
    assert rows["bandit-twin"]["twin_of"] == "bandit" and "twin_of" not in rows["bandit"]
    assert (rows["static-uniform-0.4"]["split"], rows["static-uniform-0.4"]["target_share"]) == ("uniform", 0.4)
    assert rows["static"]["natural"] is True and "split" not in rows["bandit"]
    calibration = report.benchmark_calibration(summary, "cpu", {"suite": 1.0})
    assert [(g["split"], g["target_share"]) for g in calibration["grid"]] == [("tokens", 0.3), ("tokens", 0.8),
                                                                             ("uniform", 0.4)]
    assert calibration["grid"][2]["val_objective_mean"] == pytest.approx(2.31)
    assert calibration["base"]["task_acc"] == pytest.approx(0.011)  # the mean over the natural row's three bases
    assert calibration["best_static"] == "static-uniform-0.4"


# ----------------------------------------------------------------------------- publishing

def test_publish_writes_every_file_and_regenerates_the_pages_from_results_json(made_up, tmp_path):
    summary, run_dirs, _ = made_up
    readme, page = tmp_path / "README.md", tmp_path / "benchmark.md"
    readme.write_text("# title\n\n<!-- results:begin primary -->\nold\n<!-- results:end -->\nafter\n")
    page.write_text("<!-- results:begin full -->\n<!-- results:end -->\n\n<!-- results:begin calibration -->\n"
                    "<!-- results:end -->\n")
    out = str(tmp_path / "benchmark")
    paths = report.publish(summary, run_dirs, out, WALL, pages=[str(readme), str(page)])
    made = ["results.json", "calibration.json", "results.md", "weights.png", "val_loss.png", "balanced.png",
            "frontier.png", "compute.png"]
    assert sorted(os.listdir(out)) == sorted(made)  # every file, no temp file left behind
    assert sorted(paths) == sorted([os.path.join(out, name) for name in made] + [str(readme), str(page)])
    for name in made[3:]:
        with open(os.path.join(out, name), "rb") as f:
            assert f.read(8) == b"\x89PNG\r\n\x1a\n", name
    with open(os.path.join(out, "results.json")) as f:
        results = json.load(f)
    assert results == json.loads(json.dumps(report.benchmark_results(summary)))
    with open(os.path.join(out, "calibration.json")) as f:
        calibration = json.load(f)
    assert calibration["wall_s"] == WALL
    with open(os.path.join(out, "results.md")) as f:
        assert "| bandit | 4 |" in f.read()
    text = readme.read_text()
    assert text.startswith("# title\n\n<!-- results:begin primary -->\n") and text.endswith("<!-- results:end -->\nafter\n")
    assert "| bandit | 4 | 2.260 |" in text and "better" in text and "old" not in text
    assert "| bandit-hedge | variant |" in page.read_text() and "exploratory" in page.read_text()
    assert "the suite 7,236 s (2.0 hours)" in page.read_text()  # the calibration block, from calibration.json
    assert tables.regenerate(text, results) == text  # regenerating again changes nothing
    assert tables.regenerate(page.read_text(), results, files={"calibration.json": calibration}) == page.read_text()


WALL = {"corpus": 20.4, "base": 912.0, "bases": 4, "cpt_runs": 7200.0, "target_estimates": 36.0,
        "target_estimations": 2, "proxy": 0.0, "suite": 7236.0}


def test_the_calibration_block_says_each_criterion_as_measured_and_whether_it_is_met(made_up):
    calibration = json.loads(json.dumps(report.benchmark_calibration(made_up[0], "cpu", WALL)))
    calibration["natural"].update(task_acc_mean=0.209, target_epochs=2.38, answer_logprob_gain_second_half_share=0.035)
    calibration["grid"] = [{"split": "tokens", "target_share": share, "natural": False, "task_acc_mean": acc,
                            "forgetting_mean": forgetting} for share, acc, forgetting in ((0.05, 0.15, -0.07),
                                                                                          (0.8, 0.2, 0.39))]
    lines = tables.calibration_table(calibration).splitlines()
    assert "| (a) the bases' task accuracy, 10 test problems | ≤ 5% each | 0.010, 0.011, 0.012 | yes |" in lines
    assert "| (a) static natural CPT's task accuracy | 20% to 80% | 0.209 | yes |" in lines
    assert "| (b) target epochs at the natural mixture (share 0.300) | ≥ 2 | 2.38 | yes |" in lines
    assert "| (c) answer log-prob gain made in the second half of natural CPT | ≥ 15% | 3.5% | **no** |" in lines
    assert lines[6].endswith("| 0.150, 0.200 | **no** |")  # a span of 0.05: not the 10 points required
    assert lines[7].endswith("| -0.070, 0.390 | yes |")
    assert lines[8:10] == ["| (d) uniform split: task accuracy at 5% and at 80% | 80% at least 10 points above 5% "
                           "| n/a, n/a | n/a |", "| (d) uniform split: forgetting at 5% and at 80% | 5% ≤ a third "
                           "of 80% | n/a, n/a | n/a |"]  # the grid has no uniform points: said, not dropped
    assert lines[-1].startswith("Compute, each piece of work once (`wall_s`): corpus 20 s, bases (4) 912 s, ")
    calibration["grid"][0]["task_acc_mean"] = 0.327  # exactly 10 points below 0.427, where 0.427 - 0.327 < 0.1
    calibration["grid"][1]["task_acc_mean"] = 0.427
    calibration["natural"]["answer_logprob_gain_second_half_share"] = None  # too few evaluations to measure
    lines = tables.calibration_table(calibration).splitlines()
    assert lines[6].endswith("| 0.327, 0.427 | yes |") and lines[5].endswith("| n/a | n/a |")
    with pytest.raises(DataError, match="needs calibration.json"):
        tables.regenerate("<!-- results:begin calibration -->\n<!-- results:end -->\n", {})
    with pytest.raises(DataError, match="predates the static grid"):  # the file as published before the grid
        tables.calibration_table({"preset": "cpu", "sweep": [], "wall_s": {"suite": 1.0}})


def test_publish_elsewhere_leaves_the_repository_pages_alone(made_up, tmp_path):
    summary, run_dirs, _ = made_up
    before = {name: open(os.path.join(ROOT_DIR, name)).read() for name in ("README.md", "docs/benchmark.md")}
    paths = report.publish(summary, run_dirs, str(tmp_path / "benchmark"), {})
    assert not [p for p in paths if p.endswith(".md") and "results.md" not in p]
    assert before == {name: open(os.path.join(ROOT_DIR, name)).read() for name in before}


def test_a_changed_figure_in_a_generated_block_is_a_difference_and_bad_markers_are_named(made_up):
    results = json.loads(json.dumps(report.benchmark_results(made_up[0])))
    page = tables.regenerate("<!-- results:begin primary -->\n<!-- results:end -->\n", results)
    tampered = page.replace("2.260", "2.250")
    assert tampered != page and tables.regenerate(tampered, results) == page
    with pytest.raises(DataError, match="no generated block"):
        tables.regenerate("no markers here\n", results, "README.md")
    with pytest.raises(DataError, match="unknown generated block short"):
        tables.regenerate("<!-- results:begin short -->\n<!-- results:end -->\n", results)


def test_the_reading_says_each_verdict_in_words_and_names_what_holm_does_not_let_count(made_up):
    results = json.loads(json.dumps(report.benchmark_results(made_up[0])))
    bandit = results["rows"][3]
    assert bandit["mixer"] == "bandit" and bandit["reweightings_mean"] == 0  # the made-up logs' weights are constant
    bandit["reweightings_mean"] = 784  # as the bandit's are not
    reading = tables.primary_reading(results)
    assert reading[0] == "In words: of the 1 paper defaults, 1 beat the best static mixture and 0 beat their own twin."
    assert reading[1].startswith("- **bandit** beats the best static mixture (Δ -0.0495 [")
    assert "is within noise of its own average mixture" in reading[1] and "adapts usefully" not in reading[1]
    # a grid row better than the pick by its unadjusted interval is named as the pick's winner's curse; not the
    # worse variant
    assert reading[2].endswith(": static (a grid point: the pick on validation missed it, the winner's curse), "
                               "bandit-twin.")
    twin_entry = results["comparisons"]["family"][1]  # now an interval clear of zero that Holm leaves in the noise
    twin_entry.update(mean=-0.01, lo=-0.02, hi=-0.001, p_holm=0.06)
    assert "unadjusted interval excludes zero" in tables.primary_reading(results)[1]
    twin_entry.update(verdict="better", p_holm=0.01)
    reading = tables.primary_reading(results)
    assert "1 beat their own twin" in reading[0] and "it adapts usefully" in reading[1]
    assert tables.primary_reading(results)[1] in tables.primary_table(results).splitlines()
    twin_entry.update(verdict="within noise", lo=-0.02, hi=0.01, p_holm=0.5)
    assert "a check of the twin" not in tables.primary_reading(results)[1]  # bandit's weights move: 0 < 784
    bandit["reweightings_mean"] = 0  # a constant mixture (RegMix's) against its twin
    assert tables.primary_reading(results)[1].endswith("compares a mixture with itself, and the twin reproduces it.")
    twin_entry.update(verdict="better", lo=-0.02, hi=-0.01, p_holm=0.01)  # a constant mixture "beats" itself:
    reading = tables.primary_reading(results)
    assert reading[1].endswith("the twin does not reproduce the run (a fault of the twin).")  # a fault, not a win
    assert "0 beat their own twin" in reading[0]
    assert not any("Resampling the test documents" in line for line in reading)  # runs without per-document sums
    comparisons = results["comparisons"]
    comparisons["document_bootstrap"] = {"draws": 1000}
    for entry, share in zip(comparisons["family"], (1.0, 0.62)):
        entry["document_bootstrap"] = {"same_verdict": share}
    assert tables.primary_reading(results)[2] == ("Resampling the test documents (1000 draws, the family redone on "
                                                  "each): the verdicts that depend on which documents were held out "
                                                  "(the share of draws that keep each): bandit against bandit-twin (62%).")
    comparisons["family"][1]["document_bootstrap"]["same_verdict"] = 0.97
    assert "every verdict holds in at least 95% of them" in tables.primary_reading(results)[2]


def test_a_mixers_block_holds_those_mixers_defaults_and_variants_only(made_up):
    results = json.loads(json.dumps(report.benchmark_results(made_up[0])))
    page = tables.regenerate("<!-- results:begin mixers:bandit -->\n<!-- results:end -->\n", results)
    rows = [line.split(" | ")[0] for line in page.splitlines() if line.startswith("| bandit")]
    assert rows == ["| bandit", "| bandit-hedge"]  # not its twin, not the grid
    assert "| bandit | mixer | 4 | 2.2600 ± " in page and "| better | -0.0017 [" in page
    for name in ("mixers", "mixers:", "full:bandit"):
        with pytest.raises(DataError, match=f"unknown generated block {name}"):
            tables.regenerate(f"<!-- results:begin {name} -->\n<!-- results:end -->\n", results)


def published_results():
    with open(os.path.join(BENCHMARK, "results.json")) as f:
        results = json.load(f)
    if "comparisons" not in results:
        pytest.skip("docs/benchmark/results.json predates the static grid and Holm's family (no \"comparisons\"); the "
                    "tables are generated from the next published run: python -m experiments.suite --suite default --publish docs/benchmark")
    return results


@pytest.mark.parametrize("page, block", [("README.md", "primary"), ("docs/benchmark.md", "full"),
                                         ("docs/online.md", "mixers:bandit,dbl,velocity,acodm"),
                                         ("docs/agent.md", "mixers:regmix,agent"),
                                         ("docs/benchmark.md", "calibration"), ("docs/headroom.md", "savings"),
                                         ("docs/headroom.md", "oracle"), ("docs/headroom.md", "trajectories"),
                                         ("docs/agent.md", "learning_curve"), ("docs/benchmark.md", "predictions")])
def test_the_pages_tables_are_what_results_json_regenerates(page, block):
    results = published_results()
    with open(os.path.join(ROOT_DIR, page)) as f:
        text = f.read()
    assert block in [m.group(2) for m in tables.BLOCK.finditer(text)], f"{page} has no {block} block"
    files = tables.files_beside(os.path.join(BENCHMARK, "results.json"))
    assert tables.regenerate(text, results, page, files) == text, \
        f"{page}'s generated table differs from docs/benchmark/results.json: python -m experiments.tables " \
        f"docs/benchmark/results.json {page}"


T_975 = {1: 12.706, 2: 4.303, 3: 3.182, 4: 2.776, 5: 2.571, 6: 2.447, 7: 2.365}  # t(0.975, df), printed tables


def test_every_published_interval_and_p_value_recomputes_from_the_per_seed_lists(made_up):
    """results.json alone lets a reader redo the statistics: every row lists its seeds' values, and from those
    lists every interval, the t-test's p, its Holm adjustment and the exact sign-flip p come out as published."""
    results = json.loads(json.dumps(report.benchmark_results(made_up[0])))
    rows = {r["mixer"]: r for r in results["rows"]}
    assert set(rows["bandit"]["per_seed"]) == {"1337", "1338", "1339", "1340"}
    assert set(rows["bandit"]["per_seed"]["1337"]) == {"base_seed", "test_objective", "val_objective", "source_loss",
                                                       "target_loss", "task_accuracy", "target_share"}
    assert rows["bandit"]["per_seed"]["1338"]["base_seed"] == 8

    def objective(label):
        return {s: v["test_objective"] for s, v in rows[label]["per_seed"].items()}

    def differences(label, ref):
        a, b = objective(label), objective(ref)
        return np.array([a[s] - b[s] for s in sorted(set(a) & set(b))])

    twins = {r["twin_of"]: label for label, r in rows.items() if r.get("twin_of")}
    for label, r in rows.items():
        for key, ref in (("delta_natural", "static"), ("delta_best_static", results["best_static"]),
                         ("delta_twin", twins.get(label))):
            if ref is None:
                continue
            d = differences(label, ref)
            half = T_975[len(d) - 1] * d.std(ddof=1) / math.sqrt(len(d)) if len(d) > 1 else None
            assert r[key]["mean"] == pytest.approx(d.mean())
            if half is not None:
                assert (r[key]["lo"], r[key]["hi"]) == pytest.approx((d.mean() - half, d.mean() + half))
    family = results["comparisons"]["family"]
    p = [report.paired_p(objective(e["row"]), objective(e["against"])) for e in family]
    order = sorted(range(len(p)), key=p.__getitem__)
    holm, running = [None] * len(p), 0.0
    for rank, i in enumerate(order):
        running = max(running, min(1.0, (len(p) - rank) * p[i]))
        holm[i] = running
    for entry, p_value, p_holm in zip(family, p, holm):
        d = differences(entry["row"], entry["against"])
        flips = [abs(np.mean(d * signs)) for signs in itertools.product([1, -1], repeat=len(d))]
        assert entry["p"] == pytest.approx(p_value) and entry["p_holm"] == pytest.approx(p_holm)
        assert entry["p_signflip"] == pytest.approx(np.mean([m >= abs(d.mean()) - 1e-12 for m in flips]))


def test_the_best_static_mixture_is_picked_on_the_seeds_the_candidates_share():
    """A row that lacks a lucky seed must not lose by construction: each pair of grid rows is compared over the
    seeds both have, and the pick names the winner's curse (its test rank, its validation and test margins)."""
    def row(val, test):
        return {"role": "static", "runs": {str(s): {"val_objective": v, "balanced_loss": t}
                                           for s, (v, t) in enumerate(zip(val, test))}}
    rows = {"a": row([2.10, 2.10, 2.10, 2.00], [2.30, 2.30, 2.30, 2.20]),  # its fourth seed is a lucky base
            "b": row([2.09, 2.09, 2.09], [2.31, 2.31, 2.31]),  # three seeds: better than a on each of them
            "c": row([2.20], [2.40])}  # one seed, far
    means = {label: np.mean([x["val_objective"] for x in r["runs"].values()]) for label, r in rows.items()}
    assert min(means, key=means.get) == "a"  # means over each row's own seeds would pick a
    best, pick = report.best_static_mixture(rows)
    assert best == "b" and pick["wins"] == 2 and pick["seeds"] == [0, 1, 2] and pick["peers"] == 2
    assert pick["test_rank"] == 2 and pick["runner_up"] == "a"  # on test, over the same seeds, a was better
    assert pick["val_margin"] == pytest.approx(0.01) and pick["test_margin"] == pytest.approx(-0.01)


def planted_documents(effect, seeds=8):
    """Rows A and B over `seeds` seeds, 2 domains (source, target) of 20 test documents of 10 tokens each: A's
    loss is B's plus effect(domain, document) on every token, plus +-0.01 nats per seed (mean zero)."""
    results = {"A": {}, "B": {}}
    for i, seed in enumerate(range(1337, 1337 + seeds)):
        noise = 0.01 if i % 2 else -0.01
        for label in results:
            results[label][seed] = {"final": {"test_documents": [
                {"loss_sums": [10 * (3.0 - d + (effect(d, k) + noise if label == "A" else 0)) for k in range(20)],
                 "tokens": [10] * 20} for d in range(2)]}}
    return results


def test_the_bootstrap_over_test_documents_tells_a_verdict_one_document_makes_from_one_all_make():
    fields = ["source", "target"]
    everywhere = [{"row": "A", "against": "B", "verdict": "better"}]
    done = report.document_bootstrap(everywhere, planted_documents(lambda d, k: -0.05), fields, draws=200)
    assert done["draws"] == 200
    assert everywhere[0]["document_bootstrap"]["same_verdict"] == 1.0
    assert everywhere[0]["document_bootstrap"]["mean_hi"] < 0
    # A better only on one target document (-2 nats on its tokens: -0.05 on the objective): a resample without
    # it (about (19/20)^20 = 36% of them) leaves the seeds' noise alone, within noise
    one = [{"row": "A", "against": "B", "verdict": "better"}]
    report.document_bootstrap(one, planted_documents(lambda d, k: -2.0 if (d, k) == (1, 0) else 0.0), fields,
                              draws=400)
    assert 0.5 < one[0]["document_bootstrap"]["same_verdict"] < 0.8
    assert one[0]["document_bootstrap"]["mean_hi"] == pytest.approx(0.0, abs=1e-9)
    old = planted_documents(lambda d, k: 0.0)
    del old["B"][1337]["final"]["test_documents"]  # a run from before the sums were recorded
    assert report.document_bootstrap(one, old, fields) is None


def test_the_static_search_curve_is_the_expected_validation_best_of_k_random_grid_runs():
    """By hand, runs with validation 1, 2, 3 and test 10, 20, 30: one run drawn is 20 on average; of two, the
    validation-best is the best run when it is drawn (2 pairs of 3), else the second: 10 * 2/3 + 20 * 1/3."""
    assert static_search.expected_search([2, 1, 3], [20, 10, 30], 1) == pytest.approx(20)
    assert static_search.expected_search([2, 1, 3], [20, 10, 30], 2) == pytest.approx(40 / 3)
    assert static_search.expected_search([2, 1, 3], [20, 10, 30], 3) == pytest.approx(10)
    assert static_search.expected_search([1, 2], [30, 10], 2) == pytest.approx(30)  # validation picks, not test

    def run(val, test):
        return {"val_objective": val, "balanced_loss": test, "wall_seconds": 100.0}
    grid = {"a": {"runs": {"1": run(1, 10), "2": run(1, 12)}}, "b": {"runs": {"1": run(2, 20), "2": run(3, 40)}},
            "c": {"runs": {"1": run(3, 30)}}}
    curve = static_search.static_search_curve(grid)
    assert [p["seeds"] for p in curve] == [2, 2, 1] and [p["seconds"] for p in curve] == [100, 200, 300]
    assert curve[0]["expected_test_objective"] == pytest.approx((20 + 26) / 2)
    assert curve[1]["expected_test_objective"] == pytest.approx((40 / 3 + 12) / 2)
    assert curve[2]["expected_test_objective"] == pytest.approx(10)
    assert static_search.matching_search(curve, 20)["k"] == 2 and static_search.matching_search(curve, 9) is None


def rows_of(results):
    return {r["mixer"]: r for r in results["rows"]}


def test_the_savings_block_puts_each_defaults_compute_beside_the_static_runs_that_match_it(made_up):
    results = json.loads(json.dumps(report.benchmark_results(made_up[0])))
    curve = results["static_search"]["curve"]
    assert [p["k"] for p in curve] == [1, 2, 3] and [p["seeds"] for p in curve] == [3, 3, 1]
    bandit = next(r for r in results["rows"] if r["mixer"] == "bandit")
    assert bandit["compute_s"] == {"run": 13.0, "proxy": 0.0, "estimate": 0.0, "total": 13.0}
    text = tables.savings_table(results)
    assert "| bandit | 2.2600 | 13 | 13, 0, 0 | none: even all 3 miss it | n/a |" in text  # 2.26 beats the grid
    assert "- No search of the grid's static runs matches `bandit` (2.2600); `bandit` cost 13 s." in text
    assert bandit["static_search_match"] is None and "static_search_match" not in rows_of(results)["bandit-twin"]
    bandit["balanced_mean"] = 2.31
    match = static_search.matching_search(curve, 2.31)
    text = tables.savings_table(results)
    assert f"| bandit | 2.3100 | 13 | 13, 0, 0 | {match['k']} | {match['seconds']:,.0f} |" in text
    assert match["k"] == 1 and f"- To match `bandit` (2.3100), tune 1 static run ({match['seconds']:,.0f} s); " \
        "`bandit` cost 13 s." in text
    results["static_search"]["curve"] = [{"k": 1, "expected_test_objective": 2.40, "seeds": 3, "seconds": 10.0},
                                         {"k": 2, "expected_test_objective": 2.30, "seeds": 3, "seconds": 20.0}]
    assert "tune 2 static runs (20 s); `bandit` cost 13 s." in tables.savings_table(results)
    del results["static_search"]
    assert "did not record the static search" in tables.savings_table(results)


def test_the_share_of_the_oracles_gain_is_the_ratio_of_paired_means_with_fiellers_interval():
    """(J_best - J_row) / (J_best - J_oracle): 1 for the oracle itself, 0 for the best static mixture; its
    interval is the set of q where the paired difference a - q b is within noise (checked on a grid of q), and no
    interval where the oracle's own gain is within noise."""
    rng = np.random.default_rng(0)
    seeds = range(8)
    best = {s: 2.0 + 0.01 * rng.standard_normal() for s in seeds}
    oracle = {s: best[s] - 0.05 + 0.005 * rng.standard_normal() for s in seeds}
    row = {s: best[s] - 0.02 + 0.01 * rng.standard_normal() for s in seeds}
    assert report.share_of_oracle_gain(oracle, best, oracle)["mean"] == pytest.approx(1.0)
    assert report.share_of_oracle_gain(best, best, oracle)["mean"] == 0.0
    share = report.share_of_oracle_gain(row, best, oracle)
    a = np.array([best[s] - row[s] for s in seeds])
    b = np.array([best[s] - oracle[s] for s in seeds])
    assert share["mean"] == pytest.approx(a.mean() / b.mean()) and share["seeds"] == 8 and share["bounded"]
    t = report.T_975[len(a) - 2]

    def within_noise(q):  # the paired t-test of a - q b does not reject zero
        d = a - q * b
        return abs(d.mean()) <= t * d.std(ddof=1) / math.sqrt(len(d))
    grid = np.linspace(share["mean"] - 2, share["mean"] + 2, 40001)
    inside = grid[[within_noise(q) for q in grid]]
    assert share["lo"] < share["mean"] < share["hi"]
    assert inside.min() == pytest.approx(share["lo"], abs=1e-3) and inside.max() == pytest.approx(share["hi"], abs=1e-3)
    noisy = {s: best[s] - 0.001 + 0.02 * rng.standard_normal() for s in seeds}  # a gain within noise
    unbounded = report.share_of_oracle_gain(row, best, noisy)
    assert not unbounded["bounded"] and unbounded["lo"] is None and unbounded["hi"] is None
    assert "within noise" in tables.share_text(unbounded)
    worse = {s: best[s] + 0.05 + 0.005 * rng.standard_normal() for s in seeds}  # the oracle clearly lost
    lost = report.share_of_oracle_gain(row, best, worse)  # a ratio of two losses is no share of a gain
    assert lost["mean"] is None and lost["oracle_gain"] < 0 and "did not beat" in tables.share_text(lost)
    one = report.share_of_oracle_gain({0: row[0]}, best, oracle)
    assert one["seeds"] == 1 and not one["bounded"] and "one seed" in tables.share_text(one)
    assert report.share_of_oracle_gain(row, best, {})["mean"] is None  # no seed in common


def with_oracle(tmp_path, monkeypatch):
    """The made-up suite with an oracle row and its twin, summarised with its search."""
    monkeypatch.setitem(PLAN, "oracle", ({"mixer": "replay", "kind": "oracle", "role": "oracle"}, 4, 2.200, 2.40, 2.29))
    monkeypatch.setitem(PLAN, "oracle-twin", ({"mixer": "static", "kind": "twin", "role": "twin", "twin_of": "oracle"},
                                              4, 2.250, 2.40, 2.30))
    rows, results, run_dirs, info = fabricated_suite(str(tmp_path / "runs"))
    search = {"seed": 1337, "interval": 100, "schedule": ["0.8", "0.3"], "schedule_shares": [0.8, 0.3],
              "compute_seconds": 1234.0, "final_val_objective": 2.28}
    return report.suite_summary(rows, results, run_dirs, {"oracle": 1234.0}, {**info, "oracle_search": search})


def test_every_generated_block_quotes_only_figures_its_json_holds(tmp_path, monkeypatch):
    """What the blocks print, read by the pages' figure check: a block whose figure its file does not hold where
    the block says it (the oracle's schedule said of the oracle row, Holm's alpha) would fail the pages' test the
    day a run is published."""
    summary = with_oracle(tmp_path, monkeypatch)
    published = json.loads(json.dumps(report.benchmark_results(summary)))
    calibration = json.loads(json.dumps(report.benchmark_calibration(summary, "cpu", WALL)))
    published["proxy_trajectory_twins"] = {"count": 3, "mean": 0.0123, "sd": 0.0101, "better_than_twin": 1,
                                           "deltas": [0.02, 0.0256, -0.0087], "best": {
                                               "index": 2, "delta": -0.0087, "rerun": {"seeds": [9, 10], "delta": {
                                                   "mean": 0.0012, "lo": -0.0031, "hi": 0.0055}}}}
    matched = json.loads(json.dumps(published))  # bandit as a static search of the grid matches it
    bandit = rows_of(matched)["bandit"]
    bandit.update(balanced_mean=2.31, static_search_match=static_search.matching_search(
        matched["static_search"]["curve"], 2.31))
    assert bandit["static_search_match"] and rows_of(published)["bandit"]["static_search_match"] is None
    for results in (published, matched):
        files = {"calibration.json": calibration, "agent.json": {"learning_curve": CURVE}}
        numbers = {"results.json": list(json_numbers(results)), **{name: list(json_numbers(doc))
                                                                   for name, doc in files.items()}}
        for name in ("primary", "full", "mixers:bandit", "calibration", "savings", "oracle", "trajectories",
                     "learning_curve"):
            page = tables.regenerate(f"<!-- results:begin {name} -->\n<!-- results:end -->\n", results,
                                     files=files)
            assert unsupported_figures(page, numbers) == [], name


CURVE = {"training_trajectories_available": 288, "plateau": True, "points": [
    {"trajectories": n, "critic_rank_corr": 0.4 + d, "critic_rank_corr_first_boundary": 0.2 + d,
     "critic_rank_corr_first_boundary_interval": [0.05 + d, 0.35 + d], "critic_rank_corr_first_boundary_final": 0.1 + d,
     "critic_rank_corr_first_boundary_final_interval": [-0.05 + d, 0.25 + d], "held_out_cloning_loss": 1.2345 - d,
     "held_out_trajectories": 96} for n, d in ((64, 0.0), (128, 0.011), (256, 0.021))]}


def test_the_learning_curve_block_gives_each_point_from_agent_json():
    text = tables.learning_curve_table({"learning_curve": CURVE})
    assert "| 64 | 0.400 | 0.200 [0.050, 0.350] | 0.100 [-0.050, 0.250] | 1.2345 |" in text
    assert "| 256 | 0.421 | 0.221 [0.071, 0.371] | 0.121 [-0.029, 0.271] | 1.2135 |" in text
    assert "96 held-out trajectories" in text and "of 288 training" in text and "last doubling left" in text
    assert "did not leave" in tables.learning_curve_table({"learning_curve": {**CURVE, "plateau": False}})
    one = tables.learning_curve_table({"learning_curve": {**CURVE, "points": CURVE["points"][:1], "plateau": False}})
    assert "one point: no doubling to judge" in one
    assert "has no learning curve" in tables.learning_curve_table({"superseded": "..."})
    assert "has no learning curve" in tables.learning_curve_table(None)


def test_the_trajectories_block_says_what_the_agents_data_can_teach():
    twins = {"count": 384, "mean": 0.0123, "sd": 0.0101, "better_than_twin": 97, "best": {
        "index": 17, "delta": -0.0301, "rerun": {"seeds": [1, 2, 3, 4, 5], "delta": {"mean": 0.001, "lo": -0.002,
                                                                                      "hi": 0.004}}}}
    text = tables.trajectories_table({"proxy_trajectory_twins": twins})
    assert "384 proxy trajectories" in text and "+0.0123 on average (sd 0.0101), 97 of 384 better" in text
    assert "(trajectory 17, -0.0301)" in text and "on 5 fresh proxy seeds" in text
    assert text.endswith("Δ +0.0010 [-0.0020, +0.0040], within noise.")
    twins["best"]["rerun"]["delta"] = {"mean": -0.01, "lo": -0.015, "hi": -0.005}
    assert tables.trajectories_table({"proxy_trajectory_twins": twins}).endswith("better.")
    assert "before issue 33" in tables.trajectories_table({})


def test_the_oracle_block_gives_the_headroom_and_each_defaults_share_of_it_from_results_json(tmp_path, monkeypatch):
    summary = with_oracle(tmp_path, monkeypatch)
    published = json.loads(json.dumps(report.benchmark_results(summary)))
    by_row = {r["mixer"]: r for r in published["rows"]}
    best = published["best_static"]
    J = {label: {s: x["test_objective"] for s, x in by_row[label]["per_seed"].items()} for label in by_row}
    seeds = sorted(set(J[best]) & set(J["bandit"]) & set(J["oracle"]))
    share = by_row["bandit"]["share_of_oracle_gain"]
    assert share["seeds"] == len(seeds) == 3 and share["mean"] == pytest.approx(
        np.mean([J[best][s] - J["bandit"][s] for s in seeds]) / np.mean([J[best][s] - J["oracle"][s] for s in seeds]))
    assert [label for label, r in by_row.items() if "share_of_oracle_gain" in r] == ["bandit"]  # paper defaults only
    assert by_row["oracle"]["compute_s"]["proxy"] == 1234.0 and published["oracle"]["schedule_shares"] == [0.8, 0.3]
    text = tables.oracle_table(published)
    assert "0.80, 0.30" in text and "1,234 s of search" in text
    assert f"| bandit | 3 | {by_row['bandit']['balanced_mean']:.4f} | " in text and tables.share_text(share) in text
    del published["oracle"]
    assert "has no oracle row" in tables.oracle_table(published)
