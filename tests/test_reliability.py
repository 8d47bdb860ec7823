"""Reliability: exact resume after a hard kill, nothing half-written, safe loading,
bad inputs, numerical faults and long-run stability. Generic over the mixer registry."""

import filecmp
import json
import os
import pickle
import random
import shutil
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
import torch

from experiments import pretrain, suite
import agent
import evaluate
import prepare
import train
from common import DataError
from conftest import ROOT_DIR, TINY_MODEL, mixer_cli, mixer_inputs, read_by, same, write_tiny_sources
from data import Corpus
from model import GPT, GPTConfig
from options import MIXERS, load_preset, parse_config, validate_config
from tiny_inputs import write_tiny_gpt2

SLOW_ARGS = ["--steps", "150", "--ckpt_interval", "2", "--eval_interval", "10", "--log_interval", "50"]


def final_state(run_dir):
    ckpt = torch.load(os.path.join(run_dir, "ckpt.pt"), weights_only=True)
    with open(os.path.join(run_dir, "eval.json")) as f:
        return ckpt, json.load(f)["final"]["test_loss"]


def kill_when(path, process, rng, max_delay=0.4):
    """SIGKILL the process at a random moment after `path` appears (or when it ends first)."""
    while not os.path.exists(path) and process.poll() is None:
        time.sleep(0.005)
    time.sleep(rng.uniform(0, max_delay))
    process.send_signal(signal.SIGKILL)
    process.wait()


@pytest.mark.slow
@pytest.mark.parametrize("mixer_name", sorted(MIXERS))
def test_sigkill_and_resume_match_an_uninterrupted_run(tiny_args, tiny_corpus_dir, tmp_path, mixer_name):
    args = tiny_args + SLOW_ARGS + read_by(mixer_name, mix_interval=10) + ["--mixer", mixer_name] \
        + mixer_cli(mixer_name, Corpus(tiny_corpus_dir), str(tmp_path))
    train.main(args + ["--run_name", "whole"])
    out_dir = args[args.index("--out_dir") + 1]
    run_dir = os.path.join(out_dir, "killed")
    rng = random.Random(mixer_name)
    process = subprocess.Popen([sys.executable, "train.py"] + args + ["--run_name", "killed"], cwd=ROOT_DIR,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    kill_when(os.path.join(run_dir, "ckpt.pt"), process, rng)
    assert process.returncode == -signal.SIGKILL  # killed mid-run, not finished
    assert torch.load(os.path.join(run_dir, "ckpt.pt"), weights_only=True)["step"] < 150
    train.main(args + ["--run_name", "killed", "--resume"])
    (whole, whole_val), (killed, killed_val) = final_state(os.path.join(out_dir, "whole")), final_state(run_dir)
    assert same(whole["model"], killed["model"]) and same(whole["mixer"], killed["mixer"])
    assert same(whole["sampler"], killed["sampler"]) and whole_val == killed_val
    with open(os.path.join(run_dir, "log.jsonl")) as f:
        killed_log = [json.loads(line) for line in f]
    with open(os.path.join(out_dir, "whole", "log.jsonl")) as f:
        whole_log = [json.loads(line) for line in f]
    assert [r["step"] for r in killed_log] == list(range(151))
    assert [r.get("weights") for r in killed_log] == [r.get("weights") for r in whole_log]
    assert [r.get("train_loss") for r in killed_log] == [r.get("train_loss") for r in whole_log]
    if mixer_name not in ("static", "regmix", "regmix_proxy"):  # the dynamic mixers moved: their state mattered
        # (dbl and velocity too where every fit came out doubtful, as on the tiny corpus: the papers' form uses
        # every fit as fitted)
        assert whole_log[-1]["weights"] != whole_log[1]["weights"], mixer_name


@pytest.mark.slow
def test_sigkill_during_base_pretraining_then_rerun_gives_the_same_base(tiny_args, tmp_path):
    args = tiny_args + ["--base_steps", "300", "--ckpt_interval", "3", "--steps", "2"]
    out_a, out_b = str(tmp_path / "a"), str(tmp_path / "b")
    index = args.index("--out_dir") + 1
    process = subprocess.Popen([sys.executable, "train.py"] + args[:index] + [out_a] + args[index + 1:],
                               cwd=ROOT_DIR, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(0.5)
    base_ckpt = None
    while base_ckpt is None and process.poll() is None:
        found = [d for d in os.listdir(out_a) if d.startswith("base-")] if os.path.isdir(out_a) else []
        base_ckpt = os.path.join(out_a, found[0], "ckpt.pt") if found else None
        time.sleep(0.005)
    kill_when(base_ckpt, process, random.Random(1), max_delay=0.3)
    train.main(args[:index] + [out_a] + args[index + 1:])  # continues the interrupted base by itself
    train.main(args[:index] + [out_b] + args[index + 1:])
    base_dir = [d for d in os.listdir(out_a) if d.startswith("base-")][0]
    a = torch.load(os.path.join(out_a, base_dir, "ckpt.pt"), weights_only=True)
    b = torch.load(os.path.join(out_b, base_dir, "ckpt.pt"), weights_only=True)
    assert a["step"] == b["step"] == 300 and same(a["model"], b["model"])


@pytest.mark.slow
def test_prepare_killed_midway_then_rerun_gives_the_same_corpus(tmp_path):
    sources = write_tiny_sources(str(tmp_path / "src"), scale=10)  # a build of about a second
    command = [sys.executable, "prepare.py", "--vocab_size", "400", "--task", "arith"]
    for name, (path, field) in sources.items():
        command += ["--domain", f"{name}={path}", "--field", f"{name}={field}"]
    subprocess.run(command + ["--data_dir", str(tmp_path / "clean")], cwd=ROOT_DIR, check=True,
                   capture_output=True)
    killed_dir = str(tmp_path / "killed")
    process = subprocess.Popen(command + ["--data_dir", killed_dir], cwd=ROOT_DIR, stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)
    while process.poll() is None and not (os.path.isdir(killed_dir) and os.listdir(killed_dir)):
        time.sleep(0.002)  # the build's temp folder appears: the build is under way
    time.sleep(random.Random(2).uniform(0, 0.3))
    process.send_signal(signal.SIGKILL)
    process.wait()
    assert process.returncode == -signal.SIGKILL
    corpus_dir = os.path.join(killed_dir, "default")
    if os.path.exists(corpus_dir):  # only a complete corpus may stand under its final name
        Corpus(corpus_dir)
        shutil.rmtree(corpus_dir)
    subprocess.run(command + ["--data_dir", killed_dir], cwd=ROOT_DIR, check=True, capture_output=True)
    assert os.listdir(killed_dir) == ["default"]  # the interrupted build's temp folder is gone
    clean = os.path.join(tmp_path, "clean", "default")
    for rel in ["tokenizer.json", "task.jsonl", "prose/train.bin", "code/val.bin", "arith/train.bin"]:
        assert filecmp.cmp(os.path.join(clean, rel), os.path.join(corpus_dir, rel), shallow=False), rel


class Payload:
    """Unpickling this runs a shell command: what a malicious checkpoint would do."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def test_malicious_pickles_are_refused_without_running(tiny_args, tiny_corpus_dir, tmp_path):
    marker = str(tmp_path / "pwned")
    evil = str(tmp_path / "evil.pt")
    torch.save({"model": Payload(marker), "model_config": {}}, evil)
    train.main(tiny_args + ["--run_name", "victim"])
    out_dir = tiny_args[tiny_args.index("--out_dir") + 1]
    os.remove(os.path.join(out_dir, "victim", "eval.json"))  # as if interrupted: --resume reads the checkpoint
    shutil.copy(evil, os.path.join(out_dir, "victim", "ckpt.pt"))  # a checkpoint
    with pytest.raises(SystemExit, match="not a safe checkpoint"):
        train.main(tiny_args + ["--run_name", "victim", "--resume"])
    with pytest.raises(SystemExit, match="not a safe AC-ODM policy"):  # an agent file
        train.main(tiny_args + ["--mixer", "acodm", "--acodm_load", evil, "--acodm_frozen"])
    corpus_copy = str(tmp_path / "corpus")
    shutil.copytree(tiny_corpus_dir, corpus_copy)
    with open(os.path.join(corpus_copy, "tokenizer.json"), "wb") as f:  # a tokenizer
        pickle.dump(Payload(marker), f)
    with pytest.raises(DataError, match="cannot read tokenizer"):
        Corpus(corpus_copy)
    assert not os.path.exists(marker)


# The bad-input catalogue, the one list of them (docs/bad-inputs.md points here): script, arguments, words
# the one-line error must contain. {tmp} is a scratch folder holding empty/, broken_run/, bad.jsonl,
# notes.txt, bad_preset.py and other_agent.pt; {data} is the tiny corpus' data folder; {src} holds its
# source texts; {train} are tiny train.py options.
NO_CUDA = pytest.mark.skipif(torch.cuda.is_available(), reason="checks the message on a machine without CUDA")
CATALOGUE = [
    ("prepare", "--data_dir {tmp} --domain a={tmp}/missing --field a=source", "does not exist"),
    ("prepare", "--data_dir {tmp} --domain a={tmp}/empty --field a=source --domain t={src}/arith.jsonl "
                "--field t=target", "has 0 training"),
    ("prepare", "--data_dir {tmp} --domain a={src}/prose --field a=source", "have no target field"),
    ("prepare", "--data_dir {tmp} --domain a={tmp}/bad.jsonl --field a=source", "line 1 is not"),
    ("prepare", "--data_dir {tmp} --domain a={tmp}/notes.txt --field a=source", "a file of an unknown kind"),
    ("prepare", "--data_dir {tmp} --tokenizer {tmp}/empty", "has no tokenizer files"),
    ("prepare", "--data_dir {tmp} --tokenizer gpt3", "neither bpe, gpt2 nor a folder"),
    ("prepare", "--data_dir {tmp} --domain a={tmp}/empty", "needs --field a=source"),
    ("prepare", "--data_dir {tmp} --domain a={tmp}/empty --field a=poetry", "needs --field a=source"),
    ("prepare", "--data_dir {tmp} --domain a={tmp}/empty --field a=source --field b=target", "unknown domains ['b']"),
    ("prepare", "--data_dir {tmp} --field a=source", "need --domain"),
    ("prepare", "--data_dir {tmp} --vocab_size 100 --domain a={src}/prose --field a=source --domain "
                "t={src}/arith.jsonl --field t=target", "too small"),
    ("prepare", "--data_dir {data} --corpus tiny", "already exists"),
    ("prepare", "--data_dir {tmp} --val_permille 0", "between 1 and 499"),
    ("prepare", "--data_dir {tmp} --regroup {data}/tiny --merge x=prose,arith", "different fields"),
    ("prepare", "--data_dir {tmp} --merge x=prose,code", "go together with --regroup"),
    ("train", "{train} --corpus nothing", "does not exist"),
    ("train", "{train} --weights poetry=1", "unknown domain 'poetry'"),
    ("train", "{train} --weights prose=-1", "negative"),
    ("train", "{train} --weights prose=nan", "non-finite"),
    ("train", "{train} --weights prose=0", "sums to zero"),
    ("train", "{train} --weights prose=1 --target_ratio 0.5", "give one of them"),
    ("train", "{train} --target_ratio 1.5", "between 0 and 1"),
    ("train", "{train} --lr -0.1", "positive number"),
    ("train", "{train} --batch_size 0", "--batch_size 0 must be a positive integer"),
    ("train", "{train} --n_head 3", "must be divisible by --n_head 3"),
    ("train", "{train} --block_size 100000", "fewer than one window"),
    ("train", "{train} --mixer oracle", "--mixer oracle is unknown"),
    ("train", "{train} --mixer dbl --mix_interval 0", "--mix_interval 0 must be a positive integer"),
    ("train", "{train} --mixer velocity --velocity_budgets 0.1,1.5,0.2", "must be 3 or more distinct shares"),
    ("train", "{train} --mixer bandit --bandit_alpha 1", "--bandit_alpha 1.0 must be in [0, 1)"),
    ("train", "{train} --resume --run_name never", "--resume but"),
    ("train", "{train} --init_from {tmp}/empty", "has no config.json"),
    ("train", "{train} --config {tmp}/bad_preset.py", "cannot be read"),
    ("train", "{train} --config {tmp}/none.py", "does not exist"),
    pytest.param("train", "{train} --device cuda:0", "CUDA is not available", marks=NO_CUDA),
    ("train", "{train} --acodm_frozen", "--acodm_frozen is read by mixer acodm, not by --mixer static"),
    ("train", "{train} --dbl_eta 2", "--dbl_eta is read by mixer dbl, not by --mixer static"),
    ("train", "{train} --warmup_share 0.5", "--warmup_share is read by mixer bandit, acodm, not by --mixer static"),
    ("train", "{train} --mixer acodm --acodm_frozen", "needs a policy"),
    ("train", "{train} --mixer acodm --acodm_untrained --acodm_load {tmp}/notes.txt", "contradict"),
    ("train", "{train} --mixer acodm --acodm_load {tmp}/notes.txt", "not a safe AC-ODM policy"),
    ("train", "{train} --mixer acodm --acodm_variant ours --acodm_min_rows 1", "contradict each other"),
    ("train", "{train} --weights_from {tmp}/empty", "no log.jsonl"),
    ("train", "{train} --mixer agent", "needs --agent_path"),
    ("train", "{train} --mixer agent --agent_path {tmp}/notes.txt", "not a safe agent file"),
    ("train", "{train} --mixer agent --agent_path {tmp}/other_agent.pt", "not a Data Mixing Agent file"),
    ("train", "{train} --mixer regmix", "needs --trajectories"),
    ("train", "{train} --mixer regmix --trajectories {tmp}/empty", "holds no finished trajectory"),
    ("train", "{train} --mixer random --random_schedule spiral", "--random_schedule spiral is unknown"),
    ("train", "{train} --base_mixer dbl", "--base_mixer dbl cannot pre-train the base"),
    ("train", "{train} --base_mixer bandit --mixer acodm", "would share their options"),
    ("train", "{train} --base_mixer bandit --init_from {tmp}/empty", "the checkpoint is the base"),
    ("pretrain", "--seeds 0", "--seeds 0 must be a positive integer"),
    ("agent", "--trajectories {tmp}/nowhere --out {tmp}/agent.pt", "does not exist"),
    ("agent", "--trajectories {tmp}/bad_trajectories --out {tmp}/agent.pt", "is damaged"),
    ("suite", "--suite default --mixers oracle -- {train}", "unknown"),
    ("suite", "--collect 2", "give --suite NAME"),
    ("suite", "--suite default --oracle 0.5,0.5 -- {train}", "distinct target shares"),
    ("suite", "--suite default --oracle 1.5 -- {train}", "distinct target shares"),
    ("suite", "--collect 2 --trajectories {tmp}/t -- {train} --mix_interval 3", "multiple of --mix_interval"),
    ("suite", "--suite default --trajectories {tmp}/t", "is for collection alone"),
    ("evaluate", "{tmp}/no_run", "not a folder"),
    ("evaluate", "{tmp}/empty", "no eval.json"),
    ("evaluate", "{tmp}/broken_run", "eval.json is not readable"),
]


@pytest.fixture(scope="module")
def scratch(tiny_corpus_dir, tmp_path_factory):
    tmp = str(tmp_path_factory.mktemp("bad_inputs"))
    os.makedirs(os.path.join(tmp, "empty"))
    os.makedirs(os.path.join(tmp, "broken_run"))
    os.makedirs(os.path.join(tmp, "bad_trajectories"))
    files = {"broken_run/eval.json": '{"base": ', "bad.jsonl": "not json\n", "notes.txt": "hello",
             "bad_preset.py": "n_layer = = 3\n", "bad_trajectories/traj_00000.npz": "cut"}
    for name, text in files.items():
        with open(os.path.join(tmp, name), "w") as f:
            f.write(text)
    torch.save({"kind": "acodm-policy"}, os.path.join(tmp, "other_agent.pt"))  # a safe file of another kind
    data = os.path.dirname(tiny_corpus_dir)
    train_options = " ".join(TINY_MODEL) + f" --data_dir {data} --corpus tiny --out_dir {tmp}/out --base_steps 4 " \
                                           "--steps 4 --warmup_steps 1 --base_warmup_steps 1"
    return {"tmp": tmp, "data": data, "src": os.path.join(os.path.dirname(data), "src"), "train": train_options}


@pytest.mark.parametrize("script,arguments,words", CATALOGUE)
def test_bad_input_stops_with_one_line_naming_it_and_leaves_nothing(scratch, script, arguments, words):
    tmp = scratch["tmp"]
    before = sorted(os.listdir(tmp))
    main = {"prepare": prepare.main, "train": train.main, "evaluate": evaluate.main, "agent": agent.main,
            "suite": suite.main, "pretrain": pretrain.main}[script]
    with pytest.raises(SystemExit) as exit_info:
        main(arguments.format(**scratch).split())
    message = str(exit_info.value.code)
    assert exit_info.value.code != 0 and message.startswith("error: ") and "\n" not in message, message
    assert words in message, message
    assert set(os.listdir(tmp)) - set(before) <= {"out"}  # no corpus or partial folder left behind
    out = os.path.join(tmp, "out")
    assert not os.path.exists(out) or all(d.startswith("base-") for d in os.listdir(out))  # only the base cache


def test_resume_without_a_checkpoint_is_refused_before_anything_is_built(tiny_args, tmp_path):
    out_dir = tiny_args[tiny_args.index("--out_dir") + 1]
    with pytest.raises(SystemExit, match="--resume but .*never.*ckpt.pt does not exist"):
        train.main(tiny_args + ["--run_name", "never", "--resume"])
    assert not os.path.exists(out_dir)  # no base was pre-trained first


@pytest.mark.parametrize("command", ["train.py", "prepare.py", "evaluate.py", "agent.py", "sample.py",
                                     "-m experiments.suite", "-m experiments.pretrain", "-m experiments.bench"])
@pytest.mark.slow
def test_an_unknown_option_gives_a_short_error_and_exit_code_2(command):
    result = subprocess.run([sys.executable, *command.split(), "--no_such_option"], cwd=ROOT_DIR,
                            capture_output=True, text=True, timeout=120)
    lines = result.stderr.strip().splitlines()
    name = command if command.endswith(".py") else f"python {command}"  # a lab module: the command that runs it
    assert result.returncode == 2 and 1 <= len(lines) <= 3, result.stderr
    assert lines[0].startswith(f"{name}: error: ") and f"python {command} --help" in result.stderr, lines
    assert "--no_such_option" in result.stderr or "required" in result.stderr


@pytest.mark.parametrize("preset", sorted(f for f in os.listdir(os.path.join(ROOT_DIR, "config")) if f.endswith(".py")))
def test_every_preset_loads_and_validates(preset, tmp_path):
    path = os.path.join(ROOT_DIR, "config", preset)
    assert load_preset(path)  # known options of the right types
    cfg = parse_config(["--config", path] + (["--init_from", str(tmp_path)] if preset == "gpt2.py" else []))
    cfg = validate_config(cfg)


def test_the_gpt2_recipe_continues_a_gpt2_checkpoint(tmp_path):
    """config/gpt2.py end to end on the tests' tiny random GPT-2 (its block, batch and steps made small)."""
    write_tiny_gpt2(str(tmp_path / "gpt2"))
    sources = write_tiny_sources(str(tmp_path / "src"))
    command = ["--data_dir", str(tmp_path / "data"), "--corpus", "tiny", "--tokenizer", str(tmp_path / "gpt2")]
    for name, (path, field) in sources.items():
        command += ["--domain", f"{name}={path}", "--field", f"{name}={field}"]
    prepare.main(command + ["--val_permille", "100", "--task", "arith"])
    run = train.main(["--config", os.path.join(ROOT_DIR, "config", "gpt2.py"), "--init_from", str(tmp_path / "gpt2"),
                      "--data_dir", str(tmp_path / "data"), "--corpus", "tiny", "--out_dir", str(tmp_path / "out"),
                      "--block_size", "64", "--batch_size", "8", "--grad_accum", "2", "--steps", "4",
                      "--warmup_steps", "1", "--eval_interval", "2", "--device", "cpu", "--compile", "false",
                      "--mixer", "bandit", "--task_problems", "10"])
    assert os.path.basename(run["run_dir"]) == "cpt-bandit-tiny-gpt2-from-gpt2"  # the corpus, preset and checkpoint
    with open(os.path.join(run["run_dir"], "eval.json")) as f:
        result = json.load(f)
    assert result["config"]["lr"] == 3e-4 and result["config"]["grad_accum"] == 2 and result["run"]["steps"] == 4


def extreme_stats(rng, K):
    kind = rng.integers(6)
    loss = {0: rng.normal(3, 1, K), 1: np.full(K, 1e30), 2: np.zeros(K), 3: np.full(K, 2.5),
            4: rng.uniform(0, 1e6, K), 5: np.where(rng.random(K) < 0.5, 1e-30, 50.0)}[int(kind)]
    rows = rng.integers(0, 5, K)
    loss = np.where(rows > 0, np.abs(loss), np.nan)  # no rows: no loss
    return {"train_loss": loss.tolist(), "rows": rows.tolist()}


@pytest.mark.parametrize("mixer_name", sorted(MIXERS))
def test_every_mixer_emits_finite_simplex_weights_under_random_and_extreme_statistics(tiny_corpus_dir, tmp_path,
                                                                                      mixer_name):
    corpus = Corpus(tiny_corpus_dir)
    K = len(corpus.domains)
    rng = np.random.default_rng(0)
    mixer = MIXERS[mixer_name](corpus, {"steps": 300, "mix_interval": 3, "acodm_batch": 8, "seed": 0,
                                        **mixer_inputs(mixer_name, corpus, str(tmp_path))})
    if mixer.needs_loss_targets:
        mixer.set_targets(rng.uniform(0, 5, K).tolist())
    model = None
    if mixer.needs_model:
        torch.manual_seed(0)
        model = GPT(GPTConfig(vocab_size=corpus.tokenizer.vocab_size, block_size=8, n_layer=2, n_head=2, n_embd=16))
        mixer.attach_model(model)
    for step in range(300):
        w = mixer.weights()
        assert w.shape == (K,) and np.all(np.isfinite(w)) and np.all(w >= 0) and abs(w.sum() - 1) < 1e-9
        stats = extreme_stats(rng, K)
        if model is not None:  # a real backward, so the gradient reward has something to read
            row_domain = torch.arange(K).repeat_interleave(2)
            x = torch.randint(0, 50, (len(row_domain), 8))
            model(x, x, per_row=True)[1].mean().backward()
            stats["rows"], stats["row_domain"] = [2] * K, row_domain
            stats["train_loss"] = np.nan_to_num(stats["train_loss"], nan=1.0).tolist()
        mixer.observe_step(step, stats)
        val = np.abs(rng.normal(3, 2, K)) * (1e6 if step % 50 == 7 else 1)
        mixer.observe_eval(step, {"val_loss": val.tolist()})


@pytest.mark.slow
@pytest.mark.parametrize("mixer_name", ["bandit", "velocity"])
def test_long_run_memory_stays_flat_and_the_log_stays_valid(tiny_corpus_dir, tmp_path, mixer_name):
    data_dir = os.path.dirname(tiny_corpus_dir)
    rows = "8" if mixer_name == "bandit" else "4"  # the bandit's 8 one-domain groups need 8 rows or a multiple
    args = ["--n_layer", "1", "--n_head", "1", "--n_embd", "16", "--block_size", "16", "--batch_size", rows,
            "--data_dir", data_dir, "--corpus", "tiny", "--out_dir", str(tmp_path), "--base_steps", "10",
            "--steps", "20000", "--eval_interval", "2000", "--ckpt_interval", "5000",
            "--log_interval", "5000", "--task_problems", "5", "--mixer", mixer_name]
    args += read_by(mixer_name, mix_interval=1000)
    args += ["--velocity_budgets", "0.0005,0.001,0.002"] if mixer_name == "velocity" else []
    run = train.main(args)
    with open(os.path.join(run["run_dir"], "log.jsonl")) as f:
        records = [json.loads(line) for line in f]
    steps = [r for r in records if "weights" in r]
    assert len(steps) == 20000
    for r in steps:
        w = np.array(r["weights"])
        assert np.all(np.isfinite(w)) and np.all(w >= 0) and abs(w.sum() - 1) < 1e-5
    rss = [r["rss_mb"] for r in steps]
    assert max(rss[2000:]) - rss[2000] < 30, f"memory grew from {rss[2000]:.0f} to {max(rss[2000:]):.0f} MB"
