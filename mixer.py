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


# ----------------------------------------------------------------------------- the interface

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
    The constructor reads train.py's options from `config`; a mixer's own options may be left out (their
    defaults come from OPTIONS).
    """

    name = "base"
    eval_every = None
    needs_loss_targets = False
    needs_model = False
    min_rows_per_domain = 0
    needs_feedback = False
    OPTIONS = {  # the starting mixture and the re-weighting rhythm, shared by every mixer
        "init_weights": ("natural", str, "starting mixture: natural (by train tokens) or uniform"),
        "weights": ("", str, "explicit starting weights, e.g. code=0.2,math_arith=0.8 (others 0)"),
        "target_ratio": (None, float, "put this share of rows on the target field (split by tokens)"),
        "weights_from": ("", str, "start from the time-average of another run's weights (a run folder)"),
        "mix_interval": (50, int, "dynamic mixers: steps between weight updates (each needs a validation pass)"),
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
    time-average of another run's weights (--weights_from RUN_DIR), or with --target_ratio r: mass r on
    the target field and 1-r on the source field, each split by tokens."""

    name = "static"

    def __init__(self, corpus, config):
        super().__init__(corpus, config)
        self.w = check_weights(initial_weights(corpus, self.config), self.domains, self.name)

    def weights(self):
        return self.w


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
    OPTIONS = {"bandit_alpha": (0.9, float, "smoothing a of the importance-weighted reward")}

    @classmethod
    def check_options(cls, config):
        super().check_options(config)
        if not 0 <= config["bandit_alpha"] < 1:
            raise ConfigError(f"--bandit_alpha {config['bandit_alpha']} must be in [0, 1)")

    def __init__(self, corpus, config):
        super().__init__(corpus, config)
        self.K = len(self.domains)
        self.initial = check_weights(initial_weights(corpus, self.config), self.domains, self.name)
        self.alpha = self.config["bandit_alpha"]
        self.warmup_steps = math.ceil(self.config["warmup_share"] * self.config["steps"])
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
    OPTIONS = {"velocity_share": (0.2, float, "share of the CPT budget spent on the target estimation")}

    @classmethod
    def check_options(cls, config):
        super().check_options(config)
        if not 0 < config["velocity_share"] < 1:
            raise ConfigError(f"--velocity_share {config['velocity_share']} must be in (0, 1)")

    def __init__(self, corpus, config):
        super().__init__(corpus, config)
        self.w = check_weights(initial_weights(corpus, self.config), self.domains, self.name)
        self.eval_every = self.config["mix_interval"]
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
    OPTIONS = {"dbl_eta": (1.0, float, "step size eta of the exponentiated excess loss"),
               "dbl_smoothing": (1e-4, float, "uniform smoothing c")}

    def __init__(self, corpus, config):
        super().__init__(corpus, config)
        self.eta, self.smoothing = self.config["dbl_eta"], self.config["dbl_smoothing"]

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
    OPTIONS = {"velocity_step_size": (1.0, float, "multiplier of V in the exponent"),
               "velocity_min_gap": (0.01, float, "floor of |L_init - L_tgt| (nats)")}

    def __init__(self, corpus, config):
        super().__init__(corpus, config)
        self.step_size = self.config["velocity_step_size"]
        self.min_gap = self.config["velocity_min_gap"]

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
    OPTIONS = {"random_schedule": ("", str, f"one of {', '.join(SCHEDULES)}; empty: drawn from the seed"),
               "random_concentration": (50.0, float, "Dirichlet concentration of the walk's steps")}

    def __init__(self, corpus, config):
        super().__init__(corpus, config)
        self.rng = np.random.Generator(np.random.PCG64(self.config["seed"] + 7919))
        self.kind = self.config["random_schedule"] or str(self.rng.choice(self.SCHEDULES))
        if self.kind not in self.SCHEDULES:
            raise DataError(f"--random_schedule {self.kind} is unknown; choose one of {list(self.SCHEDULES)}")
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




def loss_targets(tokens, val_losses, full_tokens):
    """Velocitune's L_tgt (and DBL's L_ref): per domain, fit L(D) = E + B D^-beta to the estimation run's
    validation losses (val_losses[point][domain] at tokens[point]) and extrapolate to full_tokens. A
    prediction that is not finite falls back to the last measured loss; a negative one is clipped to 0.
    Returns (targets, fits)."""
    fits, targets = [], []
    for d in range(len(val_losses[0])):
        losses = [point[d] for point in val_losses]
        fit = fit_scaling_law(tokens, losses)
        target = predict_loss(fit, full_tokens)
        targets.append(max(0.0, target) if math.isfinite(target) else losses[-1])
        fits.append(fit)
    return targets, fits
