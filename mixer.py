"""
Domain data, the sampler, and the mixers that set the sampling weights over domains.

    corpus = Corpus("data/default")               # memmapped token files + meta.json
    sampler = Sampler(corpus, batch_size, block_size, seed)
    mixer = make_mixer("static", corpus, config)  # or any name in MIXERS
    for step in ...:
        w = mixer.weights()                       # a distribution over corpus.domains
        x, y, row_domain = sampler.batch(w)       # rows per domain follow w with low variance
        ... train ...
        mixer.observe_step(step, stats)           # per-domain train loss and row counts of this step
        mixer.observe_eval(step, ev)              # every eval: per-domain validation loss

Adding a mixer is one class with the interface of `Mixer` plus one line in `MIXERS`.
"""

import json
import math
import os

import numpy as np
import torch

from prepare import Tokenizer, TokenFileError, PrepareError, read_tokens, split_qa_document


class DataError(Exception):
    """A problem with a corpus or a weight vector; the message names it and the fix."""


# ----------------------------------------------------------------------------- domain data

class Corpus:
    """A corpus written by prepare.py: domains with their field and memmapped train/val tokens."""

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
        try:
            self.train = [read_tokens(os.path.join(path, d, "train.bin"), self.tokenizer.fingerprint)
                          for d in self.domains]
            self.val = [read_tokens(os.path.join(path, d, "val.bin"), self.tokenizer.fingerprint)
                        for d in self.domains]
        except TokenFileError as e:
            raise DataError(str(e)) from None
        self.fingerprint = meta["tokenizer"]["fingerprint"] + ":" + ",".join(
            f"{d['name']}={d['field']}:{d['train_tokens']}:{d['val_tokens']}" for d in meta["domains"])

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

    def task(self):
        """The target task's held-out problems [{"domain", "prompt", "answer"}], or [] if the corpus has none."""
        if not self.meta.get("task"):
            return []
        path = os.path.join(self.path, self.meta["task"]["file"])
        try:
            with open(path) as f:
                problems = [json.loads(line) for line in f if line.strip()]
            return [{"domain": p["domain"], "prompt": p["prompt"], "answer": p["answer"]} for p in problems]
        except (OSError, ValueError, KeyError, TypeError) as e:
            raise DataError(f"the target task {path} is damaged ({type(e).__name__}); rebuild the corpus "
                            "with prepare.py") from None

    def dev_problems(self, count):
        """Up to `count` problems for feedback during training, disjoint from the target task: further
        'Question: ...\nAnswer: ...' documents of the task's domains' validation split (the task took the
        first ones), an equal share per domain. [] if the corpus has no task."""
        test = self.task()
        task_domains = sorted({p["domain"] for p in test})
        if not task_domains or count <= 0:
            return []
        test_prompts, problems = {p["prompt"] for p in test}, []
        for name in task_domains:
            ids = np.asarray(self.val[self.domains.index(name)])
            ends = np.flatnonzero(ids == self.tokenizer.eot)
            starts = np.concatenate([[0], ends[:-1] + 1])
            found = []
            for start, end in zip(starts, ends):
                text = self.tokenizer.decode(ids[start:end].tolist())
                if "\nAnswer: " not in text:
                    continue
                prompt, answer = split_qa_document(text)
                if prompt not in test_prompts:
                    found.append({"domain": name, "prompt": prompt, "answer": answer})
                if len(found) == math.ceil(count / len(task_domains)):
                    break
            problems += found
        return problems[:count]


# ----------------------------------------------------------------------------- weights

def check_weights(w, domains, who):
    """A weight vector must be a finite distribution over the corpus' domains."""
    w = np.asarray(w, dtype=np.float64)
    if w.shape != (len(domains),) or not np.all(np.isfinite(w)) or np.any(w < 0) or abs(w.sum() - 1) > 1e-6:
        raise DataError(f"mixer '{who}' produced weights {np.round(w, 6).tolist()} for domains {domains}: "
                        "weights must be finite, non-negative and sum to 1")
    return w


def parse_weights(text, domains):
    """'code=0.2,math_arith=0.8' -> a normalised vector over `domains`; missing domains get 0."""
    values = {}
    for part in text.split(","):
        name, sep, value = part.partition("=")
        name = name.strip()
        if not sep:
            raise DataError(f"--weights entry '{part}' must look like DOMAIN=NUMBER, e.g. code=0.3,math_arith=0.7")
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


# ----------------------------------------------------------------------------- the sampler

class Sampler:
    """Assembles batches whose rows per domain follow the weights.

    Row counts: systematic sampling of B points on the cumulative weights (one uniform offset), so each
    domain gets floor(B w_i) or ceil(B w_i) rows, E[count_i] = B w_i, and a weight of 0 gives no rows.
    Windows: each domain's train tokens are cut into non-overlapping windows of block_size+1 tokens
    (consecutive windows share one token); an epoch visits them in a shuffled order without
    replacement, then a new epoch starts with a new shuffle. The shuffle of epoch e is a pure function
    of (seed, domain, e), so the sampler's state is a few integers plus its generator's state.
    """

    def __init__(self, corpus, batch_size, block_size, seed):
        self.corpus, self.batch_size, self.block_size, self.seed = corpus, batch_size, block_size, seed
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

    def batch(self, weights, min_rows=0):
        """(x, y, row_domain): int64 tensors (B, T), (B, T) and (B,). With min_rows, every domain gets
        that many rows first and the remaining rows follow the weights."""
        K = len(weights)
        counts = min_rows + self.row_counts(weights, self.batch_size - min_rows * K)
        offsets = np.arange(self.block_size + 1)
        rows = []
        for d, n in enumerate(counts):
            if n > 0:  # one fancy-indexed read per domain, no loop over rows
                rows.append(self.corpus.train[d][self.next_windows(d, int(n))[:, None] + offsets])
                self.rows_seen[d] += int(n)
        data = torch.from_numpy(np.concatenate(rows).astype(np.int64))
        row_domain = torch.from_numpy(np.repeat(np.arange(K), counts))
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


# ----------------------------------------------------------------------------- mixers

class Mixer:
    """The interface every mixer implements. Weights are over corpus.domains.

    A mixer that needs more than per-domain training losses declares it, and train.py computes it only
    then, so a static run pays nothing:
        eval_every           validation losses also every this many steps (besides --eval_interval)
        needs_loss_targets   train.py runs the scaling-law target estimation and calls set_targets()
        needs_model          train.py calls attach_model(model) once, before training
        min_rows_per_domain  every batch holds at least this many rows of each domain
        needs_feedback       at every eval_every step, ev also holds "task_logprob": the mean answer
                             log-prob of --feedback_problems dev problems (Corpus.dev_problems)
    """

    name = "base"
    eval_every = None
    needs_loss_targets = False
    needs_model = False
    min_rows_per_domain = 0
    needs_feedback = False

    def __init__(self, corpus, config):
        self.domains, self.fields = list(corpus.domains), list(corpus.fields)

    def weights(self):
        raise NotImplementedError

    def observe_step(self, step, stats):
        """stats: {"train_loss": [K floats, NaN for domains without rows], "rows": [K ints]}"""

    def observe_eval(self, step, ev):
        """ev: {"val_loss": [K floats], ...}"""

    def state_dict(self):
        return {}

    def load_state_dict(self, state):
        pass

    def log(self):
        return {}


def initial_weights(corpus, config):
    """The starting mixture shared by every mixer: --weights, --target_ratio, or natural/uniform."""
    K = len(corpus.domains)
    if config.get("weights"):
        return parse_weights(config["weights"], corpus.domains)
    if config.get("weights_from"):
        return average_weights_of_run(config["weights_from"], corpus.domains)
    mode = config.get("init_weights", "natural")
    if mode == "uniform":
        base = np.ones(K) / K
    elif mode == "natural":
        base = corpus.train_tokens / corpus.train_tokens.sum()
    else:
        raise DataError(f"--init_weights {mode} is unknown; use natural or uniform (or --weights ...)")
    ratio = config.get("target_ratio")
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
    """The time-average of the weights another run used (its log.jsonl): Velocitune's data-ordering
    ablation trains a static mixture with the same average as a dynamic run."""
    path = os.path.join(run_dir, "log.jsonl")
    if not os.path.exists(path):
        raise DataError(f"--weights_from {run_dir}: no log.jsonl there; give a run folder written by train.py")
    try:
        with open(path) as f:
            rows = [json.loads(line) for line in f if line.strip()]
    except ValueError:
        raise DataError(f"--weights_from {run_dir}: its log.jsonl is damaged; give a finished run") from None
    rows = [r for r in rows if "weights" in r]
    if not rows:
        raise DataError(f"--weights_from {run_dir}: its log has no training steps yet; finish that run first")
    if rows[0]["domains"] != list(domains):
        raise DataError(f"--weights_from {run_dir} was trained on domains {rows[0]['domains']}, this corpus has "
                        f"{list(domains)}; use a run of the same corpus")
    w = np.mean([r["weights"] for r in rows], axis=0)
    return w / w.sum()


class StaticMixer(Mixer):
    """Fixed weights: natural (proportional to train tokens), uniform, explicit (--weights d=x,...), the
    time-average of another run's weights (--weights_from RUN_DIR), or with --target_ratio r: mass r on
    the target field and 1-r on the source field, each split by tokens."""

    name = "static"

    def __init__(self, corpus, config):
        super().__init__(corpus, config)
        self.w = check_weights(initial_weights(corpus, config), self.domains, self.name)

    def weights(self):
        return self.w

    def log(self):
        return {}


class BanditMixer(Mixer):
    """ODM (Albalak et al. 2023, arXiv 2312.02406): domains are the arms of an EXP3 bandit whose reward
    is the domain's training loss, so domains the model still finds hard are sampled more.

    At step t (1-based) with K domains:
        eps_t  = min(1/K, sqrt(ln K / (K t)))                                 [exploration()]
        pi_t   = (1 - K eps_t) softmax(eps_{t-1} R) + eps_t                   [weights()]
    after the step, for each domain i that had rows, with l_i its mean training loss:
        R_i   <- a R_i + (1 - a) l_i / pi_{t,i}       (importance weighted, a = bandit_alpha = 0.9)
                                                                             [observe_step()]
    Where the paper is silent or differs from our setting, we chose:
    - ODM samples one arm (domain) per batch; our batches hold rows of several domains, so every domain
      with rows in the batch is updated with its own mean loss, importance-weighted by its probability.
    - Warm-up: for the first warmup_share (2%) of the steps the initial weights are used, and the
      rewards already accumulate (importance-weighted by the initial weights).
    - eps_0 (used at t = 1) is the formula's limit min(1/K, inf) = 1/K.
    - softmax subtracts the max first, so huge rewards cannot overflow.
    The released code's variant (an EMA of exp(loss), no importance weighting, a linear policy) is not
    implemented here.
    """

    name = "bandit"

    def __init__(self, corpus, config):
        super().__init__(corpus, config)
        self.K = len(self.domains)
        self.initial = check_weights(initial_weights(corpus, config), self.domains, self.name)
        self.alpha = config.get("bandit_alpha", 0.9)
        self.warmup_steps = math.ceil(config.get("warmup_share", 0.02) * config.get("steps", 0))
        self.rewards = np.zeros(self.K)
        self.t = 1  # the step about to be sampled, 1-based
        self.policy = self.initial

    def exploration(self, t):
        if t <= 0:
            return 1.0 / self.K
        return min(1.0 / self.K, math.sqrt(math.log(self.K) / (self.K * t)))

    def weights(self):
        if self.t <= self.warmup_steps:
            self.policy = self.initial
        else:
            eps_t, eps_prev = self.exploration(self.t), self.exploration(self.t - 1)
            self.policy = (1 - self.K * eps_t) * softmax(eps_prev * self.rewards) + eps_t
            self.policy /= self.policy.sum()  # remove rounding drift; the formula already sums to 1
        return self.policy

    def observe_step(self, step, stats):
        loss, rows = np.asarray(stats["train_loss"], dtype=np.float64), np.asarray(stats["rows"])
        seen = (rows > 0) & np.isfinite(loss) & (self.policy > 0)
        self.rewards[seen] = self.alpha * self.rewards[seen] + (1 - self.alpha) * loss[seen] / self.policy[seen]
        self.t += 1

    def state_dict(self):
        return {"rewards": self.rewards.tolist(), "t": self.t, "policy": self.policy.tolist()}

    def load_state_dict(self, state):
        self.rewards, self.t = np.array(state["rewards"]), state["t"]
        self.policy = np.array(state["policy"])

    def log(self):
        return {"rewards": [round(float(r), 5) for r in self.rewards], "exploration": self.exploration(self.t - 1)}


def softmax(x):
    z = np.exp(x - np.max(x))
    return z / z.sum()


class LossTargetMixer(Mixer):
    """Shared by dbl and velocity: weights updated from per-domain validation losses every
    mix_interval steps, relative to per-domain target losses L_tgt from a scaling-law estimate
    (train.py runs the estimate and calls set_targets before training)."""

    needs_loss_targets = True

    def __init__(self, corpus, config):
        super().__init__(corpus, config)
        self.w = check_weights(initial_weights(corpus, config), self.domains, self.name)
        self.eval_every = config.get("mix_interval", 50)
        self.targets = None  # L_tgt per domain
        self.initial_loss = None  # L_init: validation loss at step 0 (the base model)
        self.last_loss = None
        self.updates = 0

    def set_targets(self, targets):
        self.targets = np.asarray(targets, dtype=np.float64)

    def weights(self):
        return self.w

    def observe_eval(self, step, ev):
        loss = np.asarray(ev["val_loss"], dtype=np.float64)
        self.last_loss = loss
        if step == 0:
            self.initial_loss = loss
            return
        if step % self.eval_every or self.targets is None:
            return
        self.w = self.update(self.w, loss)
        self.updates += 1

    def state_dict(self):
        as_list = lambda a: None if a is None else [float(x) for x in a]
        return {"w": as_list(self.w), "targets": as_list(self.targets), "initial_loss": as_list(self.initial_loss),
                "last_loss": as_list(self.last_loss), "updates": self.updates}

    def load_state_dict(self, state):
        as_array = lambda a: None if a is None else np.array(a, dtype=np.float64)
        self.w, self.targets = as_array(state["w"]), as_array(state["targets"])
        self.initial_loss, self.last_loss = as_array(state["initial_loss"]), as_array(state["last_loss"])
        self.updates = state["updates"]

    def log(self):
        return {"targets": None if self.targets is None else [round(float(x), 4) for x in self.targets],
                "updates": self.updates}


class DBLMixer(LossTargetMixer):
    """Dynamic Batch Loading (Sheared-LLaMA, Xia et al. 2023): domains whose validation loss is furthest
    above their reference loss get exponentially more weight.

    Every mix_interval steps, with L the per-domain validation loss and L_ref the reference loss:
        w <- (1 - c) softmax(log w + eta max(L - L_ref, 0)) + c / K       [update()]
    eta = dbl_eta = 1, c = dbl_smoothing = 1e-4. Sheared-LLaMA takes L_ref from a reference model's
    scaling-law prediction; here L_ref is the same scaling-law target that velocity uses.
    No update at step 0: the first update comes after the first interval of training."""

    name = "dbl"

    def __init__(self, corpus, config):
        super().__init__(corpus, config)
        self.eta, self.smoothing = config.get("dbl_eta", 1.0), config.get("dbl_smoothing", 1e-4)

    def update(self, w, loss):
        excess = np.maximum(loss - self.targets, 0.0)
        with np.errstate(divide="ignore"):
            logits = np.log(w) + self.eta * excess
        K = len(w)
        return (1 - self.smoothing) * softmax(logits) + self.smoothing / K

    def log(self):
        out = super().log()
        if self.last_loss is not None and self.targets is not None:
            out["excess_loss"] = [round(float(x), 4) for x in np.maximum(self.last_loss - self.targets, 0)]
        return out


class VelocityMixer(LossTargetMixer):
    """Velocitune (Luo et al. 2024, arXiv 2411.14318): domains that learn slowly relative to their
    scaling-law target get more weight.

    (1) L_tgt: a short CPT on velocity_share (20%) of the budget with the initial weights; per-domain
        validation losses at >= 6 points are fitted with L(D) = E + B D^-beta and extrapolated to the
        full budget (fit_scaling_law; run and cached by train.py).
    (2) L_init: the base model's validation loss at step 0.
    (3) every mix_interval steps:
        V_i = clip((L_i - L_tgt_i) / (L_init_i - L_tgt_i), 0, 1)          [velocity()]
        w   <- softmax(log w + step_size * V)          (step_size = 1, the paper's)   [update()]
    Large V = slow domain = more weight. Where the paper is silent, we chose:
    - the denominator is taken in magnitude, |L_init - L_tgt|, and floored at velocity_min_gap (0.01
      nats): for domains whose loss falls (every domain in the paper) this is the paper's formula;
      for a source domain whose target is *above* its initial loss (expected forgetting) the sign
      of the paper's formula would reward forgetting more than expected; with the magnitude a domain
      above its target still counts as lagging. A gap below the floor (L_init ~ L_tgt) is degenerate:
      such a domain gets V = 0 while it is at or below its target.
    - no update at step 0 (V would be 1 everywhere and leave w unchanged)."""

    name = "velocity"

    def __init__(self, corpus, config):
        super().__init__(corpus, config)
        self.step_size = config.get("velocity_step_size", 1.0)
        self.min_gap = config.get("velocity_min_gap", 0.01)

    def velocity(self, loss):
        gap = np.maximum(np.abs(self.initial_loss - self.targets), self.min_gap)
        return np.clip((loss - self.targets) / gap, 0.0, 1.0)

    def update(self, w, loss):
        with np.errstate(divide="ignore"):
            return softmax(np.log(w) + self.step_size * self.velocity(loss))

    def log(self):
        out = super().log()
        if self.last_loss is not None and self.targets is not None and self.initial_loss is not None:
            out["velocity"] = [round(float(x), 4) for x in self.velocity(self.last_loss)]
        return out


class RandomMixer(Mixer):
    """Random mixing schedules, the environment's exploration for the Data Mixing Agent (arXiv 2507.15640):
    its training trajectories must cover the strategy space. Every mix_interval steps the weights move
    to the next point of one schedule, drawn from the run's seed unless --random_schedule names it:
        walk       Dirichlet random walk around a centre c ~ Dirichlet(1):
                   w <- Dirichlet(kappa (lam w + (1 - lam) c)), kappa = random_concentration (50), lam = 0.7
        fresh      w ~ Dirichlet(1), a fresh draw every interval
        constant   one Dirichlet(1) draw for the whole run
        ramp_up    the target field's share moves linearly from r0 to r1 > r0 over the run (r0, r1 drawn),
        ramp_down  ... or from r1 down to r0; within a field, domains are split by tokens
        alternate  the target share switches between r0 and r1 every interval
    Weights keep a floor of 1e-6 so every vector lies strictly inside the simplex."""

    name = "random"
    needs_feedback = True  # its runs are the agent's trajectories: feedback at every re-weighting
    SCHEDULES = ("walk", "fresh", "constant", "ramp_up", "ramp_down", "alternate")

    def __init__(self, corpus, config):
        super().__init__(corpus, config)
        self.rng = np.random.Generator(np.random.PCG64(config.get("seed", 0) + 7919))
        self.kind = config.get("random_schedule") or str(self.rng.choice(self.SCHEDULES))
        if self.kind not in self.SCHEDULES:
            raise DataError(f"--random_schedule {self.kind} is unknown; choose one of {list(self.SCHEDULES)}")
        if self.kind.startswith("ramp") or self.kind == "alternate":
            if not corpus.field_indices("target") or not corpus.field_indices("source"):
                raise DataError(f"--random_schedule {self.kind} moves the target field's share; the corpus "
                                "needs source and target domains")
        self.interval = self.eval_every = config.get("mix_interval", 50)
        self.intervals = max(1, math.ceil(config.get("steps", 1) / self.interval))
        self.concentration = config.get("random_concentration", 50.0)
        self.tokens = np.asarray(corpus.train_tokens, dtype=np.float64)
        self.target = np.array([f == "target" for f in self.fields])
        K = len(self.domains)
        self.centre = self.rng.dirichlet(np.ones(K))
        self.shares = np.sort(self.rng.uniform(0.05, 0.95, 2))  # r0 < r1
        self.t, self.k = 0, 0
        self.w = self.point(0)

    def field_split(self, target_share):
        w = np.where(self.target, target_share * self.tokens / self.tokens[self.target].sum(),
                     (1 - target_share) * self.tokens / self.tokens[~self.target].sum())
        return w

    def point(self, k):
        """The schedule's weights for interval k (the walk and the draws use the mixer's own generator)."""
        K = len(self.domains)
        r0, r1 = self.shares
        progress = k / max(1, self.intervals - 1)
        if self.kind == "walk":
            w = self.centre if k == 0 else self.rng.dirichlet(self.concentration * (0.7 * self.w + 0.3 * self.centre))
        elif self.kind == "fresh" or (self.kind == "constant" and k == 0):
            w = self.rng.dirichlet(np.ones(K))
        elif self.kind == "constant":
            w = self.w
        elif self.kind == "ramp_up":
            w = self.field_split(r0 + (r1 - r0) * progress)
        elif self.kind == "ramp_down":
            w = self.field_split(r1 - (r1 - r0) * progress)
        else:  # alternate
            w = self.field_split(r0 if k % 2 == 0 else r1)
        w = np.maximum(w, 1e-6)
        return w / w.sum()

    def weights(self):
        return self.w

    def observe_step(self, step, stats):
        self.t += 1
        if self.t % self.interval == 0:
            self.k += 1
            self.w = self.point(self.k)

    def state_dict(self):
        return {"rng": self.rng.bit_generator.state, "kind": self.kind, "t": self.t, "k": self.k,
                "w": self.w.tolist(), "centre": self.centre.tolist(), "shares": self.shares.tolist()}

    def load_state_dict(self, state):
        self.rng.bit_generator.state = state["rng"]
        self.kind, self.t, self.k = state["kind"], state["t"], state["k"]
        self.w, self.centre = np.array(state["w"]), np.array(state["centre"])
        self.shares = np.array(state["shares"])

    def log(self):
        return {"schedule": self.kind, "interval": self.k}


# ----------------------------------------------------------------------------- scaling-law fit

def fit_scaling_law(tokens, losses, betas=np.geomspace(0.01, 3.0, 300)):
    """Fit L(D) = E + B D^-beta by a grid over beta (least squares for E, B at each beta, then two
    finer grids around the best), robust and dependency-free. Returns {"E", "B", "beta", "rmse",
    "residuals", "flag"}; flag is None for a usable fit, else why it is doubtful (too few points, a
    flat or rising curve, beta at the edge of the grid, a poor fit). Never raises on finite input."""
    D, L = np.asarray(tokens, dtype=np.float64), np.asarray(losses, dtype=np.float64)
    keep = np.isfinite(D) & np.isfinite(L) & (D > 0)
    D, L = D[keep], L[keep]
    if len(D) < 3:
        return {"E": float(L[-1]) if len(L) else float("nan"), "B": 0.0, "beta": 0.0, "rmse": float("nan"),
                "residuals": [], "flag": f"only {len(D)} points"}
    scale = D.max()  # fit in D / max(D): the same curve, better conditioned
    x = D / scale

    def solve(beta):
        A = np.stack([np.ones_like(x), x ** -beta], axis=1)
        (E, B), *_ = np.linalg.lstsq(A, L, rcond=None)
        return float(np.sum((A @ np.array([E, B]) - L) ** 2)), E, B

    betas = np.asarray(betas, dtype=np.float64)
    sse = [solve(b)[0] for b in betas]
    best = int(np.argmin(sse))
    at_edge = best in (0, len(betas) - 1)
    grid = betas
    for _ in range(2):  # zoom in around the best beta
        grid = np.linspace(grid[max(best - 1, 0)], grid[min(best + 1, len(grid) - 1)], 41)
        best = int(np.argmin([solve(b)[0] for b in grid]))
    beta = float(grid[best])
    sse, E, B = solve(beta)
    B_raw = B * scale ** beta  # back to raw token units: B x^-beta = B scale^beta D^-beta
    residuals = (E + B * x ** -beta - L).tolist()
    rmse = math.sqrt(sse / len(L))
    flag = None
    if np.ptp(L) < 1e-3 or B <= 0:
        flag = "flat or rising curve"
    elif at_edge:
        flag = "beta at the edge of the grid"
    elif rmse > 0.1 * np.ptp(L):
        flag = "poor fit"
    return {"E": float(E), "B": float(B_raw), "beta": beta, "rmse": rmse, "residuals": residuals, "flag": flag}


def predict_loss(fit, tokens):
    return fit["E"] + fit["B"] * float(tokens) ** -fit["beta"] if fit["beta"] > 0 else fit["E"]


MIXERS = {
    "static": StaticMixer,
    "bandit": BanditMixer,
    "dbl": DBLMixer,
    "velocity": VelocityMixer,
    "random": RandomMixer,
}


def make_mixer(name, corpus, config):
    if name not in MIXERS:
        raise DataError(f"--mixer {name} is unknown; choose one of {sorted(MIXERS)}")
    return MIXERS[name](corpus, config)
