"""
Benchmark: every number is a ratio or a rate measured side by side in this one process.

    python -m experiments.bench                          # the default CPU configuration (train.py's defaults)
    python -m experiments.bench --config config/gpu.py   # on a GPU: the GPU preset
    python -m experiments.bench --steps 20 --rounds 3    # longer or shorter measurements
    python -m experiments.bench --swarm                  # proxy swarms (swarm.py): M = 1, 4, 16, 64 members at once vs alone
    python -m experiments.bench --swarm --swarm_sizes 1,4,16 --swarm_steps 20   # shorter

Prints (a) training tokens/s of the GPT and its MFU against this device's peak (CPU: a matmul peak
measured here; GPU: model.py's peak table); (b) for every mixer, its step time divided by the static
mixer's, with its own update (reward and DDPG update for acodm) and the validation passes it adds
(dbl, velocity: one at every multiple of mix_interval that is not one of eval_interval; with the
defaults, 40 and 50, 16 in 800 steps) broken out; (c) the sampler's batch assembly rate against the
model's; (d) the data preparation rate (MB of text per second, tokenizer encode and token file write
included). Any option of train.py can be given (`--n_embd 192`, `--batch_size 32`, ...). Mixers run from the same initial weights on separate
copies of the base model, interleaved in rounds, so they see the same machine state.

--swarm: the proxy preset's members (config/proxy.py, each from its own fresh initialisation and seed, each with
its own constant Dirichlet mixture, as RegMix's runs) trained for --swarm_steps steps one after another with
train.train and then as one swarm (swarm.train_swarm), both in fp32 with TF32 off. Per M: the members' step rate
over the one-at-a-time rate, and the largest difference of any member's per-step training loss (its log.jsonl)
from its single run's.
"""

import contextlib
import copy
import math
import os
import shutil
import sys
import tempfile
import time

import numpy as np
import torch

import agent
import evaluate
import train
from common import UserError
from experiments import swarm
from data import Sampler
from model import device_peak_flops
from options import MIXERS, make_mixer, parse_config, validate_config
from prepare import ensure_corpus
from sources import code_documents
from tokens import write_tokens


def measured_cpu_peak_flops(size=1024, repeats=10):
    """The best fp32 matmul rate of this CPU with torch's threads: an honest MFU denominator."""
    a, b = torch.randn(size, size), torch.randn(size, size)
    for _ in range(3):
        a @ b
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        a @ b
        best = min(best, time.perf_counter() - t0)
    return 2 * size ** 3 / best


class MixerRun:
    """One mixer driving its own copy of the model, timed step by step with its extra costs apart."""

    def __init__(self, label, name, cfg, corpus, model, device):
        self.name, self.cfg, self.device = label, cfg, device
        self.model = copy.deepcopy(model)
        self.mixer = make_mixer(name, corpus, {**cfg, "mixer": name})
        if self.mixer.needs_loss_targets:  # the update's cost does not depend on the targets' values
            self.mixer.set_targets([0.0] * len(corpus.domains))
        if self.mixer.needs_model:
            self.mixer.attach_model(self.model)
        self.optimizer = self.model.configure_optimizer(cfg["lr"], cfg["weight_decay"], (cfg["beta1"], cfg["beta2"]),
                                                        torch.device(device).type)
        self.sampler = Sampler(corpus, cfg["batch_size"], cfg["block_size"], cfg["seed"],
                               self.mixer.one_domain_groups)  # the batch form train.py draws
        self.valset = evaluate.HeldOutSet(corpus, cfg["block_size"], cfg["eval_windows"])
        self.forward = torch.compile(self.model) if cfg["compile"] else self.model
        self.step_seconds, self.update_seconds, self.steps = [], [], 0
        self.mixer.observe_eval(0, {"val_loss": evaluate.domain_losses(self.model, self.valset, device)[0]})

    def step(self):
        sync(self.device)
        t0 = time.perf_counter()
        w = self.mixer.weights()
        loss_sum, row_count, row_domain = train.forward_backward(self.forward, self.sampler, w,
                                                                 self.mixer.min_rows_per_domain,
                                                                 self.cfg["grad_accum"], self.device)
        torch.nn.utils.clip_grad_norm_(self.model.parameters(), self.cfg["grad_clip"])
        self.optimizer.step()
        self.optimizer.zero_grad(set_to_none=True)
        t1 = time.perf_counter()
        train_loss = train.per_domain_mean(loss_sum.numpy(), row_count.numpy())
        self.mixer.observe_step(self.steps, {"train_loss": train_loss.tolist(), "rows": row_count.long().tolist(),
                                             "row_domain": row_domain})
        sync(self.device)
        t2 = time.perf_counter()
        self.step_seconds.append(t2 - t0)
        self.update_seconds.append(t2 - t1)  # the mixer's own work after the backward (reward, DDPG update)
        self.steps += 1
        if self.mixer.eval_every and self.steps % self.mixer.eval_every == 0:  # timed apart, see below
            val_loss = evaluate.domain_losses(self.model, self.valset, self.device)[0]
            self.mixer.observe_eval(self.steps, {"val_loss": val_loss})

    def eval_seconds(self):
        """One validation pass (every domain's eval_windows), timed directly."""
        sync(self.device)
        t0 = time.perf_counter()
        evaluate.domain_losses(self.model, self.valset, self.device)
        sync(self.device)
        return time.perf_counter() - t0

    def extra_evals_per_step(self):
        """Validation passes per step that the mixer adds to the loop's own (every eval_interval steps):
        the steps divisible by mix_interval but not by eval_interval."""
        if not self.mixer.eval_every:
            return 0.0
        mix, loop = self.mixer.eval_every, self.cfg["eval_interval"]
        return 1 / mix - 1 / math.lcm(mix, loop)


def sync(device):
    if torch.device(device).type == "cuda":
        torch.cuda.synchronize()


def sampler_tokens_per_second(corpus, cfg, seconds=2.0):
    sampler = Sampler(corpus, cfg["batch_size"], cfg["block_size"], cfg["seed"])
    w = corpus.train_tokens / corpus.train_tokens.sum()
    batches, t0 = 0, time.perf_counter()
    while time.perf_counter() - t0 < seconds:
        sampler.batch(w)
        batches += 1
    return batches * cfg["batch_size"] * cfg["block_size"] / (time.perf_counter() - t0)


def preparation_mb_per_second(tokenizer, megabytes=4):
    """Encode ~4 MB of the default corpus' code (pinned packages) with the corpus tokenizer; write a token file."""
    texts, size = [], 0
    for _, text in code_documents():
        texts.append(text)
        size += len(text.encode("utf-8"))
        if size >= megabytes * 1e6:
            break
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        ids = [token for doc in tokenizer.encode_batch(texts) for token in doc + [tokenizer.eot]]
        write_tokens(os.path.join(tmp, "bench.bin"), ids, tokenizer.vocab_size, tokenizer.fingerprint)
        return size / 1e6 / (time.perf_counter() - t0)


def swarm_losses(run_dir):
    return [r["loss"] for r in evaluate.read_log(run_dir)[1:]]


def bench_swarm(argv, sizes, steps):
    """`swarm path: ...`, then per M: `swarm M=16: 5.12x one-at-a-time, max |dloss| = 3.1e-06`."""
    cfg = parse_config(["--config", "config/proxy.py"] + argv + [
        "--steps", str(steps), "--eval_interval", str(steps), "--log_interval", str(steps), "--mixer",
        "regmix_proxy"])
    cfg = validate_config(cfg)
    device, corpus = cfg["device"], ensure_corpus(cfg)
    precision = swarm.fp32()  # the equality is fp32's: no autocast, no TF32, on both paths
    fallback = swarm.unsupported(cfg, make_mixer("regmix_proxy", corpus, cfg))
    print(f"swarm path: {f'one at a time ({fallback}): nothing to compare' if fallback else 'batched'}")
    if fallback:
        return
    train_autocast, train.autocast = train.autocast, precision  # train.train's steps in fp32 too
    print(f"device {device}, proxy members {cfg['n_layer']}x{cfg['n_embd']}, batch {cfg['batch_size']}x"
          f"{cfg['block_size']}, {steps} steps each, torch threads {torch.get_num_threads()}", flush=True)
    scratch = tempfile.mkdtemp()
    try:
        for M in [0] + sizes:  # M = 0: one member, 2 steps, untimed (first calls, allocator)
            M, length, warm_up = (M, steps, False) if M else (1, 2, True)
            cfgs = [{**cfg, "seed": cfg["seed"] + i} for i in range(M)]
            schedules = [train.Schedule("cpt", length, c["lr"], c["warmup_steps"], steps, length, c["seed"])
                         for c in cfgs]
            dirs = [os.path.join(scratch, f"M{M}{warm_up}-{path}-{i}") for path in ("alone", "swarm") for i in range(M)]
            for d in dirs:
                os.makedirs(d)
            with open(os.devnull, "w") as quiet, contextlib.redirect_stdout(quiet):
                sync(device)
                t0 = time.perf_counter()
                for c, schedule, run_dir in zip(cfgs, schedules, dirs[:M]):
                    model = train.new_model(c, corpus, c["seed"], device)
                    train.train(c, corpus, model, make_mixer("regmix_proxy", corpus, c), run_dir, schedule, device)
                sync(device)
                alone_seconds = time.perf_counter() - t0
                t0 = time.perf_counter()
                models = [train.new_model(c, corpus, c["seed"], device) for c in cfgs]
                members = [swarm.Member(i, c, corpus, make_mixer("regmix_proxy", corpus, c), run_dir, schedule)
                           for i, (c, schedule, run_dir) in enumerate(zip(cfgs, schedules, dirs[M:]))]
                results = swarm.train_swarm(cfg, corpus, models, members, device, precision, log=lambda *a: None)
                sync(device)
                swarm_seconds = time.perf_counter() - t0
            if warm_up:
                continue
            failed = [i for i, r in enumerate(results) if isinstance(r, Exception)]
            dloss = max(float(np.max(np.abs(np.subtract(swarm_losses(b), swarm_losses(a)))))
                        for a, b in zip(dirs[:M], dirs[M:]))
            print(f"swarm M={M}: {alone_seconds / swarm_seconds:.2f}x one-at-a-time, max |dloss| = {dloss:.1e}"
                  + (f" (members {failed} failed)" if failed else "")
                  + f"  [{alone_seconds:.1f} s alone, {swarm_seconds:.1f} s swarm]", flush=True)
            for d in dirs:
                shutil.rmtree(d)
    finally:
        train.autocast = train_autocast
        shutil.rmtree(scratch)


def main(argv=None):
    argv = list(sys.argv[1:] if argv is None else argv)
    if "--swarm" in argv:
        argv.remove("--swarm")
        sizes, swarm_steps = [1, 4, 16, 64], 200  # the equality is defined over 200 steps
        for flag in ("--swarm_sizes", "--swarm_steps"):
            if flag in argv:
                i = argv.index(flag)
                value = argv[i + 1]
                del argv[i:i + 2]
                if flag == "--swarm_sizes":
                    sizes = [int(x) for x in value.split(",")]
                else:
                    swarm_steps = int(value)
        try:
            return bench_swarm(argv, sizes, swarm_steps)
        except UserError as e:
            sys.exit(f"error: {e}")
    steps, rounds = 10, 3
    for flag in ("--steps", "--rounds"):
        if flag in argv:
            i = argv.index(flag)
            value = int(argv[i + 1])
            steps, rounds = (value, rounds) if flag == "--steps" else (steps, value)
            del argv[i:i + 2]
    try:
        cfg = parse_config(argv)
        cfg = validate_config(cfg)
        device = cfg["device"]
        corpus = ensure_corpus(cfg)
        base_dir = train.ensure_base(cfg, corpus, device)
        model = train.base_model(base_dir, cfg["seed"], device)
    except UserError as e:
        sys.exit(f"error: {e}")
    print(f"device {device}, model {model.num_params() / 1e6:.2f}M parameters (non-embedding), batch "
          f"{cfg['batch_size']}x{cfg['grad_accum']}x{cfg['block_size']} tokens, {steps} steps x {rounds} rounds "
          "per mixer, interleaved")
    # regmix and replay train with weights fixed before the run (static's cost); the agent's cost does not depend on
    # its training
    variants = [(name, name, {}) for name in ["static"] + sorted(set(MIXERS) - {"static", "regmix", "replay"})]
    variants.append(("acodm (frozen)", "acodm", {"acodm_untrained": True}))  # a transferred actor's cost
    scratch = tempfile.mkdtemp()
    agent_path = os.path.join(scratch, "untrained_agent.pt")
    agent.untrained_agent(agent_path, {}, log=lambda *a: None)
    variants = [(label, name, {**extra, "agent_path": agent_path} if name == "agent" else extra)
                for label, name, extra in variants]
    runs = [MixerRun(label, name, {**cfg, **extra}, corpus, model, device) for label, name, extra in variants]
    for run in runs:  # warm-up (allocator, compile)
        for _ in range(2):
            run.step()
        run.step_seconds, run.update_seconds = [], []
    for _ in range(rounds):
        for run in runs:
            for _ in range(steps):
                run.step()
    static = runs[0]
    static_step = float(np.median(static.step_seconds))
    tokens_per_step = cfg["batch_size"] * cfg["grad_accum"] * cfg["block_size"]
    model_tokens_per_second = tokens_per_step / static_step
    peak = device_peak_flops(device) or (measured_cpu_peak_flops() if torch.device(device).type == "cpu" else None)
    mfu = model_tokens_per_second * model.flops_per_token() / peak if peak else None
    peak_text = f"{peak / 1e9:,.0f} GFLOP/s" if peak else "unknown"
    print(f"\n(a) training: {model_tokens_per_second:,.0f} tokens/s, MFU {100 * mfu:.1f}% of {peak_text}"
          if mfu else f"\n(a) training: {model_tokens_per_second:,.0f} tokens/s (no peak known for this device)")
    eval_seconds = static.eval_seconds()
    print(f"\n(b) step time per mixer: the median step (sampling, forward, backward, optimizer, the mixer's update)"
          f"\n    plus the validation passes the mixer adds to the loop's own (one pass = {1000 * eval_seconds:.0f} ms,"
          f"\n    which every run, static included, pays every eval_interval = {cfg['eval_interval']} steps):")
    print("| mixer | step ms | / static | mixer update ms/step | added evaluation ms/step | evaluation ms/step if not shared |")
    print("|---|---|---|---|---|---|")
    for run in runs:
        added = eval_seconds * run.extra_evals_per_step()
        alone = eval_seconds / run.mixer.eval_every if run.mixer.eval_every else 0.0
        step = float(np.median(run.step_seconds)) + added
        update = float(np.median(run.update_seconds))
        print(f"| {run.name} | {1000 * step:.1f} | {step / static_step:.3f} | {1000 * update:.2f} | "
              f"{1000 * added:.2f} | {1000 * alone:.2f} |")
    print("| regmix | fixed weights fitted before the run: static's step |  |  |  |  |")
    print("| replay | a schedule read before the run: static's step |  |  |  |  |")
    shutil.rmtree(scratch)
    sampler_rate = sampler_tokens_per_second(corpus, cfg)
    print(f"\n(c) sampler: {sampler_rate:,.0f} tokens/s of batches = {sampler_rate / model_tokens_per_second:.0f}x "
          "the model's training tokens/s")
    print(f"\n(d) data preparation: {preparation_mb_per_second(corpus.tokenizer):.1f} MB of text per second "
          "(encode + token file write)")


if __name__ == "__main__":
    main()
