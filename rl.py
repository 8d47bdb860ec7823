"""
The reinforcement-learning pieces the two learned mixers share, written as in CleanRL's DDPG: an MLP with
LayerNorm, a replay buffer, the soft update of target networks, and DDPG itself (AC-ODM's learner, acodm.py).
The Data Mixing Agent (agent.py) uses the MLP and the soft update for its critic.
"""

import torch
import torch.nn as nn
import torch.nn.functional as F


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

    TENSORS = ("states", "actions", "rewards", "next_states", "dones")

    def state_dict(self):
        return {**{name: getattr(self, name) for name in self.TENSORS}, "size": self.size,
                "position": self.position, "generator": self.generator.get_state()}

    def load_state_dict(self, state):
        for name in self.TENSORS:
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
        L_mu   = -mean Q(s, softmax(mu(s)))                     -> actor step (the released code forgets it)
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
