"""sample.py: text from a run folder or a checkpoint file, with the run's corpus tokenizer; the requested
number of samples, a function of the seed; one line for a path that is not a run."""

import os
import subprocess
import sys

import pytest

import sample
import train
from conftest import ROOT_DIR, TINY_MODEL

SEPARATOR = "---------------"


@pytest.fixture(scope="module")
def run_dir(tiny_corpus_dir, tmp_path_factory):
    """A seconds-long base + CPT run on the tiny corpus."""
    out = str(tmp_path_factory.mktemp("sample") / "out")
    return train.main(TINY_MODEL + ["--data_dir", os.path.dirname(tiny_corpus_dir), "--corpus", "tiny", "--out_dir", out,
                             "--base_steps", "4", "--steps", "3", "--eval_interval", "3", "--base_eval_interval", "4",
                             "--warmup_steps", "1", "--base_warmup_steps", "1", "--task_problems", "2"])["run_dir"]


def samples(capsys, *args):
    capsys.readouterr()
    sample.main(list(args))
    return capsys.readouterr().out.split(SEPARATOR + "\n")[:-1]


def test_prints_the_requested_number_of_samples_continuing_the_prompt(run_dir, capsys):
    texts = samples(capsys, run_dir, "--num_samples", "3", "--max_new_tokens", "12", "--prompt", "Question:")
    assert len(texts) == 3 and all(t.startswith("Question:") for t in texts)
    assert len({t for t in texts}) > 1  # drawn, not greedy: the three differ


def test_samples_are_a_function_of_the_seed(run_dir, capsys):
    first = samples(capsys, run_dir, "--num_samples", "2", "--max_new_tokens", "16", "--seed", "5")
    assert samples(capsys, run_dir, "--num_samples", "2", "--max_new_tokens", "16", "--seed", "5") == first
    assert samples(capsys, run_dir, "--num_samples", "1", "--max_new_tokens", "16", "--seed", "5") == first[:1]
    assert samples(capsys, run_dir, "--num_samples", "2", "--max_new_tokens", "16", "--seed", "6") != first


def test_a_checkpoint_file_and_greedy_decoding(run_dir, capsys):
    greedy = samples(capsys, os.path.join(run_dir, "ckpt.pt"), "--num_samples", "2", "--max_new_tokens", "10",
                     "--temperature", "0")
    assert len(greedy) == 2 and greedy[0] == greedy[1]  # temperature 0: the same most likely tokens


@pytest.mark.parametrize("case", ["missing folder", "folder without checkpoint", "corpus moved", "bad count"])
def test_bad_input_is_refused_with_one_line(case, run_dir, tmp_path):
    args = {"missing folder": [str(tmp_path / "no-such-run")],
            "folder without checkpoint": [str(tmp_path)],
            "corpus moved": [run_dir, "--corpus", str(tmp_path / "gone")],
            "bad count": [run_dir, "--num_samples", "0"]}[case]
    result = subprocess.run([sys.executable, "sample.py"] + args, cwd=ROOT_DIR, capture_output=True, text=True,
                            timeout=120)
    assert result.returncode != 0 and result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    assert {"missing folder": "does not exist", "folder without checkpoint": "has no ckpt.pt",
            "corpus moved": "give its folder with --corpus", "bad count": "--num_samples 0"}[case] in lines[0]
