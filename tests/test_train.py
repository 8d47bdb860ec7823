"""The training loop and its CLI: determinism, exact resume, the end-to-end pipeline and bad inputs."""

import json
import os
import subprocess
import sys
import time

import pytest
import torch

from experiments import bench
import data
import evaluate
import model
import options
import train
from conftest import mixer_cli, read_by
from data import Corpus

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def read_log(run_dir):
    with open(os.path.join(run_dir, "log.jsonl")) as f:
        return [json.loads(line) for line in f]


def run_dir_of(args, name):
    return os.path.join(args[args.index("--out_dir") + 1], name)


def test_same_seed_gives_same_batches_and_losses(tiny_args):
    train.main(tiny_args + ["--run_name", "a"])
    train.main(tiny_args + ["--run_name", "b"])
    log_a, log_b = read_log(run_dir_of(tiny_args, "a")), read_log(run_dir_of(tiny_args, "b"))
    assert [r.get("train_loss") for r in log_a] == [r.get("train_loss") for r in log_b]
    assert [r.get("val_loss") for r in log_a] == [r.get("val_loss") for r in log_b]
    train.main(tiny_args + ["--run_name", "c", "--seed", "7"])
    assert [r.get("train_loss") for r in read_log(run_dir_of(tiny_args, "c"))] != [r.get("train_loss") for r in log_a]


def test_base_model_is_cached_and_reused(tiny_args, capsys):
    train.main(tiny_args + ["--run_name", "first"])
    assert "pre-training a base GPT" in capsys.readouterr().out
    train.main(tiny_args + ["--run_name", "second"])
    assert "reusing the base model" in capsys.readouterr().out
    train.main(tiny_args + ["--run_name", "third", "--base_steps", "8"])  # another base config: a new base
    assert "pre-training a base GPT" in capsys.readouterr().out


@pytest.mark.slow
def test_cli_end_to_end_base_cpt_evaluate_and_plot(tiny_args, tmp_path):
    result = subprocess.run([sys.executable, "train.py"] + tiny_args + ["--target_ratio", "0.6"], cwd=ROOT,
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    for header in ["== 1/4 corpus", "== 2/4 base model", "== 3/4 continual pre-training", "== 4/4 evaluation"]:
        assert header in result.stdout
    assert "forgetting" in result.stdout and "target task (10 problems)" in result.stdout
    run_dir = run_dir_of(tiny_args, "cpt-static-tiny-target_ratio-0.6")  # the corpus and the option in its name
    with open(os.path.join(run_dir, "eval.json")) as f:
        result_json = json.load(f)
    assert result_json["summary"]["gain"] > 0  # the target loss went down
    assert result_json["run"]["tokens_per_domain"][2] > 0
    report = subprocess.run([sys.executable, "evaluate.py", run_dir, run_dir, "--plot", "--plot_dir",
                             str(tmp_path / "plots")], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert report.returncode == 0, report.stderr
    assert report.stdout.startswith("| run | mixer | differs in | steps | target share | source loss")
    for png in ["weights.png", "val_loss.png", "compare.png"]:
        assert os.path.getsize(tmp_path / "plots" / png) > 1000


def interrupted(run_dir):
    """A finished run made to look interrupted at its last checkpoint (its eval.json gone), so it can resume."""
    os.remove(os.path.join(run_dir, "eval.json"))


def test_resume_with_other_options_is_refused(tiny_args):
    interrupted(train.main(tiny_args + ["--run_name", "r"])["run_dir"])
    with pytest.raises(SystemExit) as exit_info:
        train.main(tiny_args + ["--run_name", "r", "--resume", "--lr", "0.01"])
    assert "written with other options: lr=" in str(exit_info.value.code)
    # another mixer's options do not block a resume, and an option added since the checkpoint was written
    # counts as its default
    ckpt_path = os.path.join(run_dir_of(tiny_args, "r"), "ckpt.pt")
    ckpt = torch.load(ckpt_path, weights_only=True)
    ckpt["config"]["acodm_noise"] = 0.5
    del ckpt["config"]["base_mixer"]
    torch.save(ckpt, ckpt_path)
    interrupted(train.main(tiny_args + ["--run_name", "r", "--resume"])["run_dir"])
    del ckpt["config"]["init_weights"]  # an option of this mixer added since: its rule may have changed
    torch.save(ckpt, ckpt_path)
    with pytest.raises(SystemExit) as exit_info:
        train.main(tiny_args + ["--run_name", "r", "--resume"])
    assert "before --init_weights existed" in str(exit_info.value.code)


def test_nan_loss_stops_with_step_and_domains_and_keeps_the_last_checkpoint(tiny_args, monkeypatch):
    original = model.GPT.forward
    calls = {"training": 0}

    def poisoned(self, idx, targets=None, per_row=False):
        logits, loss = original(self, idx, targets, per_row)
        if per_row and self.training:
            calls["training"] += 1
            if calls["training"] > 7:  # the 8th training step (index 7) goes NaN
                loss = loss * float("nan")
        return logits, loss

    train.main(tiny_args + ["--run_name", "ok"])  # the base exists before the poison
    monkeypatch.setattr(model.GPT, "forward", poisoned)
    with pytest.raises(SystemExit) as exit_info:
        train.main(tiny_args + ["--run_name", "nan"])
    message = str(exit_info.value.code)
    assert "became nan at step 7" in message and "batch domains ['prose', 'code', 'arith']" in message
    ckpt = torch.load(os.path.join(run_dir_of(tiny_args, "nan"), "ckpt.pt"), weights_only=True)
    assert ckpt["step"] == 5 and all(torch.isfinite(p).all() for p in ckpt["model"].values())


def test_cpu_preset_file_matches_the_defaults():
    preset = options.load_preset(os.path.join(ROOT, "config", "cpu.py"))
    assert preset and all(options.OPTIONS[k][0] == v for k, v in preset.items())
    gpu = options.load_preset(os.path.join(ROOT, "config", "gpu.py"))
    assert gpu["n_layer"] == 12 and gpu["n_embd"] == 768


def test_bench_runs_every_mixer_and_prints_ratios(tiny_args, capsys):
    bench.main(tiny_args + ["--steps", "1", "--rounds", "1"])
    out = capsys.readouterr().out
    assert "(a) training:" in out and "(c) sampler:" in out and "(d) data preparation:" in out
    for name in sorted(options.MIXERS):
        assert f"| {name} |" in out
    assert "| acodm (frozen) |" in out


def test_compiled_training_matches_eager_and_keeps_acodm_gradient_reward(tiny_args):
    """torch.compile on CPU (the GPU preset compiles): same losses as eager within float tolerance, and AC-ODM's
    per-domain gradients, recorded inside the compiled model's backward, still give it a reward."""
    args = tiny_args + ["--mixer", "acodm", "--steps", "4", "--acodm_batch", "2", "--eval_interval", "4"]
    logs = {}
    for name, extra in (("eager", []), ("compiled", ["--compile"])):
        run = train.main(args + ["--run_name", name] + extra)
        logs[name] = [r for r in read_log(run["run_dir"]) if "train_loss" in r]
    for eager, compiled in zip(logs["eager"], logs["compiled"]):
        assert compiled["train_loss"] == pytest.approx(eager["train_loss"], rel=1e-4)
        assert compiled["weights"] == pytest.approx(eager["weights"], rel=1e-4)
        assert "reward" in compiled["mixer_state"] and compiled["mixer_state"]["reward"] == \
            pytest.approx(eager["mixer_state"]["reward"], rel=1e-3)


def test_a_second_run_on_a_folder_in_use_is_refused_and_a_killed_runs_lock_is_recovered(tiny_args):
    train.main(tiny_args + ["--run_name", "first"])  # the base exists before the race
    busy = run_dir_of(tiny_args, "busy")
    process = subprocess.Popen([sys.executable, "train.py"] + tiny_args + ["--steps", "100000", "--run_name", "busy"],
                               cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        while not os.path.exists(os.path.join(busy, "log.jsonl")):
            assert process.poll() is None, "the first run ended early"
            time.sleep(0.01)
        with pytest.raises(SystemExit, match=f"in use by another process \\(pid {process.pid}\\)"):
            train.main(tiny_args + ["--run_name", "busy"])
        assert os.path.exists(os.path.join(busy, "log.jsonl"))  # the refused run touched nothing
    finally:
        process.kill()
        process.wait()
    train.main(tiny_args + ["--run_name", "busy"])  # the killed run's lock went with it
    assert os.path.exists(os.path.join(busy, "eval.json"))


@pytest.mark.parametrize("mixer_name", sorted(options.MIXERS))
def test_nothing_but_the_final_report_reads_the_test_split(tiny_args, tiny_corpus_dir, tmp_path, monkeypatch,
                                                          mixer_name):
    """Mixers, the target estimation and the agent's feedback read train and val only: every read of a
    test.bin file or of the task's test problems happens inside evaluate.full_evaluation, the report."""
    reads, reporting = [], {"now": False}
    real_read, real_report, real_task = data.read_tokens, evaluate.full_evaluation, data.Corpus.task

    def spy_read(path, *args):
        reads.append((os.path.basename(path), reporting["now"]))
        return real_read(path, *args)

    def spy_report(*args, **kwargs):
        reporting["now"] = True
        try:
            return real_report(*args, **kwargs)
        finally:
            reporting["now"] = False

    def spy_task(self, split):
        reads.append((f"task {split}", reporting["now"]))
        return real_task(self, split)

    monkeypatch.setattr(data, "read_tokens", spy_read)
    monkeypatch.setattr(evaluate, "read_tokens", spy_read)
    monkeypatch.setattr(evaluate, "full_evaluation", spy_report)
    monkeypatch.setattr(data.Corpus, "task", spy_task)
    args = tiny_args + ["--mixer", mixer_name] + read_by(mixer_name, mix_interval=5) \
        + mixer_cli(mixer_name, Corpus(tiny_corpus_dir), str(tmp_path))
    train.main(args)
    test_reads = [in_report for name, in_report in reads if name in ("test.bin", "task test")]
    assert test_reads and all(test_reads), reads
    assert any(name == "task dev" and not in_report for name, in_report in reads)  # the dev problems are read
