"""A newcomer's runs are never replaced silently: the README's "Common variations" lines that write runs each land
in a folder of their own, a rerun of a finished command is refused (or resumes), and Ctrl-C or SIGTERM stop at a
step with a checkpoint, one line, and a result identical to an uninterrupted run's once continued."""

import hashlib
import json
import os
import re
import signal
import subprocess
import sys
import time

import pytest
import torch

import train
from conftest import ROOT_DIR


def readme_variations():
    """The `python train.py ...` lines of README's Common variations that write a run on the default corpus (no
    preset, no checkpoint of one's own), in the README's order, as argument lists."""
    with open(os.path.join(ROOT_DIR, "README.md")) as f:
        text = f.read()
    block = text.split("Common variations:")[1].split("```")[1]
    lines = [line.split("#")[0].split() for line in block.splitlines() if line.startswith("python train.py")]
    return [line[2:] for line in lines if not {"--help", "--config", "--init_from"} & set(line)]


def on_the_tiny_corpus(args):
    """The default corpus' domain names in --weights mapped onto the tiny corpus' (prose, code, arith)."""
    return [re.sub(r"math_\w+", "arith", a) if a.startswith("code=") else a for a in args]


def digest(path):
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


@pytest.mark.slow
def test_the_readme_variations_land_in_folders_of_their_own_and_a_rerun_never_replaces(tiny_args):
    variations = readme_variations()
    assert any("--mixer" in v for v in variations) and any("--target_ratio" in v for v in variations)
    assert any("--weights" in v for v in variations) and any("--resume" in v for v in variations)
    finished = {}  # run folder -> its eval.json's digest
    for args in [[]] + variations:  # the quick start's python train.py, then each variation
        if "--resume" in args:  # a finished run is complete: --resume refuses, the run is untouched
            with pytest.raises(SystemExit, match="is complete .* nothing to resume"):
                train.main(tiny_args + on_the_tiny_corpus(args))
            continue
        run_dir = train.main(tiny_args + on_the_tiny_corpus(args))["run_dir"]
        assert run_dir not in finished, f"{args} wrote into {run_dir}, a folder of an earlier line"
        finished[run_dir] = digest(os.path.join(run_dir, "eval.json"))
    assert len(finished) == 1 + len([v for v in variations if "--resume" not in v])
    for args in [[]] + variations[:1]:  # the same command again: refused, naming the folder and the way out
        with pytest.raises(SystemExit, match="holds a finished run .* --overwrite replaces it"):
            train.main(tiny_args + on_the_tiny_corpus(args))
    assert all(digest(os.path.join(d, "eval.json")) == h for d, h in finished.items())  # no finished run changed
    again = train.main(tiny_args + ["--overwrite"])["run_dir"]  # asked for: replaced
    assert again in finished


SLOW = ["--steps", "2000", "--eval_interval", "500", "--ckpt_interval", "100000", "--log_interval", "1000"]


def last_step(log_path):
    with open(log_path) as f:
        return json.loads(f.readlines()[-1])["step"]


@pytest.mark.slow
@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_an_interrupt_stops_at_a_step_with_a_checkpoint_and_the_continued_run_is_identical(tiny_args, signum):
    args = tiny_args + SLOW + ["--run_name", "stopped"]
    run_dir = os.path.join(tiny_args[tiny_args.index("--out_dir") + 1], "stopped")
    train.main(tiny_args + ["--steps", "1", "--run_name", "base-only"])  # the base, before the clock starts
    process = subprocess.Popen([sys.executable, "train.py", *args], cwd=ROOT_DIR, stdout=subprocess.DEVNULL,
                               stderr=subprocess.PIPE, text=True)
    log_path = os.path.join(run_dir, "log.jsonl")
    while not (os.path.exists(log_path) and os.path.getsize(log_path) > 0 and last_step(log_path) >= 20):
        assert process.poll() is None, process.stderr.read()
        time.sleep(0.05)
    process.send_signal(signum)
    _, stderr = process.communicate(timeout=120)
    lines = [line for line in stderr.strip().splitlines() if line]
    assert process.returncode == 128 + signum, stderr
    step = torch.load(os.path.join(run_dir, "ckpt.pt"), weights_only=True)["step"]
    assert 20 <= step < 2000 and last_step(log_path) == step  # a whole step, saved on the way out
    assert lines[-1].startswith(f"interrupted by {signal.Signals(signum).name} at cpt step {step} of 2000; the "
                                f"checkpoint {os.path.join(run_dir, 'ckpt.pt')} holds that step; to continue: "
                                "python train.py ") and lines[-1].endswith(" --resume")
    continued = train.main(args + ["--resume"])["run_dir"]
    whole = train.main(tiny_args + SLOW + ["--run_name", "whole"])["run_dir"]
    with open(os.path.join(continued, "eval.json")) as f, open(os.path.join(whole, "eval.json")) as g:
        assert json.load(f)["final"] == json.load(g)["final"]
    resumed, uninterrupted = (torch.load(os.path.join(d, "ckpt.pt"), weights_only=True) for d in (continued, whole))
    assert all(torch.equal(resumed["model"][k], uninterrupted["model"][k]) for k in uninterrupted["model"])
