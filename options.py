"""
Every option of train.py and the one registry of mixers.

    MIXERS          every mixer, by the name --mixer takes
    LOOP_OPTIONS    the loop's own options: name -> (default, type, help)
    OPTIONS         those plus every mixer's: each class' own OPTIONS and the mixer.SHARED_OPTIONS it reads

The defaults are the CPU preset (config/cpu.py says the same). A preset file (--config FILE, Python
assignments such as config/gpu.py) overrides them, and --key=value overrides both. A mixer option that the
chosen mixer does not read is refused (validate_config), naming the mixers that read it.
"""

import argparse
import hashlib
import math
import os
import re
import runpy

import torch

from acodm import ACODMMixer
from agent import AgentMixer
from common import ConfigError, DataError, Parser
from mixer import STARTING_MIXTURE, ReplayMixer, ScheduleMixer, StaticMixer, options_of
from odm import BanditMixer
from regmix import RegMixMixer, RegMixProxyMixer
from trajectories import RandomMixer
from velocity import DBLMixer, VelocityMixer

# ----------------------------------------------------------------------------- the mixers
# Every mixer, by the name --mixer takes. A mixer's options live in its class (OPTIONS).
MIXERS = {
    "static": StaticMixer,
    "bandit": BanditMixer,
    "dbl": DBLMixer,
    "velocity": VelocityMixer,
    "acodm": ACODMMixer,
    "agent": AgentMixer,
    "regmix": RegMixMixer,
    "schedule": ScheduleMixer,
    "random": RandomMixer,
    "regmix_proxy": RegMixProxyMixer,
    "replay": ReplayMixer,
}


def make_mixer(name, corpus, config):
    if name not in MIXERS:
        raise DataError(f"--mixer {name} is unknown; choose one of {sorted(MIXERS)}")
    return MIXERS[name](corpus, config)


BASE_MIXERS = ("static", "bandit", "acodm")  # those that can mix the base's pre-training from scratch

# ----------------------------------------------------------------------------- options
LOOP_OPTIONS = {
    "config": ("", str, "a preset file of Python assignments, e.g. config/gpu.py"),
    # data and output
    "data_dir": ("data", str, "where corpora live"),
    "corpus": ("default", str, "corpus name under data_dir; 'default' is built automatically when missing"),
    "corpus_scale": (1, int, "size multiplier of the built-in default corpus (data/default-xN when > 1)"),
    "out_dir": ("out", str, "where base models and runs are written"),
    "run_name": ("", str, "CPT run folder under out_dir (default: cpt-<mixer>, then what sets the run apart: the "
                          "corpus, the preset, --init_from, the seed, the mixer's options, e.g. cpt-static-target_ratio-0.8)"),
    "init_from": ("", str, "CPT from this checkpoint folder as the base: GPT-2 or Llama-family (Llama, Qwen2) in the "
                           "Hugging Face layout (docs/pretrained.md)"),
    "mixer": ("static", str, f"who sets the weights: {', '.join(sorted(MIXERS))}"),
    # model
    "n_layer": (4, int, "transformer blocks"),
    "n_head": (4, int, "attention heads"),
    "n_embd": (128, int, "model width"),
    "block_size": (128, int, "context length in tokens"),
    "dropout": (0.0, float, "dropout rate"),
    # base pre-training (source field, natural proportions)
    "base_steps": (2500, int, "optimizer steps of base pre-training"),
    "base_lr": (1e-3, float, "peak learning rate of base pre-training"),
    "base_warmup_steps": (100, int, "linear warm-up steps of base pre-training"),
    "base_seed": (0, int, "seed of the base model's init and sampling (train.py's CPT seeds share one base; "
                          "the suite moves it with the seed)"),
    "base_mixer": ("static", str, "who sets the base's weights over the source field: static (natural), or "
                                  "bandit or acodm (experiments/pretrain.py: the regime ODM and AC-ODM claim)"),
    "base_weights_from": ("", str, "pre-train the base at the time-average of the rows another base run sampled "
                                   "(its folder): the static twin of a --base_mixer bandit or acodm base"),
    # continual pre-training
    "steps": (800, int, "optimizer steps of CPT"),
    "lr": (3e-3, float, "peak CPT learning rate (re-warmed, as real CPT does)"),
    "warmup_steps": (40, int, "linear warm-up steps of CPT"),
    "seed": (1337, int, "seed of CPT sampling and mixers"),
    # optimisation (both phases)
    "batch_size": (16, int, "rows per micro-batch"),
    "grad_accum": (1, int, "micro-batches per optimizer step"),
    "min_lr_ratio": (0.1, float, "cosine decay ends at lr * min_lr_ratio"),
    "weight_decay": (0.1, float, "AdamW weight decay on matrices and embeddings"),
    "beta1": (0.9, float, "AdamW beta1"),
    "beta2": (0.95, float, "AdamW beta2"),
    "grad_clip": (1.0, float, "clip the gradient norm to this (0: off)"),
    # evaluation, logging, checkpoints
    "eval_interval": (50, int, "CPT steps between per-domain validation evaluations"),
    "base_eval_interval": (250, int, "base steps between per-domain validation evaluations"),
    "eval_windows": (32, int, "validation windows per domain at each periodic evaluation"),
    "task_problems": (0, int, "target-task test problems scored at the end (0: all)"),
    "feedback_problems": (64, int, "dev problems whose answer log-prob every evaluation logs (the agent's feedback)"),
    "log_interval": (50, int, "steps between console lines (log.jsonl gets every step)"),
    "ckpt_interval": (100, int, "steps between checkpoints (and one at the end)"),
    "resume": (False, bool, "continue the CPT run in out_dir/run_name from its checkpoint"),
    "overwrite": (False, bool, "replace the run in out_dir/run_name if there is one (otherwise a finished or "
                               "checkpointed run is kept and the command refused)"),
    # system
    "device": ("auto", str, "cpu, cuda, cuda:N or auto"),
    "compile": (False, bool, "torch.compile the model"),
}


def readers_of(name):
    """The mixers that read option `name`, in the registry's order ([] for a loop option)."""
    return [m for m, cls in MIXERS.items() if name in options_of(cls)]


def mixer_option_groups():
    """{the names of the mixers that read them: their options}, every mixer option once (shared ones included),
    in the registry's order."""
    groups = {}
    for cls in MIXERS.values():
        for name, spec in options_of(cls).items():
            groups.setdefault(tuple(readers_of(name)), {})[name] = spec
    return groups


OPTIONS = {**LOOP_OPTIONS, **{k: v for group in mixer_option_groups().values() for k, v in group.items()}}

def parse_bool(text):
    if text.lower() in ("1", "true", "yes", "on"):
        return True
    if text.lower() in ("0", "false", "no", "off"):
        return False
    raise argparse.ArgumentTypeError(f"'{text}' is not a boolean; use true or false")


PRESET_FILES = sorted(os.path.join("config", f) for f in os.listdir(os.path.join(os.path.dirname(__file__), "config"))
                      if f.endswith(".py"))


def load_preset(path):
    if not os.path.exists(path):
        raise ConfigError(f"--config {path} does not exist; the presets are {', '.join(PRESET_FILES)}")
    try:
        values = {k: v for k, v in runpy.run_path(path).items() if not k.startswith("_")}
    except Exception as e:
        raise ConfigError(f"--config {path} cannot be read ({type(e).__name__}: {e}); it must be plain Python "
                          "assignments like n_layer = 4") from None
    unknown = sorted(set(values) - set(OPTIONS))
    if unknown:
        raise ConfigError(f"{path} sets unknown options {unknown}; see python train.py --help")
    for name, value in values.items():
        default, kind, _ = OPTIONS[name]
        ok = isinstance(value, kind) and not (kind is int and isinstance(value, bool))
        ok = ok or (kind is float and isinstance(value, int) and not isinstance(value, bool))
        ok = ok or (value is None and default is None)
        if not ok:
            raise ConfigError(f"{path} sets {name} = {value!r}; it must be a {kind.__name__}")
    return values


def parse_config(argv=None, description=None):
    """train.py's options from a preset (--config) and the command line; --help lists them by mixer."""
    pre = Parser(add_help=False)
    pre.add_argument("--config", default="")
    known, _ = pre.parse_known_args(argv)
    preset = load_preset(known.config) if known.config else {}
    parser = Parser(description=description, formatter_class=argparse.RawDescriptionHelpFormatter,
                    usage="%(prog)s [--config FILE] [--mixer NAME] [--OPTION VALUE ...] (every option below)")
    groups = {None: (parser, LOOP_OPTIONS)}
    for users, options in mixer_option_groups().items():
        title = "every mixer" if len(users) == len(MIXERS) else "mixer " + ", ".join(users)
        groups[users] = (parser.add_argument_group(f"options of {title}"), options)
    for group, options in groups.values():
        for name, (default, kind, help_text) in options.items():
            default = preset.get(name, default)
            stated = default in ("", None) or "default" in help_text  # no "(default: )" after words that say it
            group.add_argument(f"--{name}", type=parse_bool if kind is bool else kind, default=default,
                               nargs="?" if kind is bool else None, const=True if kind is bool else None,
                               help=help_text if stated else f"{help_text} (default: {default})",
                               metavar=kind.__name__.upper())
    return vars(parser.parse_args(argv))


def validate_config(cfg, readers=None):
    """Refuse option values that cannot work, before anything is loaded, and a mixer option that the run does not
    read (readers: the mixers whose options cfg may set: by default its --mixer, and --base_mixer's own options;
    the lab, whose one config serves many runs, passes them all). Returns the config with its derived defaults
    filled in (run_name, device); cfg itself is not changed."""
    positive = ["corpus_scale", "n_layer", "n_head", "n_embd", "block_size", "batch_size", "grad_accum", "base_steps",
                "steps", "eval_interval", "base_eval_interval", "eval_windows", "log_interval", "ckpt_interval"]
    for key in positive:
        if cfg[key] <= 0:
            raise ConfigError(f"--{key} {cfg[key]} must be a positive integer")
    for key in ("lr", "base_lr"):
        if not (cfg[key] > 0 and math.isfinite(cfg[key])):
            raise ConfigError(f"--{key} {cfg[key]} must be a positive number")
    for key in ("base_warmup_steps", "warmup_steps", "weight_decay", "grad_clip", "task_problems",
                "feedback_problems"):
        if cfg[key] < 0:
            raise ConfigError(f"--{key} {cfg[key]} must not be negative")
    if not 0 <= cfg["dropout"] < 1 or not 0 <= cfg["min_lr_ratio"] <= 1:
        raise ConfigError("--dropout must be in [0, 1) and --min_lr_ratio in [0, 1]")
    if cfg["n_embd"] % cfg["n_head"]:
        raise ConfigError(f"--n_embd {cfg['n_embd']} must be divisible by --n_head {cfg['n_head']}")
    if cfg["mixer"] not in MIXERS:
        raise ConfigError(f"--mixer {cfg['mixer']} is unknown; choose one of {sorted(MIXERS)}")
    if cfg["init_from"] and not os.path.isdir(cfg["init_from"]):
        raise ConfigError(f"--init_from {cfg['init_from']} is not a folder; give a checkpoint folder in the Hugging "
                          "Face layout, GPT-2 or Llama-family (config.json, model.safetensors and its tokenizer's files)")
    if cfg["base_mixer"] not in BASE_MIXERS:
        raise ConfigError(f"--base_mixer {cfg['base_mixer']} cannot pre-train the base; choose one of "
                          f"{', '.join(BASE_MIXERS)} (the others need a base to start from)")
    if cfg["base_mixer"] != "static" and cfg["init_from"]:
        raise ConfigError(f"--base_mixer {cfg['base_mixer']} with --init_from {cfg['init_from']}: the checkpoint is "
                          "the base, nothing is pre-trained here; drop --base_mixer")
    if cfg["base_weights_from"] and (cfg["base_mixer"] != "static" or cfg["init_from"]):
        raise ConfigError(f"--base_weights_from {cfg['base_weights_from']} fixes a pre-trained base's mixture: it "
                          "goes with the static base mixer and without --init_from; drop the other")
    if cfg["base_mixer"] != "static" and cfg["mixer"] != "static":
        raise ConfigError(f"--base_mixer {cfg['base_mixer']} with --mixer {cfg['mixer']}: the two would share "
                          "their options; pre-train the base first (python -m experiments.pretrain, or train.py "
                          "with --mixer static), then run CPT from it")
    readers = {cfg["mixer"]} if readers is None else set(readers)
    # the base's mixer reads its own options; its starting mixture is the base's (natural over the source field)
    base_reads = set(options_of(MIXERS[cfg["base_mixer"]])) - set(STARTING_MIXTURE)
    defaults = option_defaults(cfg)
    for name in OPTIONS:  # an option the run's mixers do not read would be silently ignored
        users = readers_of(name)
        if users and not readers & set(users) and name not in base_reads and cfg[name] != defaults[name]:
            raise ConfigError(f"--{name} is read by mixer {', '.join(users)}, not by --mixer {cfg['mixer']}; drop "
                              f"it or choose one of those")
    for name in sorted(readers | {cfg["base_mixer"]}):
        MIXERS[name].check_options(cfg)
    if cfg["resume"] and cfg["overwrite"]:
        raise ConfigError("--resume continues the run and --overwrite replaces it; give one of them")
    run_name = cfg["run_name"] or default_run_name(cfg)
    check_run_folder(os.path.join(cfg["out_dir"], run_name), cfg)  # before the corpus and the base are built
    device = cfg["device"]
    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    elif device.startswith("cuda") and not torch.cuda.is_available():
        raise ConfigError(f"--device {device} but CUDA is not available here; use --device cpu")
    return {**cfg, "run_name": run_name, "device": device}


def default_run_name(cfg):
    """cpt-<mixer>, then what sets the run apart from the defaults: the corpus, the preset, the checkpoint it starts
    from, the seed, and each option of its mixer that is not the default (a path by its last name), so that runs of
    different settings land in different folders: cpt-static, cpt-static-target_ratio-0.8, cpt-velocity-mine."""
    defaults = option_defaults(cfg)
    parts = [f"cpt-{cfg['mixer']}"]
    if cfg["corpus"] != defaults["corpus"] or cfg["corpus_scale"] != defaults["corpus_scale"]:
        parts.append(cfg["corpus"] + (f"-x{cfg['corpus_scale']}" if cfg["corpus_scale"] != 1 else ""))
    if cfg["config"]:
        parts.append(os.path.splitext(os.path.basename(cfg["config"]))[0])
    if cfg["init_from"]:
        parts.append("from-" + os.path.basename(os.path.normpath(cfg["init_from"])))
    if cfg["seed"] != defaults["seed"]:
        parts.append(f"seed-{cfg['seed']}")
    for name in options_of(MIXERS[cfg["mixer"]]):
        value = cfg[name]
        if value != defaults[name]:
            value = os.path.basename(os.path.normpath(value)) if isinstance(value, str) and os.sep in value else value
            parts.append(f"{name}-" + re.sub(r"[^A-Za-z0-9._]+", "-", str(value)).strip("-"))
    name = "-".join(parts)
    if len(name) > 100:  # a readable name is a short one: the mixer and a hash of the rest
        name = f"{parts[0]}-{hashlib.sha256(name.encode()).hexdigest()[:10]}"
    return name


def check_run_folder(run_dir, cfg):
    """A run folder is never replaced unasked: a finished run (eval.json) or a checkpointed one is kept unless
    --overwrite; --resume needs a checkpoint and refuses a run that is complete."""
    finished = os.path.exists(os.path.join(run_dir, "eval.json"))
    checkpoint = os.path.exists(os.path.join(run_dir, "ckpt.pt"))
    if cfg["resume"] and finished:
        raise ConfigError(f"{run_dir} is complete (its eval.json is written): nothing to resume; python evaluate.py "
                          f"{run_dir} prints its metrics, --overwrite trains it again")
    if cfg["resume"] and not checkpoint:
        raise ConfigError(f"--resume but {run_dir}/ckpt.pt does not exist; start the run without --resume")
    if not cfg["resume"] and not cfg["overwrite"] and (finished or checkpoint):
        held = "a finished run (eval.json)" if finished else "an unfinished run with a checkpoint (ckpt.pt)"
        hint = "" if finished else "--resume continues it, "
        raise ConfigError(f"{run_dir} holds {held}; {hint}--overwrite replaces it, --run_name NAME writes another "
                          "folder")


def option_defaults(cfg):
    """Every option's default for this config: OPTIONS' defaults, then its preset's values (--config)."""
    preset = load_preset(cfg["config"]) if cfg["config"] else {}
    return {**{name: spec[0] for name, spec in OPTIONS.items()}, **preset}


def config_for_mixer(cfg, name):
    """cfg for a run of mixer `name`: the options that mixer does not read back at their defaults (the suite runs
    every mixer from one set of options)."""
    own, defaults = options_of(MIXERS[name]), option_defaults(cfg)
    return {**cfg, "mixer": name, **{k: defaults[k] for k in OPTIONS if k not in LOOP_OPTIONS and k not in own}}
