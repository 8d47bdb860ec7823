"""The suite on the tiny corpus: end to end with 2 mixers and 1 seed, resume after an interruption, a
failing run reported while the others go on, the table agrees with the JSON, the plots are written."""

import json
import os

import pytest

import evaluate
import suite as suite_module
import train


def suite(tiny_args, *extra):
    return suite_module.main(["--suite", "default", "--seeds", "1", *extra, "--"] + tiny_args)


def table_rows(path):
    with open(path) as f:
        lines = [line for line in f if line.startswith("| ") and not line.startswith("| mixer")]
    return {cells[0]: cells[1:] for cells in ([c.strip() for c in line.strip().strip("|").split("|")] for line in lines)}


def test_suite_end_to_end_then_resume_after_an_interruption(tiny_args, monkeypatch, capsys):
    real_run = train.run

    def interrupt_the_bandit_run(cfg):
        if cfg["mixer"] == "bandit":
            raise KeyboardInterrupt("interrupted")
        return real_run(cfg)

    monkeypatch.setattr(train, "run", interrupt_the_bandit_run)
    with pytest.raises(KeyboardInterrupt):
        suite(tiny_args, "--mixers", "static,bandit")
    monkeypatch.setattr(train, "run", real_run)
    out_dir = tiny_args[tiny_args.index("--out_dir") + 1]
    suite_dir = os.path.join(out_dir, "suite-default")
    static_eval = os.path.join(suite_dir, "static-s1337", "eval.json")
    finished_at = os.path.getmtime(static_eval)
    capsys.readouterr()

    summary = suite(tiny_args, "--mixers", "static,bandit")
    out = capsys.readouterr().out
    assert "static seed 1337: finished before, reused" in out and os.path.getmtime(static_eval) == finished_at
    assert list(summary["mixers"]) == ["static", "bandit"] and summary["seeds"] == [1337]

    results = os.path.join(suite_dir, "results")
    with open(os.path.join(results, "results.json")) as f:
        saved = json.load(f)
    rows = table_rows(os.path.join(results, "results.md"))
    assert set(rows) == {"static", "bandit"}
    metrics = [key for _, key in evaluate.COLUMNS if key != "task_logprob"]
    for mixer, cells in rows.items():
        stats = saved["mixers"][mixer]["stats"]
        for cell, key in zip(cells, metrics):
            assert cell == f"{evaluate.fmt(stats[key]['mean'])} ± {evaluate.fmt(stats[key]['spread'])}", key
        with open(os.path.join(suite_dir, f"{mixer}-s1337", "eval.json")) as f:
            assert json.load(f)["summary"]["balanced_loss"] == stats["balanced_loss"]["mean"]
    for name in ("weights.png", "val_loss.png", "balanced.png", "tradeoff.png"):
        with open(os.path.join(results, name), "rb") as f:
            data = f.read()
        assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 2000, name


def test_a_failing_run_is_reported_by_name_and_the_suite_goes_on(tiny_args, monkeypatch, capsys):
    real_run = train.run

    def fail_the_static_run(cfg):
        if cfg["mixer"] == "static":
            raise RuntimeError("a bug in one run")
        return real_run(cfg)

    monkeypatch.setattr(train, "run", fail_the_static_run)
    with pytest.raises(SystemExit) as exit_info:
        suite(tiny_args, "--mixers", "static,bandit")
    assert "1 run(s) failed: static seed 1337" in str(exit_info.value.code)
    out = capsys.readouterr().out
    assert "static seed 1337 FAILED: RuntimeError: a bug in one run" in out
    out_dir = tiny_args[tiny_args.index("--out_dir") + 1]
    with open(os.path.join(out_dir, "suite-default", "results", "results.json")) as f:
        saved = json.load(f)
    assert list(saved["mixers"]) == ["bandit"] and saved["failed"] == ["static seed 1337"]


def test_suite_collects_trajectories_for_regmix_and_reports_their_cost(tiny_args):
    summary = suite(tiny_args + ["--mix_interval", "5"], "--mixers", "regmix", "--collect", "5")
    out_dir = tiny_args[tiny_args.index("--out_dir") + 1]
    assert len(os.listdir(os.path.join(out_dir, "suite-default", "trajectories"))) == 5
    assert summary["mixers"]["regmix"]["proxy_seconds"] > 0


def test_suite_refuses_unknown_mixers(tiny_args):
    with pytest.raises(SystemExit, match="unknown"):
        suite(tiny_args, "--mixers", "static,nonsense")
