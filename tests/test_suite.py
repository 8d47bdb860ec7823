"""The suite on the tiny corpus: end to end, resume after an interruption, a failing run reported while the
others go on, the static frontier and the paired-seed differences checked by hand against the runs, the
benchmark files, the plots."""

import hashlib
import json
import math
import os
import signal

import numpy as np
import pytest
import torch

from experiments import proxy, report
import data
import evaluate
import trajectories
from experiments import suite as suite_module
import train
from common import ConfigError
from mixer import objective
from conftest import FakeCorpus


def suite(tiny_args, *extra):
    """One seed, no sweep, the token split alone and no schedules unless the test asks: each row is a run."""
    own = ["--suite", "default", "--seeds", "1", "--sweep", "none", "--splits", "tokens", "--schedules", "none",
           "--oracle", "none"]
    return suite_module.main(own + list(extra) + ["--"] + tiny_args)  # later flags win


def suite_dir_of(tiny_args):
    return os.path.join(tiny_args[tiny_args.index("--out_dir") + 1], "suite-default")


def balanced(tiny_args, label, seed):
    with open(os.path.join(suite_dir_of(tiny_args), f"{label}-s{seed}", "eval.json")) as f:
        return json.load(f)["summary"]["balanced_loss"]


def test_suite_end_to_end_then_resume_after_an_interruption(tiny_args, monkeypatch, capsys):
    monkeypatch.setitem(suite_module.SUITES["default"], "variants", {})  # the runner here, the rows below
    real_run = train.run

    def interrupt_the_bandit_run(cfg):
        if cfg["mixer"] == "bandit":
            raise KeyboardInterrupt("interrupted")
        return real_run(cfg)

    monkeypatch.setattr(train, "run", interrupt_the_bandit_run)
    with pytest.raises(KeyboardInterrupt):
        suite(tiny_args, "--mixers", "bandit", "--splits", "tokens,uniform")
    monkeypatch.setattr(train, "run", real_run)
    static_eval = os.path.join(suite_dir_of(tiny_args), "static-s1337", "eval.json")
    finished_at = os.path.getmtime(static_eval)
    capsys.readouterr()
    summary = suite(tiny_args, "--mixers", "bandit", "--splits", "tokens,uniform")
    out = capsys.readouterr().out
    assert "static seed 1337: finished before, reused" in out and os.path.getmtime(static_eval) == finished_at
    assert list(summary["rows"]) == ["static", "static-uniform-natural", "static-uniform-all", "bandit",
                                     "bandit-twin"] and summary["seeds"] == [1337]
    natural = summary["rows"]["static"]["target_share"]
    for label, expected in (("static-uniform-natural", [(1 - natural) / 2] * 2 + [natural]),
                            ("static-uniform-all", [1 / 3] * 3)):  # prose, code (source), arith (target)
        assert summary["rows"][label]["split"] == "uniform"
        weights = report.read_log(os.path.join(suite_dir_of(tiny_args), f"{label}-s1337"))[-1]["weights"]
        np.testing.assert_allclose(weights, expected, atol=1e-6)
    results = os.path.join(suite_dir_of(tiny_args), "results")
    with open(os.path.join(results, "results.json")) as f:
        saved = json.load(f)
    assert saved["rows"]["bandit"]["stats"]["balanced_loss"]["mean"] == balanced(tiny_args, "bandit", 1337)
    for name in ("weights.png", "val_loss.png", "balanced.png", "frontier.png", "compute.png"):
        with open(os.path.join(results, name), "rb") as f:
            data = f.read()
        assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 2000, name


def test_a_finished_run_is_reused_only_while_its_config_and_mixer_code_are_the_same(tiny_args, capsys):
    run_dir = os.path.join(suite_dir_of(tiny_args), "static-s1337")
    suite(tiny_args, "--mixers", "none")
    with open(os.path.join(run_dir, "fingerprint.json")) as f:
        saved = json.load(f)
    assert saved["config"]["mixer"] == "static" and saved["config"]["lr"] == 3e-3 and "resume" not in saved["config"]
    assert set(saved["code"]) == {"mixer.py", "train.py"}  # StaticMixer's module and the loop
    with open(os.path.join(os.path.dirname(train.__file__), "mixer.py"), "rb") as f:
        assert saved["code"]["mixer.py"] == hashlib.sha256(f.read()).hexdigest()
    finished_at = os.path.getmtime(os.path.join(run_dir, "eval.json"))
    capsys.readouterr()
    suite(tiny_args, "--mixers", "none")  # nothing changed
    assert "static seed 1337: finished before, reused" in capsys.readouterr().out
    assert os.path.getmtime(os.path.join(run_dir, "eval.json")) == finished_at
    suite(tiny_args + ["--lr", "0.002"], "--mixers", "none")  # another config: run again, saying what differs
    out = capsys.readouterr().out
    assert "static seed 1337: finished before, rerun: config lr 0.003 -> 0.002\n" in out and "finished before, reused" not in out
    assert report.load_result(run_dir)["config"]["lr"] == 0.002
    with open(os.path.join(run_dir, "fingerprint.json")) as f:
        saved = json.load(f)
    assert saved["config"]["lr"] == 0.002
    saved["code"]["mixer.py"] = "0" * 64  # as if mixer.py had been edited since the run finished
    with open(os.path.join(run_dir, "fingerprint.json"), "w") as f:
        json.dump(saved, f)
    suite(tiny_args + ["--lr", "0.002"], "--mixers", "none")
    assert "static seed 1337: finished before, rerun: code of mixer.py\n" in capsys.readouterr().out


def test_frontier_best_static_and_paired_intervals_match_the_runs(tiny_args, tmp_path, monkeypatch):
    publish = str(tmp_path / "benchmark")
    monkeypatch.setitem(suite_module.SUITES["default"], "grid_seeds", {"near": 0.01, "near_seeds": 5, "far": 1e9,
                                                                       "far_seeds": 1})  # no grid point stays at 1
    summary = suite(tiny_args, "--seeds", "2", "--mixers", "none", "--sweep", "0.1,0.9", "--schedules", "ramp_down",
                    "--publish", publish)
    rows = summary["rows"]
    assert list(rows) == ["static", "static-tokens-0.1", "static-tokens-0.9", "schedule-ramp_down",
                          "schedule-ramp_down-twin"]
    statics = ["static", "static-tokens-0.1", "static-tokens-0.9"]
    best = min(statics, key=lambda label: rows[label]["stats"]["val_objective"]["mean"])  # picked on validation
    assert summary["best_static"] == best
    for label in rows:  # by hand: the mean and the 95% t-interval (t(0.975, 1) = 12.706) of the paired differences
        for reference, key in (("static", "delta_natural"), (best, "delta_best_static")):
            d = [balanced(tiny_args, label, s) - balanced(tiny_args, reference, s) for s in (1337, 1338)]
            mean, sd = sum(d) / 2, abs(d[0] - d[1]) / math.sqrt(2)
            half = 12.706 * sd / math.sqrt(2)
            assert rows[label][key]["mean"] == pytest.approx(mean)
            assert rows[label][key]["lo"] == pytest.approx(mean - half)
            assert rows[label][key]["hi"] == pytest.approx(mean + half)
    assert rows["static"]["delta_natural"] == {"mean": 0.0, "lo": 0.0, "hi": 0.0, "seeds": 2}
    assert report.verdict(rows["static"]["delta_natural"]) == "within noise"
    shares = [rows[label]["stats"]["target_share"]["mean"] for label in ("static-tokens-0.1", "static",
                                                                          "static-tokens-0.9")]
    assert shares == sorted(shares) and abs(shares[0] - 0.1) < 0.03 and abs(shares[2] - 0.9) < 0.03
    with open(os.path.join(publish, "results.json")) as f:
        results = json.load(f)
    assert [r["mixer"] for r in results["rows"]] == list(rows)
    assert set(results["rows"][1]) == {
        "mixer", "role", "primary", "seeds", "base_seeds", "val_objective_mean", "balanced_mean", "balanced_std",
        "forgetting_mean", "gain_mean", "task_acc_mean", "target_share_mean", "mean_abs_weight_change",
        "reweightings_mean", "delta_natural", "per_seed",
        "delta_best_static", "verdict_best_static", "verdict_twin", "verdict_by", "split", "target_share", "compute_s"}
    compute = results["rows"][1]["compute_s"]
    assert compute["total"] == compute["run"] > 0 and compute["proxy"] == compute["estimate"] == 0  # a static row
    curve = results["static_search"]["curve"]  # 3 grid rows on 2 seeds: the validation-best of k of them
    assert [p["k"] for p in curve] == [1, 2, 3] and [p["seeds"] for p in curve] == [2, 2, 2]
    assert curve[-1]["expected_test_objective"] == pytest.approx(np.mean(
        [min(((r["per_seed"][s]["val_objective"], r["per_seed"][s]["test_objective"]) for r in results["rows"]
              if r["role"] == "static"))[1] for s in ("1337", "1338")]))
    assert results["rows"][1]["seeds"] == [1337, 1338] and len(set(results["rows"][1]["base_seeds"])) == 2
    assert results["rows"][4]["twin_of"] == "schedule-ramp_down" and "lo" in results["rows"][3]["delta_twin"]
    assert [r["role"] for r in results["rows"]] == ["static", "static", "static", "schedule", "twin"]
    with open(os.path.join(publish, "calibration.json")) as f:
        calibration = json.load(f)
    assert set(calibration) == {"preset", "seeds", "base_seeds", "task_test_problems", "base", "natural_target_share",
                                "natural", "best_static", "grid", "schedules", "wall_s"} and calibration["seeds"] == [1337, 1338]
    corpus = data.Corpus(os.path.join(tiny_args[tiny_args.index("--data_dir") + 1], "tiny"))
    natural = corpus.train_tokens[corpus.field_indices("target")].sum() / corpus.train_tokens.sum()
    assert rows["static"]["target_share"] == pytest.approx(natural) and rows["static"]["natural"]  # from the corpus
    assert [s["target_share"] for s in calibration["grid"]] == pytest.approx([0.1, natural, 0.9])
    assert calibration["grid"][0]["balanced_mean"] == pytest.approx(
        (balanced(tiny_args, "static-tokens-0.1", 1337) + balanced(tiny_args, "static-tokens-0.1", 1338)) / 2)
    assert calibration["schedules"][0]["name"] == "schedule-ramp_down" and calibration["task_test_problems"] == 10
    assert all(calibration["wall_s"][k] > 0 for k in ("corpus", "base", "suite"))
    share = calibration["natural"]["answer_logprob_gain_second_half_share"]
    assert share is not None and math.isfinite(share)


def test_the_oracle_row_replays_its_search_on_every_primary_seed_beside_its_twin_and_scores_each_default(
        tiny_args, monkeypatch, capsys):
    """The suite searches once (validation, on a seed and base of its own), runs the schedule frozen on the
    primary seeds with its twin, and gives each paper default its share of the oracle's gain from the per-seed
    objectives; a rerun reuses the search; a new search (other shares) reruns the replays and does not resume an
    unfinished one that ran the old schedule; a failed search is reported and the suite goes on without it."""
    monkeypatch.setitem(suite_module.SUITES["default"], "variants", {})
    monkeypatch.setitem(suite_module.SUITES["default"], "oracle", {"shares": [0.1, 0.9], "interval": 5, "seed": 4242})
    summary = suite(tiny_args, "--seeds", "2", "--mixers", "bandit", "--oracle", "0.1,0.9")
    rows, folder = summary["rows"], suite_dir_of(tiny_args)
    assert list(rows) == ["static", "bandit", "bandit-twin", "oracle", "oracle-twin"]
    assert all(sorted(rows[label]["runs"]) == ["1337", "1338"] for label in rows)  # the oracle's: the primary seeds
    with open(os.path.join(folder, "oracle", "search.json")) as f:
        search = json.load(f)
    assert search["seed"] == 4242 and search["schedule_shares"] == summary["oracle_search"]["schedule_shares"]
    assert len(search["schedule_shares"]) == 2 and rows["oracle"]["proxy_seconds"] == search["compute_seconds"]
    J = {label: {s: balanced(tiny_args, label, s) for s in (1337, 1338)} for label in rows}
    a = [J["static"][s] - J["bandit"][s] for s in (1337, 1338)]
    b = [J["static"][s] - J["oracle"][s] for s in (1337, 1338)]
    share = rows["bandit"]["share_of_oracle_gain"]
    assert summary["best_static"] == "static" and share["seeds"] == 2
    assert share["oracle_gain"] == pytest.approx(np.mean(b))
    assert share["mean"] == (pytest.approx(np.mean(a) / np.mean(b)) if np.mean(b) > 0 else None)
    assert "share_of_oracle_gain" not in rows["oracle"] and "share_of_oracle_gain" not in rows["bandit-twin"]
    capsys.readouterr()
    suite(tiny_args, "--seeds", "2", "--mixers", "bandit", "--oracle", "0.1,0.9")
    out = capsys.readouterr().out
    assert "the oracle's search: finished before, reused" in out and "oracle seed 1338: finished before, reused" in out
    os.remove(os.path.join(folder, "oracle-s1338", "eval.json"))  # as if interrupted: its checkpoint is there
    assert os.path.exists(os.path.join(folder, "oracle-s1338", "ckpt.pt"))
    suite(tiny_args, "--seeds", "2", "--mixers", "none", "--oracle", "0.2,0.8")
    out = capsys.readouterr().out
    assert "the oracle's search (rerun: config oracle_shares [0.1, 0.9] -> [0.2, 0.8])" in out
    assert "removed the checkpoint of oracle seed 1338: it ran the old schedule" in out
    assert "oracle seed 1337: finished before, rerun: code of replay schedule" in out
    assert "oracle seed 1338 (resuming)" not in out
    with open(os.path.join(folder, "oracle", "search.json")) as f:
        assert json.load(f)["candidates"].keys() == {"0.2", "0.8"}

    def fail(*args, **kwargs):
        raise RuntimeError("no memory left")
    monkeypatch.setattr(suite_module.oracle, "search", fail)
    with pytest.raises(SystemExit, match="the oracle's search"):
        suite(tiny_args, "--seeds", "1", "--mixers", "none", "--oracle", "0.5")
    out = capsys.readouterr().out
    assert "the oracle's search FAILED: RuntimeError: no memory left" in out
    assert "oracle seed 1337: skipped, the oracle's search failed" in out

def rewrite_val_loss(run_dir, index, val_loss):
    """Plant a validation evaluation: the index-th record of the run's log that has one gets `val_loss`."""
    records = report.read_log(run_dir)
    at = [i for i, r in enumerate(records) if "val_loss" in r][index]
    records[at]["val_loss"] = val_loss
    with open(os.path.join(run_dir, "log.jsonl"), "w") as f:
        f.writelines(json.dumps(r) + "\n" for r in records)
    return records[at]["step"]


def test_best_static_is_picked_on_validation_at_the_final_step_not_on_test_or_an_earlier_step(tiny_args):
    """A planted case: the test split's best row, the row best at an earlier evaluation and the row best on
    validation at the final step are three different rows; the suite must pick the last."""
    summary = suite(tiny_args, "--sweep", "0.1,0.9", "--mixers", "none")
    statics = ["static", "static-tokens-0.1", "static-tokens-0.9"]
    by_test = sorted(statics, key=lambda label: balanced(tiny_args, label, 1337))
    best_on_test, middle, worst_on_test = by_test
    run_dir = {label: os.path.join(suite_dir_of(tiny_args), f"{label}-s1337") for label in statics}
    final_step = rewrite_val_loss(run_dir[worst_on_test], -1, [0.5, 0.7, 0.9])  # fields: source, source, target
    earlier_step = rewrite_val_loss(run_dir[middle], -2, [0.1, 0.1, 0.1])  # the lowest anywhere, but not final
    assert earlier_step < final_step == 10
    summary = suite(tiny_args, "--sweep", "0.1,0.9", "--mixers", "none")  # the runs reused, the summary anew
    assert summary["best_static"] == worst_on_test  # not best_on_test (test split), not middle (earlier step)
    rows = summary["rows"]
    assert rows[worst_on_test]["runs"]["1337"]["val_objective"] == pytest.approx((0.6 + 0.9) / 2)  # (S + T) / 2
    for label in (best_on_test, middle):  # by hand from the final validation losses in the log
        final = [r for r in report.read_log(run_dir[label]) if "val_loss" in r][-1]["val_loss"]
        assert rows[label]["runs"]["1337"]["val_objective"] == pytest.approx(((final[0] + final[1]) / 2 + final[2]) / 2)
    assert rows[best_on_test]["delta_best_static"]["mean"] == pytest.approx(
        balanced(tiny_args, best_on_test, 1337) - balanced(tiny_args, worst_on_test, 1337))  # against the pick


def test_the_agents_tuning_picks_on_validation_at_the_final_step_not_on_test_or_an_earlier_step(tiny_args,
                                                                                                  monkeypatch):
    """A planted case: each candidate's proxy runs are faked (the log's validation losses and eval.json's
    test losses chosen here) so that test, an earlier evaluation and the final validation pick three
    different candidates; the tuning must pick on the final validation objective, (S + T) / 2."""
    planted = {0: {"final": 3.0, "earlier": 0.1, "test": 1.0}, 1: {"final": 2.0, "earlier": 4.0, "test": 5.0},
               2: {"final": 2.5, "earlier": 4.0, "test": 0.5}}

    def fake_run(cfg):
        plant, bump = planted[int(os.path.basename(cfg["agent_path"])[len("candidate-"):-3])], cfg["seed"] - 7
        os.makedirs(cfg["run_name"])
        with open(os.path.join(cfg["run_name"], "log.jsonl"), "w") as f:
            for step, loss in ((0, 5.0), (5, plant["earlier"]), (10, plant["final"] + 0.2 * bump)):
                f.write(json.dumps({"step": step, "val_loss": [loss - 0.1, loss + 0.1, loss + 0.3]}) + "\n")
        with open(os.path.join(cfg["run_name"], "eval.json"), "w") as f:
            json.dump({"summary": {"balanced_loss": plant["test"]}, "final": {"test_loss": [plant["test"]] * 3}}, f)

    monkeypatch.setattr(train, "run", fake_run)
    monkeypatch.setattr(proxy.agent, "train_agent", lambda folder, path, options, log: open(path, "w").close())
    monkeypatch.setattr(proxy.agent, "load_agent", lambda path: (None, {"trained_on": {"offline": {}}}))
    spec = {**suite_module.SUITES["default"]["proxy"], "tuning_seeds": [7, 8],
            "agent_grid": [{}, {"cql_alpha": 5.0}, {"bc_weight": 4.0}]}
    pcfg = proxy.proxy_config(suite_module.SUITES["default"], tiny_args)
    tuning_dir = os.path.join(suite_dir_of(tiny_args), "proxy", "tuning")
    tuning = proxy.tune_agent(pcfg, "unused", spec, tuning_dir, lambda *a: None, swarm_mode="off")
    assert tuning["chosen"] == {"cql_alpha": 5.0}  # candidate 1: not 2 (best on test), not 0 (best earlier)
    # by hand, seed 7 and seed 8 (+0.2): S = final, T = final + 0.3, so (S + T) / 2 = final + 0.15 (+0.1 mean)
    assert [row["val_objective"] for row in tuning["grid"]] == pytest.approx([3.25, 2.25, 2.75])
    assert tuning["grid"][1]["runs"] == pytest.approx([2.15, 2.35])


def test_a_failing_run_is_reported_by_name_and_the_suite_goes_on(tiny_args, monkeypatch, capsys):
    monkeypatch.setitem(suite_module.SUITES["default"], "variants", {})
    real_run = train.run

    def fail_the_bandit_run(cfg):
        if cfg["mixer"] == "bandit":
            raise RuntimeError("a bug in one run")
        return real_run(cfg)

    monkeypatch.setattr(train, "run", fail_the_bandit_run)
    with pytest.raises(SystemExit) as exit_info:
        suite(tiny_args, "--mixers", "bandit,dbl")
    assert "1 run(s) failed: bandit seed 1337" in str(exit_info.value.code)
    out = capsys.readouterr().out
    assert "bandit seed 1337 FAILED: RuntimeError: a bug in one run" in out
    assert "bandit-twin seed 1337: skipped, its row bandit has no finished run" in out  # nothing to average
    with open(os.path.join(suite_dir_of(tiny_args), "results", "results.json")) as f:
        saved = json.load(f)
    assert list(saved["rows"]) == ["static", "dbl", "dbl-twin"] and saved["failed"] == ["bandit seed 1337"]


def test_ctrl_c_or_sigterm_stops_the_suite_instead_of_failing_one_run(tiny_args, monkeypatch, capsys):
    """train.py turns Ctrl-C and SIGTERM into Interrupted at a step boundary (its checkpoint written): the suite
    stops there with the signal's exit status and says how to resume; it does not start the next run."""
    real_run, started = train.run, []

    def stop_in_the_bandit_run(cfg):
        started.append(cfg["mixer"])
        if cfg["mixer"] == "bandit":
            raise train.Interrupted(signal.SIGTERM, "cpt", 5, 10, "ckpt.pt")
        return real_run(cfg)

    monkeypatch.setattr(train, "run", stop_in_the_bandit_run)
    with pytest.raises(SystemExit) as exit_info:
        suite(tiny_args, "--mixers", "bandit,dbl")
    assert exit_info.value.code == 128 + signal.SIGTERM and started == ["static", "bandit"]
    assert "interrupted: SIGTERM at cpt step 5 of 10" in capsys.readouterr().err


def write_replay(replay_dir, label, seed, val_loss, fields):
    """A finished proxy replay as experiments/agent_experiment.py leaves it: eval.json and the log's last evaluation."""
    run_dir = os.path.join(replay_dir, f"{label}-s{seed}")
    os.makedirs(run_dir)
    with open(os.path.join(run_dir, "eval.json"), "w") as f:
        json.dump({"final": {"fields": fields}}, f)
    with open(os.path.join(run_dir, "log.jsonl"), "w") as f:
        f.write(json.dumps({"step": 10, "val_loss": val_loss}) + "\n")


def test_suite_collects_constant_proxy_runs_for_regmix_runs_its_variant_and_publishes_the_replay(tiny_args, tmp_path):
    fields = ["source", "source", "target"]  # the tiny corpus: prose, code, arith
    replay_dir = os.path.join(suite_dir_of(tiny_args), "proxy", "replay")
    for seed, natural, regmix in ((1, 3.0, 3.1), (2, 3.2, 3.25)):  # objectives: (S + T) / 2 = the arith loss here
        write_replay(replay_dir, "static", seed, [natural, natural, natural], fields)
        write_replay(replay_dir, "regmix", seed, [regmix, regmix, regmix], fields)
    publish = str(tmp_path / "benchmark")
    summary = suite(tiny_args + ["--mix_interval", "5"], "--mixers", "regmix", "--collect", "10", "--publish", publish)
    folder = os.path.join(suite_dir_of(tiny_args), "proxy", "constant")
    runs = [n for n in os.listdir(folder) if n.endswith(".npz")]
    assert len(runs) == 10 and not os.path.exists(os.path.join(suite_dir_of(tiny_args), "proxy", "trajectories"))
    rows = summary["rows"]
    assert list(rows) == ["static", "regmix", "regmix-twin", "regmix-best", "regmix-best-twin"]
    assert rows["regmix"]["proxy_seconds"] > 0
    assert rows["regmix-best"]["proxy_seconds"] == rows["regmix"]["proxy_seconds"]  # the same proxy runs
    configs = {label: report.load_result(os.path.join(suite_dir_of(tiny_args), f"{label}-s1337"))["config"]
               for label in ("regmix", "regmix-best")}
    assert configs["regmix"]["regmix_variant"] == "paper" and configs["regmix-best"]["regmix_variant"] == "best"
    assert configs["regmix-best"]["trajectories"] == configs["regmix"]["trajectories"] == folder
    with open(os.path.join(publish, "results.json")) as f:
        published = {r["mixer"]: r for r in json.load(f)["rows"]}
    assert published["regmix"]["paper_default"] is True and "variant_of" not in published["regmix"]
    assert published["regmix-best"]["variant_of"] == "regmix" and published["regmix-best"]["role"] == "variant"
    replay = published["regmix"]["proxy_replay"]  # by hand: d = (0.1, 0.05), mean 0.075, sd 0.05 / sqrt(2)
    assert replay["val_objective_mean"] == pytest.approx(3.175)
    assert replay["delta_natural"]["mean"] == pytest.approx(0.075)
    assert replay["delta_natural"]["hi"] == pytest.approx(0.075 + 12.706 * 0.05 / math.sqrt(2) / math.sqrt(2))
    assert "proxy_replay" not in published["regmix-best"]  # no replay of it was made


def test_suite_rows_hold_each_paper_default_and_each_named_variant(monkeypatch):
    """The row construction: the row names, each variant run with --<mixer>_variant NAME, the
    agent's rows taken from AGENT_VARIANTS whatever they are (a new one gains a row), the control marked."""
    monkeypatch.setitem(suite_module.AGENT_VARIANTS, "agent-undiscounted", {"variant": "undiscounted"})
    spec = suite_module.SUITES["default"]
    rows = suite_module.suite_rows(spec, ["bandit", "dbl", "velocity", "acodm", "regmix", "agent"], [0.5], ["ramp_up"],
                                   FakeCorpus(3))
    defaults = [label for label, r in rows.items() if r.get("paper_default")]
    assert defaults == ["bandit", "dbl", "velocity", "acodm", "regmix", "agent"]
    assert all(rows[m]["role"] == "mixer" and "variant_of" not in rows[m] and not rows[m]["options"] for m in defaults)
    variants = {label: (r["variant_of"], r["options"]) for label, r in rows.items() if r["role"] == "variant"}
    assert variants == {"bandit-one_draw": ("bandit", {"bandit_variant": "one_draw"}),
                        "bandit-hedge": ("bandit", {"bandit_variant": "hedge"}),
                        "bandit-code": ("bandit", {"bandit_variant": "code"}),
                        "dbl-code": ("dbl", {"dbl_variant": "code"}),
                        "dbl-hold_flagged": ("dbl", {"dbl_variant": "hold_flagged"}),
                        "velocity-hold_flagged": ("velocity", {"velocity_variant": "hold_flagged"}),
                        "acodm-rhat": ("acodm", {"acodm_variant": "rhat"}),
                        "acodm-no_slice": ("acodm", {"acodm_variant": "no_slice"}),
                        "acodm-ours": ("acodm", {"acodm_variant": "ours"}),
                        "regmix-best": ("regmix", {"regmix_variant": "best"}),
                        "agent-clone": ("agent", {}), "agent-undiscounted": ("agent", {})}
    assert all("paper_default" not in rows[label] for label in variants)
    assert rows["agent-untrained"]["role"] == "control" and "agent-cql" not in rows  # the offline evaluation's
    assert (rows["acodm-released"]["role"], rows["acodm-released"]["options"]) == ("control", {"acodm_untrained": True})
    assert [rows[label]["role"] for label in ("static", "static-tokens-0.5", "schedule-ramp_up")] == \
        ["static", "static", "schedule"]
    assert all(r["kind"] == "mixer" for r in rows.values() if r["role"] in ("mixer", "variant", "control"))
    alone = suite_module.suite_rows(spec, defaults, [0.5], [], FakeCorpus(3), variants=False)  # --variants none
    moving = [label for label, r in alone.items() if r["role"] not in ("static", "twin")]
    assert moving == defaults + ["oracle"] and all(f"{label}-twin" in alone for label in moving)
    monkeypatch.setitem(spec, "variants", {"schedule": ["fast"]})  # schedule declares no --schedule_variant
    with pytest.raises(ConfigError, match="suite row schedule-fast runs --schedule_variant, which mixer schedule"):
        suite_module.check_variant_rows(suite_module.suite_rows(spec, ["schedule"], [], [], FakeCorpus(3)))
    suite_module.check_variant_rows(suite_module.suite_rows(spec, ["dbl", "regmix"], [], [], FakeCorpus(3)))


def grid_corpus():
    """Five domains with unequal train tokens, two of them in the target field (the default corpus' shape)."""
    corpus = FakeCorpus(5)
    corpus.fields, corpus.train_tokens = ["source"] * 3 + ["target"] * 2, np.array([100.0, 300.0, 600.0, 50.0, 150.0])
    return corpus


def start_weights(corpus, row):
    return data.initial_weights(corpus, {"weights": "", "weights_from": "", "init_weights": "natural", "target_ratio": None, **row["options"]})


def test_the_static_grid_holds_both_splits_at_every_share_with_natural_read_from_the_corpus():
    spec, corpus = suite_module.SUITES["default"], grid_corpus()
    rows = suite_module.suite_rows(spec, [], spec["sweep"], [], corpus, oracle_shares=[])  # the grid alone
    natural = 200 / 1200  # the target field's train tokens
    assert len(rows) == 14 and list(rows)[0] == "static"  # uniform over all five is the 0.4 point: no extra row
    for split in ("tokens", "uniform"):
        shares = sorted(r["target_share"] for r in rows.values() if r["split"] == split)
        assert shares == pytest.approx([0.05, 0.15, natural, 0.4, 0.5, 0.65, 0.8])
    assert [label for label, r in rows.items() if r.get("natural")] == ["static", "static-uniform-natural"]
    assert rows["static"]["options"] == {} and rows["static"]["kind"] == "natural"  # the main job's run
    assert rows["static-tokens-0.05"]["options"] == {"target_ratio": 0.05}
    assert rows["static-uniform-0.4"]["options"] == {"init_weights": "uniform", "target_ratio": 0.4}
    by_tokens = [0.1, 0.3, 0.6, 0.25, 0.75]  # each field's domains by their train tokens
    for label, row in rows.items():
        w = start_weights(corpus, row)
        assert row["role"] == "static" and row["mixer"] == "static" and not row["primary"]
        assert w[3:].sum() == pytest.approx(row["target_share"]), label
        within = np.concatenate([w[:3] / w[:3].sum(), w[3:] / w[3:].sum()])
        assert within == pytest.approx(by_tokens if row["split"] == "tokens" else [1 / 3] * 3 + [0.5] * 2), label
    np.testing.assert_allclose(start_weights(corpus, rows["static-uniform-0.4"]), [0.2] * 5)  # uniform over all
    corpus = FakeCorpus(3)
    corpus.train_tokens = np.array([100.0, 100.0, 400.0])  # natural 2/3; uniform over all, 1/3, is no grid point
    rows = suite_module.suite_rows(spec, [], spec["sweep"], [], corpus, oracle_shares=[])
    assert len(rows) == 15 and rows["static-uniform-all"]["split"] == "uniform"
    np.testing.assert_allclose(start_weights(corpus, rows["static-uniform-all"]), [1 / 3] * 3)


def test_every_row_whose_weights_move_has_a_static_twin_with_its_role_in_the_family():
    spec = suite_module.SUITES["default"]
    rows = suite_module.suite_rows(spec, suite_module.suite_mixers(spec), [0.5], list(spec["schedules"]), grid_corpus())
    moving = [label for label, r in rows.items() if r["role"] in ("schedule", "mixer", "variant", "control", "oracle")]
    assert len(moving) == 23 and sorted(label for label, r in rows.items() if r["role"] == "twin") == \
        sorted(f"{label}-twin" for label in moving)
    for label in moving:
        twin = rows[f"{label}-twin"]
        assert twin["twin_of"] == label and twin["mixer"] == "static" and twin["options"] == {}
        assert (twin["primary"], twin["seeds_wanted"]) == (rows[label]["primary"], rows[label]["seeds_wanted"])
        assert list(rows).index(f"{label}-twin") == list(rows).index(label) + 1
    defaults = ["bandit", "dbl", "velocity", "acodm", "regmix", "agent"]
    primary = sorted(label for label, r in rows.items() if r["primary"])
    assert primary == sorted(defaults + [f"{m}-twin" for m in defaults])
    assert {r["seeds_wanted"] for r in rows.values() if r["primary"]} == {spec["primary_seeds"]} and \
        spec["primary_seeds"] > spec["seeds"]
    exploratory = [r["seeds_wanted"] for label, r in rows.items()
                   if not r["primary"] and r["role"] != "static" and "oracle" not in (label, r.get("twin_of"))]
    assert set(exploratory) == {spec["seeds"]} and rows["oracle"]["seeds_wanted"] == rows["oracle-twin"]["seeds_wanted"] == \
        spec["primary_seeds"]


def test_the_seed_plan_gives_the_grid_seeds_by_validation_distance_from_the_best_and_caps_every_row():
    default = suite_module.SUITES["default"]  # its seed counts set here, whatever the suite's
    spec = {**default, "seeds": 3, "primary_seeds": 8, "grid_seeds": {**default["grid_seeds"], "near_seeds": 8}}
    rows = suite_module.suite_rows(spec, ["velocity"], [0.05, 0.15, 0.4, 0.5], ["ramp_up"], grid_corpus(), ["tokens"])
    objectives = {"static": [2.31, 2.29],  # the best: mean 2.30
                  "static-tokens-0.05": [2.309],  # within 0.01: the primary rows' 8 seeds
                  "static-tokens-0.15": [2.28, 2.40],  # mean 2.34, 0.04 above (its first seed alone would be best)
                  "static-tokens-0.4": [2.3501]}  # more than 0.05 above: stays at 1; 0.5 has no finished run yet
    plan = suite_module.seed_plan(rows, objectives, spec)
    assert plan == {"static": 8, "static-tokens-0.05": 8, "static-tokens-0.15": 3, "static-tokens-0.4": 1,
                    "static-tokens-0.5": 1, "velocity": 8, "velocity-twin": 8, "velocity-hold_flagged": 3,
                    "velocity-hold_flagged-twin": 3, "schedule-ramp_up": 3, "schedule-ramp_up-twin": 3,
                    "oracle": 8, "oracle-twin": 8}  # the oracle's: the primary rows' seeds, to pair with them
    assert suite_module.seed_plan(rows, objectives, spec, cap=2) == {label: min(n, 2) for label, n in plan.items()}
    jobs = suite_module.job_order(rows, plan, list(range(1, 9)))
    grid = list(rows)[:5]
    assert jobs[:5] == [(label, 1) for label in grid]  # the grid's first seed, then the primary rows and the
    assert jobs[5:37] == [(label, s) for s in range(1, 9)  # oracle's, seed by seed
                          for label in ("velocity", "velocity-twin", "oracle", "oracle-twin")]
    assert jobs[37:53] == [(label, s) for s in (2, 3) for label in grid[:3]] + [(label, s) for s in range(4, 9)
                                                                                 for label in grid[:2]]
    others = ("schedule-ramp_up", "schedule-ramp_up-twin", "velocity-hold_flagged", "velocity-hold_flagged-twin")
    assert jobs[53:] == [(label, s) for s in (1, 2, 3) for label in others]


def test_the_grid_seeds_are_decided_on_validation_and_each_seed_continues_a_base_of_its_own(tiny_args, monkeypatch):
    """A planted case: the grid point best on the test split is more than 0.05 above the best on validation
    (the runs' logs say so, every seed's), so it keeps one seed while the two points close on validation get
    three (--seeds 3); a plan made on test would give the test's best the seeds."""
    statics = ["static", "static-tokens-0.1", "static-tokens-0.9"]
    suite(tiny_args, "--sweep", "0.1,0.9", "--mixers", "none")
    best_on_test = min(statics, key=lambda label: balanced(tiny_args, label, 1337))
    close = [label for label in statics if label != best_on_test]
    planted = {close[0]: 2.0, close[1]: 2.005, best_on_test: 2.2}  # validation objectives, every seed
    for label in statics:
        rewrite_val_loss(os.path.join(suite_dir_of(tiny_args), f"{label}-s1337"), -1, [planted[label]] * 3)
    real_run = train.run

    def run_and_plant(cfg):
        name = os.path.basename(real_run(cfg)["run_dir"])
        rewrite_val_loss(os.path.join(suite_dir_of(tiny_args), name), -1, [planted[name.rsplit("-s", 1)[0]]] * 3)

    monkeypatch.setattr(train, "run", run_and_plant)
    summary = suite(tiny_args, "--sweep", "0.1,0.9", "--mixers", "none", "--seeds", "3")
    assert {label: sorted(r["runs"]) for label, r in summary["rows"].items()} == \
        {close[0]: ["1337", "1338", "1339"], close[1]: ["1337", "1338", "1339"], best_on_test: ["1337"]}
    assert summary["best_static"] == close[0] and summary["rows"][best_on_test]["seeds_wanted"] == 1
    assert summary["base_seeds"] == {"1337": 0, "1338": 1, "1339": 2}  # --base_seed 0 + (seed - 1337)
    assert [report.load_result(os.path.join(suite_dir_of(tiny_args), f"{close[1]}-s{s}"))["config"]["base_seed"]
            for s in (1337, 1338, 1339)] == [0, 1, 2]
    out_dir = tiny_args[tiny_args.index("--out_dir") + 1]
    assert len([d for d in os.listdir(out_dir) if d.startswith("base-")]) == 3  # one base per seed
    monkeypatch.setattr(train, "run", lambda cfg: pytest.fail(f"{cfg['run_name']} run again"))
    again = suite(tiny_args, "--sweep", "0.1,0.9", "--mixers", "none", "--seeds", "3")  # the same plan, all reused
    assert {label: sorted(r["runs"]) for label, r in again["rows"].items()} == \
        {label: sorted(r["runs"]) for label, r in summary["rows"].items()}


def test_each_twin_trains_at_the_mixture_its_row_sampled_in_the_same_seed(tiny_args, monkeypatch):
    """AC-ODM forces rows of every domain, so what its runs sampled is not what their weights say; each twin
    starts from the rows its own seed's run sampled, and --seeds 2 caps the primary rows' eight seeds."""
    monkeypatch.setitem(suite_module.SUITES["default"], "variants", {})
    monkeypatch.setitem(suite_module.SUITES["default"], "controls", {})
    summary = suite(tiny_args, "--mixers", "acodm", "--seeds", "2")
    assert list(summary["rows"]) == ["static", "acodm", "acodm-twin"] and summary["seeds"] == [1337, 1338]
    suite_dir = suite_dir_of(tiny_args)
    assert sorted(d for d in os.listdir(suite_dir) if d.startswith("acodm")) == \
        ["acodm-s1337", "acodm-s1338", "acodm-twin-s1337", "acodm-twin-s1338"]
    for s in (1337, 1338):
        run_dir = os.path.join(suite_dir, f"acodm-s{s}")
        config = report.load_result(os.path.join(suite_dir, f"acodm-twin-s{s}"))["config"]
        assert config["mixer"] == "static" and config["weights_from"] == run_dir and config["seed"] == s
        steps = [r for r in report.read_log(run_dir) if "rows" in r]
        sampled = np.sum([r["rows"] for r in steps], axis=0) / np.sum([r["rows"] for r in steps])
        logged = np.mean([r["weights"] for r in steps], axis=0)
        assert np.abs(sampled - logged).max() > 0.01  # the forced rows: the two differ
        twin_weights = report.read_log(os.path.join(suite_dir, f"acodm-twin-s{s}"))[-1]["weights"]
        np.testing.assert_allclose(twin_weights, sampled, atol=1e-6)
    assert summary["rows"]["acodm-twin"]["twin_of"] == "acodm" and summary["rows"]["acodm-twin"]["primary"]


def test_dbl_and_velocity_rows_publish_every_domains_targets_and_dbl_code_runs_the_code(tiny_args, tmp_path,
                                                                                       monkeypatch):
    monkeypatch.setitem(suite_module.SUITES["default"], "variants", {"dbl": ["code"]})  # the rows checked here
    publish = str(tmp_path / "benchmark")
    summary = suite(tiny_args, "--mixers", "dbl,velocity", "--publish", publish)
    assert list(summary["rows"]) == ["static", "dbl", "dbl-twin", "dbl-code", "dbl-code-twin", "velocity",
                                     "velocity-twin"]
    suite_dir = suite_dir_of(tiny_args)
    assert report.load_result(os.path.join(suite_dir, "dbl-code-s1337"))["config"]["dbl_variant"] == "code"
    assert report.load_result(os.path.join(suite_dir, "dbl-s1337"))["config"]["dbl_variant"] == "paper"
    state = report.read_log(os.path.join(suite_dir, "dbl-code-s1337"))[-1]["mixer_state"]
    base = report.read_log(os.path.join(suite_dir, "static-s1337"))[0]["val_loss"]  # the base, evaluated at step 0
    with open(os.path.join(publish, "results.json")) as f:
        results = json.load(f)
    published = {r["mixer"]: r for r in results["rows"]}
    assert [published[label].get("paper_default") for label in ("dbl", "dbl-code", "velocity")] == [True, None, True]
    assert published["dbl-code"]["variant_of"] == "dbl" and published["static"]["role"] == "static"
    domains = summary["domains"]
    assert set(results["velocity_target_error_nats"]) == set(domains) == {"prose", "code", "arith"}
    for label in ("dbl", "dbl-code", "velocity"):
        targets = published[label]["loss_targets"]
        assert list(targets) == domains  # every domain, not only the target field's
        for k, d in enumerate(domains):
            assert targets[d]["L_tgt"] == pytest.approx(state["targets"][k])  # one estimate, shared
            assert targets[d]["L_init"] == pytest.approx(base[k], abs=1e-5)  # the base's validation loss
            assert targets[d]["gap"] == pytest.approx(abs(targets[d]["L_init"] - targets[d]["L_tgt"]))
            assert targets[d]["fit_flags"] == {"1337": state["fit_flags"][k]}
    estimates = [d for d in os.listdir(tiny_args[tiny_args.index("--out_dir") + 1]) if d.startswith("estimate-")]
    assert len(estimates) == 1  # one estimation, used by the three rows' runs
    with open(os.path.join(tiny_args[tiny_args.index("--out_dir") + 1], estimates[0], "targets.json")) as f:
        estimate_seconds = json.load(f)["estimate_seconds"]
    runs = [report.load_result(os.path.join(suite_dir, f"{label}-s1337"))["run"] for label in summary["rows"]]
    assert sum(run.get("estimate_seconds") == estimate_seconds for run in runs) == 3  # each run records it
    with open(os.path.join(publish, "calibration.json")) as f:
        wall = json.load(f)["wall_s"]
    assert wall["target_estimations"] == 1 and wall["target_estimates"] == estimate_seconds > 0  # counted once
    assert wall["suite"] == pytest.approx(sum(run["wall_seconds"] for run in runs) + estimate_seconds)


@pytest.mark.slow
def test_suite_tunes_the_agent_on_the_proxy_and_runs_its_variants(tiny_args, monkeypatch):
    small = {"bc_steps": 3, "cql_steps": 3, "width": 16, "heads": 2, "history": 2, "batch_size": 8}
    proxy = {**suite_module.SUITES["default"]["proxy"], "tuning_seeds": [7],
             "agent_grid": [small, {**small, "cql_alpha": 5.0}]}
    monkeypatch.setitem(suite_module.SUITES["default"], "proxy", proxy)
    monkeypatch.setattr("experiments.proxy.BEST_RERUN_SEEDS", [17, 18])
    summary = suite(tiny_args + ["--mix_interval", "5"], "--mixers", "agent", "--collect", "4")
    proxy_dir = os.path.join(suite_dir_of(tiny_args), "proxy")
    with open(os.path.join(proxy_dir, "tuning", "tuning.json")) as f:
        tuning = json.load(f)
    objectives = [row["val_objective"] for row in tuning["grid"]]
    assert tuning["chosen"] == tuning["grid"][objectives.index(min(objectives))]["options"]
    assert [label for label in summary["rows"] if not label.endswith("-twin")] == \
        ["static", "agent", "agent-clone", "agent-undiscounted", "agent-untrained"]
    undiscounted = summary["rows"]["agent-undiscounted"]
    assert undiscounted["role"] == "variant" and undiscounted["variant_of"] == "agent"
    assert torch.load(os.path.join(proxy_dir, "agent-undiscounted.pt"), weights_only=True)["options"]["gamma"] == 1.0
    saved = torch.load(os.path.join(proxy_dir, "agent-clone.pt"), weights_only=True)
    assert saved["options"]["cql_steps"] == 0 and saved["options"]["cql_alpha"] == tuning["chosen"].get("cql_alpha", 1.0)
    assert saved["trained_on"]["trajectories"] == 3 and len(saved["trained_on"]["held_out"]) == 1  # 4 x 0.25
    assert summary["rows"]["agent"]["proxy_seconds"] > summary["rows"]["agent-untrained"]["proxy_seconds"] > 0
    twins = summary["proxy_trajectory_twins"]  # each trajectory beside a static run at the mixture it realised
    assert twins["count"] == 4 and len(twins["deltas"]) == 4 and twins["best"]["delta"] == min(twins["deltas"])
    for index, delta in enumerate(twins["deltas"]):
        arrays, meta = trajectories.TrajectoryBuffer(os.path.join(proxy_dir, "trajectories")).load(index)
        twin = os.path.join(proxy_dir, "twins", f"twin-{index:05d}")
        fields = meta["fields"]
        own = objective(*evaluate.field_losses(arrays["val_loss"][-1], fields))
        assert delta == pytest.approx(own - report.final_val_objective(twin, fields))
        realised = np.asarray(arrays["tokens_per_domain"]) / np.sum(arrays["tokens_per_domain"])
        with open(os.path.join(twin, "eval.json")) as f:
            tokens = np.asarray(json.load(f)["run"]["tokens_per_domain"], dtype=float)
        assert np.abs(tokens / tokens.sum() - realised).max() < 0.15  # the twin samples that mixture
    rerun = twins["best"]["rerun"]  # the best one's schedule again on fresh seeds, each beside its own twin
    assert rerun["seeds"] == [17, 18] and set(rerun["replay"]) == set(rerun["twin"]) == {"17", "18"}
    assert rerun["delta"]["mean"] == pytest.approx(np.mean([rerun["replay"][s] - rerun["twin"][s]
                                                            for s in ("17", "18")]))
    best, _ = trajectories.TrajectoryBuffer(os.path.join(proxy_dir, "trajectories")).load(twins["best"]["index"])
    for seed in (17, 18):
        run_dir = os.path.join(proxy_dir, "twins", "best", f"replay-s{seed}")
        logged = {r["step"]: r["weights"] for r in report.read_log(run_dir) if "weights" in r}
        actions = [logged[k * 5 + 1] for k in range(len(best["weights"]))]  # each interval's first step (--mix_interval 5)
        np.testing.assert_allclose(actions, best["weights"] / best["weights"].sum(axis=1, keepdims=True), atol=1e-6)
        assert rerun["replay"][str(seed)] == pytest.approx(report.final_val_objective(run_dir, fields))


def fake_suite(folder, labels, outlier):
    """A suite summary and run logs made up for the plots: 2 domains, the static sweep on a line, every label a
    mixer row near it except `outlier`, far below (the shape that used to stretch the frontier's axes)."""
    metrics = ["balanced_loss", "source_loss", "target_loss", "forgetting", "gain", "task_accuracy", "target_share",
               "target_epochs", "wall_seconds"]
    rows, run_dirs = {}, {}
    sweep = {"static": 0.3, "static-0.1": 0.1, "static-0.8": 0.8}
    for i, label in enumerate(list(sweep) + labels):
        share = sweep.get(label, 0.3 + 0.01 * i)
        forgetting, gain = (0.5, -2.0) if label == outlier else (share - 0.2 + 0.01 * i, 1 + share + 0.02 * i)
        run_dir = os.path.join(folder, label)
        os.makedirs(run_dir)
        with open(os.path.join(run_dir, "log.jsonl"), "w") as f:
            for step in range(0, 21, 10):
                f.write(json.dumps({"step": step, "tokens": 100 * step, "weights": [1 - share, share],
                                    "val_loss": [3 + forgetting * step / 20, 3 - gain * step / 20]}) + "\n")
        stats = {key: {"mean": 0.0, "spread": 0.0} for key in metrics}
        stats.update(forgetting={"mean": forgetting, "spread": 0.0}, gain={"mean": gain, "spread": 0.0},
                     target_share={"mean": share, "spread": 0.0})
        rows[label] = {"kind": ("natural" if label == "static" else "sweep") if label in sweep else "mixer",
                       "runs": {"1": {"forgetting": forgetting, "gain": gain}}, "stats": stats, "proxy_seconds": None,
                       "estimate_seconds": None, "delta_natural": None, "delta_best_static": None}
        run_dirs[label] = {1: run_dir}
    summary = {"seeds": [1], "best_static": "static", "domains": ["web", "math"], "fields": ["source", "target"],
               "rows": rows}
    return summary, run_dirs


def test_plots_give_every_row_its_own_style_zoom_on_the_frontier_and_keep_titles_apart(tmp_path, monkeypatch):
    import matplotlib.pyplot as plt
    figures, close = [], plt.close
    monkeypatch.setattr(plt, "close", figures.append)  # keep the figures to read them back
    labels = ["bandit", "dbl", "velocity", "acodm", "agent", "agent-clone", "agent-untrained", "regmix", "random",
              "schedule-ramp_up", "schedule-ramp_down"]
    summary, run_dirs = fake_suite(str(tmp_path / "runs"), labels, outlier="velocity")
    report.write_suite_outputs(summary, run_dirs, str(tmp_path / "results"))
    weights, val_loss, balanced_fig, frontier, compute = figures
    assert not compute.axes[0].collections  # rows made up without compute_seconds: nothing to place
    for fig in (val_loss, balanced_fig):  # 12 series (11 rows and static): no two share colour and line style
        for ax in [ax for ax in fig.axes if ax.get_lines()]:
            styles = [(line.get_color(), line.get_linestyle()) for line in ax.get_lines()]
            assert len(styles) == len(labels) + 1 == len(set(styles)), styles
    ax = frontier.axes[0]
    (x0, x1), (y0, y1) = ax.get_xlim(), ax.get_ylim()
    assert y0 > -1 and y1 - y0 < 2  # zoomed on the sweep (gains 1.1-1.8), not stretched down to the outlier's -2
    marked = [t.get_text() for t in ax.texts if t.get_text().startswith("velocity")]
    assert marked == ["velocity: +0.50, -2.00"]  # the outlier at the edge, with its values
    edge = [c for c in ax.collections if "velocity" in str(c.get_label())][0].get_offsets()[0]
    assert x0 <= edge[0] <= x1 and edge[1] == pytest.approx(y0)
    weights.canvas.draw()
    boxes = [ax.title.get_window_extent() for ax in weights.axes if ax.get_title()]
    assert len(boxes) == len(labels) + 1
    assert not any(a.overlaps(b) for i, a in enumerate(boxes) for b in boxes[i + 1:])
    for fig in figures:
        close(fig)
