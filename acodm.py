"""
AC-ODM (Ma et al. 2025, arXiv 2505.23878): data mixing as a control problem solved online with DDPG.

The paper's algorithm, in its notation (one MDP step per optimizer step; the language model is the environment)
    s_t       (n, t, l, delta l, |omega|, |delta omega|): per-domain sample counts, progress, per-domain losses and
              their change, norms of some layers' weights and their change (the paper's overview figure, which the
              released README shows as imgs/alg.jpeg; the released megatron/data/agent.py builds the same six,
              L369-376)
    w_t       = mu(s_t): the sampling weights over the K domains (the action); during the warm-up the initial
              weights plus N(0, 0.02) noise on the weights
    g_i       gradient of domain i's loss on a few late-layer weights, from the step's batch
    A_i       = <g_i, sum_{j != i} g_j>                      how well domain i agrees with the others
    rhat_i   <- xi rhat_i + (1 - xi) A_i / w_i                 its importance-weighted moving average
    r_t       = sum_i w_{t,i} rhat_i = (1 - xi) sum_i A_i + xi w_t . rhat_{t-1}      the reward
    DDPG      y = r + gamma Q'(s', mu'(s')), L_Q = (Q(s, w) - y)^2, L_mu = -Q(s, mu(s)), soft target updates (tau)
    The released code gives every step one micro-batch of each of its 22 domains (22 of 144, about 15%): a
    uniform slice, so every domain's gradient exists and the mixture never leaves a floor (megatron/training.py,
    get_acodm_batch_names, L362-407). Proxy mode: the actor is trained on a small model and transferred, frozen,
    to a larger one. (The formulas for rhat and r_t, and the warm-up noise, are the paper's as this project
    has them; the paper's text was not readable where this file was last checked, so they carry no section
    number. The released code differs: a z-scored vector reward without a moving average or an importance
    weight, L88-99, and U(0, 0.001) subtracted from the weights at every step, gen_action, L558.)

Our choices (where the paper is silent or our setting differs)
    1. The slice: acodm_min_rows (1) row of every domain that is on in every micro-batch (the sampler's forced
       rows), the rest drawn from w_t: K/B of a batch, 5/16 = 31% on the default corpus, 3/16 = 19% for a base
       pre-trained on the source field.
    2. g_i: domain i's mean-loss gradient on the last block's MLP output weight, exact, from the one backward
       (DomainGradients). Norms of the MLP output weights M_l of acodm_layers blocks by relative depth (TrainingState).
       The counts n are the step's row shares; losses and their change z-scored across domains.
    3. The actor's optimizer is stepped (the released code forgets to); the scalar reward is the paper's, not the
       released code's z-scored vector. A domain whose initial weight is 0 is masked out and gets no rows; a domain
       without rows in a step is not observed (rhat_i held).
    Variants (--acodm_variant), each a choice of ours that decides the row:
       rhat      what this project ran as the paper's form before: rhat_{t-1} / c_t in the critic's state, c_t =
                 mean_i |rhat_{t-1,i}|, r_t divided by c_t; A_i divided by the realised row share p_i = n_i / N
                 (bounded: p_i >= 1/N), not by w_i; Gaussian noise N(0, acodm_noise^2) on the logits at every step
       no_slice  the paper's form without the slice
       ours      no slice, our reward r_t = w_t . e~ with e_i <- xi e_i + (1 - xi) A_i and e~ = e / mean |e| in the
                 state, logit noise in the warm-up only
    Controls: --acodm_untrained (the released code in effect: its actor's optimizer is never stepped, so it keeps
    its random initialisation; here frozen, with the slice).

    python train.py --mixer acodm --acodm_save out/acodm_actor.pt                       # proxy run
    python train.py --mixer acodm --acodm_load out/acodm_actor.pt --acodm_frozen --n_embd 192 --n_head 6
Read top to bottom: per-domain gradients, rewards, state, the mixer, transfer. DDPG itself (networks, replay
buffer, update) is in rl.py.
"""

import math

import numpy as np
import torch
import torch.distributed as dist
import torch.nn.functional as F

from common import CheckpointError, ConfigError, DataError, save_atomic
from data import check_weights, initial_weights
from mixer import STARTING_MIXTURE, Mixer
from rl import DDPG, ReplayBuffer


# ----------------------------------------------------------------------------- per-domain gradients

class DomainGradients:
    """Per-domain gradients of the per-domain mean losses with respect to some nn.Linear weights, taken
    from the one backward pass of the training step: no second forward, no extra backward.

    For a linear layer y = a M^T (M its weight), the gradient of the batch loss (1/N) sum_r loss_r is
    sum_r delta_r^T a_r with delta_r = d(batch loss)/d y_r, recorded in the layer's forward. Rows do not interact
    in a transformer, so the gradient of domain i's mean loss L_i = (1/n_i) sum_{r in i} loss_r is
        g_i = dL_i/dM = (N / n_i) sum_{r in i} delta_r^T a_r,
    exactly what torch.autograd.grad(L_i, M) returns (a test checks it), at the cost of one einsum
    instead of K backward passes through the head."""

    def __init__(self, linears):
        self.linears = list(linears)
        self.captured = []
        for index, linear in enumerate(self.linears):
            linear.forward = self.recording_forward(index, linear)

    def recording_forward(self, index, linear):
        """The layer's own computation, also recording its input a and, in the backward, its output's
        gradient delta. Excluded from torch.compile (a graph break around this one layer), so the gradient
        hook fires under --compile too; a forward hook on a compiled module would never run."""
        @torch.compiler.disable
        def forward(a):
            y = F.linear(a, linear.weight, linear.bias)
            if torch.is_grad_enabled() and linear.training:  # not in evaluation passes
                entry = {"layer": index, "a": a.detach()}
                y.register_hook(lambda delta: entry.__setitem__("delta", delta.detach()))
                self.captured.append(entry)
            return y
        return forward

    def compute(self, row_domain, num_domains):
        """(K, P) per-domain gradients for the rows of the last step (micro-batches in order)."""
        per_layer = []
        for layer in range(len(self.linears)):
            entries = [e for e in self.captured if e["layer"] == layer and "delta" in e]
            a = torch.cat([e["a"] for e in entries]).float()  # (N, T, in)
            delta = torch.cat([e["delta"] for e in entries]).float()  # (N, T, out)
            per_row = torch.einsum("nto,nti->noi", delta, a).flatten(1)  # (N, out*in)
            summed = torch.zeros(num_domains, per_row.size(1), device=per_row.device)
            summed.index_add_(0, row_domain.to(per_row.device), per_row)
            per_layer.append(summed)
        self.captured = []
        summed = torch.cat(per_layer, dim=1)
        counts = torch.bincount(row_domain, minlength=num_domains).float().to(summed.device)
        if dist.is_initialized():  # under torchrun: the domains' rows of every process
            dist.all_reduce(summed)
            dist.all_reduce(counts)
        # delta_r holds 1/(this process' rows) from the loss mean: each row's own gradient is N_local delta_r^T a_r
        return summed * (len(row_domain) / counts.clamp(min=1))[:, None]

    def remove(self):
        for linear in self.linears:
            del linear.forward  # the class' forward again


def gradient_alignment(domain_grads):
    """A_i = <g_i, sum_{j != i} g_j> for a (K, P) matrix of per-domain gradients g."""
    total = domain_grads.sum(dim=0)
    return (domain_grads * (total[None, :] - domain_grads)).sum(dim=1)


# ----------------------------------------------------------------------------- the rewards

class PaperReward:
    """The paper's reward; nothing of it in the state:
        rhat_i <- xi rhat_i + (1 - xi) A_i / w_{t,i}     for each domain with rows in the step
        r_t     = sum_i w_{t,i} rhat_i"""

    def __init__(self, num_domains, xi):
        self.xi, self.rhat = xi, np.zeros(num_domains)

    def feature(self):
        return np.zeros(0)

    def update(self, w, alignment, rows):
        seen = (rows > 0) & (w > 0)
        self.rhat[seen] = self.xi * self.rhat[seen] + (1 - self.xi) * alignment[seen] / w[seen]
        return float(np.dot(w, self.rhat))

    def state_dict(self):
        return {"rhat": self.rhat.tolist()}

    def load_state_dict(self, state):
        self.rhat = np.array(state["rhat"], dtype=np.float64)


class RhatReward(PaperReward):
    """--acodm_variant rhat (ours):
        rhat_i <- xi rhat_i + (1 - xi) A_i / p_i       for each domain with rows in the step (p_i >= 1/N)
        r_t     = sum_i w_{t,i} rhat_i / c_t,            c_t = mean_i |rhat_{t-1,i}| (first step: mean_i |rhat_t,i|)
    feature() = rhat / mean |rhat| is in the state, so the step's reward is xi w_t . feature(s_t) + (1 - xi) ...:
    the action-dependent part is linear in a feature the critic sees, and c_t keeps rewards and features of order 1
    while A_i shrinks by orders of magnitude in training."""

    def feature(self):
        return self.rhat / (np.abs(self.rhat).mean() + 1e-30)

    def update(self, w, alignment, rows):
        p, seen = rows / rows.sum(), rows > 0
        scale = np.abs(self.rhat).mean()  # c_t, from rhat_{t-1}
        self.rhat[seen] = self.xi * self.rhat[seen] + (1 - self.xi) * alignment[seen] / p[seen]
        scale = scale if scale > 0 else np.abs(self.rhat).mean()
        return float(np.dot(w, self.rhat) / (scale + 1e-30))


class OursReward:
    """--acodm_variant ours, our reward:
        e_i <- xi e_i + (1 - xi) A_i                     for each domain with rows in the step
        r_t  = sum_i w_{t,i} e~_i,   e~ = e / mean |e|   (feature(), in the state)"""

    def __init__(self, num_domains, xi):
        self.xi, self.e = xi, np.zeros(num_domains)

    def feature(self):
        return self.e / (np.abs(self.e).mean() + 1e-30)

    def update(self, w, alignment, rows):
        seen = rows > 0
        self.e[seen] = self.xi * self.e[seen] + (1 - self.xi) * alignment[seen]
        return float(np.dot(w, self.feature()))

    def state_dict(self):
        return {"e": self.e.tolist()}

    def load_state_dict(self, state):
        self.e = np.array(state["e"], dtype=np.float64)


# ----------------------------------------------------------------------------- the state

def depth_layers(n_layer, count):
    """`count` block indices spread by relative depth (first to last), so any depth gives `count` layers."""
    return [round(f * (n_layer - 1)) for f in np.linspace(0.0, 1.0, count)]


class RunningStandardizer:
    """z-scores of a vector of features against their running mean and variance over the run so far
    (Welford): the same rule on a proxy and on a larger model, so the actor sees comparable numbers."""

    def __init__(self, size):
        self.count, self.mean, self.m2 = 0, np.zeros(size), np.zeros(size)

    def __call__(self, x):
        self.count += 1
        delta = x - self.mean
        self.mean = self.mean + delta / self.count
        self.m2 = self.m2 + delta * (x - self.mean)
        std = np.sqrt(self.m2 / self.count) if self.count > 1 else np.zeros_like(x)
        return (x - self.mean) / (std + 1e-8)

    def state_dict(self):
        return {"count": self.count, "mean": self.mean.tolist(), "m2": self.m2.tolist()}

    def load_state_dict(self, state):
        self.count, self.mean, self.m2 = state["count"], np.array(state["mean"]), np.array(state["m2"])


class TrainingState:
    """The state but the reward's feature and t/T: z-scored per-domain train loss of the last step, its z-scored
    change, per-domain row shares (3K); for L layers log(|M_l| / |M_l,0|), (|M_l| - |M_l,t-1|) / |M_l,0| (2L)."""

    SAVED = ("loss", "prev_loss", "rows", "norms", "prev_norms", "initial_norms", "norm_features")

    def __init__(self, num_domains, num_layers):
        self.loss = self.prev_loss = self.norms = self.prev_norms = self.initial_norms = None
        self.rows = np.full(num_domains, 1.0 / num_domains)
        self.norm_features = np.zeros(2 * num_layers)
        self.standardizer = RunningStandardizer(2 * num_layers)

    def start(self, norms):
        if self.initial_norms is None:  # not on a resume
            self.initial_norms = self.norms = self.prev_norms = norms

    def observe(self, loss, rows, norms):
        loss = np.asarray(loss, dtype=np.float64)  # NaN for a domain without rows: its last observed loss
        held = self.loss if self.loss is not None else np.full(len(loss), np.nanmean(loss) if np.isfinite(loss).any()
                                                                  else 0.0)
        self.prev_loss, self.loss = self.loss, np.where(np.isfinite(loss), loss, held)
        self.rows = rows / rows.sum()
        self.prev_norms, self.norms = self.norms, norms
        self.norm_features = self.standardizer(np.concatenate(
            [np.log(self.norms / self.initial_norms), (self.norms - self.prev_norms) / self.initial_norms]))

    def features(self):
        def zscore(x):
            return (x - x.mean()) / (x.std() + 1e-8)
        K = len(self.rows)
        loss = np.zeros(K) if self.loss is None else zscore(self.loss)
        change = np.zeros(K) if self.prev_loss is None else zscore(self.loss - self.prev_loss)
        return np.concatenate([loss, change, self.rows]), self.norm_features  # the reward's feature goes between

    def state_dict(self):
        return {**{name: None if getattr(self, name) is None else [float(x) for x in getattr(self, name)]
                   for name in self.SAVED}, "standardizer": self.standardizer.state_dict()}

    def load_state_dict(self, state):
        for name in self.SAVED:
            setattr(self, name, None if state[name] is None else np.array(state[name], dtype=np.float64))
        self.standardizer.load_state_dict(state["standardizer"])


# ----------------------------------------------------------------------------- the AC-ODM mixer

class ACODMMixer(Mixer):
    """AC-ODM (equations and our choices: the module's docstring). State s_t (size 3K + 2L + 1): TrainingState's
    features and t/T; the rhat and ours variants add the reward's feature (K: rhat / mean |rhat|, or e~). Action
    w_t = softmax(mu(s_t)); in the warm-up the initial weights plus N(0, 0.02) noise on the weights (the variants
    rhat and ours: N(0, acodm_noise^2) on the logits, rhat at every step). Frozen (--acodm_frozen with --acodm_load,
    or --acodm_untrained): no noise, no reward, no updates; the state, a reward's feature included, is computed as
    in learning, so a transferred actor sees what it was trained on."""

    name = "acodm"
    needs_model = True
    shared_options = STARTING_MIXTURE + ("warmup_share",)
    VARIANTS = ("paper", "rhat", "no_slice", "ours")
    SLICED = ("paper", "rhat")  # the variants with the released code's slice
    REWARDS = {"paper": PaperReward, "rhat": RhatReward, "no_slice": PaperReward, "ours": OursReward}
    WEIGHT_NOISE = 0.02  # the paper's warm-up noise on the weights, N(0, 0.02)
    OPTIONS = {
        "acodm_variant": ("paper", str, "paper: the slice, the paper's state, reward and warm-up noise; rhat: ours "
                                        "(rhat in the state, reward over realised shares, logit noise every step); "
                                        "no_slice: paper without the slice; ours: no slice, reward w . e~"),
        "acodm_save": ("", str, "write the trained actor and critic to this file after the run"),
        "acodm_load": ("", str, "start from the actor and critic in this file (from --acodm_save)"),
        "acodm_frozen": (False, bool, "no reward, no updates, no noise (transfer a loaded actor)"),
        "acodm_untrained": (False, bool, "frozen randomly initialised actor (the control run)"),
        "acodm_layers": (3, int, "blocks, chosen by relative depth, whose MLP weight norms enter the state"),
        "acodm_xi": (0.9, float, "moving-average factor of the gradient alignment"),
        "acodm_noise": (0.1, float, "std of the Gaussian noise on the logits (variants rhat and ours)"),
        "acodm_min_rows": (None, int, "rows of every domain in every micro-batch (the slice; default 1 with "
                                      "--acodm_variant paper or rhat, none otherwise)"),
        "acodm_gamma": (0.95, float, "discount"),
        "acodm_tau": (0.01, float, "soft update rate of the target networks"),
        "acodm_hidden": (64, int, "hidden width of actor and critic"),
        "acodm_batch": (32, int, "replay batch per update"),
        "acodm_buffer": (10000, int, "replay buffer capacity"),
        "acodm_actor_lr": (1e-4, float, "actor learning rate"),
        "acodm_critic_lr": (1e-3, float, "critic learning rate"),
    }

    @classmethod
    def check_options(cls, config):
        super().check_options(config)
        if config["acodm_variant"] not in cls.VARIANTS:
            raise ConfigError(f"--acodm_variant {config['acodm_variant']} is unknown; choose one of "
                              f"{', '.join(cls.VARIANTS)}")
        if config["acodm_frozen"] and not (config["acodm_load"] or config["acodm_untrained"]):
            raise ConfigError("--acodm_frozen needs a policy: --acodm_load PATH (from --acodm_save) or "
                              "--acodm_untrained")
        if config["acodm_load"] and config["acodm_untrained"]:
            raise ConfigError("--acodm_load and --acodm_untrained contradict each other; give one of them")
        rows = config["acodm_min_rows"]
        if rows is not None and rows < 0:
            raise ConfigError(f"--acodm_min_rows {rows} must not be negative")
        if rows and config["acodm_variant"] not in cls.SLICED:
            raise ConfigError(f"--acodm_min_rows {rows} and --acodm_variant {config['acodm_variant']} contradict "
                              "each other (that variant has no slice); drop one of them")

    def __init__(self, corpus, config):
        super().__init__(corpus, config)
        config = self.config
        self.variant, self.K = config["acodm_variant"], len(self.domains)
        self.initial = check_weights(initial_weights(corpus, config), self.domains, self.name)
        rows = config["acodm_min_rows"]
        slice_rows = (1 if rows is None else rows) if self.variant in self.SLICED else 0
        self.min_rows_per_domain = [slice_rows if w > 0 else 0 for w in self.initial]  # the slice: domains on
        self.steps, self.batch_size = max(1, config["steps"]), config["acodm_batch"]
        self.num_layers, self.hidden, self.noise = config["acodm_layers"], config["acodm_hidden"], config["acodm_noise"]
        self.frozen = bool(config["acodm_frozen"] or config["acodm_untrained"])
        # learning, the warm-up lasts until the buffer holds a replay batch of noisy actions
        self.warmup_steps = max(math.ceil(config["warmup_share"] * self.steps), 0 if self.frozen else self.batch_size)
        self.reward_rule = self.REWARDS[self.variant](self.K, config["acodm_xi"])
        self.state_size = 3 * self.K + len(self.reward_rule.feature()) + 2 * self.num_layers + 1
        seed = config["seed"]
        self.ddpg = DDPG(self.state_size, self.K, self.hidden, config["acodm_actor_lr"], config["acodm_critic_lr"],
                         config["acodm_gamma"], config["acodm_tau"], seed, active=self.initial > 0)
        if config["acodm_load"]:
            load_policy(self, config["acodm_load"])
        self.buffer = ReplayBuffer(config["acodm_buffer"], self.state_size, self.K, seed)
        self.generator = torch.Generator().manual_seed(seed + 1)
        self.training_state = TrainingState(self.K, self.num_layers)
        self.t, self.last = 0, {}

    # -- wiring to the model
    def attach_model(self, model):
        blocks = model.transformer.h
        self.layer_ids = depth_layers(len(blocks), self.num_layers)
        self.norm_weights = [blocks[i].mlp.c_proj.weight for i in self.layer_ids]  # the M_l
        self.probe = DomainGradients([blocks[-1].mlp.c_proj])  # frozen too: the reward's feature is in the state
        self.training_state.start(self.layer_norms())

    def layer_norms(self):
        return np.array([float(m.detach().float().norm()) for m in self.norm_weights])

    def current_state(self):
        per_domain, norm_features = self.training_state.features()
        features = np.concatenate([per_domain, self.reward_rule.feature(), norm_features, [self.t / self.steps]])
        return torch.tensor(features, dtype=torch.float32)

    # -- the Mixer interface
    def weights(self):
        self.state = self.current_state()
        warmup = self.t < self.warmup_steps
        if warmup and self.variant in ("paper", "no_slice"):  # the initial weights plus N(0, 0.02) on the weights
            w = torch.tensor(self.initial, dtype=torch.float64)
            if not self.frozen:
                w = w + self.WEIGHT_NOISE * torch.randn(self.K, generator=self.generator).double()
            w = torch.where(self.ddpg.logit_mask == 0, w.clamp(min=1e-6), torch.zeros_like(w))  # a domain set to 0
            self.action = w / w.sum()
            return self.action.numpy()
        if warmup:
            logits = torch.tensor(np.log(np.maximum(self.initial, 1e-12)), dtype=torch.float32)
        else:
            with torch.no_grad():
                logits = self.ddpg.actor(self.state)
        explore = warmup or self.variant == "rhat"  # rhat: logit noise at every step; ours: in the warm-up only
        if explore and not self.frozen:
            logits = logits + self.noise * torch.randn(self.K, generator=self.generator)
        self.action = F.softmax((logits + self.ddpg.logit_mask).double(), dim=-1)  # a domain set to 0 stays 0
        return self.action.numpy()

    def observe_step(self, step, stats):
        rows = np.asarray(stats["rows"], dtype=np.float64)
        self.training_state.observe(stats["train_loss"], rows, self.layer_norms())
        self.t += 1
        alignment = gradient_alignment(self.probe.compute(stats["row_domain"], self.K)).cpu().double().numpy()
        reward = self.reward_rule.update(self.action.numpy(), alignment, rows)  # A_i, then r_t
        if self.frozen:  # a transferred actor sees the same state as it did on the proxy, and learns nothing
            return
        self.buffer.add(self.state, self.action.float(), reward, self.current_state(), self.t >= self.steps)
        self.last = {"reward": reward}
        if self.t >= self.warmup_steps and self.buffer.size >= self.batch_size:
            critic_loss, actor_loss = self.ddpg.update(self.buffer.sample(self.batch_size))
            self.last.update(critic_loss=critic_loss, actor_loss=actor_loss)

    def log(self):
        tracked = self.reward_rule.state_dict()  # {"rhat": ...} or {"e": ...}
        return {**{k: [float(f"{x:.4g}") for x in v] for k, v in tracked.items()},
                **{k: float(f"{v:.4g}") for k, v in self.last.items()}}

    def state_dict(self):
        return {"ddpg": self.ddpg.state_dict(), "buffer": self.buffer.state_dict(), "t": self.t,
                "generator": self.generator.get_state(), "training_state": self.training_state.state_dict(),
                "reward_rule": self.reward_rule.state_dict()}

    def load_state_dict(self, state):
        self.ddpg.load_state_dict(state["ddpg"])
        self.buffer.load_state_dict(state["buffer"])
        self.generator.set_state(state["generator"])
        self.t = state["t"]
        self.training_state.load_state_dict(state["training_state"])
        self.reward_rule.load_state_dict(state["reward_rule"])

    def finish(self):
        if self.config["acodm_save"]:
            save_policy(self, self.config["acodm_save"])
            print(f"wrote the AC-ODM actor and critic to {self.config['acodm_save']}")


# ----------------------------------------------------------------------------- transfer

def save_policy(mixer, path):
    """The actor and critic as tensors plus a plain config: loadable with weights_only=True."""
    save_atomic({"kind": "acodm-policy", "actor": mixer.ddpg.actor.state_dict(),
                 "critic": mixer.ddpg.critic.state_dict(),
                 "config": {"num_domains": mixer.K, "state_size": mixer.state_size, "hidden": mixer.hidden,
                            "layers": mixer.num_layers, "domains": mixer.domains, "fields": mixer.fields,
                            "variant": mixer.variant}}, path)


def load_policy(mixer, path):
    """Into mixer.ddpg (online and target networks), refusing a policy whose state means something else."""
    try:
        saved = torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise CheckpointError(f"--acodm_load {path} does not exist; write one with --acodm_save") from None
    except Exception as e:
        raise CheckpointError(f"--acodm_load {path} is not a safe AC-ODM policy file ({type(e).__name__}); "
                              "write one with --acodm_save") from None
    if not isinstance(saved, dict) or saved.get("kind") != "acodm-policy":
        raise CheckpointError(f"--acodm_load {path} is not an AC-ODM policy file; write one with --acodm_save")
    cfg = saved["config"]
    trained = cfg.get("variant", "ours")  # files from before the variants had the reward `ours`
    feature = {"paper": None, "no_slice": None, "rhat": "rhat", "ours": "e"}  # what the state holds of the reward
    if feature.get(trained) != feature[mixer.variant]:
        raise DataError(f"the AC-ODM policy {path} was trained with --acodm_variant {trained}, whose state holds "
                        f"another reward feature than --acodm_variant {mixer.variant}'s: run it with "
                        f"--acodm_variant {trained}")
    if cfg["num_domains"] != mixer.K or cfg["state_size"] != mixer.state_size or cfg["hidden"] != mixer.hidden:
        raise DataError(f"the AC-ODM policy {path} was trained for {cfg['num_domains']} domains and a state of "
                        f"{cfg['state_size']} features (hidden {cfg['hidden']}); this run has {mixer.K} domains "
                        f"and {mixer.state_size} features (hidden {mixer.hidden}): train a policy on this corpus "
                        "with the same --acodm_layers and --acodm_hidden")
    for name in ("actor", "critic"):  # online and target networks alike
        getattr(mixer.ddpg, name).load_state_dict(saved[name])
        getattr(mixer.ddpg, name + "_target").load_state_dict(saved[name])
