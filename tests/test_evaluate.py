"""Metrics on hand-built cases: field means, forgetting/gain/balanced, bits per byte, the target task."""

import math

import pytest
import torch

import evaluate
from data import Corpus
from mixer import objective
from model import GPT, GPTConfig


def test_the_objective_weighs_a_nat_of_source_like_a_nat_of_target():
    """By hand: S = 4.0, T = 2.0 -> (4.0 + 2.0) / 2 = 3.0. A run that forgets 0.2 nats of source to gain 0.2
    nats of target scores the same; one that forgets 0.3 to gain 0.1 scores 0.1 worse."""
    assert objective(4.0, 2.0) == 3.0
    assert objective(4.2, 1.8) == pytest.approx(3.0)
    assert objective(4.3, 1.9) == pytest.approx(3.1)


def test_summary_on_a_hand_built_case():
    fields = ["source", "source", "target"]
    base = {"fields": fields, "test_loss": [2.0, 4.0, 6.0], "task_accuracy": 0.1, "task_logprob": -9.0}
    final = {"fields": fields, "test_loss": [2.5, 4.5, 3.0], "task_accuracy": 0.4, "task_logprob": -2.0}
    s = evaluate.summarize(base, final)
    assert s["base_source_loss"] == 3.0 and s["source_loss"] == 3.5
    assert s["forgetting"] == pytest.approx(0.5)  # S(final) - S(base)
    assert s["gain"] == pytest.approx(3.0)  # T(base) - T(final)
    assert s["balanced_loss"] == pytest.approx((3.5 + 3.0) / 2) == objective(3.5, 3.0)
    assert s["task_accuracy"] == 0.4 and s["base_task_accuracy"] == 0.1


class ConstantLossModel(torch.nn.Module):
    """Every token costs `loss` nats; greedy answers come from a lookup of the prompt's tokens."""

    def __init__(self, loss, vocab_size=64, block_size=32, answers=None):
        super().__init__()
        self.loss, self.vocab_size, self.answers = loss, vocab_size, answers or {}
        self.config = type("Config", (), {"block_size": block_size, "vocab_size": vocab_size})()

    def forward(self, idx, targets=None, per_row=False):
        logits = torch.zeros(idx.size(0), idx.size(1), self.vocab_size)  # uniform: log p = -ln V per token
        if targets is None:
            return logits, None
        row_loss = torch.full((idx.size(0),), self.loss)
        return logits, (row_loss if per_row else row_loss.mean())

    def generate_greedy(self, idx, max_new_tokens, stop_tokens=()):
        return torch.tensor([self.answers[tuple(row)] + [0] * (max_new_tokens - len(self.answers[tuple(row)]))
                             for row in idx.tolist()])[:, :max_new_tokens]


def test_validation_loss_and_bits_per_byte_on_a_constant_model(tiny_corpus_dir):
    corpus = Corpus(tiny_corpus_dir)
    valset = evaluate.HeldOutSet(corpus, block_size=16, max_windows=5)
    losses, bpbs = evaluate.domain_losses(ConstantLossModel(1.5), valset, "cpu")
    assert losses == pytest.approx([1.5] * 3)
    byte_lengths = corpus.tokenizer.token_byte_lengths()
    for d, windows in enumerate(valset.windows):
        n_bytes = byte_lengths[windows[:, 1:].numpy()].sum()
        assert len(windows) == 5
        assert bpbs[d] == pytest.approx(1.5 * windows[:, 1:].numel() / (math.log(2) * n_bytes))


def test_task_accuracy_is_exact_match_and_logprob_is_of_the_answer(tiny_corpus_dir):
    tok = Corpus(tiny_corpus_dir).tokenizer
    problems = [{"prompt": "Question: What is 1 + 2?\nAnswer:", "answer": " 3"},
                {"prompt": "Question: What is 10 + 20?\nAnswer:", "answer": " 30"}]
    answers = {tuple(tok.encode(problems[0]["prompt"])): tok.encode(" 3\nQuestion") + [tok.eot],  # right
               tuple(tok.encode(problems[1]["prompt"])): tok.encode(" 31") + [tok.eot]}  # wrong
    scores = evaluate.task_scores(ConstantLossModel(0.0, vocab_size=384, answers=answers), tok, problems, "cpu")
    assert scores["task_accuracy"] == 0.5 and scores["task_problems"] == 2
    expected = -math.log(tok.vocab_size) * (len(tok.encode(" 3")) + len(tok.encode(" 30"))) / 2  # uniform
    assert scores["task_logprob"] == pytest.approx(expected)


def test_comparison_table_tells_runs_of_one_mixer_apart():
    """One row per run, with what tells two runs apart: the options whose values differ among them (not where
    they were written) and the target share each actually sampled."""
    def result(target_ratio, run_name, target_tokens):
        return {"summary": {k: 1.0 for _, k in evaluate.COLUMNS}, "final": {"fields": ["source", "target"]},
                "config": {"target_ratio": target_ratio, "run_name": run_name, "steps": 800, "mixer": "static"},
                "run": {"mixer": "static", "steps": 800, "wall_seconds": 12.0,
                        "tokens_per_domain": [1000 - target_tokens, target_tokens]}}
    table = evaluate.comparison_table([("a", result(None, "a", 380)), ("b", result(0.8, "b", 800))]).splitlines()
    assert table[2].startswith("| a | static | target_ratio=None | 800 | 0.38 | 1.000")
    assert table[3].startswith("| b | static | target_ratio=0.8 | 800 | 0.80 | 1.000")
    assert "before s: work a mixer does before CPT" in table[-1]


def test_each_position_belongs_to_the_document_its_endoftext_closes():
    eot = 9
    assert evaluate.document_index([5, 7, eot, 3, eot, 4], eot).tolist() == [0, 0, 0, 1, 1, 2]


def test_the_test_splits_per_document_sums_add_up_to_its_domain_losses(tiny_corpus_dir):
    """The final report's per-document loss sums (what the bootstrap over test documents resamples) give back
    each domain's mean test loss, and each document's token count is its tokens inside the test windows."""
    corpus = Corpus(tiny_corpus_dir)
    torch.manual_seed(0)
    gpt = GPT(GPTConfig(block_size=16, vocab_size=corpus.tokenizer.vocab_size, n_layer=1, n_head=2, n_embd=16))
    result = evaluate.full_evaluation(gpt, corpus, block_size=16, device="cpu")
    testset = evaluate.HeldOutSet(corpus, 16, max_windows=10 ** 9, tokens=evaluate.read_test_split(corpus))
    row_means, _ = evaluate.domain_losses(gpt, testset, "cpu")  # the per-row path, no documents
    tokens = evaluate.read_test_split(corpus)
    for d, documents in enumerate(result["test_documents"]):
        assert sum(documents["loss_sums"]) / sum(documents["tokens"]) == pytest.approx(result["test_loss"][d])
        assert result["test_loss"][d] == pytest.approx(row_means[d], rel=1e-5)
        covered = testset.windows[d].size(0) * 16 + 1  # the windows' tokens, the first one a context only
        ends = [i for i, t in enumerate(tokens[d][:covered]) if t == corpus.tokenizer.eot]
        assert sum(documents["tokens"]) == covered - 1
        assert documents["tokens"][:len(ends)] == [end - start for start, end in zip([0] + ends, ends)]
