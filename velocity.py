"""
Velocitune (Luo et al. 2024, arXiv 2411.14318) and Dynamic Batch Loading (Sheared-LLaMA, Xia et al. 2023):
the two mixers that re-weight domains by how far each domain's validation loss still is from a target
loss predicted by a scaling-law fit. train.py runs the target estimation (a short CPT from the base) and
hands the fit's predictions to the mixer (set_targets); the fit itself is here.
"""

import math

import numpy as np

from data import check_weights, initial_weights
from mixer import ConfigError, Mixer, numbers, softmax


class LossTargetMixer(Mixer):
    """Shared by dbl and velocity: weights updated from per-domain validation losses every
    mix_interval steps, relative to per-domain target losses L_tgt from a scaling-law estimate
    (train.py runs the estimate and calls set_targets before training)."""

    needs_loss_targets = True
    OPTIONS = {"velocity_budgets": ("0.05,0.1,0.2,0.4", str, "the target estimation's short runs, as shares "
                                                             "of the CPT budget (each with its own schedule)")}

    @classmethod
    def check_options(cls, config):
        super().check_options(config)
        budgets = numbers(config["velocity_budgets"])
        if len(budgets) < 3 or not all(0 < b < 1 for b in budgets) or len(set(budgets)) < len(budgets):
            raise ConfigError(f"--velocity_budgets {config['velocity_budgets']} must be 3 or more distinct shares in "
                              "(0, 1), e.g. 0.05,0.1,0.2,0.4 (the fit has 3 parameters)")

    def __init__(self, corpus, config):
        super().__init__(corpus, config)
        self.w = check_weights(initial_weights(corpus, self.config), self.domains, self.name)
        self.eval_every = self.config["mix_interval"]
        self.targets, self.trusted = None, None  # L_tgt per domain; whether its fit can be trusted
        self.initial_loss = None  # L_init: validation loss at step 0 (the base model)
        self.last_loss = None
        self.updates = 0

    def set_targets(self, targets, flags=None):
        """The fitted targets, and per domain why its fit is doubtful (None: usable); a doubtful fit's
        domain is never pushed (V = 0, no excess loss)."""
        self.targets = np.asarray(targets, dtype=np.float64)
        self.trusted = np.array([flag is None for flag in (flags or [None] * len(targets))])

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
                "trusted": None if self.trusted is None else self.trusted.tolist(),
                "last_loss": as_list(self.last_loss), "updates": self.updates}

    def load_state_dict(self, state):
        as_array = lambda a: None if a is None else np.array(a, dtype=np.float64)
        self.w, self.targets = as_array(state["w"]), as_array(state["targets"])
        self.trusted = None if state["trusted"] is None else np.array(state["trusted"])
        self.initial_loss, self.last_loss = as_array(state["initial_loss"]), as_array(state["last_loss"])
        self.updates = state["updates"]

    def log(self):
        return {"targets": None if self.targets is None else [round(float(x), 4) for x in self.targets],
                "updates": self.updates}


class DBLMixer(LossTargetMixer):
    """Dynamic Batch Loading (Sheared-LLaMA, Xia et al. 2023, Algorithm 1): domains whose validation loss is
    furthest above their reference loss get exponentially more weight.

    Every mix_interval steps, with L the per-domain validation loss and L_ref the reference loss:
        paper  w <- softmax(log w + eta max(L - L_ref, 0))                    [update()]
        code   w <- (1 - c) softmax(log w + eta max(L - L_ref, 0)) + c / K   (c = 1e-4)
    eta = dbl_eta = 1. The paper's Algorithm 1 is the default; the released code adds the uniform floor c/K
    (--dbl_variant code), which keeps every domain at least 1e-4/K. Sheared-LLaMA takes L_ref from a
    reference model's scaling-law prediction; here L_ref is the same scaling-law target that velocity uses.
    No update at step 0: the first update comes after the first interval of training."""

    name = "dbl"
    CODE_SMOOTHING = 1e-4  # the released code's c
    OPTIONS = {"dbl_eta": (1.0, float, "step size eta of the exponentiated excess loss"),
               "dbl_variant": ("paper", str, "paper: Algorithm 1; code: the released code's, with a uniform "
                                             "floor c/K, c = 1e-4")}

    @classmethod
    def check_options(cls, config):
        super().check_options(config)
        if config["dbl_variant"] not in ("paper", "code"):
            raise ConfigError(f"--dbl_variant {config['dbl_variant']} is unknown; use paper or code")

    def __init__(self, corpus, config):
        super().__init__(corpus, config)
        self.eta = self.config["dbl_eta"]
        self.smoothing = self.CODE_SMOOTHING if self.config["dbl_variant"] == "code" else 0.0

    def update(self, w, loss):
        excess = np.where(self.trusted, np.maximum(loss - self.targets, 0.0), 0.0)
        with np.errstate(divide="ignore"):
            logits = np.log(w) + self.eta * excess
        K = len(w)
        return (1 - self.smoothing) * softmax(logits) + self.smoothing / K

    def log(self):
        out = super().log()
        if self.last_loss is not None and self.targets is not None:
            excess = np.where(self.trusted, np.maximum(self.last_loss - self.targets, 0), 0.0)
            out["excess_loss"] = [round(float(x), 4) for x in excess]
        return out


class VelocityMixer(LossTargetMixer):
    """Velocitune (Luo et al. 2024, arXiv 2411.14318): domains that learn slowly relative to their
    scaling-law target get more weight.

    (1) L_tgt: short CPT runs with the initial weights on 5%, 10%, 20% and 40% of the budget
        (--velocity_budgets), each with its own complete schedule; their final validation losses are
        fitted per domain with L(D) = E + B D^-beta and extrapolated to the full budget (fit_scaling_law;
        run and cached by train.py). The paper estimates on a subset of the budget; taking the points
        from the first 20% of the full run's own schedule (warm-up, peak learning rate, no decay) over-
        estimated the final loss here, so its targets were reached early and the velocities clipped to 0.
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
    - no update at step 0 (V would be 1 everywhere and leave w unchanged).
    - a domain whose fit is flagged (a flat or rising curve, beta at the edge of its grid, a poor fit;
      fit_scaling_law says which) gets V = 0: its target cannot be trusted, so it is not chased (the
      same rule holds for DBL's excess loss)."""

    name = "velocity"
    OPTIONS = {"velocity_step_size": (1.0, float, "multiplier of V in the exponent"),
               "velocity_min_gap": (0.01, float, "floor of |L_init - L_tgt| (nats)")}

    def __init__(self, corpus, config):
        super().__init__(corpus, config)
        self.step_size = self.config["velocity_step_size"]
        self.min_gap = self.config["velocity_min_gap"]

    def velocity(self, loss):
        gap = np.maximum(np.abs(self.initial_loss - self.targets), self.min_gap)
        return np.where(self.trusted, np.clip((loss - self.targets) / gap, 0.0, 1.0), 0.0)

    def update(self, w, loss):
        with np.errstate(divide="ignore"):
            return softmax(np.log(w) + self.step_size * self.velocity(loss))

    def log(self):
        out = super().log()
        if self.last_loss is not None and self.targets is not None and self.initial_loss is not None:
            out["velocity"] = [round(float(x), 4) for x in self.velocity(self.last_loss)]
        return out


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




def estimate_lengths(budgets, steps):
    """The target estimation's short runs, in steps, for budget shares of a `steps`-step run: at least 8
    steps each and all distinct (each at least one step longer than the shorter one before it), so that
    short runs never collapse onto one point of the fit."""
    lengths = []
    for budget in sorted(budgets):
        lengths.append(max(8, round(budget * steps), lengths[-1] + 1 if lengths else 0))
    return lengths


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
