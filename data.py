"""
Domain data: a corpus written by prepare.py, weight vectors over its domains, and the sampler that turns
weights into batches.

    corpus = Corpus("data/default")                         # memmapped token files + meta.json
    sampler = Sampler(corpus, batch_size, block_size, seed)
    x, y, row_domain = sampler.batch(w)                     # rows per domain follow w with low variance
    sampler = Sampler(corpus, batch_size, block_size, seed, one_domain_shares=2)
    x, y, row_domain = sampler.batch(w)                     # rows 0::2 from one domain drawn from w, 1::2 another
"""

import json
import math
import os

import numpy as np
import torch

from common import DataError, PrepareError, TokenFileError
from tokenizer import Tokenizer
from tokens import read_tokens

META_FORMAT = 2  # of meta.json: 2 = three splits and a task with dev and test problems


# ----------------------------------------------------------------------------- domain data

class Corpus:
    """A corpus written by prepare.py: domains with their field, memmapped train and val tokens, and the
    target task's dev problems. The test split is not here: only the final report reads it
    (evaluate.full_evaluation), so no mixer, estimation or feedback, all of which get a Corpus, can."""

    def __init__(self, path):
        meta_path = os.path.join(path, "meta.json")
        if not os.path.exists(meta_path):
            raise DataError(f"no corpus at {path} (no meta.json); build it with: python prepare.py "
                            f"--data_dir {os.path.dirname(path) or '.'} --corpus {os.path.basename(path)}")
        try:
            with open(meta_path) as f:
                meta = json.load(f)
            self.domains = [d["name"] for d in meta["domains"]]
            self.fields = [d["field"] for d in meta["domains"]]
        except (ValueError, KeyError, TypeError) as e:
            raise DataError(f"{meta_path} is not a corpus description written by prepare.py ({e}); "
                            "rebuild the corpus with prepare.py") from None
        if meta.get("format") != META_FORMAT:
            raise DataError(f"corpus {path} was built by an older prepare.py (no test split); delete that folder "
                            "and build it again with prepare.py (the default corpus is rebuilt by train.py)")
        bad_fields = sorted(set(self.fields) - {"source", "target"})
        if bad_fields:
            raise DataError(f"{meta_path} has unknown fields {bad_fields}; fields are 'source' or 'target'")
        self.path, self.meta = path, meta
        try:
            self.tokenizer = Tokenizer.load(os.path.join(path, meta["tokenizer"]["file"]))
        except PrepareError as e:
            raise DataError(str(e)) from None
        if self.tokenizer.fingerprint != meta["tokenizer"]["fingerprint"]:
            raise DataError(f"{path}/tokenizer.json does not match meta.json; rebuild the corpus with prepare.py")
        self.train, self.val = self._tokens("train"), self._tokens("val")
        self.fingerprint = meta["tokenizer"]["fingerprint"] + ":" + ",".join(
            f"{d['name']}={d['field']}:{d['train_tokens']}:{d['val_tokens']}:{d['test_tokens']}"
            for d in meta["domains"])

    def _tokens(self, split):
        """The memmapped token files of train or val, per domain (there is no way to test from here)."""
        assert split in ("train", "val"), split
        try:
            return [read_tokens(os.path.join(self.path, d, f"{split}.bin"), self.tokenizer.fingerprint)
                    for d in self.domains]
        except TokenFileError as e:
            raise DataError(str(e)) from None

    @property
    def train_tokens(self):
        return np.array([len(t) for t in self.train], dtype=np.float64)

    def field_indices(self, field):
        return [i for i, f in enumerate(self.fields) if f == field]

    def check_block_size(self, block_size, domains=None):
        for i, name in enumerate(self.domains):
            if domains is not None and name not in domains:
                continue
            for split, tokens in (("train", self.train[i]), ("val", self.val[i])):
                if len(tokens) < block_size + 1:
                    raise DataError(f"domain '{name}' has {len(tokens)} {split} tokens, fewer than one window of "
                                    f"block_size+1 = {block_size + 1}; give it more text or lower --block_size")

    def task(self, split):
        """The target task's problems of one split, "dev" (from the val documents: feedback during
        training) or "test" (from the test documents: the final report alone), as [{"domain", "prompt",
        "answer"}]; [] if the corpus has no task."""
        if not self.meta.get("task"):
            return []
        path = os.path.join(self.path, self.meta["task"]["file"])
        try:
            with open(path) as f:
                problems = [json.loads(line) for line in f if line.strip()]
            return [{"domain": p["domain"], "prompt": p["prompt"], "answer": p["answer"]} for p in problems
                    if p["split"] == split]
        except (OSError, ValueError, KeyError, TypeError) as e:
            raise DataError(f"the target task {path} is damaged ({type(e).__name__}); rebuild the corpus "
                            "with prepare.py") from None

    def dev_problems(self, count):
        """Up to `count` dev problems for feedback during training, an equal share per task domain."""
        dev = self.task("dev")
        domains = sorted({p["domain"] for p in dev})
        if not domains or count <= 0:
            return []
        per_domain = math.ceil(count / len(domains))
        return [p for d in domains for p in [q for q in dev if q["domain"] == d][:per_domain]][:count]


# ----------------------------------------------------------------------------- weights

def check_weights(w, domains, who):
    """A weight vector must be a finite distribution over the corpus' domains."""
    w = np.asarray(w, dtype=np.float64)
    if w.shape != (len(domains),) or not np.all(np.isfinite(w)) or np.any(w < 0) or abs(w.sum() - 1) > 1e-6:
        raise DataError(f"mixer '{who}' produced weights {np.round(w, 6).tolist()} for domains {domains}: "
                        "weights must be finite, non-negative and sum to 1")
    return w


def parse_weights(text, domains):
    """'code=0.2,math_compare=0.8' -> a normalised vector over `domains`; missing domains get 0."""
    values = {}
    for part in text.split(","):
        name, sep, value = part.partition("=")
        name = name.strip()
        if not sep:
            raise DataError(f"--weights entry '{part}' must look like DOMAIN=NUMBER, e.g. code=0.3,math_compare=0.7")
        if name not in domains:
            raise DataError(f"--weights names unknown domain '{name}'; the corpus has {domains}")
        try:
            values[name] = float(value)
        except ValueError:
            raise DataError(f"--weights value '{value}' for '{name}' is not a number") from None
    w = np.array([values.get(d, 0.0) for d in domains])
    if not np.all(np.isfinite(w)) or np.any(w < 0):
        raise DataError(f"--weights {text} has negative or non-finite values; give non-negative numbers")
    if w.sum() <= 0:
        raise DataError(f"--weights {text} sums to zero; give at least one domain a positive weight")
    return w / w.sum()


def initial_weights(corpus, config):
    """The starting mixture shared by every mixer: --weights, --target_ratio, or natural/uniform."""
    K = len(corpus.domains)
    if config["weights"]:
        return parse_weights(config["weights"], corpus.domains)
    if config["weights_from"]:
        return average_weights_of_run(config["weights_from"], corpus.domains)
    mode = config["init_weights"]
    if mode == "uniform":
        base = np.ones(K) / K
    elif mode == "natural":
        base = corpus.train_tokens / corpus.train_tokens.sum()
    else:
        raise DataError(f"--init_weights {mode} is unknown; use natural or uniform (or --weights ...)")
    ratio = config["target_ratio"]
    if ratio is None:
        return base
    if not 0 <= ratio <= 1:
        raise DataError(f"--target_ratio {ratio} must be between 0 and 1")
    w = np.zeros(K)
    for field, mass in (("target", ratio), ("source", 1 - ratio)):
        idx = corpus.field_indices(field)
        if mass > 0 and not idx:
            raise DataError(f"--target_ratio {ratio} puts mass on the {field} field, which has no domain in "
                            f"this corpus")
        if idx:
            w[idx] = mass * base[idx] / base[idx].sum()
    return w


def average_weights_of_run(run_dir, domains):
    """The time-average of the mixture another run actually SAMPLED: each domain's rows summed over the
    steps of its log.jsonl ("rows", the per-step row counts), over all rows. Not the logged weights: a mixer
    that forces rows (AC-ODM's slice) or draws one domain per batch (the bandit) samples a mixture its weights
    do not show. Velocitune's data-ordering ablation, and the suite's twins, train a static mixture at it."""
    path = os.path.join(run_dir, "log.jsonl")
    if not os.path.exists(path):
        raise DataError(f"--weights_from {run_dir}: no log.jsonl there; give a run folder written by train.py")
    try:
        with open(path) as f:
            rows = [json.loads(line) for line in f if line.strip()]
    except ValueError:
        raise DataError(f"--weights_from {run_dir}: its log.jsonl is damaged; give a finished run") from None
    rows = [r for r in rows if "rows" in r]
    if not rows:
        raise DataError(f"--weights_from {run_dir}: its log has no training steps with row counts; finish that "
                        "run (with this version of train.py) first")
    if rows[0]["domains"] != list(domains):
        raise DataError(f"--weights_from {run_dir} was trained on domains {rows[0]['domains']}, this corpus has "
                        f"{list(domains)}; use a run of the same corpus")
    counts = np.sum([r["rows"] for r in rows], axis=0, dtype=float)
    return counts / counts.sum()


# ----------------------------------------------------------------------------- the sampler

class Sampler:
    """Assembles batches whose rows per domain follow the weights.

    Row counts: systematic sampling of B points on the cumulative weights (one uniform offset), so each
    domain gets floor(B w_i) or ceil(B w_i) rows, E[count_i] = B w_i, and a weight of 0 gives no rows.
    Windows: each domain's train tokens are cut into non-overlapping windows of block_size+1 tokens
    (consecutive windows share one token); an epoch visits them in a shuffled order without
    replacement, then a new epoch starts with a new shuffle. The shuffle of epoch e is a pure function
    of (seed, domain, e), so the sampler's state is a few integers plus its generator's state.

    One-domain mode (one_domain_shares = S > 0, for a mixer that declares Mixer.one_domain_groups): the
    batch is S strided shares, rows s::S (process r of W trains on rows r::W, so on the shares r, r + W, ...),
    and each share's rows come from ONE domain drawn from the weights, d_s ~ w, independently, with the
    sampler's own generator (so a resume is exact and every process, holding the same sampler, agrees on every
    share's domain). Each batch() call is one micro-batch: with --grad_accum G a step draws S x G domains.
    """

    def __init__(self, corpus, batch_size, block_size, seed, one_domain_shares=0):
        self.corpus, self.batch_size, self.block_size, self.seed = corpus, batch_size, block_size, seed
        if one_domain_shares < 0 or (one_domain_shares and batch_size % one_domain_shares):
            raise DataError(f"a batch of {batch_size} rows cannot be cut into {one_domain_shares} one-domain "
                            "groups; give a --batch_size (per process) divisible by the mixer's groups (bandit: 8)")
        self.one_domain_shares = one_domain_shares
        K = len(corpus.domains)
        self.n_windows = [(len(t) - 1) // block_size for t in corpus.train]
        self.rng = np.random.Generator(np.random.PCG64(seed))
        self.epoch = [0] * K
        self.cursor = [0] * K  # windows used in the current epoch
        self.rows_seen = [0] * K
        self._orders = {}

    def _order(self, d):
        key = (d, self.epoch[d])
        if key not in self._orders:
            self._orders = {k: v for k, v in self._orders.items() if k[0] != d}  # keep one epoch per domain
            self._orders[key] = np.random.default_rng([self.seed, d, self.epoch[d]]).permutation(self.n_windows[d])
        return self._orders[key]

    def row_counts(self, weights, num_rows=None):
        B = self.batch_size if num_rows is None else num_rows
        if B == 0:
            return np.zeros(len(weights), dtype=np.int64)
        points = (self.rng.random() + np.arange(B)) / B
        edges = np.cumsum(weights)
        edges[-1] = 1.0  # guard against rounding: the last edge is exactly 1
        domain_of_point = np.searchsorted(edges, points, side="right")
        return np.bincount(domain_of_point, minlength=len(weights))

    def next_windows(self, d, n):
        """Start offsets of the next n windows of domain d, crossing into new epochs as needed."""
        starts = []
        while n > 0:
            if self.cursor[d] == self.n_windows[d]:
                self.epoch[d] += 1
                self.cursor[d] = 0
            take = min(n, self.n_windows[d] - self.cursor[d])
            starts.append(self._order(d)[self.cursor[d]:self.cursor[d] + take])
            self.cursor[d] += take
            n -= take
        return np.concatenate(starts) * self.block_size if starts else np.zeros(0, dtype=np.int64)

    def domains_of_rows(self, weights, min_rows=0):
        """The domain of each row of the next batch. Mixed rows: every domain gets min_rows rows first (one
        int, or one count per domain) and the rest follow the weights (row_counts), grouped by domain.
        One-domain mode: share s (rows s::S) is all domain d_s ~ weights."""
        K, S = len(weights), self.one_domain_shares
        forced = np.broadcast_to(np.asarray(min_rows, dtype=np.int64), (K,))
        if not S:
            return np.repeat(np.arange(K), forced + self.row_counts(weights, self.batch_size - int(forced.sum())))
        if forced.any():
            raise DataError("a mixer cannot both force rows of every domain and draw one domain per batch")
        p = np.asarray(weights, dtype=np.float64)
        return np.tile(self.rng.choice(K, size=S, p=p / p.sum()), self.batch_size // S)

    def batch(self, weights, min_rows=0):
        """(x, y, row_domain): int64 tensors (B, T), (B, T) and (B,), rows as domains_of_rows() assigns."""
        row_domain = self.domains_of_rows(weights, min_rows)
        data = np.empty((self.batch_size, self.block_size + 1), dtype=np.int64)
        offsets = np.arange(self.block_size + 1)
        for d, n in enumerate(np.bincount(row_domain, minlength=len(weights))):
            if n > 0:  # one fancy-indexed read per domain, no loop over rows
                data[row_domain == d] = self.corpus.train[d][self.next_windows(d, int(n))[:, None] + offsets]
                self.rows_seen[d] += int(n)
        data, row_domain = torch.from_numpy(data), torch.from_numpy(row_domain)
        return data[:, :-1], data[:, 1:], row_domain

    def tokens_per_domain(self):
        return [r * self.block_size for r in self.rows_seen]

    def epochs_per_domain(self):
        return [e + c / max(n, 1) for e, c, n in zip(self.epoch, self.cursor, self.n_windows)]

    def state_dict(self):
        return {"rng": self.rng.bit_generator.state, "epoch": list(self.epoch), "cursor": list(self.cursor),
                "rows_seen": list(self.rows_seen), "seed": self.seed}

    def load_state_dict(self, state):
        self.rng.bit_generator.state = state["rng"]
        self.epoch, self.cursor = list(state["epoch"]), list(state["cursor"])
        self.rows_seen, self.seed = list(state["rows_seen"]), state["seed"]
        self._orders = {}


def eval_windows(tokens, block_size, max_windows):
    """Fixed validation windows: up to max_windows non-overlapping windows spread evenly over the split."""
    n = (len(tokens) - 1) // block_size
    picks = np.linspace(0, n - 1, num=min(n, max_windows)).round().astype(np.int64) if n > 0 else []
    return np.stack([np.asarray(tokens[s * block_size: s * block_size + block_size + 1], dtype=np.int64)
                     for s in picks])

