"""
ODM, Online Data Mixing (Albalak et al. 2023, arXiv 2312.02406): the domains are the arms of a multi-armed
bandit (EXP3), each batch comes from one arm, and an arm's reward is its training loss, so the domains the
model still finds hard are sampled more. One class, BanditMixer; its docstring writes the paper's equations
beside the lines that compute them.

    python train.py --mixer bandit                             # the paper's form
    python train.py --mixer bandit --bandit_variant hedge      # mixed rows, every domain's plain loss
"""

import math

import numpy as np

from common import ConfigError
from data import check_weights, initial_weights
from mixer import STARTING_MIXTURE, Mixer, softmax


class BanditMixer(Mixer):
    """ODM, Online Data Mixing (Albalak et al. 2023, arXiv 2312.02406): the K domains are the arms of an
    EXP3 bandit, each batch is drawn from one arm, and the arm's reward is the batch's training loss, so
    domains the model still finds hard are sampled more.

    The paper's algorithm (Algorithm 1; default, --bandit_variant paper), at step t = 1, 2, ...:
        eps_t  = min(1/K, sqrt(ln K / (K t)))                                 [exploration()]
        pi_t   = (1 - K eps_t) softmax(eps_{t-1} R) + eps_t                   [weights()]
        draw a domain i ~ pi_t, then a batch from domain i                    [data.Sampler, one-domain mode]
        train on it; l_i = the batch's mean training loss
        R_i   <- a R_i + (1 - a) l_i / pi_{t-1,i}    for the drawn domain only [observe_step()]
    (pi_{t-1,i}: the probability the batch was drawn with, self.policy when observe_step runs; domains not
    drawn keep their R.) In EXP3's cumulative sum the importance weight 1/pi makes R_i unbiased although
    one domain is seen per step; ODM's moving average over the steps that drew i tracks l_i / pi_i instead,
    so a domain's reward also rises as its probability falls (a pull back toward rarely drawn domains).

    The paper's "batch" is the released code's micro-batch: its experiments drew world_size x
    gradient_accumulation_steps = 8 domains per optimizer step, one per micro-batch of each process (the released
    megatron/training.py, get_batch_names), and updated each drawn domain once with its mean loss
    (data_sampling_utils.py, group_update). The default does the same within our step: the batch's rows are
    ODM_GROUPS = 8 one-domain groups (2 rows each at --batch_size 16; per process and micro-batch under torchrun
    or --grad_accum), each domain drawn from pi_t.

    Variants (--bandit_variant):
        one_draw  one domain for the whole optimizer step (one group)
        hedge     mixed batches (rows of every domain following pi_t) and the plain loss of every domain,
                  R_i <- a R_i + (1 - a) l_i for all i (full information: EXP3 becomes Hedge)
        code      the released code's updater, SmoothedMeanWeightUpdater.group_update, which the released
                  README calls the implementation described in the paper: the 8 groups, and for each drawn
                  domain R_i <- a R_i + (1 - a) exp(l_i) (no importance weight), then a linear policy
                  pi_t = (1 - K eps_t) R / sum_j R_j + eps_t (the code's scaling by eps_{t-1} cancels)

    Our choices:
    - Warm-up: the first warmup_share (2%) of the steps use the initial weights, drawn in one-domain groups too
      (the code mixes rows during its warm-up), and the rewards already accumulate.
    - eps_0 (used at t = 1) is the formula's limit min(1/K, inf) = 1/K; softmax subtracts the max first. The
      code variant, before any domain has a reward, keeps the initial weights.
    - A domain set to 0 (--weights) stays at 0: K counts the others, and only they get eps_t.
    - The exploration share K eps_t is logged ("exploration_share"): 0.14 after 400 steps with K = 5, 0.1
      after 800 (ODM's runs reach 0.026), so a short run stays close to uniform. The paper's schedule,
      reported as it is, not tuned away.
    - The released code's third updater (a cumulative sum of loss / 10 / pi) is not implemented.
    """

    name = "bandit"
    shared_options = STARTING_MIXTURE + ("warmup_share",)
    ODM_GROUPS = 8  # one-domain groups per optimizer step: the released runs' world_size x gradient_accumulation
    GROUPS = {"paper": ODM_GROUPS, "one_draw": 1, "code": ODM_GROUPS, "hedge": 0}  # 0: mixed rows
    VARIANTS = tuple(GROUPS)
    OPTIONS = {"bandit_alpha": (0.9, float, "smoothing a of the reward's moving average"),
               "bandit_variant": ("paper", str, "paper: 8 one-domain groups a step, reward loss / probability "
                                                "(EXP3); one_draw: one domain a step; hedge: mixed rows, every "
                                                "domain's plain loss; code: the released code's updater")}

    @classmethod
    def check_options(cls, config):
        super().check_options(config)
        if not 0 <= config["bandit_alpha"] < 1:
            raise ConfigError(f"--bandit_alpha {config['bandit_alpha']} must be in [0, 1)")
        if config["bandit_variant"] not in cls.VARIANTS:
            raise ConfigError(f"--bandit_variant {config['bandit_variant']} is unknown; use one of "
                              f"{', '.join(cls.VARIANTS)}")

    def __init__(self, corpus, config):
        super().__init__(corpus, config)
        self.initial = check_weights(initial_weights(corpus, self.config), self.domains, self.name)
        self.active = self.initial > 0  # domains the user set to 0 are never sampled
        self.K = int(self.active.sum())
        self.alpha, self.variant = self.config["bandit_alpha"], self.config["bandit_variant"]
        self.one_domain_groups = self.GROUPS[self.variant]
        self.warmup_steps = math.ceil(self.config["warmup_share"] * self.config["steps"])
        self.rewards = np.zeros(len(self.domains))  # R
        self.t = 1  # the step about to be sampled, 1-based
        self.policy = self.initial  # pi: the distribution the current step is drawn from

    def exploration(self, t):
        if t <= 0:
            return 1.0 / self.K
        return min(1.0 / self.K, math.sqrt(math.log(self.K) / (self.K * t))) if self.K > 1 else 1.0

    def weights(self):
        if self.t <= self.warmup_steps or (self.variant == "code" and not self.rewards[self.active].any()):
            self.policy = self.initial
            return self.policy
        eps_t, eps_prev = self.exploration(self.t), self.exploration(self.t - 1)
        policy, R = np.zeros(len(self.domains)), self.rewards[self.active]
        if self.variant == "code":  # pi_t = (1 - K eps_t) R / sum_j R_j + eps_t
            policy[self.active] = (1 - self.K * eps_t) * R / R.sum() + eps_t
        else:  # pi_t = (1 - K eps_t) softmax(eps_{t-1} R) + eps_t
            policy[self.active] = (1 - self.K * eps_t) * softmax(eps_prev * R) + eps_t
        self.policy = policy / policy.sum()  # remove rounding drift; the formula already sums to 1
        return self.policy

    def observe_step(self, step, stats):
        loss, rows = np.asarray(stats["train_loss"], dtype=np.float64), np.asarray(stats["rows"])
        seen = (rows > 0) & np.isfinite(loss) & (self.policy > 0)
        if self.variant in ("paper", "one_draw"):  # l_i / pi_{t-1,i} for the drawn domains
            observed = loss[seen] / self.policy[seen]
        elif self.variant == "code":  # exp(l_i), no importance weight
            observed = np.exp(loss[seen])
        else:  # hedge: l_i for every domain (all are in the batch)
            observed = loss[seen]
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
