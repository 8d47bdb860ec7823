"""
The one training loop: base pre-training on the source field, then continual pre-training (CPT) on all
domains with any mixer, then evaluation.

    python train.py                                   # CPU preset: corpus -> base -> CPT (static) -> metrics
    python train.py --mixer static --target_ratio 0.8 # 80% of the rows from the target field
    python train.py --config config/gpu.py            # GPT-2-small-class model, bf16, compile
    python train.py --resume                          # continue an interrupted run (Ctrl-C prints the command)
    python train.py --help                            # every option with its default, grouped by mixer
    torchrun --standalone --nproc_per_node=2 train.py # one process per GPU (or CPU, gloo); DDP

Stages: (1) build the corpus if missing (prepare.py); (2) pre-train a base GPT on the source field at
natural proportions, cached in out/base-<hash>/ and reused by every run with the same corpus, model and
base budget; (3) CPT from that base with the mixer, into out/<run_name>/ (log.jsonl, ckpt.pt), a folder named by
what sets the run apart (cpt-static, cpt-static-target_ratio-0.8) and never replaced unless --overwrite;
(4) evaluate base and final model (evaluate.py's metrics) and write eval.json. Ctrl-C or SIGTERM stops at the end
of a step with a checkpoint. On the CPU torch uses every core; on a busy machine OMP_NUM_THREADS=1 can be faster.
"""

import gc
import hashlib
import json
import math
import os
import resource
import shlex
import shutil
import signal
import sys
import threading
import time
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass

import numpy as np
import torch
import torch.distributed as dist
from torch.nn.parallel import DistributedDataParallel as DDP

import evaluate
from common import (CheckpointError, ConfigError, DataError, TrainingError, UserError, read_json, save_atomic,
                    write_json_atomic)
from data import Sampler, check_weights
from distributed import barrier, broadcast_weights, folder_lock, is_main_process, setup_distributed
from model import (GPT, GPTConfig, autocast, device_peak_flops, load_checkpoint, load_pretrained, model_config_dict,
                   pretrained_folder, safetensors_files)
from options import (LOOP_OPTIONS, MIXERS, OPTIONS, make_mixer, option_defaults, options_of, parse_config,
                     validate_config)
from prepare import ensure_corpus
from tokenizer import tokenizer_from_files

# options that may differ between a checkpoint and its resumption
RESUME_FREE = {"config", "resume", "overwrite", "device", "compile", "log_interval", "task_problems"}
# options that define the base model (its cache key)
BASE_KEYS = ["n_layer", "n_head", "n_embd", "block_size", "dropout", "base_steps", "base_lr", "base_warmup_steps",
             "base_seed", "batch_size", "grad_accum", "min_lr_ratio", "weight_decay", "beta1", "beta2", "grad_clip"]


# ----------------------------------------------------------------------------- the loop

class Interrupted(Exception):
    """The loop stopped at a step boundary on Ctrl-C (SIGINT) or SIGTERM, with a checkpoint of that step."""

    def __init__(self, signum, label, step, steps, ckpt_path):
        super().__init__(f"{signal.Signals(signum).name} at {label} step {step} of {steps}")
        self.signum, self.label, self.step, self.steps, self.ckpt_path = signum, label, step, steps, ckpt_path


@contextmanager
def stop_requests():
    """While the loop runs, Ctrl-C (SIGINT) and SIGTERM ask it to stop after the step it is in (the list it yields
    gets the signal), so that the checkpoint written on the way out holds a whole step; a second Ctrl-C stops at
    once. Under torchrun, or off the main thread, signals keep their usual meaning (the processes would not stop at
    the same step)."""
    stop = []
    if dist.is_initialized() or threading.current_thread() is not threading.main_thread():
        yield stop
        return

    def ask(signum, frame):
        if stop and signum == signal.SIGINT:
            raise KeyboardInterrupt
        stop.append(signum)
        print(f"\n{signal.Signals(signum).name}: stopping after this step with a checkpoint (Ctrl-C again to stop "
              "at once)", file=sys.stderr, flush=True)
    previous = {s: signal.signal(s, ask) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield stop
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)


def lr_at(step, peak_lr, warmup_steps, total_steps, min_lr_ratio):
    """Linear warm-up to peak_lr, then cosine decay to peak_lr * min_lr_ratio at total_steps."""
    if step < warmup_steps:
        return peak_lr * (step + 1) / warmup_steps
    progress = min(1.0, (step - warmup_steps) / max(1, total_steps - warmup_steps))
    return peak_lr * (min_lr_ratio + (1 - min_lr_ratio) * 0.5 * (1 + math.cos(math.pi * progress)))


def per_domain_mean(row_loss_sum, row_count):
    """Mean training loss per domain from summed per-row losses; NaN where a domain had no rows."""
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(row_count > 0, row_loss_sum / np.maximum(row_count, 1), np.nan)


def forward_backward(forward, sampler, w, min_rows, grad_accum, device):
    """Sample grad_accum micro-batches under w; forward (per-row losses) and backward each. Returns the per-domain
    sums of row losses and the row counts (all processes, CPU, one transfer per step) and this process' domains."""
    K = len(w)
    rank, world = (dist.get_rank(), dist.get_world_size()) if dist.is_initialized() else (0, 1)
    loss_sum, row_count = torch.zeros(K, device=device), torch.zeros(K, device=device)
    row_domains = []
    for micro in range(grad_accum):
        # forced rows per process: a domain's block of world x min_rows rows gives every rank its min_rows
        x, y, row_domain = (t[rank::world] for t in sampler.batch(w, np.multiply(min_rows, world)))
        if torch.device(device).type == "cuda":  # pinned host memory lets the copy overlap the GPU's work
            x, y, row_domain = x.pin_memory(), y.pin_memory(), row_domain.pin_memory()
        x, y, row_domain_device = (t.to(device, non_blocking=True) for t in (x, y, row_domain))
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


@dataclass
class Schedule:
    """What one call of train() does; the loop itself does not know which stage it serves."""
    label: str           # names the stage in console lines and checkpoints ("base", "cpt", "estimate")
    steps: int           # optimizer steps to run
    peak_lr: float
    warmup_steps: int
    decay_steps: int     # the cosine's length: longer than `steps` for a run cut short (the target estimation)
    eval_interval: int   # steps between validation passes (a mixer may ask for more: Mixer.eval_every)
    seed: int            # of the sampler's batches


def train(cfg, corpus, model, mixer, run_dir, schedule, device, resume_state=None):
    """Run one schedule to completion in run_dir; returns run info (tokens, time).

    Every step: w = mixer.weights(); sample rows following w; one forward gives per-row losses;
    per-domain means feed mixer.observe_step. Every eval_interval: per-domain validation losses feed
    mixer.observe_eval. Checkpoints hold everything needed to resume bit-identically."""
    steps, eval_interval = schedule.steps, schedule.eval_interval
    world = dist.get_world_size() if dist.is_initialized() else 1
    sampler = Sampler(corpus, cfg["batch_size"] * world, cfg["block_size"], schedule.seed,  # the global batch
                      world * mixer.one_domain_groups)  # each process' micro-batch: its groups of one domain
    optimizer = model.configure_optimizer(schedule.peak_lr, cfg["weight_decay"], (cfg["beta1"], cfg["beta2"]),
                                          torch.device(device).type)
    valset = evaluate.HeldOutSet(corpus, cfg["block_size"], cfg["eval_windows"])
    feedback_set = corpus.dev_problems(cfg["feedback_problems"])
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
        evaluate.truncate_log(log_path, step)
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
                     "step": step, "steps": steps, "phase": schedule.label, "mixer_name": mixer.name, "config": cfg,
                     "model_config": model_config_dict(model), "corpus_fingerprint": corpus.fingerprint,
                     "train_seconds": train_seconds, "wall_seconds": wall_seconds}, ckpt_path)

    def run_eval(record):
        val_loss, val_bpb = evaluate.domain_losses(model, valset, device)
        ev = {"val_loss": val_loss, "val_bpb": val_bpb}
        if feedback_set:  # the dev problems' answer log-prob: the agent's feedback, and the learning curve of the task
            logprob = float(np.mean(evaluate.answer_logprobs(model, corpus.tokenizer, feedback_set, device)))
            ev["task_logprob"] = record["feedback_logprob"] = logprob
        mixer.observe_eval(step, ev)
        record["val_loss"] = [evaluate.json_number(v) for v in val_loss]
        record["val_bpb"] = [evaluate.json_number(v) for v in val_bpb]
        return val_loss

    first_step = step
    with open(log_path if is_main_process() else os.devnull, "a") as log_file, stop_requests() as stop:
        if step == 0:
            record = {"step": 0, "tokens": 0, "domains": corpus.domains}
            run_eval(record)
            log_file.write(json.dumps(record) + "\n")
        t_last, tokens_since = time.time(), 0
        t_started = t_last
        while step < steps:
            t0 = time.time()
            w = check_weights(broadcast_weights(mixer.weights(), device), corpus.domains, mixer.name)
            lr = lr_at(step, schedule.peak_lr, schedule.warmup_steps, schedule.decay_steps, cfg["min_lr_ratio"])
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
            record = evaluate.step_record(step, step * tokens_per_step, lr, loss, train_loss, w, row_count, sampler,
                                          tokens_per_step / dt, corpus, mixer)
            if step % eval_interval == 0 or step == steps or (mixer.eval_every and step % mixer.eval_every == 0):
                run_eval(record)
            log_file.write(json.dumps(record) + "\n")
            log_file.flush()
            wall_seconds += time.time() - t0
            if step % cfg["log_interval"] == 0 or step == steps:
                now = time.time()
                tokens_per_second = tokens_since / (now - t_last)  # wall time, evaluations included
                mfu = tokens_per_second * model.flops_per_token() / (peak_flops * world) if peak_flops else None
                seconds_left = (steps - step) * (now - t_started) / (step - first_step)
                print(evaluate.console_line(schedule.label, step, steps, loss, record, tokens_per_second, mfu, lr, w,
                                            corpus, seconds_left), flush=True)
                t_last, tokens_since = now, 0
            if step % cfg["ckpt_interval"] == 0 or step == steps or stop:
                save_checkpoint()
            if stop:  # Ctrl-C or SIGTERM: the step is whole and saved; what a rerun needs is said once
                raise Interrupted(stop[0], schedule.label, step, steps, ckpt_path)
    return {"steps": steps, "tokens": steps * tokens_per_step, "train_seconds": train_seconds,
            "wall_seconds": wall_seconds, "tokens_per_second": steps * tokens_per_step / max(train_seconds, 1e-9),
            "tokens_per_domain": sampler.tokens_per_domain(), "epochs_per_domain": sampler.epochs_per_domain(),
            "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}


# ----------------------------------------------------------------------------- stages

def stage(title):
    print(f"\n== {title}", flush=True)


def check_mixer(cfg, corpus):
    """Build the CPT mixer before the long stages, so bad weights or a bad policy file stop the run at
    once, and check that a batch can hold the rows the mixer forces per domain. Returns the mixer."""
    mixer = make_mixer(cfg["mixer"], corpus, cfg)
    need = int(np.broadcast_to(mixer.min_rows_per_domain, len(corpus.domains)).sum())
    if cfg["batch_size"] < need:
        raise ConfigError(f"mixer '{mixer.name}' keeps {need} row(s) of its domains in every batch: "
                          f"--batch_size {cfg['batch_size']} must be at least {need}")
    return mixer


def new_model(cfg, corpus, seed, device):
    """A freshly initialised GPT of the options' shape (the base pre-training's start)."""
    torch.manual_seed(seed)
    model = GPT(GPTConfig(vocab_size=corpus.tokenizer.vocab_size, block_size=cfg["block_size"],
                          n_layer=cfg["n_layer"], n_head=cfg["n_head"], n_embd=cfg["n_embd"], dropout=cfg["dropout"]))
    return model.to(device)


def base_model(base_dir, seed, device):
    """The base model for a CPT run: its own shape (ours or a loaded GPT-2's) and weights, initialised from
    the run's seed first so the torch random state matches whatever the base was."""
    ckpt = load_checkpoint(os.path.join(base_dir, "ckpt.pt"))
    torch.manual_seed(seed)
    model = GPT(GPTConfig(**ckpt["model_config"]))
    model.load_state_dict(ckpt["model"])
    return model.to(device)


def base_dir_of(cfg, corpus):
    """out/base-<hash>: the hash of what defines the base, so every run that shares it reuses it."""
    if cfg["init_from"]:
        stats = [os.stat(path) for path in safetensors_files(cfg["init_from"])]
        spec = {"corpus": corpus.fingerprint, "init_from": os.path.abspath(cfg["init_from"]), "dropout": cfg["dropout"],
                "block_size": cfg["block_size"], "weights": [[s.st_size, s.st_mtime] for s in stats]}
    else:
        base_cfg = base_config(cfg)
        spec = {"corpus": corpus.fingerprint, **{k: base_cfg[k] for k in base_keys(cfg)}}
    key = hashlib.sha256(json.dumps(spec, sort_keys=True).encode()).hexdigest()[:10]
    return os.path.join(cfg["out_dir"], f"base-{key}")


def base_config(cfg):
    """The base pre-training's own config, built from what defines it: the loop's options as given (model,
    optimiser, system), the base's steps and seed where a mixer reads a run's steps and seed, the base mixer
    with the options it reads as given, every other mixer option at its default, the starting mixture natural over
    the source field or --base_weights_from's (the target's weights are 0 and stay 0), and no dev-problem
    feedback."""
    mixer, defaults = cfg["base_mixer"], option_defaults(cfg)
    mixer_options = {k: cfg[k] if k in options_of(MIXERS[mixer]) else defaults[k] for k in OPTIONS
                     if k not in LOOP_OPTIONS}
    return {**{k: cfg[k] for k in LOOP_OPTIONS}, **mixer_options, "mixer": mixer, "init_weights": "natural",
            "weights": "", "target_ratio": 0.0, "feedback_problems": 0, "steps": cfg["base_steps"],
            "seed": cfg["base_seed"], "weights_from": cfg["base_weights_from"],
            "base_weights_from": os.path.abspath(cfg["base_weights_from"]) if cfg["base_weights_from"] else ""}


def base_keys(cfg):
    """What defines a base: BASE_KEYS, and a base mixer's own options unless static, or the base run a static base
    copies its mixture from (the default keeps its folder)."""
    mixer = cfg["base_mixer"]
    return BASE_KEYS + ([] if mixer == "static" else ["base_mixer"] + sorted(options_of(MIXERS[mixer]))) + \
        (["base_weights_from"] if cfg["base_weights_from"] else [])


def check_resumable(ckpt, cfg, corpus, path, keys):
    if ckpt.get("corpus_fingerprint") != corpus.fingerprint:
        raise CheckpointError(f"{path} was trained on another corpus than {corpus.path}; use the matching "
                              "--corpus or start a new run (without --resume)")
    # a loop option added after the checkpoint was written counts as its default (a new loop option's default
    # keeps the old behaviour); a mixer's option added since may mean that its rule changed
    missing = sorted(k for k in keys if k not in ckpt["config"] and k not in LOOP_OPTIONS)
    if missing:
        raise CheckpointError(f"{path} was written by an older version of this code, before --{', --'.join(missing)} "
                              "existed; its mixer may have changed since: start the run again (without --resume)")
    saved = {k: ckpt["config"].get(k, OPTIONS[k][0] if k in OPTIONS else None) for k in keys}
    changed = sorted(k for k in keys if saved[k] != cfg[k])
    if changed:
        detail = ", ".join(f"{k}={saved[k]!r} (now {cfg[k]!r})" for k in changed)
        raise CheckpointError(f"{path} was written with other options: {detail}; resume with the same options")


def ensure_pretrained_base(cfg, corpus, device):
    """--init_from: a GPT-2 or Llama-family checkpoint is the base; its tokenizer (by content) must have tokenized
    the corpus. Converted once into our checkpoint format in out/base-<hash>/, evaluated there like our bases."""
    folder = cfg["init_from"]
    pretrained_folder(folder)  # the checkpoint's own problems first (e.g. a pickle: the conversion command)
    if tokenizer_from_files(folder).fingerprint != corpus.tokenizer.fingerprint:
        raise DataError(f"corpus {corpus.path} was not tokenized with the tokenizer of {folder}; prepare it with "
                        f"python prepare.py --tokenizer {folder} --corpus NAME --domain ... and train on that corpus")
    base_dir = base_dir_of(cfg, corpus)
    ckpt_path, eval_path = os.path.join(base_dir, "ckpt.pt"), os.path.join(base_dir, "base_eval.json")
    if os.path.exists(eval_path):
        read_json(eval_path, "the base model's evaluation")
        print(f"reusing the converted {folder} in {base_dir}")
        return base_dir
    model = load_pretrained(folder, cfg["block_size"], cfg["dropout"]).to(device)
    c = model.config
    print(f"the base is {folder}: {'Llama-family' if c.arch == 'llama' else 'GPT-2'} with {c.n_layer} layers, "
          f"{c.n_head} heads, {c.n_embd} wide, vocab {c.vocab_size} ({model.num_params() / 1e6:.2f}M parameters); "
          "the --n_layer/--n_head/--n_embd options do not apply")
    if is_main_process():
        os.makedirs(base_dir, exist_ok=True)
        save_atomic({"model": model.state_dict(), "model_config": model_config_dict(model), "init_from": folder,
                     "config": cfg, "corpus_fingerprint": corpus.fingerprint}, ckpt_path)
        print("evaluating the base model")
        base_eval = evaluate.full_evaluation(model, corpus, cfg["block_size"], device, cfg["task_problems"])
        write_json_atomic(eval_path, {"eval": base_eval, "run": {"init_from": folder}, "config": cfg})
    barrier()
    return base_dir


def pretrain_base(cfg, corpus, base_dir, device):
    """Pre-train the base on the source field into base_dir, its weights set by --base_mixer (static: natural
    proportions), then evaluate it."""
    ckpt_path, eval_path = os.path.join(base_dir, "ckpt.pt"), os.path.join(base_dir, "base_eval.json")
    if is_main_process():
        os.makedirs(base_dir, exist_ok=True)
    barrier()
    model = new_model(cfg, corpus, cfg["base_seed"], device)
    print(f"pre-training a base GPT ({model.num_params() / 1e6:.2f}M parameters) on the source field "
          f"for {cfg['base_steps']} steps with mixer '{cfg['base_mixer']}' into {base_dir}")
    base_cfg = base_config(cfg)
    mixer = make_mixer(cfg["base_mixer"], corpus, base_cfg)
    resume_state = None
    if os.path.exists(ckpt_path):  # an interrupted base run continues where it stopped
        resume_state = load_checkpoint(ckpt_path)
        check_resumable(resume_state, base_cfg, corpus, ckpt_path, base_keys(cfg))
        print(f"continuing the interrupted base run from step {resume_state['step']}")
    schedule = Schedule("base", cfg["base_steps"], cfg["base_lr"], cfg["base_warmup_steps"], cfg["base_steps"],
                        cfg["base_eval_interval"], cfg["base_seed"])
    info = train(base_cfg, corpus, model, mixer, base_dir, schedule, device, resume_state)
    if is_main_process():
        mixer.finish()  # e.g. AC-ODM writes its actor (--acodm_save)
        print("evaluating the base model")
        base_eval = evaluate.full_evaluation(model, corpus, cfg["block_size"], device, cfg["task_problems"])
        write_json_atomic(eval_path, {"eval": base_eval, "run": info, "config": base_cfg})
    barrier()


def ensure_base(cfg, corpus, device):
    """The base model: pre-trained on the source field at natural proportions, cached by its config (or a
    GPT-2 or Llama-family checkpoint with --init_from)."""
    if cfg["init_from"]:
        return ensure_pretrained_base(cfg, corpus, device)
    base_dir = base_dir_of(cfg, corpus)
    eval_path = os.path.join(base_dir, "base_eval.json")
    if os.path.exists(eval_path):
        read_json(eval_path, "the base model's evaluation")
        print(f"reusing the base model in {base_dir}")
        return base_dir
    with folder_lock(base_dir, "the base model folder"):
        pretrain_base(cfg, corpus, base_dir, device)
    return base_dir


class Trainer:
    """What a mixer's before_training() may use: the run's config, corpus, base and device, and short CPT runs from
    the base (Velocitune's target estimation runs them)."""

    def __init__(self, cfg, corpus, base_dir, device):
        self.cfg, self.corpus, self.base_dir, self.device = cfg, corpus, base_dir, device
        self.world = dist.get_world_size() if dist.is_initialized() else 1  # the global batch is batch_size x world

    def cache_folder(self, kind, spec):
        """out_dir/<kind>-<hash>: a folder for work that every run with the same base, number of processes,
        base options and `spec` shares."""
        key = json.dumps({"base": self.base_dir, "world": self.world, **spec,
                          **{k: self.cfg[k] for k in BASE_KEYS}}, sort_keys=True)
        return os.path.join(self.cfg["out_dir"], f"{kind}-{hashlib.sha256(key.encode()).hexdigest()[:10]}")

    def tokens_per_step(self):
        return self.cfg["batch_size"] * self.world * self.cfg["grad_accum"] * self.cfg["block_size"]

    def short_run(self, run_dir, mixer, steps, warmup_steps):
        """A CPT run of `steps` steps from the base into run_dir, with a complete schedule of its own (warm-up, then
        the cosine decay over its own length) and the run's learning rate and seed; returns its run info with the
        validation losses and tokens of its last step (val_loss, tokens)."""
        if is_main_process():
            os.makedirs(run_dir, exist_ok=True)
        barrier()
        cfg = self.cfg
        info = train(cfg, self.corpus, base_model(self.base_dir, cfg["seed"], self.device), mixer, run_dir,
                     Schedule("estimate", steps, cfg["lr"], warmup_steps, steps, steps, cfg["seed"]), self.device)
        barrier()  # rank 0's log is complete
        last = [r for r in evaluate.read_log(run_dir) if "val_loss" in r][-1]
        return {**info, "val_loss": last["val_loss"], "tokens": last["tokens"]}


def run_cpt(cfg, corpus, base_dir, mixer, device):
    run_dir = os.path.join(cfg["out_dir"], cfg["run_name"])
    ckpt_path = os.path.join(run_dir, "ckpt.pt")
    model = base_model(base_dir, cfg["seed"], device)
    extra = mixer.before_training(Trainer(cfg, corpus, base_dir, device))  # e.g. Velocitune's target estimation
    resume_state = None
    if cfg["resume"]:
        resume_state = load_checkpoint(ckpt_path)
        # the loop's options and this mixer's own: another mixer's options (even ones added since) do not matter
        run_keys = set(LOOP_OPTIONS) | set(options_of(MIXERS[cfg["mixer"]]))
        check_resumable(resume_state, cfg, corpus, ckpt_path, sorted(run_keys - RESUME_FREE))
        print(f"resuming {run_dir} from step {resume_state['step']}")
    else:
        if is_main_process():
            if os.path.exists(run_dir):
                shutil.rmtree(run_dir)  # a new run of the same name replaces the old one
            os.makedirs(run_dir)
        barrier()
    print(f"CPT with mixer '{mixer.name}' for {cfg['steps']} steps into {run_dir}")
    t0 = time.time()
    schedule = Schedule("cpt", cfg["steps"], cfg["lr"], cfg["warmup_steps"], cfg["steps"], cfg["eval_interval"],
                        cfg["seed"])
    info = train(cfg, corpus, model, mixer, run_dir, schedule, device, resume_state)
    info.update({"mixer": mixer.name, "base_dir": base_dir, "stage_seconds": time.time() - t0, **extra})
    if is_main_process():
        mixer.finish()
    return run_dir, model, mixer, info


def run(cfg):
    """The main job for a validated config: corpus, base, CPT with the mixer, evaluation. Raises the
    user-facing errors (ConfigError, DataError, PrepareError, CheckpointError, TrainingError); main()
    turns them into one line. Returns {"run_dir", "model", "mixer"}."""
    t_start = time.time()
    timings = {}
    rank, world, device = setup_distributed(cfg["device"])
    if rank:  # one console: rank 0's
        sys.stdout = open(os.devnull, "w")
    if torch.device(device).type == "cuda":
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True
    else:
        print(f"on the CPU with {torch.get_num_threads()} threads (OMP_NUM_THREADS sets them; on a busy machine 1 "
              "can be faster)")
        if cfg["config"] and option_defaults(cfg)["compile"]:
            print(f"warning: the preset {cfg['config']} is written for a GPU (a compiled model, bf16) and this run is "
                  "on the CPU: it can take hours (config/cpu.py, the default, is the CPU preset; Ctrl-C stops)")
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
    with folder_lock(os.path.join(cfg["out_dir"], cfg["run_name"]), "the run folder"):
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
        print("\nstage times: " + ", ".join(f"{k} {v:.0f}s" for k, v in timings.items())
              + f"; total {time.time() - t_start:.0f}s; CPT {info['tokens_per_second']:,.0f} training tok/s")
        print(f"run folder: {run_dir} (python evaluate.py {run_dir} --plot)")
        return {"run_dir": run_dir, "model": model, "mixer": mixer}


def continue_command(argv, label):
    """The command that continues an interrupted run: the same one, with --resume for a CPT run (--overwrite
    dropped); a base or an estimation run continues by itself."""
    if label != "cpt":
        return shlex.join(["python", "train.py", *argv])
    flags = ("true", "false", "yes", "no", "on", "off", "1", "0")
    kept = [a for i, a in enumerate(argv) if not (a.startswith("--overwrite") or a.startswith("--resume") or (
        i and argv[i - 1] in ("--overwrite", "--resume") and a.lower() in flags))]
    return shlex.join(["python", "train.py", *kept, "--resume"])


def main(argv=None):
    stdout = sys.stdout
    argv = sys.argv[1:] if argv is None else list(argv)
    on_main_thread = threading.current_thread() is threading.main_thread()
    if on_main_thread:  # SIGTERM outside the loop: clean up as for Ctrl-C (a corpus being built is removed)
        previous_term = signal.signal(signal.SIGTERM, signal.default_int_handler)
    cfg = None
    try:
        cfg = validate_config(parse_config(argv, __doc__))
        return run(cfg)
    except UserError as e:
        sys.exit(f"error: {e}")
    except Interrupted as e:
        print(f"interrupted by {signal.Signals(e.signum).name} at {e.label} step {e.step} of {e.steps}; the "
              f"checkpoint {e.ckpt_path} holds that step; to continue: {continue_command(argv, e.label)}",
              file=sys.stderr, flush=True)
        sys.exit(128 + e.signum)
    except KeyboardInterrupt:
        checkpointed = cfg is not None and os.path.exists(os.path.join(cfg["out_dir"], cfg["run_name"], "ckpt.pt"))
        print("interrupted outside the training steps (nothing half-written is kept: a corpus being built is "
              "removed, a run continues from its last checkpoint); to continue: "
              f"{continue_command(argv, 'cpt' if checkpointed else 'base')}", file=sys.stderr, flush=True)
        sys.exit(130)
    finally:
        if on_main_thread:
            signal.signal(signal.SIGTERM, previous_term)
        sys.stdout = stdout
        if dist.is_initialized():
            # A DDP wrapper sits in a reference cycle and holds the process group; if the collector has not
            # freed it by now it would be freed at interpreter exit, where gloo aborts the process.
            gc.collect()
            dist.destroy_process_group()


if __name__ == "__main__":
    main()
