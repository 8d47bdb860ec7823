"""
Dynamic Batch Loading (Sheared-LLaMA, Xia et al. 2023) and Velocitune (Luo et al. 2024, arXiv 2411.14318):
two mixers that re-weight domains by how far each domain's validation loss still is from a per-domain
target loss. train.py runs the target estimation (short CPT runs from the base) and hands its predictions to
the mixer (set_targets); the scaling-law fit itself is at the end of this file.

The papers, in their notation (K domains, weights w on the simplex, L_i domain i's validation loss,
m = --mix_interval steps between updates):

DBL (Sheared-LLaMA, Algorithm 1)
    reference loss  L_ref_i: the loss a model of the target size should reach on domain i, predicted by a
                    scaling law fitted over a family of reference models (LLaMA2 7B, 13B, 70B)
    every m steps   Delta_i = max(L_i - L_ref_i, 0)
                    w <- softmax(log w + eta Delta)              eta = 1
    released code   (DynamicLoadingCallback.update_proportion) Delta_i = L_i - L_ref_i, not clipped, and
                    w <- (1 - c) softmax(log w + eta Delta) + c / K,   c = 1e-4

Velocitune (Section 3)
    (1) L_tgt_i: the loss domain i should reach at the end of the budget, from a scaling law
        L(D) = E + B D^-beta fitted to short runs on a subset of the budget
    (2) L_init_i: the validation loss of the model before CPT
    (3) every m steps
        V_i = clip((L_i - L_tgt_i) / (L_init_i - L_tgt_i), 0, 1)       large V = a slow domain
        w <- softmax(log w + V)

Our choices
- DBL's reference loss is Velocitune's target: L_ref = L_tgt, the scaling-law estimate below, since we have
  no family of reference models. It is the natural mixture's predicted end point, not a larger model's loss.
- DBL: the paper's Algorithm 1 is the default; the released code's update is --dbl_variant code.
- L_tgt: short CPT runs from the base with the initial weights on 5%, 10%, 20% and 40% of the budget
  (--velocity_budgets), each with its own complete schedule, fitted per domain and read at the full
  budget. Points taken from the first 20% of the full run's own schedule (warm-up, peak learning rate, no
  decay) over-estimated the final loss here, so the targets were reached early and V clipped to 0.
- Velocitune's denominator in magnitude, floored: |L_init - L_tgt| >= velocity_min_gap (0.01 nats). For a
  falling loss (every domain in the paper) this is the paper's formula; a source domain whose target lies
  above its initial loss (expected forgetting) would otherwise count as ahead while it forgets more than
  expected. A gap below the floor (L_init ~ L_tgt) is degenerate: V = 0 while at or below target.
- Neither paper has a rule for a doubtful fit: by default every fit is used as fitted. fit_scaling_law flags a
  doubtful one (a flat or rising curve, beta at the edge of its grid, a poor fit) and the log carries the flags.
  --dbl_variant / --velocity_variant hold_flagged is our rule, made neutral: a flagged domain keeps its share and
  stays out of the update, w_T <- (sum_T w) softmax_T(log w_T + signal_T) over the trusted domains T. (A signal of
  0 beside domains at +0.5 or +1 would lose its share at every update and never return: measured on planted
  losses, shell at 0.03 of the weights when flagged.)
- No update at step 0 (V would be 1 everywhere and leave w unchanged); the first comes after m steps.
- The log carries L_tgt, the fit flags and each mixer's signal (Delta or V); the suite's report publishes
  every domain's L_tgt, L_init (the log's step-0 validation loss) and gap.
"""

import math
import os

import numpy as np

from common import ConfigError, read_json, write_json_atomic
from data import check_weights, initial_weights
from distributed import barrier, folder_lock, is_main_process
from mixer import STARTING_MIXTURE, Mixer, StaticMixer, numbers, softmax


class LossTargetMixer(Mixer):
    """Shared by dbl and velocity: weights updated from per-domain validation losses every mix_interval
    steps, relative to per-domain target losses L_tgt (train.py runs the estimate, then set_targets)."""

    needs_loss_targets = True
    shared_options = STARTING_MIXTURE + ("mix_interval",)
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
        self.targets, self.flags, self.trusted = None, None, None  # L_tgt; why a fit is doubtful; its negation
        self.initial_loss = None  # L_init: validation loss at step 0 (the base model)
        self.last_loss = None
        self.updates = 0

    def before_training(self, trainer):
        """Step 1, run by train.py before CPT: the target estimation (ensure_loss_targets), then set_targets."""
        estimate = ensure_loss_targets(trainer)
        self.set_targets(estimate["targets"], [fit["flag"] for fit in estimate["fits"]])
        return {"estimate_seconds": estimate["estimate_seconds"], "estimate_tokens": estimate["estimate_tokens"]}

    def set_targets(self, targets, flags=None):
        """The fitted targets, and per domain why its fit is doubtful (None: usable; hold_flagged holds a doubtful
        one's share)."""
        self.targets = np.asarray(targets, dtype=np.float64)
        self.flags = list(flags or [None] * len(targets))
        self.trusted = np.array([flag is None for flag in self.flags])

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

    def exponentiated(self, w, signal):
        """w <- softmax(log w + signal), the update both papers make; with hold_flagged, over the trusted domains
        alone, their total share kept: a flagged domain keeps its weight."""
        moving = self.trusted if self.hold_flagged else np.ones(len(w), dtype=bool)
        new = np.array(w, dtype=np.float64)
        if moving.any():
            with np.errstate(divide="ignore"):
                new[moving] = new[moving].sum() * softmax(np.log(new[moving]) + signal[moving])
        return new

    def state_dict(self):
        as_list = lambda a: None if a is None else [float(x) for x in a]
        return {"w": as_list(self.w), "targets": as_list(self.targets), "initial_loss": as_list(self.initial_loss),
                "flags": self.flags, "trusted": None if self.trusted is None else self.trusted.tolist(),
                "last_loss": as_list(self.last_loss), "updates": self.updates}

    def load_state_dict(self, state):
        as_array = lambda a: None if a is None else np.array(a, dtype=np.float64)
        self.w, self.targets = as_array(state["w"]), as_array(state["targets"])
        self.flags, self.trusted = state["flags"], None if state["trusted"] is None else np.array(state["trusted"])
        self.initial_loss, self.last_loss = as_array(state["initial_loss"]), as_array(state["last_loss"])
        self.updates = state["updates"]

    def log(self):
        if self.targets is None:
            return {"targets": None, "updates": self.updates}
        return {"targets": [round(float(x), 4) for x in self.targets], "fit_flags": self.flags,
                "updates": self.updates}


class DBLMixer(LossTargetMixer):
    """Dynamic Batch Loading (Sheared-LLaMA, Algorithm 1): domains whose validation loss is furthest above their
    reference loss get exponentially more weight. L_ref is Velocitune's scaling-law target (see the top of
    the file), not a reference model's predicted loss.
        paper         Delta = max(L - L_ref, 0);   w <- softmax(log w + eta Delta)               [update()]
        code          Delta = L - L_ref;           w <- (1 - c) softmax(log w + eta Delta) + c / K,  c = 1e-4
        hold_flagged  the paper's, a domain with a doubtful fit held at its share (the top of the file)"""

    name = "dbl"
    CODE_SMOOTHING = 1e-4  # the released code's c
    VARIANTS = ("paper", "code", "hold_flagged")
    OPTIONS = {"dbl_eta": (1.0, float, "step size eta of the exponentiated excess loss"),
               "dbl_variant": ("paper", str, "paper: Algorithm 1 (excess clipped at 0, no smoothing); code: the "
                                             "released code's (excess not clipped, uniform floor c/K, c = 1e-4); "
                                             "hold_flagged: the paper's, a doubtful fit's domain held at its share")}

    @classmethod
    def check_options(cls, config):
        super().check_options(config)
        if config["dbl_variant"] not in cls.VARIANTS:
            raise ConfigError(f"--dbl_variant {config['dbl_variant']} is unknown; use one of {', '.join(cls.VARIANTS)}")

    def __init__(self, corpus, config):
        super().__init__(corpus, config)
        self.eta = self.config["dbl_eta"]
        self.code = self.config["dbl_variant"] == "code"
        self.hold_flagged = self.config["dbl_variant"] == "hold_flagged"

    def excess(self, loss):
        """Delta: the paper's max(L - L_ref, 0) or the code's L - L_ref."""
        return loss - self.targets if self.code else np.maximum(loss - self.targets, 0.0)

    def update(self, w, loss):
        if self.code:
            with np.errstate(divide="ignore"):
                return (1 - self.CODE_SMOOTHING) * softmax(np.log(w) + self.eta * self.excess(loss)) \
                    + self.CODE_SMOOTHING / len(w)
        return self.exponentiated(w, self.eta * self.excess(loss))

    def log(self):
        out = super().log()
        if self.last_loss is not None and self.targets is not None:
            out["excess_loss"] = [round(float(x), 4) for x in self.excess(self.last_loss)]
        return out


class VelocityMixer(LossTargetMixer):
    """Velocitune: domains that learn slowly relative to their scaling-law target get more weight.
        V = clip((L - L_tgt) / max(|L_init - L_tgt|, min_gap), 0, 1)                            [velocity()]
        w <- softmax(log w + step_size V)          (step_size = 1, the paper's)               [update()]
    --velocity_variant hold_flagged: a domain with a doubtful fit held at its share (the top of the file)."""

    name = "velocity"
    VARIANTS = ("paper", "hold_flagged")
    OPTIONS = {"velocity_step_size": (1.0, float, "multiplier of V in the exponent"),
               "velocity_min_gap": (0.01, float, "floor of |L_init - L_tgt| (nats)"),
               "velocity_variant": ("paper", str, "paper: every fit used as fitted; hold_flagged: a doubtful fit's "
                                                  "domain held at its share, out of the update")}

    @classmethod
    def check_options(cls, config):
        super().check_options(config)
        if config["velocity_variant"] not in cls.VARIANTS:
            raise ConfigError(f"--velocity_variant {config['velocity_variant']} is unknown; use one of "
                              f"{', '.join(cls.VARIANTS)}")

    def __init__(self, corpus, config):
        super().__init__(corpus, config)
        self.step_size = self.config["velocity_step_size"]
        self.min_gap = self.config["velocity_min_gap"]
        self.hold_flagged = self.config["velocity_variant"] == "hold_flagged"

    def velocity(self, loss):
        gap = np.maximum(np.abs(self.initial_loss - self.targets), self.min_gap)
        return np.clip((loss - self.targets) / gap, 0.0, 1.0)

    def update(self, w, loss):
        return self.exponentiated(w, self.step_size * self.velocity(loss))

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


# ----------------------------------------------------------------------------- the target estimation (step 1)

ESTIMATE_KEYS = ["steps", "lr", "warmup_steps", "seed", "velocity_budgets", "init_weights", "weights", "target_ratio",
                 "weights_from", "eval_windows"]  # with the base and the loop's options: what the estimate depends on


def ensure_loss_targets(trainer):
    """Velocitune's target estimation, also DBL's reference loss: short CPT runs from the base with the
    initial weights, one per budget of --velocity_budgets (shares of the full run's steps), each with a
    complete schedule of its own (warm-up and cosine decay scaled to its length); then, per domain, the
    scaling-law fit L(D) = E + B D^-beta through their final validation losses, extrapolated to the full
    run's tokens (loss_targets). A run cut short from the full schedule would end before the decay and
    over-estimate the final loss; complete short runs end where a complete long one ends. Cached in
    out/estimate-<hash>/targets.json, shared by every run with the same base, mixture, budget, seed and number
    of processes. `trainer`: train.Trainer (the run's config, corpus and base; short runs from the base)."""
    cfg = trainer.cfg
    est_dir = trainer.cache_folder("estimate", {k: cfg[k] for k in ESTIMATE_KEYS})
    targets_path = os.path.join(est_dir, "targets.json")
    if os.path.exists(targets_path):
        print(f"reusing the loss targets in {targets_path}")
        return read_json(targets_path, "the cached loss targets")
    with folder_lock(est_dir, "the target estimation folder"):
        return estimate_loss_targets(trainer, est_dir)


def estimate_loss_targets(trainer, est_dir):
    """Run the estimation's short runs into est_dir/budget-<share>/, fit, write targets.json."""
    cfg, corpus = trainer.cfg, trainer.corpus
    budgets = numbers(cfg["velocity_budgets"])
    print(f"estimating per-domain target losses: short CPT runs of {cfg['velocity_budgets']} of the budget, each "
          f"with its own complete schedule, into {est_dir}")
    tokens, finals, cost = [], [], {"estimate_steps": 0, "estimate_tokens": 0, "estimate_seconds": 0.0}
    for budget, steps in zip(sorted(budgets), estimate_lengths(budgets, cfg["steps"])):
        warmup = max(1, round(budget * cfg["warmup_steps"]))
        run = trainer.short_run(os.path.join(est_dir, f"budget-{budget:g}"), StaticMixer(corpus, cfg), steps, warmup)
        tokens.append(run["tokens"])
        finals.append(run["val_loss"])
        for key, value in (("estimate_steps", "steps"), ("estimate_tokens", "tokens"),
                           ("estimate_seconds", "wall_seconds")):
            cost[key] += run[value]
    full_tokens = cfg["steps"] * trainer.tokens_per_step()  # all processes
    targets, fits = loss_targets(tokens, finals, full_tokens)
    for name, fit, target in zip(corpus.domains, fits, targets):
        flag = f"  [{fit['flag']}]" if fit["flag"] else ""
        print(f"  {name:14s} L(D) = {fit['E']:.3f} + {fit['B']:.3g} D^-{fit['beta']:.3f}, rmse {fit['rmse']:.4f}"
              f" -> L_tgt {target:.3f} at {full_tokens:,} tokens{flag}")
    result = {"domains": corpus.domains, "targets": targets, "fits": fits, "points_tokens": tokens,
              "points_val_loss": finals, "full_tokens": full_tokens, **cost}
    barrier()
    if is_main_process():
        write_json_atomic(os.path.join(est_dir, "targets.json"), result)
    return result
