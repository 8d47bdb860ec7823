"""A mixer inside someone else's training loop (mixing.py) and the two examples that do it with a
`transformers` model: a plain PyTorch loop and a Trainer callback. transformers and accelerate are test
dependencies only: no module of the repository imports them."""

import ast
import importlib.util
import math
import os

import numpy as np
import pytest
import torch

import data
import evaluate
from common import ConfigError
from conftest import ROOT_DIR, mixer_inputs
from data import Corpus, check_weights
from mixer import options_of
from mixing import HeldOutSet, eval_due, eval_stats, own_loop_mixer, own_loop_sampler, step_stats
from model import GPT, GPTConfig
from odm import BanditMixer
from options import MIXERS

TINY = ["--steps", "6", "--batch_size", "8", "--block_size", "32", "--eval_interval", "3"]


def example(name):
    spec = importlib.util.spec_from_file_location(name, os.path.join(ROOT_DIR, "examples", f"{name}.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def corpus(tiny_corpus_dir):
    return Corpus(tiny_corpus_dir)


def assert_bandit_was_fed_every_step(mixer, steps):
    assert mixer.t == steps + 1  # observe_step once per step
    # its rewards are moving averages of the domains' training losses (about 5.8 nats at random init,
    # 5.8 (1 - 0.9^6) = 2.7 after six steps): zero had no loss reached it
    assert np.all(mixer.rewards > 1.0), mixer.rewards


@pytest.mark.parametrize("name", ["own_loop", "hf_trainer"])
def test_example_trains_a_transformers_model_with_a_mixer_of_ours(name, tiny_corpus_dir, capsys):
    model, mixer = example(name).main([tiny_corpus_dir, "--mixer", "bandit"] + TINY)
    assert type(model).__name__ == "GPT2LMHeadModel" and mixer.name == "bandit"
    assert_bandit_was_fed_every_step(mixer, 6)
    out = capsys.readouterr().out
    evals = [line for line in out.splitlines() if line.startswith("step ") and "val loss" in line]
    assert [line.split(":")[0] for line in evals][-2:] == ["step 3", "step 6"], out
    losses = [float(x.split("=")[1]) for x in evals[-1].split("val loss ")[1].split(" |")[0].split()]
    assert len(losses) == 3 and all(2.0 < v < 6.5 for v in losses)  # a finite loss per domain


@pytest.mark.parametrize("name, mixer", [("own_loop", "agent"), ("own_loop", "regmix"), ("own_loop", "velocity"),
                                         ("own_loop", "dbl"), ("hf_trainer", "agent"), ("hf_trainer", "regmix")])
def test_the_examples_take_the_options_of_every_mixer_that_needs_one(name, mixer, tiny_corpus_dir, tmp_path, capsys):
    """The examples read a mixer's options from the one registry (--agent_path, --trajectories, --mix_interval,
    the loss targets) and print the weights as they move."""
    corpus = Corpus(tiny_corpus_dir)
    given = [x for key, value in mixer_inputs(mixer, corpus, str(tmp_path)).items() for x in (f"--{key}", value)]
    given += ["--loss_targets", "4.0,4.0,4.0"] if MIXERS[mixer].needs_loss_targets else []
    given += ["--mix_interval", "2"] if "mix_interval" in options_of(MIXERS[mixer]) else []
    _, made = example(name).main([tiny_corpus_dir, "--mixer", mixer, *given] + TINY)
    assert made.name == mixer
    assert "| w prose=" in capsys.readouterr().out


def test_an_example_refuses_a_mixer_it_cannot_run_in_one_line(tiny_corpus_dir):
    with pytest.raises(SystemExit) as exit_info:
        example("own_loop").main([tiny_corpus_dir, "--mixer", "acodm"] + TINY)
    message = str(exit_info.value.code)
    assert message.startswith("error: mixer 'acodm' reads per-domain gradients") and "\n" not in message


def test_in_the_trainer_every_batch_follows_the_weights_the_bandit_divides_by(tiny_corpus_dir, monkeypatch):
    """ODM's paper form divides a domain's loss by the probability its batch was drawn with: in the Trainer
    (whose loader fetches a batch ahead) that is the policy the mixer holds when the step is observed."""
    drawn, divided_by = [], []
    batch, observe = data.Sampler.batch, BanditMixer.observe_step

    def recording_batch(sampler, weights, min_rows=0):
        drawn.append(np.array(weights, dtype=np.float64))
        return batch(sampler, weights, min_rows)

    def recording_observe(mixer, step, stats):
        divided_by.append(mixer.policy.copy())
        return observe(mixer, step, stats)
    monkeypatch.setattr(data.Sampler, "batch", recording_batch)
    monkeypatch.setattr(BanditMixer, "observe_step", recording_observe)
    example("hf_trainer").main([tiny_corpus_dir, "--mixer", "bandit"] + TINY)
    assert len(drawn) == len(divided_by) == 6  # one batch per step, none fetched ahead
    assert not np.allclose(divided_by[1], divided_by[-1])  # the policy moves after the one-step warm-up,
    for t, (p_drawn, p_divided) in enumerate(zip(drawn, divided_by)):  # and each batch follows the step's own
        assert np.array_equal(p_drawn, p_divided), t


def test_no_module_of_the_repository_imports_transformers_or_accelerate():
    for name in sorted(f for f in os.listdir(ROOT_DIR) if f.endswith(".py")):
        with open(os.path.join(ROOT_DIR, name)) as f:
            source = ast.parse(f.read())
        for node in ast.walk(source):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else \
                [node.module or ""] if isinstance(node, ast.ImportFrom) else []
            assert not any(n.split(".")[0] in ("transformers", "accelerate") for n in names), f"{name}:{node.lineno}"


def test_which_mixers_run_from_another_loop(corpus, tmp_path):
    accepted = set()
    for name in MIXERS:
        try:
            own_loop_mixer(name, corpus, steps=10, **mixer_inputs(name, corpus, str(tmp_path)))
            accepted.add(name)
        except ConfigError as e:
            assert "\n" not in str(e)
            if name == "acodm":
                assert "hooks on the layers of our GPT" in str(e) and "static" in str(e)
            else:
                assert name in ("dbl", "velocity") and "loss_targets=" in str(e)
    assert accepted == {"static", "bandit", "schedule", "random", "regmix_proxy", "agent", "regmix", "replay"}


@pytest.mark.parametrize("name", [n for n in MIXERS if n != "acodm"])
def test_every_usable_mixer_runs_a_loop_of_losses_and_weights(name, corpus, tmp_path):
    K = len(corpus.domains)
    targets = {"loss_targets": [3.0] * K} if MIXERS[name].needs_loss_targets else {}
    interval = {"mix_interval": 2} if "mix_interval" in options_of(MIXERS[name]) else {}
    mixer = own_loop_mixer(name, corpus, steps=8, **interval, **targets, **mixer_inputs(name, corpus, str(tmp_path)))
    rng = np.random.default_rng(0)
    mixer.observe_eval(0, {"val_loss": [5.0] * K})
    seen = []
    for step in range(8):
        w = check_weights(mixer.weights(), corpus.domains, name)
        seen.append(w)
        row_domain = torch.from_numpy(rng.choice(K, size=16, p=w))
        mixer.observe_step(step, step_stats(torch.from_numpy(rng.uniform(3, 6, 16)), row_domain, K))
        if eval_due(mixer, step + 1):
            mixer.observe_eval(step + 1, {"val_loss": (5.0 - 0.1 * step + rng.uniform(0, 1, K)).tolist(),
                                          "task_logprob": -5.0})
    if name in ("dbl", "velocity"):  # their targets were used: the weights moved at the evaluations
        assert not np.allclose(seen[0], seen[-1])


def test_loss_targets_and_options_are_checked(corpus):
    with pytest.raises(ConfigError, match="reads no loss targets"):
        own_loop_mixer("bandit", corpus, steps=5, loss_targets=[1.0, 1.0, 1.0])
    with pytest.raises(ConfigError, match="3 finite losses"):
        own_loop_mixer("velocity", corpus, steps=5, loss_targets=[1.0, 1.0])
    with pytest.raises(ConfigError, match="has no option bandit_alhpa"):
        own_loop_mixer("bandit", corpus, steps=5, bandit_alhpa=0.5)
    with pytest.raises(ConfigError, match="--bandit_alpha 1.5"):
        own_loop_mixer("bandit", corpus, steps=5, bandit_alpha=1.5)


def test_step_stats_are_per_domain_means_and_row_counts():
    stats = step_stats(torch.tensor([1.0, 2.0, 3.0, 5.0]), torch.tensor([0, 0, 2, 2]), 3)
    assert stats["train_loss"][0] == 1.5 and math.isnan(stats["train_loss"][1]) and stats["train_loss"][2] == 4.0
    assert stats["rows"] == [2, 0, 2]


def test_eval_stats_of_a_logits_function_equal_evaluate_on_our_gpt(corpus):
    torch.manual_seed(0)
    gpt = GPT(GPTConfig(vocab_size=corpus.tokenizer.vocab_size, block_size=32, n_layer=1, n_head=2, n_embd=32)).eval()
    valset = HeldOutSet(corpus, 32, max_windows=4)
    ev = eval_stats(lambda idx: gpt(idx, torch.zeros_like(idx))[0], corpus, valset, "cpu", feedback_problems=6)
    val_loss, val_bpb = evaluate.domain_losses(gpt, valset, "cpu")
    logprob = np.mean(evaluate.answer_logprobs(gpt, corpus.tokenizer, corpus.dev_problems(6), "cpu"))
    np.testing.assert_allclose(ev["val_loss"], val_loss, rtol=1e-6)
    np.testing.assert_allclose(ev["val_bpb"], val_bpb, rtol=1e-6)
    assert ev["task_logprob"] == pytest.approx(logprob, rel=1e-6)
    assert set(eval_stats(lambda idx: gpt(idx, idx)[0], corpus, valset, "cpu")) == {"val_loss", "val_bpb"}


def test_eval_due_at_the_start_at_your_interval_and_where_the_mixer_asks(corpus):
    static, velocity = own_loop_mixer("static", corpus, 10), own_loop_mixer("velocity", corpus, 10, mix_interval=4,
                                                                             loss_targets=[3.0] * 3)
    assert [n for n in range(13) if eval_due(static, n, 5)] == [0, 5, 10]
    assert [n for n in range(13) if eval_due(static, n)] == [0]
    assert [n for n in range(13) if eval_due(velocity, n, 5)] == [0, 4, 5, 8, 10, 12]


def test_the_own_loop_sampler_draws_the_batch_form_the_mixer_asks_for(corpus):
    """ODM's one-draw form trains each batch on one domain drawn from its policy (the paper's form: 8 groups of
    one domain each); the Hedge variant and the other mixers take mixed rows."""
    paper = own_loop_mixer("bandit", corpus, steps=20, bandit_variant="one_draw")
    hedge = own_loop_mixer("bandit", corpus, steps=20, bandit_variant="hedge")
    one_domain = own_loop_sampler(paper, corpus, batch_size=8, block_size=16)
    mixed = own_loop_sampler(hedge, corpus, batch_size=8, block_size=16)
    w = np.full(len(corpus.domains), 1 / len(corpus.domains))
    drawn = set()
    for _ in range(20):
        row_domain = one_domain.batch(w)[2]
        assert len(set(row_domain.tolist())) == 1
        drawn |= set(row_domain.tolist())
        assert len(set(mixed.batch(w)[2].tolist())) == len(corpus.domains)
    assert len(drawn) > 1  # the batches' domains follow the weights, not one domain forever
