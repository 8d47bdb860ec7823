"""
The Mixer interface, the project's one objective, and the mixers that learn nothing: static (the baseline every
other mixer is measured against) and schedule (a hand-written schedule of the target share). Each method has a
file of its own: odm.py (bandit), velocity.py (dbl, velocity), acodm.py, agent.py, regmix.py; the random mixer,
the agent's exploration, is in trajectories.py; options.py's MIXERS names them all. replay runs a schedule of
whole mixtures from a file (the oracle's, experiments/oracle.py).

    mixer = StaticMixer(corpus, config)            # config: train.py's options (steps, seed, the mixer's own)
    mixer.before_training(trainer)                 # once: work a mixer needs done first (Velocitune's estimation)
    for step in ...:
        w = mixer.weights()                       # a distribution over corpus.domains
        ... sample rows following w, train ...
        mixer.observe_step(step, stats)           # per-domain train loss and row counts of this step
        mixer.observe_eval(step, ev)              # every eval: per-domain validation loss

A mixer's own options (name -> (default, type, help)) live in its class' OPTIONS, beside the code that reads
them; options that several mixers read (the starting mixture, the re-weighting interval, the warm-up) are declared
once in SHARED_OPTIONS below and named by each mixer that reads them (shared_options). train.py's command line
merges them all, grouped by the mixers that read them, and refuses an option the chosen mixer does not read.
"""

import json
import os

import numpy as np

from common import ConfigError, DataError
from data import check_weights, initial_weights

# ----------------------------------------------------------------------------- options

SHARED_OPTIONS = {  # options that several mixers read, declared once
    "init_weights": ("natural", str, "starting mixture: natural (by train tokens) or uniform"),
    "weights": ("", str, "explicit starting weights, e.g. code=0.2,math_compare=0.8 (others 0)"),
    "target_ratio": (None, float, "put this share of rows on the target field (split by tokens)"),
    "weights_from": ("", str, "start from the time-average of the rows per domain another run sampled "
                             "(a run folder; its logged rows, not its weights, so forced rows count)"),
    "mix_interval": (40, int, "steps between weight updates (each needs a validation pass)"),
    "warmup_share": (0.02, float, "share of the steps sampled at the initial weights"),
}
STARTING_MIXTURE = ("init_weights", "weights", "target_ratio", "weights_from")  # data.initial_weights reads them


def options_of(cls):
    """Every option a mixer class reads, name -> (default, type, help): the SHARED_OPTIONS it and its base classes
    name, then their own OPTIONS."""
    merged = {}
    for klass in reversed(cls.__mro__):
        merged.update({name: SHARED_OPTIONS[name] for name in vars(klass).get("shared_options", ())})
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
        needs_loss_targets   set_targets(per-domain target losses) before training: train.py's run does it in
                             before_training (the target estimation), an own loop passes them (mixing.py)
        needs_model          train.py calls attach_model(model) once, before training
        min_rows_per_domain  every batch holds at least this many rows of each domain (or one count per domain)
        needs_feedback       at every eval_every step, ev also holds "task_logprob": the mean answer
                             log-prob of --feedback_problems dev problems (Corpus.dev_problems)
        one_domain_groups    each micro-batch of each process is this many groups of rows, each group ONE domain
                             drawn from the weights (data.Sampler's one-domain mode); 0: rows of every domain
        before_training()    work done once before CPT, through the trainer train.py hands it (short CPT runs
                             from the base: Velocitune's target estimation)
    The constructor reads train.py's options from `config`; a mixer's own options may be left out (their
    defaults come from options_of).
    """

    name = "base"
    eval_every = None
    needs_loss_targets = False
    needs_model = False
    min_rows_per_domain = 0
    needs_feedback = False
    one_domain_groups = 0
    shared_options = ()  # the SHARED_OPTIONS this class reads
    OPTIONS = {}  # its own options

    def __init__(self, corpus, config):
        self.domains, self.fields = list(corpus.domains), list(corpus.fields)
        self.config = {**{name: spec[0] for name, spec in options_of(type(self)).items()}, **config}

    @classmethod
    def check_options(cls, config):
        """Refuse option values this mixer cannot work with (before any corpus or model is loaded)."""
        reads = options_of(cls)
        given = [k for k in ("weights", "target_ratio", "weights_from") if k in reads and config[k] not in ("", None)]
        if len(given) > 1:
            raise ConfigError(f"--{' and --'.join(given)} each set the mixture; give one of them")
        if "mix_interval" in reads and config["mix_interval"] <= 0:
            raise ConfigError(f"--mix_interval {config['mix_interval']} must be a positive integer")
        if "warmup_share" in reads and not 0 <= config["warmup_share"] < 1:
            raise ConfigError(f"--warmup_share {config['warmup_share']} must be in [0, 1)")

    def before_training(self, trainer):
        """Called once before CPT; returns what to add to the run's record (e.g. the cost of the work)."""
        return {}

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
    shared_options = STARTING_MIXTURE

    def __init__(self, corpus, config):
        super().__init__(corpus, config)
        self.w = check_weights(initial_weights(corpus, self.config), self.domains, self.name)

    def weights(self):
        return self.w


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


class StepCounted(Mixer):
    """A mixer whose weights are a function of the step alone (schedule, replay): the count of steps observed is
    its whole state, so a resume continues the schedule where it stopped."""

    def __init__(self, corpus, config):
        super().__init__(corpus, config)
        self.t = 0

    def observe_step(self, step, stats):
        self.t += 1

    def state_dict(self):
        return {"t": self.t}

    def load_state_dict(self, state):
        self.t = state["t"]


class ScheduleMixer(StepCounted):
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
        self.steps = max(1, self.config["steps"])

    def target_share(self, step):
        progress = step / max(1, self.steps - 1)
        return float(np.interp(progress, np.linspace(0, 1, len(self.shares)), self.shares))

    def weights(self):
        return check_weights(field_split(self.tokens, self.target, self.target_share(self.t)), self.domains,
                             self.name)

    def log(self):
        return {"target_share": round(self.target_share(self.t), 4)}


class ReplayMixer(StepCounted):
    """A schedule of whole mixtures, read from a file and replayed: piecewise constant, weights[i] from step
    steps[i] on. It runs, frozen, the schedule that experiments/oracle.py's search found (on any seed, beside its
    twin: --mixer static --weights_from the replay's run), or any schedule a user writes:

        {"domains": ["code", ..., "math_numbers"], "steps": [0, 100, ...], "weights": [[...], [...], ...]}
    """

    name = "replay"
    OPTIONS = {"replay": ("", str, "a JSON file of whole mixtures and the steps they start at: {\"domains\": "
                                   "[...], \"steps\": [0, ...], \"weights\": [[...], ...]} (experiments/oracle.py "
                                   "writes one)")}

    def __init__(self, corpus, config):
        super().__init__(corpus, config)
        self.steps, self.schedule = read_replay(self.config["replay"], self.domains)

    def weights(self):
        return self.schedule[int(np.searchsorted(self.steps, self.t, side="right")) - 1]


def read_replay(path, domains):
    """(steps, weights) of a replay file, each mixture a distribution over `domains`; one clear error otherwise."""
    fix = ('give a JSON file {"domains": [...], "steps": [0, ...], "weights": [[...], ...]}: increasing steps from 0, '
           "one mixture of the corpus' domains per step")
    if not path or not os.path.isfile(path):
        raise ConfigError(f"--replay {path or '(not given)'} is not a file; {fix}")
    try:
        with open(path) as f:
            spec = json.load(f)
        steps, weights = [int(s) for s in spec["steps"]], [check_weights(w, domains, "replay") for w in spec["weights"]]
    except (ValueError, KeyError, TypeError, DataError) as e:
        raise DataError(f"--replay {path} cannot be read ({type(e).__name__}: {e}); {fix}") from None
    if spec.get("domains") != list(domains) or not steps or steps[0] != 0 or len(steps) != len(weights) or \
            any(b <= a for a, b in zip(steps, steps[1:])):
        raise DataError(f"--replay {path} does not fit this corpus ({list(domains)}) or its steps do not start at 0 "
                        f"and increase; {fix}")
    return np.array(steps), weights
