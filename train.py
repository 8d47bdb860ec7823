"""
The one training loop: base pre-training on the source field, then continual pre-training (CPT) on all
domains with any mixer, then evaluation.

    python train.py                                   # CPU preset: corpus -> base -> CPT (static) -> metrics
    python train.py --mixer static --target_ratio 0.8 # 80% of the rows from the target field
    python train.py --config config/gpu.py            # GPT-2-small-class model, bf16, compile
    python train.py --resume                          # continue the CPT run from its last checkpoint
    python train.py --help                            # every option with its default
    torchrun --standalone --nproc_per_node=2 train.py # one process per GPU (or CPU, gloo); DDP

Stages: (1) build the corpus if missing (prepare.py); (2) pre-train a base GPT on the source field at
natural proportions, cached in out/base-<hash>/ and reused by every run with the same corpus, model and
base budget; (3) CPT from that base with the mixer, into out/<run_name>/ (log.jsonl, ckpt.pt);
(4) evaluate base and final model (evaluate.py's metrics) and write eval.json.
"""

import argparse
import gc
import hashlib
import json
import math
import os
import resource
import runpy
import shutil
import sys
import time
from contextlib import nullcontext, redirect_stdout

import numpy as np
import torch
import torch.distributed as dist
from tqdm import tqdm
from torch.nn.parallel import DistributedDataParallel as DDP

import agent  # noqa: F401  (registers the learned mixers in MIXERS)
import evaluate
from mixer import (Corpus, DataError, RandomMixer, Sampler, StaticMixer, check_weights, fit_scaling_law, make_mixer,
                   predict_loss, MIXERS)
from model import (GPT, GPTConfig, CheckpointError, autocast, device_peak_flops, load_checkpoint,
                   model_config_dict, save_atomic)
from prepare import DEFAULT_DOMAIN_BYTES, PrepareError, build_default_corpus, write_json_atomic

# ----------------------------------------------------------------------------- configuration
# Every option: name -> (default, type, help). The defaults are the CPU preset (config/cpu.py says the
# same). Override with --config FILE (Python assignments, e.g. config/gpu.py), then --key=value.
OPTIONS = {
    "config": ("", str, "a preset file of Python assignments, e.g. config/gpu.py"),
    # data and output
    "data_dir": ("data", str, "where corpora live"),
    "corpus": ("default", str, "corpus name under data_dir; 'default' is built automatically when missing"),
    "corpus_scale": (1, int, "size multiplier of the built-in default corpus (data/default-xN when > 1)"),
    "out_dir": ("out", str, "where base models and runs are written"),
    "run_name": ("", str, "CPT run folder under out_dir (default: cpt-<mixer>)"),
    # the mixture
    "mixer": ("static", str, f"who sets the weights: {', '.join(sorted(MIXERS))}"),
    "init_weights": ("natural", str, "starting mixture: natural (by train tokens) or uniform"),
    "weights": ("", str, "explicit starting weights, e.g. code=0.2,math_arith=0.8 (others 0)"),
    "target_ratio": (None, float, "put this share of rows on the target field (split by tokens)"),
    "weights_from": ("", str, "start from the time-average of another run's weights (a run folder)"),
    # dynamic mixers (mixer.py's docstrings give the equations)
    "mix_interval": (50, int, "dbl/velocity: steps between weight updates (each needs a validation pass)"),
    "warmup_share": (0.02, float, "bandit: share of the steps sampled at the initial weights"),
    "bandit_alpha": (0.9, float, "bandit: smoothing of the importance-weighted reward"),
    "dbl_eta": (1.0, float, "dbl: step size of the exponentiated excess loss"),
    "dbl_smoothing": (1e-4, float, "dbl: uniform smoothing c"),
    "velocity_share": (0.2, float, "dbl/velocity: share of the CPT budget spent on target estimation"),
    "velocity_step_size": (1.0, float, "velocity: multiplier of V in the exponent"),
    "velocity_min_gap": (0.01, float, "velocity: floor of |L_init - L_tgt| (nats)"),
    "random_schedule": ("", str, "random: walk, fresh, constant, ramp_up, ramp_down or alternate (default: drawn)"),
    "random_concentration": (50.0, float, "random: Dirichlet concentration of the walk's steps"),
    "acodm_save": ("", str, "acodm: write the trained actor and critic to this file after the run"),
    "acodm_load": ("", str, "acodm: start from the actor and critic in this file (from --acodm_save)"),
    "acodm_frozen": (False, bool, "acodm: no reward, no updates, no noise (transfer a loaded actor)"),
    "acodm_untrained": (False, bool, "acodm: frozen randomly initialised actor (the control run)"),
    "acodm_layers": (3, int, "acodm: blocks, chosen by relative depth, whose MLP weight norms enter the state"),
    "acodm_xi": (0.9, float, "acodm: EMA factor of the importance-corrected alignment reward"),
    "acodm_noise": (0.3, float, "acodm: std of the Gaussian exploration noise on the actor's logits"),
    "acodm_gamma": (0.95, float, "acodm: discount"),
    "acodm_tau": (0.01, float, "acodm: soft update rate of the target networks"),
    "acodm_hidden": (64, int, "acodm: hidden width of actor and critic"),
    "acodm_batch": (32, int, "acodm: replay batch per update"),
    "acodm_buffer": (10000, int, "acodm: replay buffer capacity"),
    "acodm_actor_lr": (1e-4, float, "acodm: actor learning rate"),
    "acodm_critic_lr": (1e-3, float, "acodm: critic learning rate"),
    "agent_path": ("", str, "agent: the trained Data Mixing Agent (python agent.py --trajectories DIR --out PATH)"),
    "trajectories": ("", str, "regmix / --collect: folder of random-mixing trajectories"),
    "collect": (0, int, "collect this many random-mixing trajectories (T = steps / mix_interval) and stop"),
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
    "base_seed": (0, int, "seed of the base model's init and sampling (CPT seeds share one base)"),
    # continual pre-training
    "steps": (400, int, "optimizer steps of CPT"),
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
    "task_problems": (200, int, "target-task problems scored at the end (0: all)"),
    "feedback_problems": (64, int, "random/agent: held-out dev problems whose answer log-prob is feedback"),
    "log_interval": (50, int, "steps between console lines (log.jsonl gets every step)"),
    "ckpt_interval": (100, int, "steps between checkpoints (and one at the end)"),
    "resume": (False, bool, "continue the CPT run in out_dir/run_name from its checkpoint"),
    # system
    "device": ("auto", str, "cpu, cuda, cuda:N or auto"),
    "compile": (False, bool, "torch.compile the model"),
}
# options that may differ between a checkpoint and its resumption
RESUME_FREE = {"config", "resume", "device", "compile", "log_interval", "task_problems"}
# options that define the base model (its cache key)
BASE_KEYS = ["n_layer", "n_head", "n_embd", "block_size", "dropout", "base_steps", "base_lr", "base_warmup_steps",
             "base_seed", "batch_size", "grad_accum", "min_lr_ratio", "weight_decay", "beta1", "beta2", "grad_clip"]


class ConfigError(Exception):
    pass


def parse_bool(text):
    if text.lower() in ("1", "true", "yes", "on"):
        return True
    if text.lower() in ("0", "false", "no", "off"):
        return False
    raise argparse.ArgumentTypeError(f"'{text}' is not a boolean; use true or false")


def load_preset(path):
    if not os.path.exists(path):
        raise ConfigError(f"--config {path} does not exist; presets are in config/ (cpu.py, gpu.py)")
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


def parse_config(argv=None):
    pre = argparse.ArgumentParser(add_help=False)
    pre.add_argument("--config", default="")
    known, _ = pre.parse_known_args(argv)
    preset = load_preset(known.config) if known.config else {}
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    for name, (default, kind, help_text) in OPTIONS.items():
        default = preset.get(name, default)
        parser.add_argument(f"--{name}", type=parse_bool if kind is bool else kind, default=default,
                            nargs="?" if kind is bool else None, const=True if kind is bool else None,
                            help=f"{help_text} (default: {default})", metavar=kind.__name__.upper())
    return vars(parser.parse_args(argv))


def validate_config(cfg):
    positive = ["corpus_scale", "n_layer", "n_head", "n_embd", "block_size", "batch_size", "grad_accum", "base_steps",
                "steps", "eval_interval", "base_eval_interval", "eval_windows", "log_interval", "ckpt_interval"]
    for key in positive:
        if cfg[key] <= 0:
            raise ConfigError(f"--{key} {cfg[key]} must be a positive integer")
    for key in ("lr", "base_lr"):
        if not (cfg[key] > 0 and math.isfinite(cfg[key])):
            raise ConfigError(f"--{key} {cfg[key]} must be a positive number")
    for key in ("base_warmup_steps", "warmup_steps", "weight_decay", "grad_clip", "task_problems",
                "feedback_problems", "collect"):
        if cfg[key] < 0:
            raise ConfigError(f"--{key} {cfg[key]} must not be negative")
    if not 0 <= cfg["dropout"] < 1 or not 0 <= cfg["min_lr_ratio"] <= 1:
        raise ConfigError("--dropout must be in [0, 1) and --min_lr_ratio in [0, 1]")
    if cfg["n_embd"] % cfg["n_head"]:
        raise ConfigError(f"--n_embd {cfg['n_embd']} must be divisible by --n_head {cfg['n_head']}")
    if cfg["mixer"] not in MIXERS:
        raise ConfigError(f"--mixer {cfg['mixer']} is unknown; choose one of {sorted(MIXERS)}")
    given = [k for k in ("weights", "target_ratio", "weights_from") if cfg[k] not in ("", None)]
    if len(given) > 1:
        raise ConfigError(f"--{' and --'.join(given)} each set the mixture; give one of them")
    if not 0 < cfg["velocity_share"] < 1 or not 0 <= cfg["warmup_share"] < 1 or not 0 <= cfg["bandit_alpha"] < 1:
        raise ConfigError("--velocity_share must be in (0, 1), --warmup_share and --bandit_alpha in [0, 1)")
    if cfg["mix_interval"] <= 0:
        raise ConfigError(f"--mix_interval {cfg['mix_interval']} must be a positive integer")
    acodm_flags = [k for k in ("acodm_save", "acodm_load", "acodm_frozen", "acodm_untrained") if cfg[k]]
    if acodm_flags and cfg["mixer"] != "acodm":
        raise ConfigError(f"--{acodm_flags[0]} is an AC-ODM option; add --mixer acodm or drop it")
    if cfg["acodm_frozen"] and not (cfg["acodm_load"] or cfg["acodm_untrained"]):
        raise ConfigError("--acodm_frozen needs a policy: --acodm_load PATH (from --acodm_save) or --acodm_untrained")
    if cfg["acodm_load"] and cfg["acodm_untrained"]:
        raise ConfigError("--acodm_load and --acodm_untrained contradict each other; give one of them")
    if cfg["collect"] and not cfg["trajectories"]:
        raise ConfigError("--collect N needs --trajectories DIR, the folder that keeps the trajectories")
    if cfg["collect"] and int(os.environ.get("WORLD_SIZE", "1")) > 1:
        raise ConfigError("--collect runs one process (it writes and deletes run folders); start it with "
                          "python train.py, not torchrun")
    if cfg["collect"] and cfg["steps"] % cfg["mix_interval"]:
        raise ConfigError(f"--collect: --steps {cfg['steps']} must be a multiple of --mix_interval "
                          f"{cfg['mix_interval']} (a trajectory is whole intervals)")
    if not cfg["run_name"]:
        cfg["run_name"] = f"cpt-{cfg['mixer']}"
    if cfg["device"] == "auto":
        cfg["device"] = "cuda" if torch.cuda.is_available() else "cpu"
    elif cfg["device"].startswith("cuda") and not torch.cuda.is_available():
        raise ConfigError(f"--device {cfg['device']} but CUDA is not available here; use --device cpu")


# ----------------------------------------------------------------------------- several processes (torchrun)
# Under torchrun every process runs this same script. All processes draw the same global batch of
# batch_size x world rows (their samplers are identical) and each trains on its own strided share;
# rank 0's weights are broadcast every step; per-domain losses, AC-ODM's per-domain gradients and
# validation losses are all-reduced; only rank 0 writes files and prints.

def setup_distributed(cfg):
    """Join the process group when started by torchrun (WORLD_SIZE > 1); returns (rank, world)."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world == 1:
        return 0, 1
    if cfg["device"].startswith("cuda"):
        cfg["device"] = f"cuda:{int(os.environ['LOCAL_RANK'])}"
        torch.cuda.set_device(cfg["device"])
    dist.init_process_group("nccl" if cfg["device"].startswith("cuda") else "gloo")
    return dist.get_rank(), world


def is_main_process():
    return not dist.is_initialized() or dist.get_rank() == 0


def barrier():
    if dist.is_initialized():
        dist.barrier()


def broadcast_weights(w, device):
    """Rank 0 decides the weights; every process trains under exactly the same vector."""
    if not dist.is_initialized():
        return w
    tensor = torch.tensor(w, dtype=torch.float64, device=device)
    dist.broadcast(tensor, 0)
    return tensor.cpu().numpy()


# ----------------------------------------------------------------------------- the loop

class TrainingError(Exception):
    pass


def lr_at(step, peak_lr, warmup_steps, total_steps, min_lr_ratio):
    """Linear warm-up to peak_lr, then cosine decay to peak_lr * min_lr_ratio at total_steps."""
    if step < warmup_steps:
        return peak_lr * (step + 1) / warmup_steps
    progress = min(1.0, (step - warmup_steps) / max(1, total_steps - warmup_steps))
    return peak_lr * (min_lr_ratio + (1 - min_lr_ratio) * 0.5 * (1 + math.cos(math.pi * progress)))


def current_rss_mb():
    """Resident memory of this process now (Linux), for the log's memory column; None elsewhere."""
    try:
        with open("/proc/self/statm") as f:
            return round(int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2 ** 20, 1)
    except (OSError, ValueError):
        return None


def json_number(x):
    return None if x is None or not math.isfinite(x) else round(float(x), 6)


def per_domain_mean(row_loss_sum, row_count):
    """Mean training loss per domain from summed per-row losses; NaN where a domain had no rows."""
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(row_count > 0, row_loss_sum / np.maximum(row_count, 1), np.nan)


def step_record(step, tokens, lr, loss, train_loss, w, row_count, sampler, tokens_per_second, corpus, mixer):
    """One line of log.jsonl: everything a plot or a later analysis of the step needs."""
    return {"step": step, "tokens": tokens, "lr": lr, "loss": json_number(loss),
            "train_loss": [json_number(v) for v in train_loss], "weights": [round(float(v), 6) for v in w],
            "rows": row_count.long().tolist(), "tokens_per_domain": sampler.tokens_per_domain(),
            "epochs_per_domain": [round(e, 4) for e in sampler.epochs_per_domain()],
            "tokens_per_second": round(tokens_per_second, 1), "rss_mb": current_rss_mb(),
            "domains": corpus.domains, "mixer_state": mixer.log()}


def console_line(phase, step, steps, loss, record, tokens_per_second, mfu, lr, w, corpus):
    """`cpt step 50/400 | loss 3.39 | val S 4.90 T 2.29 | 10,716 tok/s | lr 3.0e-03 | w code=0.22 ...`"""
    val = ""
    if "val_loss" in record:
        source = evaluate.field_mean(record["val_loss"], corpus.fields, "source")
        target = evaluate.field_mean(record["val_loss"], corpus.fields, "target")
        val = f" | val S {source:.3f} T {target:.3f}"
    mfu_text = f" | mfu {100 * mfu:.1f}%" if mfu is not None else ""
    weights = " ".join(f"{d}={v:.2f}" for d, v in zip(corpus.domains, w) if v > 0)
    return (f"  {phase} step {step:5d}/{steps} | loss {loss:.4f}{val} | {tokens_per_second:,.0f} tok/s{mfu_text} | "
            f"lr {lr:.2e} | w {weights}")


def forward_backward(forward, sampler, w, min_rows, grad_accum, device):
    """Sample grad_accum micro-batches under w; forward (per-row losses) and backward each. Returns the
    per-domain sums of row losses and the row counts (all processes, CPU, one transfer per step) and the
    domains of this process' rows."""
    K = len(w)
    rank, world = (dist.get_rank(), dist.get_world_size()) if dist.is_initialized() else (0, 1)
    loss_sum, row_count = torch.zeros(K, device=device), torch.zeros(K, device=device)
    row_domains = []
    for micro in range(grad_accum):
        x, y, row_domain = (t[rank::world] for t in sampler.batch(w, min_rows))  # this process' share
        if torch.device(device).type == "cuda":  # pinned host memory lets the copy overlap the GPU's work
            x, y, row_domain = x.pin_memory(), y.pin_memory(), row_domain.pin_memory()
        x, y = x.to(device, non_blocking=True), y.to(device, non_blocking=True)
        row_domain_device = row_domain.to(device, non_blocking=True)
        last = micro == grad_accum - 1
        with forward.no_sync() if isinstance(forward, DDP) and not last else nullcontext():  # sync once
            with autocast(device):
                _, row_loss = forward(x, y, per_row=True)
            (row_loss.mean() / grad_accum).backward()  # DDP averages the gradients over processes
        loss_sum.index_add_(0, row_domain_device, row_loss.detach().float())
        row_count += torch.bincount(row_domain_device, minlength=K)
        row_domains.append(row_domain)
    sums = torch.stack([loss_sum, row_count])
    if dist.is_initialized():
        dist.all_reduce(sums)
    sums = sums.cpu()  # the step's one host-device synchronisation
    return sums[0], sums[1], torch.cat(row_domains)


def train(cfg, corpus, model, mixer, run_dir, phase, device, resume_state=None):
    """Run one phase ('base' or 'cpt') to completion in run_dir; returns run info (tokens, time).

    Every step: w = mixer.weights(); sample rows following w; one forward gives per-row losses;
    per-domain means feed mixer.observe_step. Every eval_interval: per-domain validation losses feed
    mixer.observe_eval. Checkpoints hold everything needed to resume bit-identically."""
    is_base = phase == "base"
    steps = cfg["base_steps"] if is_base else cfg["steps"]
    schedule_steps = steps  # the learning-rate schedule's length
    peak_lr = cfg["base_lr"] if is_base else cfg["lr"]
    warmup = cfg["base_warmup_steps"] if is_base else cfg["warmup_steps"]
    seed = cfg["base_seed"] if is_base else cfg["seed"]
    eval_interval = cfg["base_eval_interval"] if is_base else cfg["eval_interval"]
    if phase == "estimate":  # the first share of the CPT run, same schedule, validation at >= 8 points
        steps = estimate_steps(cfg)
        eval_interval = max(1, steps // 8)
    K = len(corpus.domains)
    world = dist.get_world_size() if dist.is_initialized() else 1
    sampler = Sampler(corpus, cfg["batch_size"] * world, cfg["block_size"], seed)  # the global batch
    optimizer = model.configure_optimizer(peak_lr, cfg["weight_decay"], (cfg["beta1"], cfg["beta2"]),
                                          torch.device(device).type)
    valset = evaluate.ValidationSet(corpus, cfg["block_size"], cfg["eval_windows"])
    feedback_set = corpus.dev_problems(cfg["feedback_problems"]) if mixer.needs_feedback else []
    if mixer.needs_model:
        mixer.attach_model(model)
    ckpt_path, log_path = os.path.join(run_dir, "ckpt.pt"), os.path.join(run_dir, "log.jsonl")
    step, train_seconds, wall_seconds = 0, 0.0, 0.0  # step time only / everything (evals, checkpoints)
    if resume_state is not None:
        model.load_state_dict(resume_state["model"])
        optimizer.load_state_dict(resume_state["optimizer"])
        sampler.load_state_dict(resume_state["sampler"])
        mixer.load_state_dict(resume_state["mixer"])
        torch.set_rng_state(resume_state["torch_rng"])
        step = resume_state["step"]
        train_seconds, wall_seconds = resume_state["train_seconds"], resume_state["wall_seconds"]
        truncate_log(log_path, step)
    elif is_main_process():
        open(log_path, "w").close()
    forward = torch.compile(model) if cfg["compile"] else model
    if dist.is_initialized():
        forward = DDP(forward, device_ids=[torch.device(device).index] if device.startswith("cuda") else None)
    tokens_per_step = cfg["batch_size"] * world * cfg["grad_accum"] * cfg["block_size"]
    peak_flops = device_peak_flops(device)

    def save_checkpoint():
        if not is_main_process():
            return
        save_atomic({"model": model.state_dict(), "optimizer": optimizer.state_dict(),
                     "sampler": sampler.state_dict(), "mixer": mixer.state_dict(), "torch_rng": torch.get_rng_state(),
                     "step": step, "steps": steps, "phase": phase, "mixer_name": mixer.name, "config": cfg,
                     "model_config": model_config_dict(model), "corpus_fingerprint": corpus.fingerprint,
                     "train_seconds": train_seconds, "wall_seconds": wall_seconds}, ckpt_path)

    def run_eval(record):
        val_loss, val_bpb = evaluate.domain_val_losses(model, valset, device)
        ev = {"val_loss": val_loss, "val_bpb": val_bpb}
        if feedback_set and step % mixer.eval_every == 0:  # the agent's environment: answer log-prob too
            logprob = float(np.mean(evaluate.answer_logprobs(model, corpus.tokenizer, feedback_set, device)))
            ev["task_logprob"] = record["feedback_logprob"] = logprob
        mixer.observe_eval(step, ev)
        record["val_loss"] = [json_number(v) for v in val_loss]
        record["val_bpb"] = [json_number(v) for v in val_bpb]
        return val_loss

    with open(log_path if is_main_process() else os.devnull, "a") as log_file:
        if step == 0:
            record = {"step": 0, "tokens": 0, "domains": corpus.domains}
            run_eval(record)
            log_file.write(json.dumps(record) + "\n")
        t_last, tokens_since = time.time(), 0
        while step < steps:
            t0 = time.time()
            w = check_weights(broadcast_weights(mixer.weights(), device), corpus.domains, mixer.name)
            lr = lr_at(step, peak_lr, warmup, schedule_steps, cfg["min_lr_ratio"])
            for group in optimizer.param_groups:
                group["lr"] = lr
            loss_sum, row_count, row_domain = forward_backward(forward, sampler, w, mixer.min_rows_per_domain,
                                                               cfg["grad_accum"], device)
            if cfg["grad_clip"] > 0:
                torch.nn.utils.clip_grad_norm_(model.parameters(), cfg["grad_clip"])
            loss = float(loss_sum.sum() / row_count.sum())
            if not math.isfinite(loss):
                batch_domains = [d for d, n in zip(corpus.domains, row_count.tolist()) if n > 0]
                raise TrainingError(f"the training loss became {loss} at step {step} (batch domains "
                                    f"{batch_domains}); the last good checkpoint {ckpt_path} is "
                                    "intact: lower --lr or check the data, then --resume")
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)
            train_loss = per_domain_mean(loss_sum.numpy(), row_count.numpy())
            mixer.observe_step(step, {"train_loss": train_loss.tolist(), "rows": row_count.long().tolist(),
                                      "row_domain": row_domain})
            step += 1
            dt = time.time() - t0
            train_seconds += dt
            tokens_since += tokens_per_step
            record = step_record(step, step * tokens_per_step, lr, loss, train_loss, w, row_count, sampler,
                                 tokens_per_step / dt, corpus, mixer)
            if step % eval_interval == 0 or step == steps or (mixer.eval_every and step % mixer.eval_every == 0):
                run_eval(record)
            log_file.write(json.dumps(record) + "\n")
            log_file.flush()
            if step % cfg["log_interval"] == 0 or step == steps:
                now = time.time()
                tokens_per_second = tokens_since / (now - t_last)  # wall time, evaluations included
                mfu = tokens_per_second * model.flops_per_token() / (peak_flops * world) if peak_flops else None
                print(console_line(phase, step, steps, loss, record, tokens_per_second, mfu, lr, w, corpus),
                      flush=True)
                t_last, tokens_since = now, 0
            wall_seconds += time.time() - t0
            if step % cfg["ckpt_interval"] == 0 or step == steps:
                save_checkpoint()
    return {"steps": steps, "tokens": steps * tokens_per_step, "train_seconds": train_seconds,
            "wall_seconds": wall_seconds, "tokens_per_second": steps * tokens_per_step / max(train_seconds, 1e-9),
            "tokens_per_domain": sampler.tokens_per_domain(), "epochs_per_domain": sampler.epochs_per_domain(),
            "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}


def truncate_log(log_path, step):
    """Drop log lines past the checkpoint's step, so a resumed log reads like an uninterrupted one."""
    if not os.path.exists(log_path):
        return
    with open(log_path) as f:
        lines = [line for line in f if line.strip()]
    kept = []
    for line in lines:
        try:
            if json.loads(line)["step"] <= step:
                kept.append(line)
        except (ValueError, KeyError):
            break  # a line cut by the crash
    tmp = f"{log_path}.tmp-{os.getpid()}"
    with open(tmp, "w") as f:
        f.writelines(kept)
    os.replace(tmp, log_path)


# ----------------------------------------------------------------------------- stages

def read_json(path, what):
    """A cached JSON file of ours; a damaged one is named with the way out (delete it, it is rebuilt)."""
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError) as e:
        raise DataError(f"{what} in {path} is damaged ({type(e).__name__}); delete that file and rerun: "
                        "it is computed again") from None


def stage(title):
    print(f"\n== {title}", flush=True)


def check_mixer(cfg, corpus):
    """Build the CPT mixer before the long stages, so bad weights or a bad policy file stop the run at
    once, and check that a batch can hold the rows the mixer forces per domain. Returns the mixer."""
    mixer = make_mixer(cfg["mixer"], corpus, cfg)
    need = mixer.min_rows_per_domain * len(corpus.domains)
    if cfg["batch_size"] < need:
        raise ConfigError(f"mixer '{mixer.name}' keeps {mixer.min_rows_per_domain} row(s) per domain: "
                          f"--batch_size {cfg['batch_size']} must be at least {need}")
    return mixer


def ensure_corpus(cfg):
    scale = cfg["corpus_scale"]
    name = f"default-x{scale}" if cfg["corpus"] == "default" and scale > 1 else cfg["corpus"]
    path = os.path.join(cfg["data_dir"], name)
    if not os.path.exists(os.path.join(path, "meta.json")):
        if cfg["corpus"] != "default":
            raise DataError(f"corpus {path} does not exist; build it with prepare.py --corpus {cfg['corpus']} "
                            "--domain NAME=PATH --field NAME=source|target ...")
        if is_main_process():
            print(f"building the default corpus in {path} (once)")
            build_default_corpus(path, domain_bytes={d: n * scale for d, n in DEFAULT_DOMAIN_BYTES.items()})
    barrier()
    corpus = Corpus(path)
    corpus.check_block_size(cfg["block_size"])
    for field in ("source", "target"):
        if not corpus.field_indices(field):
            raise DataError(f"corpus {path} has no {field} domain; CPT needs both fields (prepare.py --field)")
    return corpus


def new_model(cfg, corpus, seed, device):
    torch.manual_seed(seed)
    model = GPT(GPTConfig(vocab_size=corpus.tokenizer.vocab_size, block_size=cfg["block_size"],
                          n_layer=cfg["n_layer"], n_head=cfg["n_head"], n_embd=cfg["n_embd"], dropout=cfg["dropout"]))
    return model.to(device)


def base_key(cfg, corpus):
    spec = json.dumps({"corpus": corpus.fingerprint, **{k: cfg[k] for k in BASE_KEYS}}, sort_keys=True)
    return hashlib.sha256(spec.encode()).hexdigest()[:10]


def check_resumable(ckpt, cfg, corpus, path, keys):
    if ckpt.get("corpus_fingerprint") != corpus.fingerprint:
        raise CheckpointError(f"{path} was trained on another corpus than {corpus.path}; use the matching "
                              "--corpus or start a new run (without --resume)")
    changed = sorted(k for k in keys if ckpt["config"].get(k) != cfg[k])
    if changed:
        detail = ", ".join(f"{k}={ckpt['config'].get(k)!r} (now {cfg[k]!r})" for k in changed)
        raise CheckpointError(f"{path} was written with other options: {detail}; resume with the same options")


def ensure_base(cfg, corpus, device):
    """The base model: pre-trained on the source field at natural proportions, cached by its config."""
    base_dir = os.path.join(cfg["out_dir"], f"base-{base_key(cfg, corpus)}")
    ckpt_path, eval_path = os.path.join(base_dir, "ckpt.pt"), os.path.join(base_dir, "base_eval.json")
    if os.path.exists(eval_path):
        read_json(eval_path, "the base model's evaluation")
        print(f"reusing the base model in {base_dir}")
        return base_dir
    if is_main_process():
        os.makedirs(base_dir, exist_ok=True)
    barrier()
    model = new_model(cfg, corpus, cfg["base_seed"], device)
    print(f"pre-training a base GPT ({model.num_params() / 1e6:.2f}M parameters) on the source field "
          f"for {cfg['base_steps']} steps into {base_dir}")
    base_cfg = {**cfg, "mixer": "static", "weights": "", "target_ratio": 0.0, "init_weights": "natural"}
    mixer = StaticMixer(corpus, base_cfg)
    resume_state = None
    if os.path.exists(ckpt_path):  # an interrupted base run continues where it stopped
        resume_state = load_checkpoint(ckpt_path)
        check_resumable(resume_state, base_cfg, corpus, ckpt_path, BASE_KEYS)
        print(f"continuing the interrupted base run from step {resume_state['step']}")
    info = train(base_cfg, corpus, model, mixer, base_dir, "base", device, resume_state)
    if is_main_process():
        print("evaluating the base model")
        base_eval = evaluate.full_evaluation(model, corpus, cfg["block_size"], device, cfg["task_problems"])
        write_json_atomic(eval_path, {"eval": base_eval, "run": info, "config": base_cfg})
    barrier()
    return base_dir


def estimate_steps(cfg):
    return max(8, math.ceil(cfg["velocity_share"] * cfg["steps"]))


def ensure_loss_targets(cfg, corpus, base_dir, device):
    """Velocitune's target estimation, also DBL's reference loss: CPT from the base with the initial
    weights for velocity_share of the budget (the full run's learning-rate schedule, cut short), then a
    per-domain fit of L(D) = E + B D^-beta to the validation losses, extrapolated to the full budget's
    tokens. Cached in out/estimate-<hash>/targets.json, shared by every run with the same base, mixture,
    budget and seed."""
    keys = ["steps", "lr", "warmup_steps", "seed", "velocity_share", "init_weights", "weights", "target_ratio",
            "weights_from", "eval_windows"]
    spec = json.dumps({"base": base_dir, **{k: cfg[k] for k in keys + BASE_KEYS}}, sort_keys=True)
    est_dir = os.path.join(cfg["out_dir"], f"estimate-{hashlib.sha256(spec.encode()).hexdigest()[:10]}")
    targets_path = os.path.join(est_dir, "targets.json")
    if os.path.exists(targets_path):
        print(f"reusing the loss targets in {targets_path}")
        return read_json(targets_path, "the cached loss targets")
    if is_main_process():
        os.makedirs(est_dir, exist_ok=True)
    barrier()
    print(f"estimating per-domain target losses: {estimate_steps(cfg)} CPT steps with the initial weights "
          f"({cfg['velocity_share']:.0%} of the budget) into {est_dir}")
    model = new_model(cfg, corpus, cfg["seed"], device)
    model.load_state_dict(load_checkpoint(os.path.join(base_dir, "ckpt.pt"))["model"])
    est_cfg = {**cfg, "mixer": "static"}
    info = train(est_cfg, corpus, model, StaticMixer(corpus, est_cfg), est_dir, "estimate", device)
    barrier()  # rank 0's log is complete
    points = [r for r in evaluate.read_log(est_dir) if "val_loss" in r and r["step"] > 0]
    tokens = [r["tokens"] for r in points]
    full_tokens = cfg["steps"] * cfg["batch_size"] * cfg["grad_accum"] * cfg["block_size"]
    fits, targets = [], []
    for d, name in enumerate(corpus.domains):
        losses = [r["val_loss"][d] for r in points]
        fit = fit_scaling_law(tokens, losses)
        target = predict_loss(fit, full_tokens)
        targets.append(max(0.0, target) if math.isfinite(target) else losses[-1])
        fits.append(fit)
        flag = f"  [{fit['flag']}]" if fit["flag"] else ""
        print(f"  {name:14s} L(D) = {fit['E']:.3f} + {fit['B']:.3g} D^-{fit['beta']:.3f}, rmse {fit['rmse']:.4f}"
              f" -> L_tgt {targets[-1]:.3f} at {full_tokens:,} tokens{flag}")
    result = {"domains": corpus.domains, "targets": targets, "fits": fits, "points_tokens": tokens,
              "points_val_loss": [r["val_loss"] for r in points], "full_tokens": full_tokens,
              "estimate_steps": info["steps"], "estimate_tokens": info["tokens"],
              "estimate_seconds": info["wall_seconds"]}
    barrier()
    if is_main_process():
        write_json_atomic(targets_path, result)
    return result


def run_cpt(cfg, corpus, base_dir, mixer, device):
    run_dir = os.path.join(cfg["out_dir"], cfg["run_name"])
    ckpt_path = os.path.join(run_dir, "ckpt.pt")
    base_ckpt = load_checkpoint(os.path.join(base_dir, "ckpt.pt"))
    model = new_model(cfg, corpus, cfg["seed"], device)
    model.load_state_dict(base_ckpt["model"])
    extra = {}
    if mixer.needs_loss_targets:
        estimate = ensure_loss_targets(cfg, corpus, base_dir, device)
        mixer.set_targets(estimate["targets"])
        extra = {"estimate_seconds": estimate["estimate_seconds"], "estimate_tokens": estimate["estimate_tokens"]}
    resume_state = None
    if cfg["resume"]:
        if not os.path.exists(ckpt_path):
            raise CheckpointError(f"--resume but {ckpt_path} does not exist; start the run without --resume")
        resume_state = load_checkpoint(ckpt_path)
        check_resumable(resume_state, cfg, corpus, ckpt_path, [k for k in cfg if k not in RESUME_FREE])
        print(f"resuming {run_dir} from step {resume_state['step']}")
    else:
        if is_main_process():
            if os.path.exists(run_dir):
                shutil.rmtree(run_dir)  # a new run of the same name replaces the old one
            os.makedirs(run_dir)
        barrier()
    print(f"CPT with mixer '{mixer.name}' for {cfg['steps']} steps into {run_dir}")
    t0 = time.time()
    info = train(cfg, corpus, model, mixer, run_dir, "cpt", device, resume_state)
    info.update({"mixer": mixer.name, "base_dir": base_dir, "stage_seconds": time.time() - t0, **extra})
    if cfg["acodm_save"] and is_main_process():
        mixer.save_policy(cfg["acodm_save"])
        print(f"wrote the AC-ODM actor and critic to {cfg['acodm_save']}")
    return run_dir, model, mixer, info


def collect_trajectories(cfg, corpus, base_dir, device):
    """The Data Mixing Agent's environment: --collect N CPT runs of the random mixer from the base, each
    T = steps / mix_interval intervals with feedback at every boundary (seed = --seed + index, schedules
    taken in turn unless --random_schedule names one). Each finished run becomes one file of the
    trajectory buffer, then its run folder is deleted; a rerun collects only the missing indices."""
    folder = cfg["trajectories"]
    buffer = agent.TrajectoryBuffer(folder)
    for name in os.listdir(folder):  # the run folder of a trajectory that was interrupted
        if name.startswith("run-"):
            shutil.rmtree(os.path.join(folder, name))
    missing = buffer.missing(cfg["collect"])
    print(f"{cfg['collect'] - len(missing)} of {cfg['collect']} trajectories already in {folder}")
    for index in tqdm(missing, desc="trajectories", initial=cfg["collect"] - len(missing), total=cfg["collect"],
                      unit="traj", file=sys.stdout, dynamic_ncols=True):
        schedule = cfg["random_schedule"] or RandomMixer.SCHEDULES[index % len(RandomMixer.SCHEDULES)]
        run_cfg = {**cfg, "mixer": "random", "random_schedule": schedule, "seed": cfg["seed"] + index,
                   "run_name": os.path.join(os.path.abspath(folder), f"run-{index:05d}"), "resume": False,
                   "eval_interval": cfg["mix_interval"], "ckpt_interval": cfg["steps"], "log_interval": cfg["steps"]}
        with open(os.devnull, "w") as quiet, redirect_stdout(quiet):  # one progress bar, not every run's lines
            run_dir, _, mixer, info = run_cpt(run_cfg, corpus, base_dir, make_mixer("random", corpus, run_cfg), device)
        arrays = agent.trajectory_from_log(evaluate.read_log(run_dir), cfg["mix_interval"])
        buffer.save(index, arrays, {"domains": corpus.domains, "fields": corpus.fields, "schedule": schedule,
                                    "seed": run_cfg["seed"], "interval": cfg["mix_interval"], "base_dir": base_dir,
                                    "wall_seconds": info["wall_seconds"], "config": run_cfg})
        shutil.rmtree(run_dir)
    seconds = sum(buffer.load(i)[1]["wall_seconds"] for i in buffer.finished())
    print(f"{len(buffer.finished())} trajectories in {folder} ({seconds:.0f} s of CPT in all)")


def main(argv=None):
    t_start = time.time()
    timings = {}
    try:
        cfg = parse_config(argv)
        validate_config(cfg)
        rank, world = setup_distributed(cfg)
        device = cfg["device"]
        quiet = open(os.devnull, "w") if rank else None
        if quiet:  # one console: rank 0's
            sys.stdout = quiet
        if torch.device(device).type == "cuda":
            torch.backends.cuda.matmul.allow_tf32 = True
            torch.backends.cudnn.allow_tf32 = True
        stage("1/4 corpus")
        t0 = time.time()
        corpus = ensure_corpus(cfg)
        print(f"corpus {corpus.path}: " + ", ".join(f"{d} ({f}, {n / 1e6:.2f}M tokens)" for d, f, n in
                                                     zip(corpus.domains, corpus.fields, corpus.train_tokens)))
        mixer = check_mixer(cfg, corpus)
        timings["corpus"] = time.time() - t0
        stage("2/4 base model")
        t0 = time.time()
        base_dir = ensure_base(cfg, corpus, device)
        timings["base"] = time.time() - t0
        if cfg["collect"]:
            stage("3/3 trajectories of the random mixer")
            collect_trajectories(cfg, corpus, base_dir, device)
            return {"trajectories": cfg["trajectories"]}
        stage("3/4 continual pre-training")
        t0 = time.time()
        run_dir, model, mixer, info = run_cpt(cfg, corpus, base_dir, mixer, device)
        timings["cpt"] = time.time() - t0
        stage("4/4 evaluation")
        t0 = time.time()
        if not is_main_process():
            return {"run_dir": run_dir, "model": model, "mixer": mixer}
        final = evaluate.full_evaluation(model, corpus, cfg["block_size"], device, cfg["task_problems"])
        base = read_json(os.path.join(base_dir, "base_eval.json"), "the base model's evaluation")["eval"]
        result = {"base": base, "final": final, "summary": evaluate.summarize(base, final), "run": info,
                  "config": cfg}
        timings["evaluation"] = time.time() - t0
        result["run"]["stage_timings_seconds"] = timings
        write_json_atomic(os.path.join(run_dir, "eval.json"), result)
        print(evaluate.run_report(result))
        print(f"\nstage times: " + ", ".join(f"{k} {v:.0f}s" for k, v in timings.items())
              + f"; total {time.time() - t_start:.0f}s; CPT {info['tokens_per_second']:,.0f} training tok/s")
        print(f"run folder: {run_dir} (python evaluate.py {run_dir} --plot)")
        return {"run_dir": run_dir, "model": model, "mixer": mixer}
    except (ConfigError, DataError, PrepareError, CheckpointError, TrainingError) as e:
        sys.exit(f"error: {e}")
    finally:
        if dist.is_initialized():
            # A DDP wrapper sits in a reference cycle and holds the process group; if the collector has not
            # freed it by now it would be freed at interpreter exit, where gloo aborts the process.
            gc.collect()
            dist.destroy_process_group()


if __name__ == "__main__":
    main()
