"""The training loop and its CLI: determinism, exact resume, the end-to-end pipeline and bad inputs."""

import json
import os
import subprocess
import sys

import pytest
import torch

import mixer as mixer_module
import train
from conftest import mixer_cli, same
from mixer import Corpus

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


@pytest.mark.parametrize("mixer_name", sorted(mixer_module.MIXERS))
def test_resume_after_a_crash_matches_an_uninterrupted_run(tiny_args, tiny_corpus_dir, tmp_path, monkeypatch,
                                                           mixer_name):
    args = tiny_args + ["--mixer", mixer_name, "--target_ratio", "0.5", "--mix_interval", "2", "--warmup_share", "0.1"]
    args += mixer_cli(mixer_name, Corpus(tiny_corpus_dir), str(tmp_path))
    train.main(args + ["--run_name", "whole"])
    mixer_class = mixer_module.MIXERS[mixer_name]
    original = mixer_class.observe_step

    def crash_at_step_7(self, step, stats):
        if step == 7:
            raise RuntimeError("simulated crash")
        return original(self, step, stats)

    monkeypatch.setattr(mixer_class, "observe_step", crash_at_step_7)
    with pytest.raises(RuntimeError, match="simulated crash"):
        train.main(args + ["--run_name", "cut"])
    monkeypatch.setattr(mixer_class, "observe_step", original)
    assert torch.load(os.path.join(run_dir_of(tiny_args, "cut"), "ckpt.pt"), weights_only=True)["step"] == 5
    train.main(args + ["--run_name", "cut", "--resume"])

    whole = torch.load(os.path.join(run_dir_of(tiny_args, "whole"), "ckpt.pt"), weights_only=True)
    cut = torch.load(os.path.join(run_dir_of(tiny_args, "cut"), "ckpt.pt"), weights_only=True)
    for name, tensor in whole["model"].items():
        assert torch.equal(tensor, cut["model"][name]), name
    assert same(whole["sampler"], cut["sampler"]) and same(whole["mixer"], cut["mixer"])
    log_whole, log_cut = read_log(run_dir_of(tiny_args, "whole")), read_log(run_dir_of(tiny_args, "cut"))
    assert [r["step"] for r in log_cut] == list(range(0, 11))
    assert [r.get("train_loss") for r in log_whole] == [r.get("train_loss") for r in log_cut]
    assert [r.get("weights") for r in log_whole] == [r.get("weights") for r in log_cut]
    if mixer_name not in ("static", "regmix"):  # the dynamic mixers moved away from their initial weights
        assert log_whole[-1]["weights"] != log_whole[1]["weights"], mixer_name
    with open(os.path.join(run_dir_of(tiny_args, "whole"), "eval.json")) as f:
        final_whole = json.load(f)["final"]["val_loss"]
    with open(os.path.join(run_dir_of(tiny_args, "cut"), "eval.json")) as f:
        final_cut = json.load(f)["final"]["val_loss"]
    assert final_whole == final_cut


def test_base_model_is_cached_and_reused(tiny_args, capsys):
    train.main(tiny_args + ["--run_name", "first"])
    assert "pre-training a base GPT" in capsys.readouterr().out
    train.main(tiny_args + ["--run_name", "second"])
    assert "reusing the base model" in capsys.readouterr().out
    train.main(tiny_args + ["--run_name", "third", "--base_steps", "8"])  # another base config: a new base
    assert "pre-training a base GPT" in capsys.readouterr().out


def test_cli_end_to_end_base_cpt_evaluate_and_plot(tiny_args, tmp_path):
    result = subprocess.run([sys.executable, "train.py"] + tiny_args + ["--target_ratio", "0.6"], cwd=ROOT,
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    for header in ["== 1/4 corpus", "== 2/4 base model", "== 3/4 continual pre-training", "== 4/4 evaluation"]:
        assert header in result.stdout
    assert "forgetting" in result.stdout and "target task (10 problems)" in result.stdout
    run_dir = run_dir_of(tiny_args, "cpt-static")
    with open(os.path.join(run_dir, "eval.json")) as f:
        result_json = json.load(f)
    assert result_json["summary"]["gain"] > 0  # the target loss went down
    assert result_json["run"]["tokens_per_domain"][2] > 0
    report = subprocess.run([sys.executable, "evaluate.py", run_dir, run_dir, "--plot", "--plot_dir",
                             str(tmp_path / "plots")], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert report.returncode == 0, report.stderr
    assert report.stdout.startswith("| run | mixer | source loss")
    for png in ["weights.png", "val_loss.png"]:
        assert os.path.getsize(tmp_path / "plots" / png) > 1000


BAD_INPUTS = [
    (["--weights", "poetry=1"], "unknown domain 'poetry'"),
    (["--weights", "prose=-1,arith=1"], "negative or non-finite"),
    (["--weights", "prose=nan"], "negative or non-finite"),
    (["--weights", "prose=0,arith=0"], "sums to zero"),
    (["--weights", "prose=1", "--target_ratio", "0.5"], "give one of them"),
    (["--target_ratio", "1.5"], "between 0 and 1"),
    (["--mixer", "oracle"], "--mixer oracle is unknown"),
    (["--lr", "-1"], "--lr -1.0 must be a positive number"),
    (["--batch_size", "0"], "--batch_size 0 must be a positive integer"),
    (["--block_size", "100000"], "fewer than one window"),
    (["--corpus", "nothing"], "corpus"),
    (["--config", "config/none.py"], "does not exist"),
    (["--resume", "--run_name", "never"], "--resume but"),
    (["--weights_from", "/nonexistent/run"], "no log.jsonl there"),
    (["--velocity_share", "1.5"], "--velocity_share must be in (0, 1)"),
    (["--mix_interval", "0"], "--mix_interval 0 must be a positive integer"),
    (["--device", "cuda:0"] if not torch.cuda.is_available() else ["--n_head", "3"], "n"),
]


@pytest.mark.parametrize("extra,message", BAD_INPUTS, ids=[" ".join(a) for a, _ in BAD_INPUTS])
def test_bad_inputs_stop_with_one_clear_line(tiny_args, extra, message):
    with pytest.raises(SystemExit) as exit_info:
        train.main(tiny_args + extra)
    text = str(exit_info.value.code)
    assert text.startswith("error: ") and message in text and "\n" not in text


def test_resume_with_other_options_is_refused(tiny_args):
    train.main(tiny_args + ["--run_name", "r"])
    with pytest.raises(SystemExit) as exit_info:
        train.main(tiny_args + ["--run_name", "r", "--resume", "--lr", "0.01"])
    assert "written with other options: lr=" in str(exit_info.value.code)


def test_nan_loss_stops_with_step_and_domains_and_keeps_the_last_checkpoint(tiny_args, monkeypatch):
    import model as model_module
    original = model_module.GPT.forward
    calls = {"training": 0}

    def poisoned(self, idx, targets=None, per_row=False):
        logits, loss = original(self, idx, targets, per_row)
        if per_row and self.training:
            calls["training"] += 1
            if calls["training"] > 7:  # the 8th training step (index 7) goes NaN
                loss = loss * float("nan")
        return logits, loss

    train.main(tiny_args + ["--run_name", "ok"])  # the base exists before the poison
    monkeypatch.setattr(model_module.GPT, "forward", poisoned)
    with pytest.raises(SystemExit) as exit_info:
        train.main(tiny_args + ["--run_name", "nan"])
    message = str(exit_info.value.code)
    assert "became nan at step 7" in message and "batch domains ['prose', 'code', 'arith']" in message
    ckpt = torch.load(os.path.join(run_dir_of(tiny_args, "nan"), "ckpt.pt"), weights_only=True)
    assert ckpt["step"] == 5 and all(torch.isfinite(p).all() for p in ckpt["model"].values())


def test_cpu_preset_file_matches_the_defaults():
    preset = train.load_preset(os.path.join(ROOT, "config", "cpu.py"))
    assert preset and all(train.OPTIONS[k][0] == v for k, v in preset.items())
    gpu = train.load_preset(os.path.join(ROOT, "config", "gpu.py"))
    assert gpu["n_layer"] == 12 and gpu["n_embd"] == 768


def test_bench_runs_every_mixer_and_prints_ratios(tiny_args, capsys):
    import bench
    bench.main(tiny_args + ["--steps", "1", "--rounds", "1"])
    out = capsys.readouterr().out
    assert "(a) training:" in out and "(c) sampler:" in out and "(d) data preparation:" in out
    for name in sorted(train.MIXERS):
        assert f"| {name} |" in out
    assert "| acodm (frozen) |" in out
