"""
Proxy swarms: M small models of one architecture trained as one batched computation, in one process.

    results = swarm.run_cpts(run_cfgs, corpus, base_dir, device, mode="auto")   # like train.run_cpt, M at once
    swarm.run_many(run_cfgs, device)            # like train.run for each config: CPT, final evaluation, eval.json

Every member is the run train.py would make alone: its model built as train.run_cpt builds it (base_model with
its own seed), its own Sampler with its own seed drawing its own rows from its own weights (the same batches), its
own mixer (constant weights, a random schedule, a deployed agent), its own AdamW state and learning-rate schedule
(train.lr_at), its gradients clipped by its own global norm, its evaluations fed to its own mixer (the validation
losses batched like the steps, domain_losses; the task's answer log-prob by evaluate.py on a scratch GPT that holds
its weights), and its own log.jsonl written line for line as train.train writes it, so
trajectory_from_log, report and evaluate read a member's folder like a single run's. The single-run path
(train.py) stays the reference; tests/test_swarm.py holds the two equal.

The batched computation. The M members' parameters are stacked along a leading model dimension ({name: (M, ...)}),
and `forward` is model.GPT.forward with that dimension: every Linear is one torch.bmm over the M members, the
embeddings one lookup into the stacked table, attention one scaled_dot_product_attention call with the members
folded into its batch. We chose this over torch.func (functional_call + vmap over model.py's forward) because:
- on a GPU the proxy (2x64, a batch of 16x128) is launch-bound: a single run spends its step launching small
  kernels. Both designs launch one kernel per op for all M members instead of M; the explicit form does it without
  functorch's per-op batching layer on the host, which is exactly the cost that dominates in this regime, and it
  has no op without a batching rule;
- on the CPU, vmap has no batching rule for the CPU flash attention (it loops over the members, with a warning),
  while the explicit form calls it once;
- the explicit form gives a member's loss bit for bit equal to model.py's on the CPU (the bmm of a member is the mm
  of its run), so a swarm's member and its single run differ only by rounding in reductions (the clip's norm);
  tests/test_swarm.py checks the two forwards against each other, so a change to model.py that this file misses
  fails there.
AdamW is torch.optim.AdamW's update (its single-tensor form, written out) with one learning rate per member;
elementwise, so a member's update is its run's.

On a CPU the steps are compute-bound (the 4096-word head is most of the work), so batching saves little (the
measured rates are in docs/performance.md). `auto` batches on a GPU and keeps the CPU on the one-at-a-time path;
`on` batches a CPU in swarms of 16. experiments/gpu/swarm-gpu.sh measures a GPU.
A member whose loss becomes NaN is reported by its index, its log gets a last line {"step", "failed"}, and it is
dropped from the stack; the other members' updates are elementwise and per member, so they go on untouched. Each
member's log is written to a temp file and renamed when it finishes: an interrupted swarm leaves the members it
finished and no half-written log.
"""

import json
import math
import os
import shutil
import time
from contextlib import nullcontext

import numpy as np
import torch
import torch.nn.functional as F

import evaluate
import train
from common import ConfigError, TrainingError, read_json, write_json_atomic
from data import Sampler, check_weights
from model import GPT, autocast
from options import make_mixer
from prepare import ensure_corpus

MODES = ("auto", "on", "off")
# members per swarm (a longer list runs as consecutive swarms): on a GPU the bench's largest; on a CPU 16, where
# the bench measured the swarm as fast as one at a time (64: half as fast, its activations outgrow the caches)
CHUNK = {"cuda": 64, "cpu": 16}


def batched(mode, device):
    """Whether `mode` (auto|on|off) batches on `device`: auto batches on a GPU only (the CPU measured slower)."""
    if mode not in MODES:
        raise ConfigError(f"--swarm {mode}: choose one of {', '.join(MODES)}")
    return mode == "on" or (mode == "auto" and torch.device(device).type == "cuda")


def unsupported(cfg, mixer):
    """Why this run cannot be a swarm member (None if it can): the one-at-a-time path runs it instead."""
    if cfg["dropout"] > 0:
        return "dropout > 0 (each run's dropout masks come from its own generator)"
    if mixer.needs_model or mixer.needs_loss_targets:
        return f"mixer '{mixer.name}' reads the model or a target estimation"
    if cfg["compile"]:
        return "--compile"
    if cfg["init_from"]:
        return "a pre-trained base (--init_from) may be an architecture the stacked GPT does not write"
    return None


# ----------------------------------------------------------------------------- the stacked GPT

def stack(models):
    """{name: (M, ...) leaf tensor} of the members' parameters (tied weights once, as named_parameters gives them)
    and {name: decays}: model.configure_optimizer's groups (2D weights decay, gains and biases do not)."""
    named = [dict(m.named_parameters()) for m in models]
    params = {n: torch.stack([p[n].detach() for p in named]).requires_grad_() for n in named[0]}
    return params, {n: p.dim() >= 2 for n, p in named[0].items()}


def linear(x, params, name):
    """A Linear of each member: x (M, N, in) -> (M, N, out), one bmm for all members."""
    y = torch.bmm(x, params[name + ".weight"].transpose(1, 2))
    bias = params.get(name + ".bias")
    return y if bias is None else y + bias[:, None]


def layer_norm(x, params, name):
    """A LayerNorm of each member. On a CPU, the native kernel once per member: its gain's gradient is then summed
    in the single run's order (a last-bit difference there grows, through AdamW's division by sqrt(v), to 3e-3 in
    the loss after 200 steps); on a GPU, where launches are the cost, one normalisation and one product."""
    weight, bias = params[name + ".weight"], params.get(name + ".bias")
    if x.device.type == "cpu":
        return torch.stack([F.layer_norm(x[m], x.shape[-1:], weight[m], None if bias is None else bias[m])
                            for m in range(len(weight))])
    y = F.layer_norm(x, x.shape[-1:]) * weight[:, None]
    return y if bias is None else y + bias[:, None]


def forward(params, config, idx, targets):
    """model.GPT.forward(idx, targets, per_row=True) of every member: idx, targets (M, B, T) -> row losses (M, B)."""
    M, B, T = idx.shape
    wte = params["transformer.wte.weight"]
    V, C, H = wte.shape[1], config.n_embd, config.n_head
    offsets = (torch.arange(M, device=idx.device) * V).view(M, 1, 1)  # member m's rows of the stacked table
    x = F.embedding(idx + offsets, wte.reshape(M * V, C)) + params["transformer.wpe.weight"][:, None, :T]
    x = x.view(M, B * T, C)
    for layer in range(config.n_layer):
        h = f"transformer.h.{layer}."
        q, k, v = linear(layer_norm(x, params, h + "ln_1"), params, h + "attn.c_attn").split(C, dim=2)
        q, k, v = (t.reshape(M * B, T, H, C // H).transpose(1, 2) for t in (q, k, v))  # members fold into the batch
        y = F.scaled_dot_product_attention(q, k, v, is_causal=True).transpose(1, 2).reshape(M, B * T, C)
        x = x + linear(y, params, h + "attn.c_proj")
        hidden = F.gelu(linear(layer_norm(x, params, h + "ln_2"), params, h + "mlp.c_fc"),
                        approximate="tanh" if config.gelu == "tanh" else "none")
        x = x + linear(hidden, params, h + "mlp.c_proj")
    logits = torch.bmm(layer_norm(x, params, "transformer.ln_f"), wte.transpose(1, 2))  # the tied head
    if V > config.vocab_size:
        logits[..., config.vocab_size:] = float("-inf")
    token_loss = F.cross_entropy(logits.float().view(M * B * T, V), targets.reshape(-1), reduction="none")
    return token_loss.view(M, B, T).mean(dim=2)


def forward_backward(params, config, samplers, ws, min_rows, grad_accum, device, precision=autocast):
    """train.forward_backward for every member: each samples its grad_accum micro-batches under its own w; one
    batched forward and backward per micro-batch. Returns the per-domain row-loss sums and row counts (M, K) (CPU)
    and each member's row domains."""
    M, K = len(samplers), len(ws[0])
    loss_sum, row_count = torch.zeros(M, K, device=device), torch.zeros(M, K, device=device)
    row_domains = [[] for _ in range(M)]
    for _ in range(grad_accum):
        x, y, row_domain = (torch.stack(t) for t in zip(*(s.batch(w, min_rows) for s, w in zip(samplers, ws))))
        if torch.device(device).type == "cuda":
            x, y, row_domain = x.pin_memory(), y.pin_memory(), row_domain.pin_memory()
        x, y = x.to(device, non_blocking=True), y.to(device, non_blocking=True)
        row_domain_device = row_domain.to(device, non_blocking=True)
        with precision(device):
            row_loss = forward(params, config, x, y)
        (row_loss.mean(dim=1).sum() / grad_accum).backward()  # each member's gradient is its own run's
        loss_sum.scatter_add_(1, row_domain_device, row_loss.detach().float())
        row_count.scatter_add_(1, row_domain_device, torch.ones_like(row_loss, dtype=torch.float32))
        for m in range(M):
            row_domains[m].append(row_domain[m])
    sums = torch.stack([loss_sum, row_count]).cpu()  # the step's one host-device synchronisation
    return sums[0], sums[1], [torch.cat(r) for r in row_domains]


def per_member(values, like):
    """(M,) values shaped to multiply a stacked (M, ...) tensor member by member."""
    return values.view((-1,) + (1,) * (like.dim() - 1))


@torch.no_grad()
def clip_grad_norms(params, max_norm):
    """torch.nn.utils.clip_grad_norm_ for each member: its own global norm over its own gradients."""
    grads = [p.grad for p in params.values() if p.grad is not None]
    norms = torch.linalg.vector_norm(torch.stack([torch.linalg.vector_norm(g.flatten(1), dim=1) for g in grads]),
                                     dim=0)
    coef = torch.clamp(max_norm / (norms + 1e-6), max=1.0)
    for g in grads:
        g.mul_(per_member(coef, g))
    return norms


class AdamW:
    """torch.optim.AdamW's update (its single-tensor form: decoupled decay, lerp'd first moment, bias
    corrections) on stacked parameters, with one learning rate per member; the scalars are computed in
    float64 and rounded once, as torch does with its Python-float hyperparameters."""

    def __init__(self, params, decays, betas, weight_decay, eps=1e-8):
        self.params, self.decays, self.betas, self.weight_decay, self.eps = params, decays, betas, weight_decay, eps
        self.exp_avg = {n: torch.zeros_like(p) for n, p in params.items()}
        self.exp_avg_sq = {n: torch.zeros_like(p) for n, p in params.items()}
        self.steps = 0

    @torch.no_grad()
    def step(self, lrs):
        self.steps += 1
        beta1, beta2 = self.betas
        lr = torch.tensor(lrs, dtype=torch.float64)
        bias_correction1, bias_correction2_sqrt = 1 - beta1 ** self.steps, (1 - beta2 ** self.steps) ** 0.5
        device = next(iter(self.params.values())).device
        step_size = (-lr / bias_correction1).float().to(device)
        decay = (1 - lr * self.weight_decay).float().to(device)
        for n, p in self.params.items():
            if p.grad is None:
                continue
            if self.decays[n]:
                p.mul_(per_member(decay, p))
            exp_avg, exp_avg_sq = self.exp_avg[n], self.exp_avg_sq[n]
            exp_avg.lerp_(p.grad, 1 - beta1)
            exp_avg_sq.mul_(beta2).addcmul_(p.grad, p.grad, value=1 - beta2)
            denom = (exp_avg_sq.sqrt() / bias_correction2_sqrt).add_(self.eps)
            p.add_(exp_avg * per_member(step_size, p) / denom)  # addcdiv's order: (value * m) / denom

    def keep(self, kept):
        """Drop every member not in `kept` (indices) from the parameters and the moments."""
        index = torch.tensor(kept, device=next(iter(self.params.values())).device)
        for n in list(self.params):
            self.params[n] = self.params[n].detach().index_select(0, index).requires_grad_()
            self.exp_avg[n] = self.exp_avg[n].index_select(0, index)
            self.exp_avg_sq[n] = self.exp_avg_sq[n].index_select(0, index)


@torch.no_grad()
def domain_losses(params, config, valset, device, precision=autocast):
    """evaluate.domain_losses of every member at once (each chunk of windows, at most `rows` rows in all, is one
    forward of all members): per member, each domain's mean validation loss and bits per byte."""
    M, rows = len(next(iter(params.values()))), 2048 if torch.device(device).type == "cuda" else 256
    batch_size = max(1, min(32, rows // M))
    totals = torch.zeros(M, len(valset.windows), dtype=torch.float64, device=device)
    for d, windows in enumerate(valset.windows):
        for start in range(0, len(windows), batch_size):
            chunk = windows[start:start + batch_size].to(device).expand(M, -1, -1)
            with precision(device):
                row_loss = forward(params, config, chunk[..., :-1], chunk[..., 1:])
            totals[:, d] += row_loss.double().sum(dim=1) * (chunk.size(2) - 1)  # row means -> token sums
    tokens = [w.size(0) * (w.size(1) - 1) for w in valset.windows]
    totals = totals.tolist()
    return ([[t / n for t, n in zip(row, tokens)] for row in totals],
            [[t / (math.log(2) * max(n, 1)) for t, n in zip(row, valset.target_bytes)] for row in totals])


@torch.no_grad()
def load_member(model, params, m):
    """Copy member m's weights into a GPT of the same shape (its evaluations and its final model)."""
    for name, p in model.named_parameters():
        p.copy_(params[name][m])
    return model


# ----------------------------------------------------------------------------- the loop

class Member:
    """One run of the swarm: what train.train keeps for it (sampler, mixer, log, clocks)."""

    def __init__(self, index, cfg, corpus, mixer, run_dir, schedule):
        self.index, self.cfg, self.mixer, self.run_dir, self.schedule = index, cfg, mixer, run_dir, schedule
        self.sampler = Sampler(corpus, cfg["batch_size"], cfg["block_size"], schedule.seed,
                               mixer.one_domain_groups)  # as train.train draws
        self.log_path = os.path.join(run_dir, "log.jsonl")
        self.tmp_path = f"{self.log_path}.tmp-{os.getpid()}"
        self.log_file = open(self.tmp_path, "w")
        self.train_seconds = self.wall_seconds = 0.0
        self.error = None

    def write(self, record):
        self.log_file.write(json.dumps(record) + "\n")

    def close(self):
        """The finished (or failed) log replaces log.jsonl in one rename."""
        self.log_file.close()
        os.replace(self.tmp_path, self.log_path)


def train_swarm(cfg, corpus, models, members, device, precision=autocast, log=print):
    """train.train for every member at once (one Schedule each, all of one length); `cfg` holds what they share
    (the batch, the optimizer's betas and decay, the clip). Returns each member's run info (train.train's) or its
    TrainingError."""
    config = models[0].config
    if config.arch != "gpt" or not config.tied or config.n_kv_head not in (0, config.n_head) or config.qkv_bias:
        raise ConfigError("a swarm trains the GPT of model.py (arch gpt, tied head, no grouped-query attention); "
                          "train this model one run at a time (--swarm off)")
    params, decays = stack(models)
    optimizer = AdamW(params, decays, (cfg["beta1"], cfg["beta2"]), cfg["weight_decay"])
    scratch = GPT(config).to(device)  # holds one member's weights for evaluate.py
    valset = evaluate.HeldOutSet(corpus, cfg["block_size"], cfg["eval_windows"])
    feedback_set = corpus.dev_problems(cfg["feedback_problems"])
    steps = members[0].schedule.steps
    tokens_per_step = cfg["batch_size"] * cfg["grad_accum"] * cfg["block_size"]

    def run_eval(member, m, step, record, val):  # train.train's run_eval: the validation losses of every member
        val_loss, val_bpb = val[0][m], val[1][m]  # batched (domain_losses), the task's log-prob on its own weights
        ev = {"val_loss": val_loss, "val_bpb": val_bpb}
        if feedback_set:
            model = load_member(scratch, optimizer.params, m)
            logprob = float(np.mean(evaluate.answer_logprobs(model, corpus.tokenizer, feedback_set, device)))
            ev["task_logprob"] = record["feedback_logprob"] = logprob
        member.mixer.observe_eval(step, ev)
        record["val_loss"] = [evaluate.json_number(v) for v in val_loss]
        record["val_bpb"] = [evaluate.json_number(v) for v in val_bpb]

    val = domain_losses(optimizer.params, config, valset, device, precision)
    for m, member in enumerate(members):
        record = {"step": 0, "tokens": 0, "domains": corpus.domains}
        run_eval(member, m, 0, record, val)
        member.write(record)
    live, step, results = list(members), 0, {}
    try:
        while live and step < steps:
            t0 = time.time()
            ws = [check_weights(m.mixer.weights(), corpus.domains, m.mixer.name) for m in live]
            lrs = [train.lr_at(step, m.schedule.peak_lr, m.schedule.warmup_steps, m.schedule.decay_steps,
                               m.cfg["min_lr_ratio"]) for m in live]
            loss_sum, row_count, row_domains = forward_backward(
                optimizer.params, config, [m.sampler for m in live], ws, max(m.mixer.min_rows_per_domain for m in live),
                cfg["grad_accum"], device, precision)
            if cfg["grad_clip"] > 0:
                clip_grad_norms(optimizer.params, cfg["grad_clip"])
            optimizer.step(lrs)  # elementwise: a NaN member's update touches only its own slice
            for p in optimizer.params.values():
                p.grad = None
            losses = (loss_sum.sum(dim=1) / row_count.sum(dim=1)).tolist()
            step += 1
            due = [step % x.schedule.eval_interval == 0 or step == steps
                   or bool(x.mixer.eval_every and step % x.mixer.eval_every == 0) for x in live]
            share = (time.time() - t0) / len(live)  # each member's share of the batched step
            t1 = time.time()
            val = domain_losses(optimizer.params, config, valset, device, precision) if any(due) else None
            eval_share = (time.time() - t1) / sum(due) if any(due) else 0.0  # shared by the members evaluated
            for m, member in enumerate(live):
                t1 = time.time()
                if not math.isfinite(losses[m]):
                    batch_domains = [d for d, n in zip(corpus.domains, row_count[m].tolist()) if n > 0]
                    member.error = TrainingError(
                        f"swarm member {member.index}: the training loss became {losses[m]} at step {step - 1} "
                        f"(batch domains {batch_domains}); lower --lr or check the data")
                    member.write({"step": step - 1, "failed": str(member.error)})
                    continue
                train_loss = train.per_domain_mean(loss_sum[m].numpy(), row_count[m].numpy())
                member.mixer.observe_step(step - 1, {"train_loss": train_loss.tolist(),
                                                     "rows": row_count[m].long().tolist(),
                                                     "row_domain": row_domains[m]})
                record = evaluate.step_record(step, step * tokens_per_step, lrs[m], losses[m], train_loss, ws[m],
                                              row_count[m], member.sampler, tokens_per_step / share, corpus,
                                              member.mixer)
                if due[m]:
                    run_eval(member, m, step, record, val)
                member.write(record)
                member.train_seconds += share
                member.wall_seconds += share + time.time() - t1 + (eval_share if due[m] else 0.0)
            if step == steps:
                for m, member in enumerate(live):
                    if member.error is None:
                        results[member.index] = finish(member, load_member(scratch, optimizer.params, m), steps,
                                                       tokens_per_step)
            failed = [m for m, member in enumerate(live) if member.error is not None]
            for m in failed:
                live[m].close()
                results[live[m].index] = live[m].error
                log(f"swarm member {live[m].index} failed and is dropped: {live[m].error}")
            if failed and step < steps:
                kept = [m for m in range(len(live)) if m not in failed]
                optimizer.keep(kept)
                live = [live[m] for m in kept]
            if step % cfg["log_interval"] == 0 or step == steps:
                done = [x for x in losses if math.isfinite(x)]
                log(f"  swarm step {step:5d}/{steps} | {len(live)} members | loss {min(done, default=math.nan):.4f}"
                    f"..{max(done, default=math.nan):.4f}")
    finally:
        for member in members:  # an interrupted member leaves no log.jsonl of its own
            if not member.log_file.closed:
                member.log_file.close()
                os.remove(member.tmp_path)
    return [results.get(member.index) for member in members]


def finish(member, model, steps, tokens_per_step):
    """A finished member: its log in place, the mixer's finish(), train.train's run info; the final weights are
    saved beside the log (ckpt.pt, train.py's checkpoint keys that a finished run is read for)."""
    member.close()
    sampler = member.sampler
    info = {"steps": steps, "tokens": steps * tokens_per_step, "train_seconds": member.train_seconds,
            "wall_seconds": member.wall_seconds,
            "tokens_per_second": steps * tokens_per_step / max(member.train_seconds, 1e-9),
            "tokens_per_domain": sampler.tokens_per_domain(), "epochs_per_domain": sampler.epochs_per_domain(),
            "peak_rss_mb": evaluate.current_rss_mb()}
    return {"info": info, "model": {k: v.detach().cpu().clone() for k, v in model.state_dict().items()}}


def run_cpts(run_cfgs, corpus, base_dir, device, mode="auto", log=print):
    """train.run_cpt for each config (a list): yields (i, run_dir, mixer, info, final state_dict) as runs finish,
    and (i, run_dir, mixer, error, None) for a member that failed. Batched (in swarms of CHUNK) where `mode` says
    so and the runs allow it, one at a time (train.run_cpt) otherwise."""
    mixers = [make_mixer(c["mixer"], corpus, c) for c in run_cfgs]
    alone = [i for i, (c, mx) in enumerate(zip(run_cfgs, mixers)) if not batched(mode, device) or unsupported(c, mx)]
    for i in alone:
        run_dir, model, mixer, info = train.run_cpt(run_cfgs[i], corpus, base_dir, mixers[i], device)
        yield i, run_dir, mixer, info, model.state_dict()
    together, size = [i for i in range(len(run_cfgs)) if i not in alone], CHUNK.get(torch.device(device).type, 16)
    for start in range(0, len(together), size):
        chunk = together[start:start + size]
        yield from run_swarm([run_cfgs[i] for i in chunk], corpus, base_dir, [mixers[i] for i in chunk], device,
                             chunk, log)


def run_swarm(run_cfgs, corpus, base_dir, mixers, device, indices, log):
    """One swarm: the members' folders made fresh (as run_cpt does), their models built as run_cpt builds them."""
    shared = ["batch_size", "block_size", "grad_accum", "steps", "beta1", "beta2", "weight_decay", "grad_clip",
              "eval_windows", "feedback_problems", "log_interval"]
    differ = [k for k in shared if len({c[k] for c in run_cfgs}) > 1]
    if differ:
        raise ConfigError(f"a swarm's members share --{', --'.join(differ)}; run the others apart (--swarm off)")
    members, models = [], []
    for i, (cfg, mixer) in zip(indices, zip(run_cfgs, mixers)):
        run_dir = os.path.join(cfg["out_dir"], cfg["run_name"])
        if os.path.exists(run_dir):
            shutil.rmtree(run_dir)  # a new run of the same name replaces the old one
        os.makedirs(run_dir)
        models.append(train.base_model(base_dir, cfg["seed"], device))
        schedule = train.Schedule("cpt", cfg["steps"], cfg["lr"], cfg["warmup_steps"], cfg["steps"],
                                  cfg["eval_interval"], cfg["seed"])
        members.append(Member(i, cfg, corpus, mixer, run_dir, schedule))
    log(f"CPT of {len(members)} runs as one swarm for {run_cfgs[0]['steps']} steps")
    t0 = time.time()
    results = train_swarm(run_cfgs[0], corpus, models, members, device, log=log)
    for member, result in zip(members, results):
        if isinstance(result, Exception):
            yield member.index, member.run_dir, member.mixer, result, None
            continue
        member.mixer.finish()
        info = {**result["info"], "mixer": member.mixer.name, "base_dir": base_dir,
                "stage_seconds": (time.time() - t0) / len(members)}
        yield member.index, member.run_dir, member.mixer, info, result["model"]


def run_many(run_cfgs, device, mode="auto", log=print):
    """train.run for each config (one corpus and one base): CPT as swarms, then each finished member's final
    evaluation and eval.json, as train.run writes them. Returns the indices of the runs that failed."""
    corpus = ensure_corpus(run_cfgs[0])
    base_dir = train.ensure_base(run_cfgs[0], corpus, device)
    if torch.device(device).type == "cuda":  # as train.run
        torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = True
    if len({train.base_dir_of(c, corpus) for c in run_cfgs}) > 1:
        raise ConfigError("a swarm's runs share their base model; run the others apart")
    failed = []
    for i, run_dir, mixer, info, state in run_cpts(run_cfgs, corpus, base_dir, device, mode, log):
        if isinstance(info, Exception):
            failed.append(i)
            continue
        cfg = run_cfgs[i]
        model = train.base_model(base_dir, cfg["seed"], device)
        model.load_state_dict(state)
        final = evaluate.full_evaluation(model, corpus, cfg["block_size"], device, cfg["task_problems"])
        base = read_json(os.path.join(base_dir, "base_eval.json"), "the base model's evaluation")["eval"]
        write_json_atomic(os.path.join(run_dir, "eval.json"), {"base": base, "final": final, "config": cfg,
                                                               "summary": evaluate.summarize(base, final), "run": info})
    return failed


def fp32():
    """A precision context for the equality checks: no autocast (fp32) and no TF32 matmuls."""
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    return lambda device: nullcontext()
