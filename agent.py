"""
The Data Mixing Agent (Yang et al. 2025, arXiv 2507.15640), the paper's algorithm (k indexes the n
re-weighting intervals of a run, s_k is the state at the boundary before interval k, a_k in the simplex
over the K domains is the interval's mixture, r_k its reward):

    1. Environment: a small proxy model, trained from one checkpoint by N random mixing trajectories
       tau = (s_0, a_0, r_0, s_1, ..., s_n); s_k = the mixing history and the evaluation feedback so far.
    2. Behaviour cloning: initialise the policy pi(s) on the (s_k, a_k) of the best trajectories.
    3. Conservative Q-learning on every transition, for the discounted return sum_k gamma^k r_k:
           Q     <- min  (Q(s_k, a_k) - r_k - gamma Q'(s_{k+1}, pi(s_{k+1})))^2
                         + alpha (log sum_a exp Q(s_k, a) - Q(s_k, a_k))
           pi    <- max  Q(s_k, pi(s_k))
    4. Deployment, frozen, on other models and domain spaces: a_k = pi(s_k) from the run's own feedback.

Our choices (where the paper is silent, or our setting forces one):
    - r_k = J_k - J_{k+1}, the change of the project's one objective J = (L_source + L_target) / 2, the
      fields' mean validation losses (trajectories.py).
    - s_k: per-domain tokens (field, previous share, loss ratio and change, source and target scores,
      progress k / n) of the last `history` boundaries; a two-layer transformer, so any K fits.
    - "Best" = the top bc_share of trajectories by J_0 - J_n; the cloning term stays in the actor's loss
      (TD3+BC's normalisation), and the log-sum-exp samples Dirichlet(1) actions and pi(s).
    - r_k is centred per interval (minus its mean over the trajectories: a function of time only, so no
      action's rank changes) and scaled to unit RMS; uncentred, the early intervals' action-free gain swamps
      the action's effect and CQL's penalty returns the agent to the behaviour's mode (docs/agent.md).
    - --variant paper (default): the paper's discounted return; its gamma, 0.9, is ours (no text of the paper we
      could read gives the value). --variant undiscounted: gamma = 1, so Q(s_0, a_0) estimates
      J_0 - J_n, the report's final objective. The variant decides gamma (stored in the agent file).

    python -m experiments.suite --collect 64 --trajectories out/traj -- --config config/proxy.py   # the environment
    python agent.py --trajectories out/traj --out out/agent.pt    # cloning, then CQL; 25% held out
    python train.py --mixer agent --agent_path out/agent.pt       # deployment (any model, any domains)
    python agent.py --untrained --out out/agent-untrained.pt      # the control: a random agent

Step 1 is trajectories.py (the random mixer, the collection, the trajectory buffer, the reward); steps 2-4 read
top to bottom here: the features and networks, the offline dataset, the two training phases, the offline
evaluation on held-out trajectories, the agent file, the deployment mixer, the CLI.
"""

import copy
import sys
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from common import CheckpointError, DataError, Parser, save_atomic
from data import initial_weights
from mixer import STARTING_MIXTURE, Mixer
from rl import mlp, soft_update
from trajectories import (bootstrap_rank_correlation, feedback_scores, held_out_split, interval_rewards,
                          load_trajectories, rank_correlation, trajectory_score)


# ----------------------------------------------------------------------------- features and networks
# Feedback at every boundary j = 0..n: the per-domain validation losses and the mean answer log-prob of held-out
# dev problems (Corpus.dev_problems, disjoint from the target task used for the final metrics).

FEATURES = ["is_target", "previous share", "loss ratio", "loss change", "source score", "target score", "progress"]


def boundary_tokens(val_loss, answer_logprob, actions, fields, intervals):
    """Per-domain feature tokens of the boundaries seen so far, shape (boundaries, K, len(FEATURES)).
    Shares are K * w (1 = uniform) and losses are ratios to the first boundary, so the features mean the
    same for any number of domains and any model size."""
    L = np.asarray(val_loss, dtype=np.float64)
    boundaries, K = L.shape
    source, target = feedback_scores(L, fields, answer_logprob)
    previous = np.vstack([np.full((1, K), 1.0 / K), np.asarray(actions, dtype=np.float64).reshape(-1, K)])[:boundaries]
    change = np.vstack([np.zeros((1, K)), np.diff(L, axis=0)]) / L[0]
    tokens = np.zeros((boundaries, K, len(FEATURES)))
    tokens[..., 0] = np.asarray(fields) == "target"
    tokens[..., 1] = K * previous
    tokens[..., 2] = L / L[0]
    tokens[..., 3] = change
    tokens[..., 4] = source[:, None]
    tokens[..., 5] = target[:, None]
    tokens[..., 6] = (np.arange(boundaries) / intervals)[:, None]
    return tokens


def history_window(tokens, j, history):
    """The agent's state at boundary j: the last `history` boundaries' tokens (H, K, F), oldest first,
    front-padded with zeros, and the padding mask (H,) (True = no boundary there)."""
    H, (_, K, F) = history, tokens.shape
    window = np.zeros((H, K, F))
    pad = np.ones(H, dtype=bool)
    seen = tokens[max(0, j - H + 1):j + 1]
    window[H - len(seen):], pad[H - len(seen):] = seen, False
    return window, pad


class HistoryEncoder(nn.Module):
    """Two transformer layers: the first attends over each domain's own history (time axis), the second
    across domains at the current boundary. No position or domain embeddings (only the age of a
    boundary), so permuting the domains permutes the output and any number of domains fits."""

    def __init__(self, features, width, heads, history):
        super().__init__()
        self.embed = nn.Linear(features, width)
        self.age = nn.Embedding(history, width)  # age 0 = the current boundary

        def layer():
            return nn.TransformerEncoderLayer(width, heads, 2 * width, dropout=0.0, batch_first=True,
                                              norm_first=True)
        self.over_time, self.across_domains = layer(), layer()
        self.norm = nn.LayerNorm(width)

    def forward(self, window, pad):
        """window (B, H, K, F), pad (B, H) -> per-domain embeddings of the current boundary (B, K, width)."""
        B, H, K, _ = window.shape
        age = torch.arange(H - 1, -1, -1, device=window.device)
        x = self.embed(window) + self.age(age)[None, :, None, :]
        x = x.permute(0, 2, 1, 3).reshape(B * K, H, -1)  # one sequence per domain
        x = self.over_time(x, src_key_padding_mask=pad.repeat_interleave(K, dim=0))[:, -1]
        return self.norm(self.across_domains(x.view(B, K, -1)))


class MixingPolicy(nn.Module):
    """The policy head: one logit per domain token, softmax over domains -> weights on the simplex."""

    def __init__(self, features=len(FEATURES), width=64, heads=4, history=4):
        super().__init__()
        self.encoder = HistoryEncoder(features, width, heads, history)
        self.head = nn.Linear(width, 1)

    def forward(self, window, pad):
        return F.softmax(self.head(self.encoder(window, pad)).squeeze(-1), dim=-1)


class MixingCritic(nn.Module):
    """The critic head Q(s, a): each domain token meets its action share, the mean over domains (any
    number, any order) goes through an MLP. Scores several actions per state: a (B, N, K) -> (B, N)."""

    def __init__(self, features=len(FEATURES), width=64, heads=4, history=4):
        super().__init__()
        self.encoder = HistoryEncoder(features, width, heads, history)
        self.per_domain = mlp(width + 2, width, width)
        self.out = mlp(width, width, 1)

    def forward(self, window, pad, actions):
        B, N, K = actions.shape
        h = self.encoder(window, pad)[:, None].expand(B, N, K, -1)
        share = K * actions[..., None]
        z = self.per_domain(torch.cat([h, share, torch.log(share + 1e-6)], dim=-1)).mean(dim=2)
        return self.out(z).squeeze(-1)


# -- the offline dataset

def transitions(trajectories, history, reward, lam, bc_share, norm=None):
    """(state, action, reward, next state, done) of every interval of every trajectory, as tensors, plus
    `cloned`: 1 for the transitions of the top bc_share of trajectories by trajectory_score. The rewards are
    normalised, r_k -> (r_k - b_k) / scale, by norm = {"baseline": b_k, "scale"}, by default the mean
    reward of interval k over the trajectories and the RMS of what is left (stored with the agent). b_k
    depends on time only, so it moves Q(s_k, a) by the same amount for every action and policy: the argmax
    is unchanged, and the critic fits how the action changes the return, not how much the re-warmed
    learning rate gives early intervals whatever the action (most of r_k on the proxy)."""
    scores = [trajectory_score(a, m, reward, lam) for a, m in trajectories]
    top = set(np.argsort(scores)[::-1][:max(1, round(bc_share * len(trajectories)))].tolist())
    R = [interval_rewards(arrays, meta["fields"], reward, lam) for arrays, meta in trajectories]
    if len({len(r) for r in R}) > 1:
        raise DataError(f"the trajectories have {sorted({len(r) for r in R})} intervals; keep one --steps and "
                        "--mix_interval per folder")
    R = np.array(R)
    if norm is None:
        baseline = R.mean(axis=0)
        norm = {"baseline": baseline.tolist(), "scale": float(max(np.sqrt(np.mean((R - baseline) ** 2)), 1e-8))}
    R = (R - np.asarray(norm["baseline"])) / norm["scale"]
    rows = {name: [] for name in ("window", "pad", "action", "reward", "next_window", "next_pad", "done", "cloned")}
    for i, (arrays, meta) in enumerate(trajectories):
        intervals = len(arrays["weights"])
        tokens = boundary_tokens(arrays["val_loss"], arrays["answer_logprob"], arrays["weights"], meta["fields"],
                                 intervals)
        for k in range(intervals):
            for prefix, j in (("", k), ("next_", k + 1)):
                window, pad = history_window(tokens, j, history)
                rows[prefix + "window"].append(window)
                rows[prefix + "pad"].append(pad)
            rows["action"].append(arrays["weights"][k])
            rows["reward"].append(R[i, k])
            rows["done"].append(float(k == intervals - 1))
            rows["cloned"].append(float(i in top))
    data = {name: torch.tensor(np.array(v), dtype=torch.bool if "pad" in name else torch.float32)
            for name, v in rows.items()}
    return data, norm, scores


# -- offline training: behaviour cloning, then conservative Q-learning

def cloning_loss(policy, data, index):
    """Cross-entropy of the behaviour weights under the policy, -sum_i a_i log pi_i, on the cloned rows."""
    pi = policy(data["window"][index], data["pad"][index])
    mask = data["cloned"][index]
    ce = -(data["action"][index] * torch.log(pi + 1e-8)).sum(dim=-1)
    return (mask * ce).sum() / mask.sum().clamp_min(1.0)


def behaviour_cloning(policy, data, steps, batch_size, lr, generator, log):
    """Phase 1: imitate the top trajectories' actions."""
    optimizer = torch.optim.Adam(policy.parameters(), lr=lr)
    cloned = torch.nonzero(data["cloned"]).squeeze(1)
    losses = []
    for step in range(steps):
        index = cloned[torch.randint(len(cloned), (batch_size,), generator=generator)]
        loss = cloning_loss(policy, data, index)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
        if step % max(1, steps // 5) == 0 or step == steps - 1:
            log(f"  bc   step {step:5d}/{steps} | imitation loss {loss.item():.4f}")
    return losses


def conservative_q_learning(policy, critic, data, steps, batch_size, lr, gamma, tau, alpha, bc_weight,
                            num_samples, generator, log):
    """Phase 2, CQL on every transition (Kumar et al. 2020, the actor-critic form):
        y       = r + gamma (1 - done) Q_target(s', pi(s'))
        critic  = (Q(s, a) - y)^2 + alpha (logsumexp_j Q(s, a_j) - Q(s, a)),  a_j ~ Dirichlet(1) or pi(s)
        actor   = -Q(s, pi(s)) / mean|Q| + bc_weight * (cloning loss on the top trajectories' rows)
    The log-sum-exp over sampled simplex actions pushes down Q off the data, so the actor cannot exploit
    actions no trajectory tried; the cloning term (TD3+BC's normalisation) keeps it near the good ones."""
    critic_target = copy.deepcopy(critic).requires_grad_(False)
    actor_opt = torch.optim.Adam(policy.parameters(), lr=lr)
    critic_opt = torch.optim.Adam(critic.parameters(), lr=lr)
    K = data["action"].shape[1]
    uniform = torch.distributions.Dirichlet(torch.ones(K))
    history = {"td": [], "penalty": [], "actor": []}
    for step in range(steps):
        index = torch.randint(len(data["reward"]), (batch_size,), generator=generator)
        s, pad, a = data["window"][index], data["pad"][index], data["action"][index]
        with torch.no_grad():
            next_s, next_pad = data["next_window"][index], data["next_pad"][index]
            next_q = critic_target(next_s, next_pad, policy(next_s, next_pad)[:, None])[:, 0]
            y = data["reward"][index] + gamma * (1 - data["done"][index]) * next_q
            sampled = torch.cat([uniform.sample((batch_size, num_samples)), policy(s, pad)[:, None]], dim=1)
        q_all = critic(s, pad, torch.cat([a[:, None], sampled], dim=1))
        q_data = q_all[:, 0]
        td = F.mse_loss(q_data, y)
        penalty = (torch.logsumexp(q_all[:, 1:], dim=1) - q_data).mean()  # over the sampled actions only
        critic_opt.zero_grad(set_to_none=True)
        (td + alpha * penalty).backward()
        critic_opt.step()
        q_pi = critic(s, pad, policy(s, pad)[:, None])[:, 0]
        actor_loss = -q_pi.mean() / q_pi.abs().mean().detach().clamp_min(1e-6)
        actor_loss = actor_loss + bc_weight * cloning_loss(policy, data, index)
        actor_opt.zero_grad(set_to_none=True)
        actor_loss.backward()
        actor_opt.step()
        soft_update(critic_target, critic, tau)
        for name, value in (("td", td), ("penalty", penalty), ("actor", actor_loss)):
            history[name].append(value.item())
        if step % max(1, steps // 5) == 0 or step == steps - 1:
            log(f"  cql  step {step:5d}/{steps} | td {td.item():.4f} | conservative {penalty.item():.4f} | "
                f"actor {actor_loss.item():.4f}")
    return history


# -- offline evaluation on held-out trajectories (before any deployment)

def returns_to_go(data, gamma):
    """G_k = r_k + gamma r_{k+1} + ... to the end of each trajectory (the `done` flags mark the ends): what
    Q(s_k, a_k) estimates for the behaviour that produced the data."""
    G, future = torch.zeros_like(data["reward"]), 0.0
    for i in range(len(G) - 1, -1, -1):
        future = data["reward"][i] + gamma * (1 - data["done"][i]) * future
        G[i] = future
    return G


def offline_evaluation(policy, critic, data, gamma):
    """On held-out transitions: the critic's Spearman rank correlation between Q(s_k, a_k) and the actual
    return-to-go G_k (all intervals; progress is in the state, so time-to-go alone orders much of it), the
    same at the first boundary only (Q(s_0, a_0) against each trajectory's return: every trajectory starts
    from the same state, so only the action can order them), with its 95% bootstrap interval over the
    held-out trajectories and its correlation with the undiscounted return J_0 - J_n (what the report
    ranks), and the policy's cloning loss on the held-out top trajectories."""
    with torch.no_grad():
        q = critic(data["window"], data["pad"], data["action"][:, None])[:, 0].numpy()
        G, gain = returns_to_go(data, gamma).numpy(), returns_to_go(data, 1.0).numpy()
        first = torch.cat([torch.ones(1), data["done"][:-1]]).bool().numpy()  # each trajectory's first interval
        clone = cloning_loss(policy, data, torch.arange(len(G))).item()
    return {"critic_rank_corr": rank_correlation(q, G),
            "critic_rank_corr_first_boundary": rank_correlation(q[first], G[first]),
            "critic_rank_corr_first_boundary_interval": bootstrap_rank_correlation(q[first], G[first]),
            "critic_rank_corr_first_boundary_final": rank_correlation(q[first], gain[first]),
            "critic_rank_corr_first_boundary_final_interval": bootstrap_rank_correlation(q[first], gain[first]),
            "held_out_trajectories": int(first.sum()), "held_out_transitions": len(G),
            "held_out_cloning_loss": clone, "gamma": gamma}


# -- the agent file and its deployment

VARIANT_GAMMA = {"paper": 0.9, "undiscounted": 1.0}  # --variant -> the discount of CQL's return (0.9: ours)

AGENT_OPTIONS = {  # python agent.py --trajectories DIR --out PATH [--key value]
    "reward": ("balanced", str, "balanced: the change of the one objective J; normalized: a "
                                "start-normalised reward (see interval_rewards)"),
    "lam": (0.25, float, "the normalized reward's weight of |dS - dT| (0.5 gives min(dS, dT))"),
    "history": (4, int, "boundaries the agent sees (the current one and the previous ones)"),
    "width": (64, int, "transformer width"),
    "heads": (4, int, "attention heads"),
    "bc_share": (0.25, float, "behaviour cloning on this top share of trajectories by return"),
    "bc_steps": (300, int, "behaviour-cloning updates"),
    "cql_steps": (1000, int, "conservative Q-learning updates"),
    "batch_size": (64, int, "transitions per update"),
    "lr": (1e-3, float, "Adam learning rate (both phases)"),
    "variant": ("paper", str, "paper: CQL's discounted return (the paper's form; gamma 0.9, ours); undiscounted: "
                              "gamma 1, the interval rewards sum to the final objective's gain (the variant decides "
                              "gamma)"),
    "tau": (0.01, float, "soft update rate of the target critic"),
    "cql_alpha": (1.0, float, "weight of the conservative penalty"),
    "bc_weight": (1.0, float, "weight of the cloning term in the actor's loss"),
    "cql_samples": (8, int, "Dirichlet(1) actions per state in the log-sum-exp"),
    "seed": (0, int, "seed of initialisation and minibatches"),
    "holdout": (0.25, float, "share of the trajectories held out (seeded draw) for the offline evaluation; "
                             "never trained on (more of them narrow the first boundary's bootstrap interval)"),
    "train_trajectories": (0, int, "train on the first N of the training trajectories only (0: all); the held-out "
                                   "ones stay those of the whole folder, so agents on 64, 128, 256 of one "
                                   "collection give the learning curve"),
}


def agent_options(options):
    """AGENT_OPTIONS' defaults updated by `options`, with gamma set by the variant (a gamma that contradicts
    the variant is refused: the variant names the return the agent maximises)."""
    o = {name: options.get(name, default) for name, (default, _, _) in AGENT_OPTIONS.items()}
    if o["variant"] not in VARIANT_GAMMA:
        raise DataError(f"--variant {o['variant']} is unknown; use {' or '.join(VARIANT_GAMMA)}")
    o["gamma"] = VARIANT_GAMMA[o["variant"]]
    if options.get("gamma", o["gamma"]) != o["gamma"]:
        raise DataError(f"gamma {options['gamma']} contradicts --variant {o['variant']} (gamma {o['gamma']}); "
                        f"choose the variant ({', '.join(f'{v}: {g}' for v, g in VARIANT_GAMMA.items())})")
    return o


def train_agent(folder, out_path, options, log=print):
    """Load the trajectories, clone the best ones, run CQL on all, save the agent atomically."""
    o = agent_options(options)
    if o["reward"] not in ("balanced", "normalized"):
        raise DataError(f"--reward {o['reward']} is unknown; use balanced (the objective) or normalized")
    if not 0 <= o["holdout"] < 1:
        raise DataError(f"--holdout {o['holdout']} must be in [0, 1): the share of trajectories kept for evaluation")
    every = load_trajectories(folder)
    train_ids, held_ids = held_out_split(len(every), o["holdout"])
    if not 0 <= o["train_trajectories"] <= len(train_ids):
        raise DataError(f"--train_trajectories {o['train_trajectories']}: {folder} holds {len(train_ids)} training "
                        f"trajectories ({len(held_ids)} more held out); collect more or ask for at most "
                        f"{len(train_ids)} (0: all)")
    train_ids = train_ids[:o["train_trajectories"] or len(train_ids)]
    trajectories = [every[i] for i in train_ids]
    data, norm, scores = transitions(trajectories, o["history"], o["reward"], o["lam"], o["bc_share"])
    meta = trajectories[0][1]
    uses_logprob = bool(np.all(np.isfinite(trajectories[0][0]["answer_logprob"])))
    log(f"{len(trajectories)} trajectories over {meta['domains']} ({len(held_ids)} more held out), "
        f"{len(data['reward'])} transitions; "
        f"{o['reward']} scores {min(scores):.4f} .. {max(scores):.4f}; cloning the top {int(data['cloned'].sum())} "
        "transitions")
    torch.manual_seed(o["seed"])
    generator = torch.Generator().manual_seed(o["seed"])
    net = {"features": len(FEATURES), "width": o["width"], "heads": o["heads"], "history": o["history"]}
    policy, critic = MixingPolicy(**net), MixingCritic(**net)
    t0 = time.time()
    bc = behaviour_cloning(policy, data, o["bc_steps"], o["batch_size"], o["lr"], generator, log)
    cql = conservative_q_learning(policy, critic, data, o["cql_steps"], o["batch_size"], o["lr"], o["gamma"],
                                  o["tau"], o["cql_alpha"], o["bc_weight"], o["cql_samples"], generator, log)
    offline = {}
    if held_ids:
        held, _, _ = transitions([every[i] for i in held_ids], o["history"], o["reward"], o["lam"], o["bc_share"],
                                 norm)
        offline = offline_evaluation(policy, critic, held, o["gamma"])
        log("offline evaluation on the held-out trajectories: "
            + ", ".join(f"{k} {np.round(v, 3)}" for k, v in offline.items()))
    save_agent(out_path, policy, critic, net, o, {"folder": folder, "trajectories": len(trajectories),
                                                  "held_out": held_ids, "offline": offline,
                                                  "domains": meta["domains"], "fields": meta["fields"],
                                                  "intervals": len(trajectories[0][0]["weights"]),
                                                  "reward_norm": norm, "final_scores": scores,
                                                  "uses_logprob": uses_logprob},
               {"bc": bc, **cql}, time.time() - t0)
    log(f"wrote the agent to {out_path} ({sum(p.numel() for p in policy.parameters()) / 1e3:.0f}k policy "
        f"parameters, {time.time() - t0:.0f} s)")
    return policy, critic


def save_agent(path, policy, critic, net, options, trained_on, losses, seconds):
    """Tensors and plain values only (loadable with weights_only=True), written atomically."""
    save_atomic({"kind": "data-mixing-agent", "features": FEATURES, "net": net, "options": options,
                 "policy": policy.state_dict(), "critic": critic.state_dict(), "trained_on": trained_on,
                 "losses": losses, "train_seconds": seconds}, path)


def untrained_agent(out_path, options, log=print):
    """The control: a randomly initialised agent (seeded), deployed exactly like a trained one."""
    o = agent_options(options)
    torch.manual_seed(o["seed"])
    net = {"features": len(FEATURES), "width": o["width"], "heads": o["heads"], "history": o["history"]}
    policy, critic = MixingPolicy(**net), MixingCritic(**net)
    save_agent(out_path, policy, critic, net, o, {"trajectories": 0}, {}, 0.0)
    log(f"wrote an untrained agent (seed {o['seed']}) to {out_path}")
    return policy, critic


def load_agent(path):
    try:
        saved = torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise CheckpointError(f"--agent_path {path} does not exist; train one with python agent.py "
                              "--trajectories DIR --out PATH") from None
    except Exception as e:
        raise CheckpointError(f"--agent_path {path} is not a safe agent file ({type(e).__name__}); train one "
                              "with python agent.py --trajectories DIR --out PATH") from None
    if not isinstance(saved, dict) or saved.get("kind") != "data-mixing-agent":
        raise CheckpointError(f"--agent_path {path} is not a Data Mixing Agent file; train one with "
                              "python agent.py --trajectories DIR --out PATH")
    if saved["features"] != FEATURES:
        raise CheckpointError(f"--agent_path {path} reads features {saved['features']}, this code computes "
                              f"{FEATURES}; retrain the agent with this version of agent.py")
    policy = MixingPolicy(**saved["net"])
    policy.load_state_dict(saved["policy"])
    policy.eval()
    return policy, saved


def next_action(policy, history, val_loss, logprob, actions, fields, intervals):
    """Deployment's one step: the feedback of the boundaries so far (and the actions taken between them)
    -> the state s_k -> the next interval's weights a_k = pi(s_k), floored at 1e-6 on the simplex."""
    tokens = boundary_tokens(val_loss, logprob, actions, fields, intervals)
    window, pad = history_window(tokens, len(val_loss) - 1, history)
    with torch.no_grad():
        w = policy(torch.tensor(window[None], dtype=torch.float32), torch.tensor(pad[None]))[0]
    w = np.maximum(w.double().numpy(), 1e-6)
    return w / w.sum()


class AgentMixer(Mixer):
    """The frozen Data Mixing Agent. At every boundary (step k * mix_interval, k = 0, 1, ...) it reads the
    run's own feedback (per-domain validation losses and the dev problems' answer log-prob, the same
    measurement as the environment's), builds the history state and sets the next interval's weights
    w = pi(s_k). It needs no retraining for another model size or another domain list: its tokens are per
    domain and carry the field, so the run only needs a source and a target domain."""

    name = "agent"
    needs_feedback = True
    shared_options = STARTING_MIXTURE + ("mix_interval",)
    OPTIONS = {"agent_path": ("", str, "the trained agent (python agent.py --trajectories DIR --out PATH)")}

    def __init__(self, corpus, config):
        super().__init__(corpus, config)
        config = self.config
        if not config["agent_path"]:
            raise DataError("--mixer agent needs --agent_path PATH: collect trajectories with python -m "
                            "experiments.suite --collect N --trajectories DIR, then python agent.py --trajectories DIR "
                            "--out PATH")
        missing = [f for f in ("source", "target") if f not in self.fields]
        if missing:
            raise DataError(f"the agent {config['agent_path']} reads per-field feedback, but the run's domains "
                            f"{self.domains} have no {' or '.join(missing)} domain; give the corpus both fields")
        self.policy, saved = load_agent(config["agent_path"])
        self.history = saved["net"]["history"]
        self.variant = saved["options"].get("variant", "paper")  # files written before the variants: gamma 0.9
        print(f"agent {config['agent_path']}: variant {self.variant} (gamma {saved['options']['gamma']}), "
              f"trained on {saved['trained_on']['trajectories']} trajectories")
        # the target score must mean what it meant in training: with or without the answer log-prob
        self.uses_logprob = saved["trained_on"].get("uses_logprob", True)
        self.interval = self.eval_every = config["mix_interval"]
        self.intervals = config["steps"] / self.interval  # progress = step / steps, as in collection
        self.w = initial_weights(corpus, config)
        self.val_loss, self.logprob, self.actions = [], [], []

    def weights(self):
        return self.w

    def observe_eval(self, step, ev):
        if step % self.interval:
            return
        if self.uses_logprob and "task_logprob" not in ev and not self.val_loss:
            print("warning: the agent was trained with the answer log-prob in its target score, but this run "
                  "has no dev problems (no target task or --feedback_problems 0): it sees the target loss only")
        self.val_loss.append([float(x) for x in ev["val_loss"]])
        self.logprob.append(float(ev.get("task_logprob", float("nan"))) if self.uses_logprob else float("nan"))
        self.w = next_action(self.policy, self.history, self.val_loss, self.logprob, self.actions, self.fields,
                             self.intervals)
        self.actions.append(self.w.tolist())

    def state_dict(self):
        return {"w": self.w.tolist(), "val_loss": self.val_loss, "logprob": self.logprob, "actions": self.actions}

    def load_state_dict(self, state):
        self.w = np.array(state["w"])
        self.val_loss, self.logprob, self.actions = state["val_loss"], state["logprob"], state["actions"]

    def log(self):
        return {"boundary": len(self.val_loss) - 1, "variant": self.variant}


def main(argv=None):
    parser = Parser(description="Train the Data Mixing Agent offline on collected trajectories.")
    parser.add_argument("--trajectories", help="folder written by python -m experiments.suite --collect N")
    parser.add_argument("--out", required=True, help="the agent file to write (e.g. out/agent.pt)")
    parser.add_argument("--untrained", action="store_true", help="write a randomly initialised agent (the control)")
    for name, (default, kind, text) in AGENT_OPTIONS.items():
        parser.add_argument(f"--{name}", type=kind, default=default, help=f"{text} (default {default})")
    args = parser.parse_args(argv)
    if args.untrained == bool(args.trajectories):
        parser.error("give --trajectories DIR (train an agent) or --untrained (the control), not both")
    try:
        if args.untrained:
            return untrained_agent(args.out, vars(args))
        return train_agent(args.trajectories, args.out, vars(args))
    except (DataError, CheckpointError) as e:
        sys.exit(f"error: {e}")


if __name__ == "__main__":
    main()

