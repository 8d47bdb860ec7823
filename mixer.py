"""
The Mixer interface and the non-learned mixers: static, bandit (ODM), dbl (Dynamic Batch Loading),
velocity (Velocitune) and random (the Data Mixing Agent's exploration), plus the scaling-law fit that
dbl and velocity share. The learned mixers (acodm.py, agent.py, regmix.py) build on the same interface;
train.py's MIXERS names them all.

    mixer = BanditMixer(corpus, config)            # config: train.py's options (steps, seed, the mixer's own)
    for step in ...:
        w = mixer.weights()                       # a distribution over corpus.domains
        ... sample rows following w, train ...
        mixer.observe_step(step, stats)           # per-domain train loss and row counts of this step
        mixer.observe_eval(step, ev)              # every eval: per-domain validation loss

A mixer's options (name -> (default, type, help)) live in its class' OPTIONS, beside the code that reads
them; train.py merges every mixer's into its command line, grouped by mixer.
"""

import math

import numpy as np

from data import DataError, check_weights, initial_weights


class ConfigError(Exception):
    """An option value that cannot work; the message names the option and what to give instead."""


def options_of(cls):
    """Every option a mixer class reads: its own OPTIONS and its base classes' (name -> (default, type, help))."""
    merged = {}
    for klass in reversed(cls.__mro__):
        merged.update(vars(klass).get("OPTIONS", {}))
    return merged


# ----------------------------------------------------------------------------- the objective

def objective(source_loss, target_loss):
    """The project's one objective, lower is better: the balanced loss (S + T) / 2, where S and T are the
    mean held-out losses (nats per token) of the source and of the target domains. It weighs a nat of
    source loss like a nat of target loss: forgetting the source costs what gaining on the target earns,
    in the units both are measured in, independent of where each started. The report, the suite's
    ranking and its static frontier, the Data Mixing Agent's reward and cloning, and RegMix's regression
    all use it; another objective must be an option named as such (agent.py --reward normalized)."""
    return (source_loss + target_loss) / 2


# ----------------------------------------------------------------------------- the interface

class Mixer:
    """The interface every mixer implements. Weights are over corpus.domains.

    A mixer that needs more than per-domain training losses declares it, and train.py computes it only
    then, so a static run pays nothing:
        eval_every           validation losses also every this many steps (besides --eval_interval)
        needs_loss_targets   train.py runs the scaling-law target estimation and calls set_targets()
        needs_model          train.py calls attach_model(model) once, before training
        min_rows_per_domain  every batch holds at least this many rows of each domain (or one count per domain)
        needs_feedback       at every eval_every step, ev also holds "task_logprob": the mean answer
                             log-prob of --feedback_problems dev problems (Corpus.dev_problems)
        one_domain_batches   each micro-batch (each process' share of it) holds ONE domain, drawn from
                             the weights (data.Sampler's one-domain mode), instead of rows of every domain
    The constructor reads train.py's options from `config`; a mixer's own options may be left out (their
    defaults come from OPTIONS).
    """

    name = "base"
    eval_every = None
    needs_loss_targets = False
    needs_model = False
    min_rows_per_domain = 0
    needs_feedback = False
    one_domain_batches = False
    OPTIONS = {  # the starting mixture and the re-weighting rhythm, shared by every mixer
        "init_weights": ("natural", str, "starting mixture: natural (by train tokens) or uniform"),
        "weights": ("", str, "explicit starting weights, e.g. code=0.2,math_compare=0.8 (others 0)"),
        "target_ratio": (None, float, "put this share of rows on the target field (split by tokens)"),
        "weights_from": ("", str, "start from the time-average of the rows per domain another run sampled "
                                 "(a run folder; its logged rows, not its weights, so forced rows count)"),
        "mix_interval": (40, int, "dynamic mixers: steps between weight updates (each needs a validation pass)"),
        "warmup_share": (0.02, float, "bandit, acodm: share of the steps sampled at the initial weights"),
    }

    def __init__(self, corpus, config):
        self.domains, self.fields = list(corpus.domains), list(corpus.fields)
        self.config = {**{name: spec[0] for name, spec in options_of(type(self)).items()}, **config}

    @classmethod
    def check_options(cls, config):
        """Refuse option values this mixer cannot work with (before any corpus or model is loaded)."""
        given = [k for k in ("weights", "target_ratio", "weights_from") if config[k] not in ("", None)]
        if len(given) > 1:
            raise ConfigError(f"--{' and --'.join(given)} each set the mixture; give one of them")
        if config["mix_interval"] <= 0:
            raise ConfigError(f"--mix_interval {config['mix_interval']} must be a positive integer")
        if not 0 <= config["warmup_share"] < 1:
            raise ConfigError(f"--warmup_share {config['warmup_share']} must be in [0, 1)")

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

    def finish(self):
        """Called once when the run has finished (AC-ODM writes its policy here)."""



class StaticMixer(Mixer):
    """Fixed weights: natural (proportional to train tokens), uniform, explicit (--weights d=x,...), the
    time-average of the rows another run sampled (--weights_from RUN_DIR), or with --target_ratio r: mass r on
    the target field and 1-r on the source field, each split by tokens."""

    name = "static"

    def __init__(self, corpus, config):
        super().__init__(corpus, config)
        self.w = check_weights(initial_weights(corpus, self.config), self.domains, self.name)

    def weights(self):
        return self.w


class BanditMixer(Mixer):
    """ODM, Online Data Mixing (Albalak et al. 2023, arXiv 2312.02406): the K domains are the arms of an
    EXP3 bandit, each batch is drawn from one arm, and the arm's reward is the batch's training loss, so
    domains the model still finds hard are sampled more.

    The paper's algorithm (default, --bandit_variant paper), at step t = 1, 2, ...:
        eps_t  = min(1/K, sqrt(ln K / (K t)))                                 [exploration()]
        pi_t   = (1 - K eps_t) softmax(eps_{t-1} R) + eps_t                   [weights()]
        draw a domain i ~ pi_t, then a batch from domain i                    [data.Sampler, one-domain mode]
        train on it; l_i = the batch's mean training loss
        R_i   <- a R_i + (1 - a) l_i / pi_{t-1,i}    for the drawn domain only [observe_step()]
    (pi_{t-1,i}: the probability the batch was drawn with, self.policy when observe_step runs; domains not
    drawn keep their R.) In EXP3's cumulative sum the importance weight 1/pi makes R_i unbiased although
    one domain is seen per step; ODM's moving average over the steps that drew i tracks l_i / pi_i instead,
    so a domain's reward also rises as its probability falls (a pull back toward rarely drawn domains).

    Our choices:
    - One domain per micro-batch and per process (the sampler's one-domain mode), as the released code's
      mixed-minibatch training draws world x grad_accum domains a step; with one process and
      --grad_accum 1 (our default) that is the paper's one domain per batch. Each domain seen in a step
      is updated once, with its mean loss over its micro-batches (the code's group_update).
    - Warm-up: the first warmup_share (2%) of the steps use the initial weights, drawn one domain per
      micro-batch too (the code mixes rows during its warm-up), and the rewards already accumulate.
    - eps_0 (used at t = 1) is the formula's limit min(1/K, inf) = 1/K; softmax subtracts the max first.
    - A domain set to 0 (--weights) stays at 0: K counts the others, and only they get eps_t.
    - The exploration share K eps_t is logged ("exploration_share"): 0.14 after 400 steps with K = 5, 0.1
      after 800 (ODM's runs reach 0.026), so a short run stays close to uniform. The paper's schedule,
      reported as it is, not tuned away.
    - --bandit_variant hedge: mixed batches (rows of every domain following pi_t) and the plain loss of
      every domain, R_i <- a R_i + (1 - a) l_i for all i (full information: EXP3 becomes Hedge).
    - The released code's other updaters (a cumulative sum of loss / 10 / pi; an EMA of exp(loss) with no
      importance weight and a linear policy) are not implemented.
    """

    name = "bandit"
    VARIANTS = ("paper", "hedge")
    OPTIONS = {"bandit_alpha": (0.9, float, "smoothing a of the reward's moving average"),
               "bandit_variant": ("paper", str, "paper: one domain per (micro-)batch, reward loss / probability "
                                                "(EXP3); hedge: mixed rows, every domain's plain loss"),
               "bandit_reward": ("", str, "retired: replaced by --bandit_variant paper|hedge")}

    @classmethod
    def check_options(cls, config):
        super().check_options(config)
        if config["bandit_reward"]:
            raise ConfigError("--bandit_reward was replaced by --bandit_variant paper|hedge "
                              "(importance -> paper, full -> hedge)")
        if not 0 <= config["bandit_alpha"] < 1:
            raise ConfigError(f"--bandit_alpha {config['bandit_alpha']} must be in [0, 1)")
        if config["bandit_variant"] not in cls.VARIANTS:
            raise ConfigError(f"--bandit_variant {config['bandit_variant']} is unknown; use paper or hedge")

    def __init__(self, corpus, config):
        super().__init__(corpus, config)
        self.initial = check_weights(initial_weights(corpus, self.config), self.domains, self.name)
        self.active = self.initial > 0  # domains the user set to 0 are never sampled
        self.K = int(self.active.sum())
        self.alpha, self.variant = self.config["bandit_alpha"], self.config["bandit_variant"]
        self.one_domain_batches = self.variant == "paper"
        self.warmup_steps = math.ceil(self.config["warmup_share"] * self.config["steps"])
        self.rewards = np.zeros(len(self.domains))  # R
        self.t = 1  # the step about to be sampled, 1-based
        self.policy = self.initial  # pi: the distribution the current step is drawn from

    def exploration(self, t):
        if t <= 0:
            return 1.0 / self.K
        return min(1.0 / self.K, math.sqrt(math.log(self.K) / (self.K * t))) if self.K > 1 else 1.0

    def weights(self):
        if self.t <= self.warmup_steps:
            self.policy = self.initial
        else:
            eps_t, eps_prev = self.exploration(self.t), self.exploration(self.t - 1)
            policy = np.zeros(len(self.domains))
            # pi_t = (1 - K eps_t) softmax(eps_{t-1} R) + eps_t
            policy[self.active] = (1 - self.K * eps_t) * softmax(eps_prev * self.rewards[self.active]) + eps_t
            self.policy = policy / policy.sum()  # remove rounding drift; the formula already sums to 1
        return self.policy

    def observe_step(self, step, stats):
        loss, rows = np.asarray(stats["train_loss"], dtype=np.float64), np.asarray(stats["rows"])
        seen = (rows > 0) & np.isfinite(loss) & (self.policy > 0)
        # paper: l_i / pi_{t-1,i} for the drawn domain(s); hedge: l_i for every domain (all are in the batch)
        observed = loss[seen] / self.policy[seen] if self.variant == "paper" else loss[seen]
        self.rewards[seen] = self.alpha * self.rewards[seen] + (1 - self.alpha) * observed  # R_i <- a R_i + (1-a) .
        self.t += 1

    def state_dict(self):
        return {"rewards": self.rewards.tolist(), "t": self.t, "policy": self.policy.tolist()}

    def load_state_dict(self, state):
        self.rewards, self.t = np.array(state["rewards"]), state["t"]
        self.policy = np.array(state["policy"])

    def log(self):
        """R, and K eps_t of the policy last given: the share of the batch spent on uniform exploration."""
        in_warmup = self.t - 1 <= self.warmup_steps
        return {"rewards": [round(float(r), 5) for r in self.rewards],
                "exploration_share": 0.0 if in_warmup else round(self.K * self.exploration(self.t - 1), 5)}


def numbers(text):
    """'0.8,0.1' -> [0.8, 0.1]; [] when an entry is not a number (the caller's check names the option)."""
    try:
        return [float(x) for x in text.split(",")]
    except ValueError:
        return []


def softmax(x):
    z = np.exp(x - np.max(x))
    return z / z.sum()


def field_split(tokens, target, target_share):
    """Weights with target_share on the target field and the rest on the source field, each field's share
    split by its domains' training tokens (as --target_ratio does)."""
    return np.where(target, target_share * tokens / tokens[target].sum(),
                    (1 - target_share) * tokens / tokens[~target].sum())


class ScheduleMixer(Mixer):
    """A hand-written schedule of the target field's share, a reference rather than a method: it tells
    whether *when* the target data is seen matters at all, apart from *how much* (compare it with the
    static mixture of the same average share). The share moves piecewise linearly through the values of
    --schedule_shares, spread evenly over the run's steps, e.g. 0.8,0.1 from 80% at the first step down to
    10% at the last; within each field the domains are split by tokens, as --target_ratio does."""

    name = "schedule"
    OPTIONS = {"schedule_shares": ("0.8,0.1", str, "target-field shares the run moves through, evenly spaced "
                                                   "over its steps (piecewise linear)")}

    @classmethod
    def check_options(cls, config):
        super().check_options(config)
        shares = numbers(config["schedule_shares"])
        if not shares or not all(0 <= s <= 1 for s in shares):
            raise ConfigError(f"--schedule_shares {config['schedule_shares']} must be one or more shares in [0, 1], "
                              "e.g. 0.8,0.1")

    def __init__(self, corpus, config):
        super().__init__(corpus, config)
        if not corpus.field_indices("target") or not corpus.field_indices("source"):
            raise DataError("--mixer schedule moves the target field's share; the corpus needs source and target "
                            "domains")
        self.shares = numbers(self.config["schedule_shares"])
        self.tokens = np.asarray(corpus.train_tokens, dtype=np.float64)
        self.target = np.array([f == "target" for f in self.fields])
        self.steps, self.t = max(1, self.config["steps"]), 0

    def target_share(self, step):
        progress = step / max(1, self.steps - 1)
        return float(np.interp(progress, np.linspace(0, 1, len(self.shares)), self.shares))

    def weights(self):
        return check_weights(field_split(self.tokens, self.target, self.target_share(self.t)), self.domains,
                             self.name)

    def observe_step(self, step, stats):
        self.t += 1

    def state_dict(self):
        return {"t": self.t}

    def load_state_dict(self, state):
        self.t = state["t"]

    def log(self):
        return {"target_share": round(self.target_share(self.t), 4)}


def dirichlet_natural(tokens, size, rng):
    """`size` mixtures from RegMix's prior (Liu et al. 2024), drawn by RandomMixer's dirichlet_natural schedule
    for the proxy runs and by RegMix for its candidates:
    w ~ Dirichlet(max(s K p, 1e-3)), p = tokens / sum, a strength s ~ log-uniform[0.1, 5] per mixture."""
    p = np.asarray(tokens, dtype=np.float64) / np.sum(tokens)
    s = np.exp(rng.uniform(np.log(0.1), np.log(5.0), size=(size, 1)))
    alpha = np.maximum(s * len(p) * p, 1e-3)
    # Dirichlet = normalised Gamma(alpha) draws, taken in logs: Gamma(a) = Gamma(a + 1) U^(1/a) underflows
    # to 0 for a ~ 1e-3, its log does not (rng.dirichlet takes one alpha, not one per row)
    log_gamma = np.log(rng.standard_gamma(alpha + 1)) + np.log(rng.uniform(size=alpha.shape)) / alpha
    w = np.exp(log_gamma - log_gamma.max(axis=1, keepdims=True))
    w = np.maximum(w / w.sum(axis=1, keepdims=True), 1e-6)  # the floor RandomMixer.point keeps
    return w / w.sum(axis=1, keepdims=True)


class RandomMixer(Mixer):
    """Random mixing schedules, the environment's exploration for the Data Mixing Agent (arXiv 2507.15640):
    its training trajectories must cover the strategy space. Every mix_interval steps the weights move
    to the next point of one schedule, drawn from the run's seed unless --random_schedule names it:
        walk       Dirichlet random walk around a centre c ~ Dirichlet(1):
                   w <- Dirichlet(kappa (lam w + (1 - lam) c)), kappa = random_concentration (50), lam = 0.7
        fresh      w ~ Dirichlet(1), a fresh draw every interval
        constant   one Dirichlet(1) draw for the whole run
        dirichlet_natural  RegMix's proxy runs (Liu et al. 2024): one draw for the whole run from
                   dirichlet_natural(): w ~ Dirichlet(s K p), p the natural (token) mixture, s log-uniform
                   in [0.1, 5]; only by name, never drawn
        ramp_up    the target field's share moves linearly from r0 to r1 > r0 over the run (r0, r1 drawn),
        ramp_down  ... or from r1 down to r0; within a field, domains are split by tokens
        alternate  the target share switches between r0 and r1 every interval
    Weights keep a floor of 1e-6 so every vector lies strictly inside the simplex."""

    name = "random"
    needs_feedback = True  # its runs are the agent's trajectories: feedback at every re-weighting
    SCHEDULES = ("walk", "fresh", "constant", "ramp_up", "ramp_down", "alternate")  # drawn in turn
    OPTIONS = {"random_schedule": ("", str, f"one of {', '.join(SCHEDULES)} or dirichlet_natural (RegMix's runs); "
                                            "empty: drawn from the seed"),
               "random_concentration": (50.0, float, "Dirichlet concentration of the walk's steps")}

    def __init__(self, corpus, config):
        super().__init__(corpus, config)
        self.rng = np.random.Generator(np.random.PCG64(self.config["seed"] + 7919))
        self.kind = self.config["random_schedule"] or str(self.rng.choice(self.SCHEDULES))
        if self.kind not in self.SCHEDULES + ("dirichlet_natural",):
            raise DataError(f"--random_schedule {self.kind} is unknown; choose one of "
                            f"{list(self.SCHEDULES) + ['dirichlet_natural']}")
        if self.kind.startswith("ramp") or self.kind == "alternate":
            if not corpus.field_indices("target") or not corpus.field_indices("source"):
                raise DataError(f"--random_schedule {self.kind} moves the target field's share; the corpus "
                                "needs source and target domains")
        self.interval = self.eval_every = self.config["mix_interval"]
        self.intervals = max(1, math.ceil(self.config["steps"] / self.interval))
        self.concentration = self.config["random_concentration"]
        self.tokens = np.asarray(corpus.train_tokens, dtype=np.float64)
        self.target = np.array([f == "target" for f in self.fields])
        K = len(self.domains)
        self.centre = self.rng.dirichlet(np.ones(K))
        self.shares = np.sort(self.rng.uniform(0.05, 0.95, 2))  # r0 < r1
        self.t, self.k = 0, 0
        self.w = self.point(0)

    def point(self, k):
        """The schedule's weights for interval k (the walk and the draws use the mixer's own generator)."""
        K = len(self.domains)
        r0, r1 = self.shares
        progress = k / max(1, self.intervals - 1)
        if self.kind == "walk":
            w = self.centre if k == 0 else self.rng.dirichlet(self.concentration * (0.7 * self.w + 0.3 * self.centre))
        elif self.kind == "fresh" or (self.kind == "constant" and k == 0):
            w = self.rng.dirichlet(np.ones(K))
        elif self.kind == "dirichlet_natural" and k == 0:
            w = dirichlet_natural(self.tokens, 1, self.rng)[0]
        elif self.kind in ("constant", "dirichlet_natural"):
            w = self.w
        elif self.kind == "ramp_up":
            w = field_split(self.tokens, self.target, r0 + (r1 - r0) * progress)
        elif self.kind == "ramp_down":
            w = field_split(self.tokens, self.target, r1 - (r1 - r0) * progress)
        else:  # alternate
            w = field_split(self.tokens, self.target, r0 if k % 2 == 0 else r1)
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
