"""
AC-ODM (Ma et al. 2025, arXiv 2505.23878): data mixing as a control problem solved online with DDPG.
Every optimizer step is one MDP step. The actor maps the training state to sampling weights; the reward
measures how well each domain's gradient agrees with the other domains' gradients. The actor is trained
on a small proxy model and then transferred, frozen, to a larger model.

    python train.py --mixer acodm --acodm_save out/acodm_actor.pt                       # proxy run
    python train.py --mixer acodm --acodm_load out/acodm_actor.pt --acodm_frozen \\
                    --n_embd 192 --n_head 6 --run_name cpt-acodm-transfer                # target model

Read top to bottom, as CleanRL's ddpg_continuous_action.py: networks, replay buffer, the DDPG update,
the exact per-domain gradients the reward needs, then the mixer. The Data Mixing Agent (agent.py)
reuses the networks' MLP and the soft update.
"""

import math

import numpy as np
import torch
import torch.distributed as dist
import torch.nn as nn
import torch.nn.functional as F

from data import DataError, check_weights, initial_weights
from mixer import ConfigError, Mixer
from model import CheckpointError, save_atomic


# ----------------------------------------------------------------------------- networks

def mlp(in_size, hidden, out_size):
    """Two hidden layers with LayerNorm: the state features have very different scales."""
    return nn.Sequential(nn.Linear(in_size, hidden), nn.LayerNorm(hidden), nn.ReLU(),
                         nn.Linear(hidden, hidden), nn.LayerNorm(hidden), nn.ReLU(),
                         nn.Linear(hidden, out_size))


class Actor(nn.Module):
    """mu(s): state -> logits over the K domains; the action is softmax(logits)."""

    def __init__(self, state_size, num_domains, hidden):
        super().__init__()
        self.net = mlp(state_size, hidden, num_domains)

    def forward(self, state):
        return self.net(state)


class Critic(nn.Module):
    """Q(s, a): state and weight vector -> expected discounted reward."""

    def __init__(self, state_size, num_domains, hidden):
        super().__init__()
        self.net = mlp(state_size + num_domains, hidden, 1)

    def forward(self, state, action):
        return self.net(torch.cat([state, action], dim=-1)).squeeze(-1)


class ReplayBuffer:
    """A ring of transitions (s, a, r, s', done) with its own random generator."""

    def __init__(self, capacity, state_size, num_domains, seed):
        self.states = torch.zeros(capacity, state_size)
        self.actions = torch.zeros(capacity, num_domains)
        self.rewards = torch.zeros(capacity)
        self.next_states = torch.zeros(capacity, state_size)
        self.dones = torch.zeros(capacity)
        self.size, self.position, self.capacity = 0, 0, capacity
        self.generator = torch.Generator().manual_seed(seed)

    def add(self, state, action, reward, next_state, done):
        i = self.position
        self.states[i], self.actions[i], self.rewards[i] = state, action, reward
        self.next_states[i], self.dones[i] = next_state, float(done)
        self.position = (i + 1) % self.capacity
        self.size = min(self.size + 1, self.capacity)

    def sample(self, batch_size):
        idx = torch.randint(0, self.size, (batch_size,), generator=self.generator)
        return self.states[idx], self.actions[idx], self.rewards[idx], self.next_states[idx], self.dones[idx]

    def state_dict(self):
        return {"states": self.states, "actions": self.actions, "rewards": self.rewards,
                "next_states": self.next_states, "dones": self.dones, "size": self.size,
                "position": self.position, "generator": self.generator.get_state()}

    def load_state_dict(self, state):
        for name in ("states", "actions", "rewards", "next_states", "dones"):
            getattr(self, name).copy_(state[name])
        self.size, self.position = state["size"], state["position"]
        self.generator.set_state(state["generator"])


def soft_update(target, source, tau):
    """theta' <- tau theta + (1 - tau) theta'"""
    with torch.no_grad():
        for t, s in zip(target.parameters(), source.parameters()):
            t.mul_(1 - tau).add_(s, alpha=tau)


class DDPG:
    """Actor, critic, their target copies and optimizers, and one update:
        y      = r + gamma (1 - done) Q'(s', softmax(mu'(s')))
        L_Q    = mean (Q(s, a) - y)^2                          -> critic step
        L_mu   = -mean Q(s, softmax(mu(s)))                     -> actor step (the released code never
                                                                   steps the actor's optimizer; we do)
        theta' <- tau theta + (1 - tau) theta'                   for both target networks
    Domains that are off (active False: weight 0 given by the user) get no share in any softmax."""

    def __init__(self, state_size, num_domains, hidden=64, actor_lr=1e-4, critic_lr=1e-3, gamma=0.95,
                 tau=0.01, seed=0, active=None):
        with torch.random.fork_rng(devices=[]):  # the networks' init must not move the global RNG
            torch.manual_seed(seed)
            self.actor, self.critic = Actor(state_size, num_domains, hidden), Critic(state_size, num_domains, hidden)
            self.actor_target = Actor(state_size, num_domains, hidden)
            self.critic_target = Critic(state_size, num_domains, hidden)
        self.actor_target.load_state_dict(self.actor.state_dict())
        self.critic_target.load_state_dict(self.critic.state_dict())
        self.actor_optimizer = torch.optim.Adam(self.actor.parameters(), lr=actor_lr)
        self.critic_optimizer = torch.optim.Adam(self.critic.parameters(), lr=critic_lr)
        self.gamma, self.tau = gamma, tau
        active = torch.ones(num_domains, dtype=torch.bool) if active is None else torch.as_tensor(active)
        self.logit_mask = torch.zeros(num_domains).masked_fill(~active, float("-inf"))

    def policy(self, actor, state):
        """softmax(mu(s)) over the domains that are on."""
        return F.softmax(actor(state) + self.logit_mask, dim=-1)

    def update(self, batch):
        state, action, reward, next_state, done = batch
        with torch.no_grad():
            next_action = self.policy(self.actor_target, next_state)
            y = reward + self.gamma * (1 - done) * self.critic_target(next_state, next_action)
        critic_loss = F.mse_loss(self.critic(state, action), y)
        self.critic_optimizer.zero_grad()
        critic_loss.backward()
        self.critic_optimizer.step()
        actor_loss = -self.critic(state, self.policy(self.actor, state)).mean()
        self.actor_optimizer.zero_grad()
        actor_loss.backward()
        self.actor_optimizer.step()
        soft_update(self.actor_target, self.actor, self.tau)
        soft_update(self.critic_target, self.critic, self.tau)
        return critic_loss.item(), actor_loss.item()

    def state_dict(self):
        return {name: getattr(self, name).state_dict() for name in
                ("actor", "critic", "actor_target", "critic_target", "actor_optimizer", "critic_optimizer")}

    def load_state_dict(self, state):
        for name, value in state.items():
            getattr(self, name).load_state_dict(value)


# ----------------------------------------------------------------------------- per-domain gradients

class DomainGradients:
    """Per-domain gradients of the per-domain mean losses with respect to some nn.Linear weights, taken
    from the one backward pass of the training step: no second forward, no extra backward.

    For a linear layer y = a W^T, the gradient of the batch loss (1/N) sum_r loss_r is
    sum_r g_r^T a_r with g_r = d(batch loss)/d y_r, recorded in the layer's forward. Rows do not interact in a
    transformer, so the gradient of domain i's mean loss L_i = (1/n_i) sum_{r in i} loss_r is
        dL_i/dW = (N / n_i) sum_{r in i} g_r^T a_r,
    exactly what torch.autograd.grad(L_i, W) returns (a test checks it), at the cost of one einsum
    instead of K backward passes through the head."""

    def __init__(self, linears):
        self.linears = list(linears)
        self.captured = []
        for index, linear in enumerate(self.linears):
            linear.forward = self.recording_forward(index, linear)

    def recording_forward(self, index, linear):
        """The layer's own computation, also recording its input a and, in the backward, its output's
        gradient g. Excluded from torch.compile (a graph break around this one layer), so the gradient
        hook fires under --compile too; a forward hook on a compiled module would never run."""
        @torch.compiler.disable
        def forward(a):
            y = F.linear(a, linear.weight, linear.bias)
            if torch.is_grad_enabled() and linear.training:  # not in evaluation passes
                entry = {"layer": index, "a": a.detach()}
                y.register_hook(lambda g: entry.__setitem__("g", g.detach()))
                self.captured.append(entry)
            return y
        return forward

    def compute(self, row_domain, num_domains):
        """(K, P) per-domain gradients for the rows of the last step (micro-batches in order)."""
        per_layer = []
        for layer in range(len(self.linears)):
            entries = [e for e in self.captured if e["layer"] == layer and "g" in e]
            a = torch.cat([e["a"] for e in entries]).float()  # (N, T, in)
            g = torch.cat([e["g"] for e in entries]).float()  # (N, T, out)
            per_row = torch.einsum("nto,nti->noi", g, a).flatten(1)  # (N, out*in)
            summed = torch.zeros(num_domains, per_row.size(1), device=per_row.device)
            summed.index_add_(0, row_domain.to(per_row.device), per_row)
            per_layer.append(summed)
        self.captured = []
        summed = torch.cat(per_layer, dim=1)
        counts = torch.bincount(row_domain, minlength=num_domains).float().to(summed.device)
        if dist.is_initialized():  # under torchrun: the domains' rows of every process
            dist.all_reduce(summed)
            dist.all_reduce(counts)
        # g_r holds 1/(this process' rows) from the loss mean, so each row's own gradient is N_local g_r^T a_r
        return summed * (len(row_domain) / counts.clamp(min=1))[:, None]

    def remove(self):
        for linear in self.linears:
            del linear.forward  # the class' forward again


def gradient_alignment(domain_grads):
    """W_i = <g_i, sum_{j != i} g_j> for a (K, P) matrix of per-domain gradients."""
    total = domain_grads.sum(dim=0)
    return (domain_grads * (total[None, :] - domain_grads)).sum(dim=1)


# ----------------------------------------------------------------------------- the AC-ODM mixer

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


class ACODMMixer(Mixer):
    """AC-ODM: online DDPG over sampling weights, one MDP step per optimizer step.

    State s_t (computed on the model being trained; size 4K + 2L + 1):
        z-scored per-domain training loss of the last step, z-scored one-step change of it,
        per-domain rows of the last step / batch rows, the normalised alignment e~ (below),
        for L blocks chosen by relative depth: log(|W_t| / |W_0|) of the MLP output weight (Frobenius
        norm) and its one-step change (|W_t| - |W_{t-1}|) / |W_0|, each standardised by its running mean
        and variance over the run (RunningStandardizer: the same rule on proxy and target), and progress t/T.
    Action: w = softmax(mu(s)); during the warm-up (warmup_share of the steps, 2%; when learning, at least
        acodm_batch steps) the initial weights' logits plus Gaussian noise N(0, acodm_noise^2) (0.1) while the buffer
        fills, no noise afterwards.
        A domain whose initial weight is 0 (--weights, or the target field in the base's pre-training with
        --base_mixer acodm) is masked out of every softmax and stays at 0.
    Reward, from the per-domain gradients g_i of the last block's MLP output weight (DomainGradients):
        W_i   = <g_i, sum_{j != i} g_j>                          (for the domains that had rows)
        e_i  <- xi e_i + (1 - xi) W_i                            (EMA, xi = 0.9; held for absent domains)
        e~_i  = e_i / mean_j |e_j|                               (scale-free; in the next state)
        r_t   = sum_i w_{t,i} e~_i                               [reward()]
    The paper's objective is r = sum_i w_i rhat_i with rhat_i <- xi rhat_i + (1 - xi) W_i / w_i. Here every
    domain has rows in (almost) every batch and W_i comes from each domain's mean gradient, so the 1/w_i
    cancels the w_i and that reward hardly depends on the action (r = (1 - xi) sum_i W_i + xi w . rhat_{t-1},
    rhat not in the state): an actor cannot learn from it. We keep what the paper rewards (sampling the
    domains whose gradients agree with the others') in a reward that depends on the action and is in the
    state's reach. The released code's z-scored vector reward is not used (its actor objective is nearly
    flat). Where the paper is silent, we chose: norms relative to the run's first step; the scale-free e~
    instead of a running RMS of rewards (W_i shrinks by orders of magnitude over training).
    Forced rows: the paper keeps a share of every batch for every domain (15%) so each domain's gradient
    exists; here a domain without rows keeps its e_i, so no rows are forced by default (--acodm_min_rows N
    forces N per domain and micro-batch, refused above 10% of the batch).
    DDPG (see DDPG above), gamma 0.95, replay buffer, one update per step after the warm-up.
    Frozen (--acodm_frozen, with --acodm_load or --acodm_untrained): no noise, no reward, no updates; the
    state, alignment included, is computed as in learning, so a transferred actor sees what it was trained on.
    """

    name = "acodm"
    needs_model = True
    OPTIONS = {
        "acodm_save": ("", str, "write the trained actor and critic to this file after the run"),
        "acodm_load": ("", str, "start from the actor and critic in this file (from --acodm_save)"),
        "acodm_frozen": (False, bool, "no reward, no updates, no noise (transfer a loaded actor)"),
        "acodm_untrained": (False, bool, "frozen randomly initialised actor (the control run)"),
        "acodm_layers": (3, int, "blocks, chosen by relative depth, whose MLP weight norms enter the state"),
        "acodm_xi": (0.9, float, "EMA factor of the gradient alignment"),
        "acodm_noise": (0.1, float, "std of the Gaussian noise on the logits during the warm-up"),
        "acodm_min_rows": (0, int, "rows forced per domain in every micro-batch (at most 10%% of it in all)"),
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
        if config["acodm_frozen"] and not (config["acodm_load"] or config["acodm_untrained"]):
            raise ConfigError("--acodm_frozen needs a policy: --acodm_load PATH (from --acodm_save) or "
                              "--acodm_untrained")
        if config["acodm_load"] and config["acodm_untrained"]:
            raise ConfigError("--acodm_load and --acodm_untrained contradict each other; give one of them")
        if config["acodm_min_rows"] < 0:
            raise ConfigError(f"--acodm_min_rows {config['acodm_min_rows']} must not be negative")

    def __init__(self, corpus, config):
        super().__init__(corpus, config)
        config = self.config
        self.K = len(self.domains)
        self.min_rows_per_domain = config["acodm_min_rows"]
        if self.min_rows_per_domain and self.K * self.min_rows_per_domain > 0.1 * config["batch_size"]:
            raise ConfigError(f"--acodm_min_rows {self.min_rows_per_domain} forces {self.K * self.min_rows_per_domain} "
                              f"of the {config['batch_size']} rows of a batch, more than 10%: lower it or raise "
                              "--batch_size")
        self.initial = check_weights(initial_weights(corpus, config), self.domains, self.name)
        if self.min_rows_per_domain and np.any(self.initial == 0):
            raise ConfigError("--acodm_min_rows forces rows in every domain, also those whose weight is 0; drop "
                              "one of them")
        self.steps = max(1, config["steps"])
        self.num_layers = config["acodm_layers"]
        self.xi, self.noise = config["acodm_xi"], config["acodm_noise"]
        self.batch_size = config["acodm_batch"]
        self.hidden = config["acodm_hidden"]
        self.frozen = bool(config["acodm_frozen"] or config["acodm_untrained"])
        self.warmup_steps = math.ceil(config["warmup_share"] * self.steps)
        if not self.frozen:  # learning: the warm-up lasts until the buffer holds a batch of noisy actions
            self.warmup_steps = max(self.warmup_steps, self.batch_size)
        self.state_size = 4 * self.K + 2 * self.num_layers + 1
        seed = config["seed"]
        self.ddpg = DDPG(self.state_size, self.K, self.hidden, config["acodm_actor_lr"], config["acodm_critic_lr"],
                         config["acodm_gamma"], config["acodm_tau"], seed, active=self.initial > 0)
        if config["acodm_load"]:
            self.load_policy(config["acodm_load"])
        self.buffer = ReplayBuffer(config["acodm_buffer"], self.state_size, self.K, seed)
        self.generator = torch.Generator().manual_seed(seed + 1)
        self.norm_standardizer = RunningStandardizer(2 * self.num_layers)
        self.t = 0
        self.loss = self.prev_loss = None
        self.rows = np.full(self.K, 1.0 / self.K)
        self.norms = self.prev_norms = self.initial_norms = None
        self.norm_features = np.zeros(2 * self.num_layers)
        self.alignment = np.zeros(self.K)  # e: the EMA of W
        self.last = {}

    # -- wiring to the model
    def attach_model(self, model):
        blocks = model.transformer.h
        self.layer_ids = depth_layers(len(blocks), self.num_layers)
        self.norm_weights = [blocks[i].mlp.c_proj.weight for i in self.layer_ids]
        self.probe = DomainGradients([blocks[-1].mlp.c_proj])  # frozen too: the alignment is in the state
        norms = self.layer_norms()
        if self.initial_norms is None:
            self.initial_norms = self.norms = self.prev_norms = norms

    def layer_norms(self):
        return np.array([float(w.detach().float().norm()) for w in self.norm_weights])

    def normalized_alignment(self):
        """e~ = e / mean |e|: the alignment EMA without its scale, which shrinks as training goes."""
        return self.alignment / (np.abs(self.alignment).mean() + 1e-30)

    def current_state(self):
        def zscore(x):
            return (x - x.mean()) / (x.std() + 1e-8)
        loss = np.zeros(self.K) if self.loss is None else zscore(self.loss)
        change = np.zeros(self.K) if self.prev_loss is None else zscore(self.loss - self.prev_loss)
        features = np.concatenate([loss, change, self.rows, self.normalized_alignment(), self.norm_features,
                                   [self.t / self.steps]])
        return torch.tensor(features, dtype=torch.float32)

    def reward(self, w):
        """r = sum_i w_i e~_i: how much of the batch went to the domains whose gradients agree with the rest."""
        return float(np.dot(w, self.normalized_alignment()))

    # -- the Mixer interface
    def weights(self):
        self.state = self.current_state()
        if self.t < self.warmup_steps:
            logits = torch.tensor(np.log(np.maximum(self.initial, 1e-12)), dtype=torch.float32)
            if not self.frozen:  # exploration while the buffer fills, as the paper does
                logits = logits + self.noise * torch.randn(self.K, generator=self.generator)
        else:
            with torch.no_grad():
                logits = self.ddpg.actor(self.state)
        self.action = F.softmax((logits + self.ddpg.logit_mask).double(), dim=-1)  # a domain set to 0 stays 0
        return self.action.numpy()

    def observe_step(self, step, stats):
        loss = np.asarray(stats["train_loss"], dtype=np.float64)  # NaN for a domain without rows
        if self.loss is None:  # no earlier loss to hold yet: the mean of the observed ones
            held = np.full(self.K, np.nanmean(loss) if np.isfinite(loss).any() else 0.0)
        else:
            held = self.loss
        self.prev_loss, self.loss = self.loss, np.where(np.isfinite(loss), loss, held)  # its last observed loss
        rows = np.asarray(stats["rows"], dtype=np.float64)
        self.rows = rows / rows.sum()
        self.prev_norms, self.norms = self.norms, self.layer_norms()
        self.norm_features = self.norm_standardizer(np.concatenate(
            [np.log(self.norms / self.initial_norms), (self.norms - self.prev_norms) / self.initial_norms]))
        self.t += 1
        W = gradient_alignment(self.probe.compute(stats["row_domain"], self.K)).cpu().double().numpy()
        seen = rows > 0
        self.alignment[seen] = self.xi * self.alignment[seen] + (1 - self.xi) * W[seen]
        if self.frozen:  # a transferred actor sees the same state as it did on the proxy, and learns nothing
            return
        reward = self.reward(self.action.numpy())
        self.buffer.add(self.state, self.action.float(), reward, self.current_state(), self.t >= self.steps)
        self.last = {"reward": reward}
        if self.t >= self.warmup_steps and self.buffer.size >= self.batch_size:
            critic_loss, actor_loss = self.ddpg.update(self.buffer.sample(self.batch_size))
            self.last.update(critic_loss=critic_loss, actor_loss=actor_loss)

    def log(self):
        return {"alignment_ema": [float(f"{x:.4g}") for x in self.alignment],
                **{k: float(f"{v:.4g}") for k, v in self.last.items()}}

    def state_dict(self):
        as_list = lambda a: None if a is None else [float(x) for x in a]
        return {"ddpg": self.ddpg.state_dict(), "buffer": self.buffer.state_dict(),
                "generator": self.generator.get_state(), "t": self.t, "loss": as_list(self.loss),
                "prev_loss": as_list(self.prev_loss), "rows": as_list(self.rows), "norms": as_list(self.norms),
                "prev_norms": as_list(self.prev_norms), "initial_norms": as_list(self.initial_norms),
                "norm_features": as_list(self.norm_features), "alignment": as_list(self.alignment),
                "norm_standardizer": self.norm_standardizer.state_dict()}

    def load_state_dict(self, state):
        as_array = lambda a: None if a is None else np.array(a, dtype=np.float64)
        self.ddpg.load_state_dict(state["ddpg"])
        self.buffer.load_state_dict(state["buffer"])
        self.generator.set_state(state["generator"])
        self.t = state["t"]
        self.norm_standardizer.load_state_dict(state["norm_standardizer"])
        for name in ("loss", "prev_loss", "rows", "norms", "prev_norms", "initial_norms", "norm_features",
                     "alignment"):
            setattr(self, name, as_array(state[name]))

    # -- transfer
    def finish(self):
        if self.config["acodm_save"]:
            self.save_policy(self.config["acodm_save"])
            print(f"wrote the AC-ODM actor and critic to {self.config['acodm_save']}")

    def save_policy(self, path):
        """The actor and critic as tensors plus a plain config: loadable with weights_only=True."""
        save_atomic({"kind": "acodm-policy", "actor": self.ddpg.actor.state_dict(),
                     "critic": self.ddpg.critic.state_dict(),
                     "config": {"num_domains": self.K, "state_size": self.state_size, "hidden": self.hidden,
                                "layers": self.num_layers, "domains": self.domains, "fields": self.fields}}, path)

    def load_policy(self, path):
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
        if cfg["num_domains"] != self.K or cfg["state_size"] != self.state_size or cfg["hidden"] != self.hidden:
            raise DataError(f"the AC-ODM policy {path} was trained for {cfg['num_domains']} domains and a state of "
                            f"{cfg['state_size']} features (hidden {cfg['hidden']}); this run has {self.K} domains "
                            f"and {self.state_size} features (hidden {self.hidden}): train a policy on this corpus "
                            "with the same --acodm_layers and --acodm_hidden")
        self.ddpg.actor.load_state_dict(saved["actor"])
        self.ddpg.critic.load_state_dict(saved["critic"])
        self.ddpg.actor_target.load_state_dict(saved["actor"])
        self.ddpg.critic_target.load_state_dict(saved["critic"])


