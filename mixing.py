"""
A mixer of this repo inside your own training loop (your model, your optimiser, your trainer): the
sampler over a corpus written by prepare.py, a mixer made for an outside loop, and the two dictionaries
a mixer reads, built from what any loop has (per-row losses with the rows' domains; a model that gives
logits). docs/training.md has the walk-through; examples/ has a plain PyTorch loop and a Trainer callback.

    corpus = Corpus("data/mine")                                  # written by prepare.py
    mixer = own_loop_mixer("bandit", corpus, steps=1000)          # refuses a mixer that needs train.py
    sampler = own_loop_sampler(mixer, corpus, batch_size, block_size, seed=0)  # the batch form it asks for
    valset = HeldOutSet(corpus, block_size, max_windows=32)
    mixer.observe_eval(0, eval_stats(model, corpus, valset, device))            # before the first step
    for step in range(1000):
        x, y, row_domain = sampler.batch(mixer.weights(), mixer.min_rows_per_domain)
        row_loss = row_losses(model(x.to(device)), y.to(device))                # (B,) each row's mean loss
        row_loss.mean().backward(); optimizer.step(); optimizer.zero_grad()
        mixer.observe_step(step, step_stats(row_loss, row_domain, len(corpus.domains)))
        if eval_due(mixer, step + 1, eval_interval=100):                        # after step + 1 steps
            mixer.observe_eval(step + 1, eval_stats(model, corpus, valset, device))

Which mixers work here is read from what each class declares (mixer.Mixer): those that need only losses
and weights (static, bandit, schedule, random, regmix_proxy, agent, regmix, replay) work as they are; dbl and
velocity need per-domain loss targets (needs_loss_targets), given as an argument here; acodm (needs_model) reads
per-domain gradients through hooks on our GPT's layers and is refused.
"""

from types import SimpleNamespace

import numpy as np
import torch
import torch.nn.functional as F

from common import ConfigError
from data import Sampler
from evaluate import HeldOutSet, answer_logprobs, domain_losses  # noqa: F401 (HeldOutSet: for your loop)
from mixer import options_of
from options import MIXERS, make_mixer, parse_bool
from train import per_domain_mean


def own_loop_refusal(name):
    """Why mixer `name` cannot run outside train.py (None: it can, loss targets given where it needs them)."""
    if MIXERS[name].needs_model:
        return (f"mixer '{name}' reads per-domain gradients through hooks on the layers of our GPT (attach_model), "
                "so it runs only inside train.py")
    return None


def own_loop_mixer(name, corpus, steps, seed=0, loss_targets=None, target_flags=None, **options):
    """Mixer `name` for an outside loop of `steps` optimizer steps. `options` are those the mixer reads (its
    class' OPTIONS and the shared ones it names, e.g. bandit_alpha=0.8, or dbl's mix_interval=20); dbl and velocity
    also need loss_targets, one target validation loss per domain (velocity.loss_targets fits them from short runs' final losses), and may take
    target_flags (per domain None, or why its fit is doubtful: that domain is never pushed)."""
    if name not in MIXERS:
        raise ConfigError(f"mixer '{name}' is unknown; choose one of {sorted(MIXERS)}")
    cls = MIXERS[name]
    usable = [n for n in MIXERS if own_loop_refusal(n) is None]
    if own_loop_refusal(name):
        raise ConfigError(f"{own_loop_refusal(name)}; from your own loop use one of {', '.join(usable)}")
    if cls.needs_loss_targets and loss_targets is None:
        raise ConfigError(f"mixer '{name}' moves each domain toward a target validation loss: pass loss_targets="
                          f"[{len(corpus.domains)} floats, one per domain of {corpus.domains}] (velocity.loss_targets "
                          "fits them from short runs), or use a mixer that needs no targets")
    if loss_targets is not None and not cls.needs_loss_targets:
        readers = [n for n, c in MIXERS.items() if c.needs_loss_targets]
        raise ConfigError(f"mixer '{name}' reads no loss targets; drop loss_targets (only {', '.join(readers)} "
                          "read them)")
    if loss_targets is not None and (len(loss_targets) != len(corpus.domains) or
                                     not np.all(np.isfinite(loss_targets))):
        raise ConfigError(f"loss_targets {list(loss_targets)} must be {len(corpus.domains)} finite losses, one per "
                          f"domain of {corpus.domains}")
    known = options_of(cls)
    unknown = sorted(set(options) - set(known))
    if unknown:
        raise ConfigError(f"mixer '{name}' has no option {', '.join(unknown)}; its options are {', '.join(known)}")
    config = {**{k: spec[0] for k, spec in known.items()}, **options, "steps": steps, "seed": seed}
    cls.check_options(config)
    mixer = make_mixer(name, corpus, config)
    if loss_targets is not None:
        mixer.set_targets(loss_targets, target_flags)
    return mixer


def parse_mixer_args(parser, argv=None, default="bandit"):
    """A command line's mixer part, from the one registry train.py reads: --mixer, then the options that mixer
    reads (its own and the shared ones, with their defaults and help), and --loss_targets for a mixer that needs
    them. Returns (the parsed arguments, the mixer's options as own_loop_mixer takes them)."""
    usable = [name for name in MIXERS if own_loop_refusal(name) is None]
    parser.add_argument("--mixer", default=default, help=f"one of {', '.join(usable)} (default: %(default)s)")
    name = parser.parse_known_args(argv)[0].mixer
    if name not in MIXERS:
        raise ConfigError(f"--mixer {name} is unknown; choose one of {', '.join(usable)}")
    group = parser.add_argument_group(f"options of mixer {name}")
    options = options_of(MIXERS[name])
    for option, (value, kind, text) in options.items():
        group.add_argument(f"--{option}", type=parse_bool if kind is bool else kind, default=value, help=text,
                           nargs="?" if kind is bool else None, const=True if kind is bool else None)
    if MIXERS[name].needs_loss_targets:
        group.add_argument("--loss_targets", required=True, type=lambda text: [float(x) for x in text.split(",")],
                           help="one target validation loss per domain, comma-separated (velocity.loss_targets "
                                "fits them from short runs' final losses)")
    args = parser.parse_args(argv)
    return args, {option: getattr(args, option) for option in options}


def own_loop_sampler(mixer, corpus, batch_size, block_size, seed=0):
    """The sampler in the form the mixer asks for: mixed rows, or, for a mixer that declares
    one_domain_groups (the ODM bandit), every batch in groups of one domain drawn from the weights. Call it
    once per process: each batch() is one micro-batch."""
    return Sampler(corpus, batch_size, block_size, seed, mixer.one_domain_groups)


def row_losses(logits, targets):
    """(B,) each row's mean token cross-entropy from logits (B, T, V), or a model output with .logits (a
    transformers model's), and targets (B, T): what our GPT returns with per_row=True."""
    logits = getattr(logits, "logits", logits)
    B, T = targets.shape
    token_loss = F.cross_entropy(logits.float().reshape(B * T, -1), targets.reshape(B * T), reduction="none")
    return token_loss.view(B, T).mean(dim=1)


def step_stats(row_loss, row_domain, num_domains):
    """The dict observe_step reads, from one step's per-row losses and the rows' domains (concatenate the
    micro-batches of a step): per-domain mean training loss (NaN for a domain without rows) and row counts."""
    loss, domain = row_loss.detach().double().cpu(), row_domain.cpu()
    loss_sum = torch.zeros(num_domains, dtype=torch.float64).index_add_(0, domain, loss)
    rows = torch.bincount(domain, minlength=num_domains)
    return {"train_loss": per_domain_mean(loss_sum.numpy(), rows.numpy()).tolist(), "rows": rows.tolist(),
            "row_domain": domain}


class LogitsModel:
    """Our GPT's calling convention, model(x, y, per_row=True) -> (logits, row_loss), around any model(idx)
    that returns logits or an output with .logits, so evaluate's functions score it as they score ours."""

    def __init__(self, model, block_size):
        self.model, self.config = model, SimpleNamespace(block_size=block_size)

    @property
    def training(self):
        return getattr(self.model, "training", False)

    def eval(self):
        self.train(False)

    def train(self, mode=True):
        if isinstance(self.model, torch.nn.Module):  # a plain function has no dropout to switch off
            self.model.train(mode)

    def __call__(self, idx, targets, per_row=False):
        output = self.model(idx)
        logits = getattr(output, "logits", output)
        row_loss = row_losses(logits, targets)
        return logits, (row_loss if per_row else row_loss.mean())


def eval_stats(model, corpus, valset, device, feedback_problems=0):
    """The dict observe_eval reads: per-domain validation loss and bits per byte on valset (a HeldOutSet of
    the corpus' val split), scored with model(idx) -> logits (or an output with .logits) in eval mode; with
    feedback_problems > 0 also "task_logprob", the mean answer log-prob of that many dev problems (the
    agent's feedback, as train.py's --feedback_problems)."""
    scored = LogitsModel(model, valset.windows[0].size(1) - 1)
    val_loss, val_bpb = domain_losses(scored, valset, device)
    ev = {"val_loss": val_loss, "val_bpb": val_bpb}
    problems = corpus.dev_problems(feedback_problems)
    if problems:
        ev["task_logprob"] = float(np.mean(answer_logprobs(scored, corpus.tokenizer, problems, device)))
    return ev


def eval_due(mixer, steps_done, eval_interval=None):
    """Whether to call observe_eval after `steps_done` optimizer steps: at 0 (before training), every
    eval_interval steps (yours), and every mixer.eval_every steps (a mixer that re-weights from validation
    losses asks for them there: dbl, velocity, agent, random at every --mix_interval)."""
    every = [n for n in (eval_interval, mixer.eval_every) if n]
    return steps_done == 0 or any(steps_done % n == 0 for n in every)
