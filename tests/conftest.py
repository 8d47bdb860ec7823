"""Shared fixtures: a tiny corpus built in a temp folder (three small domains, a trained 320-token BPE),
and a tiny model configuration. Everything is CPU-only and hermetic."""

import json
import os
import sys

import numpy as np
import pytest
import torch

ROOT_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT_DIR)
sys.path.insert(0, os.path.join(ROOT_DIR, "examples"))  # tiny_inputs: the tiny corpora's sources

import agent  # noqa: E402
from mixer import options_of  # noqa: E402
from options import MIXERS  # noqa: E402
import trajectories  # noqa: E402
from tiny_inputs import WORDS, write_tiny_sources  # noqa: E402,F401 (WORDS: for the tests)
import prepare  # noqa: E402
import sources  # noqa: E402

def build_tiny_corpus(root, name="tiny", vocab_size=320):
    paths = write_tiny_sources(os.path.join(root, "src"))
    domains = {d: (field, lambda p=path: sources.user_documents(p), None, path) for d, (path, field) in paths.items()}
    out = os.path.join(root, "data", name)
    prepare.build_corpus(out, domains, vocab_size=vocab_size, val_permille=100, task_domains=["arith"],
                         task_per_domain={"dev": 20, "test": 20}, log=lambda *a: None)
    return out


@pytest.fixture(scope="session")
def tiny_corpus_dir(tmp_path_factory):
    return build_tiny_corpus(str(tmp_path_factory.mktemp("corpus")))


TINY_MODEL = ["--n_layer", "1", "--n_head", "2", "--n_embd", "32", "--block_size", "32", "--batch_size", "8"]


@pytest.fixture
def tiny_args(tiny_corpus_dir, tmp_path):
    """train.py arguments for a seconds-long base + CPT run on the tiny corpus."""
    data_dir = os.path.dirname(tiny_corpus_dir)
    return TINY_MODEL + ["--data_dir", data_dir, "--corpus", "tiny", "--out_dir", str(tmp_path / "out"),
                         "--base_steps", "12", "--steps", "10", "--eval_interval", "5", "--base_eval_interval", "6",
                         "--ckpt_interval", "5", "--log_interval", "5", "--warmup_steps", "2",
                         "--base_warmup_steps", "2", "--task_problems", "10"]


def same(a, b):
    """Deep equality of checkpoint contents: dicts, lists, numbers and tensors (bit for bit)."""
    if isinstance(a, torch.Tensor):
        return isinstance(b, torch.Tensor) and torch.equal(a, b)
    if isinstance(a, dict):
        return isinstance(b, dict) and a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    if isinstance(a, (list, tuple)):
        return isinstance(b, (list, tuple)) and len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))
    return a == b


class FakeCorpus:
    """Just what a mixer reads: K domains (the last one in the target field) with equal token counts."""

    def __init__(self, K):
        self.domains = [f"d{i}" for i in range(K)]
        self.fields = ["source"] * (K - 1) + ["target"]
        self.train_tokens = np.ones(K) * 1000.0

    def field_indices(self, field):
        return [i for i, f in enumerate(self.fields) if f == field]


def mixer_inputs(name, corpus, folder):
    """The files a mixer reads besides the corpus, made up for tests: an untrained agent for `agent`,
    16 synthetic constant-mixture proxy runs over the corpus' domains for `regmix` (LightGBM needs 10), a
    two-mixture schedule for `replay`.
    Returns config entries ({} if none)."""
    if name == "agent":
        path = os.path.join(folder, "agent.pt")
        if not os.path.exists(path):
            agent.untrained_agent(path, {"seed": 0, "history": 2, "width": 16, "heads": 2}, log=lambda *a: None)
        return {"agent_path": path}
    if name == "regmix":
        path = os.path.join(folder, "trajectories")
        buffer = trajectories.TrajectoryBuffer(path)
        rng = np.random.default_rng(0)
        K = len(corpus.domains)
        for i in range(16):
            w = rng.dirichlet(np.ones(K))
            val_loss = [[4.0] * K, (4.0 - w).tolist()]
            buffer.save(i, {"weights": [w], "val_loss": val_loss, "answer_logprob": [-9.0, -8.0],
                            "tokens_per_domain": [1] * K}, {"domains": corpus.domains, "fields": corpus.fields})
        return {"trajectories": path}
    if name == "replay":  # uniform, then all on the last domain from step 5 on
        path = os.path.join(folder, "replay.json")
        K = len(corpus.domains)
        with open(path, "w") as f:
            json.dump({"domains": list(corpus.domains), "steps": [0, 5], "weights": [[1 / K] * K, [0] * (K - 1) + [1]]},
                      f)
        return {"replay": path}
    return {}


def read_by(name, **options):
    """The given options that mixer `name` reads, as train.py arguments (it refuses one it does not read)."""
    known = options_of(MIXERS[name])
    return [x for key, value in options.items() if key in known for x in (f"--{key}", str(value))]


def mixer_cli(name, corpus, folder):
    return [x for key, value in mixer_inputs(name, corpus, folder).items() for x in (f"--{key}", value)]
