"""
Metrics of a run: per-domain validation loss and bits per byte, per-field summaries, the target task,
comparison tables and plots.

    python evaluate.py out/cpt-static                  # the metrics of one run (base vs final)
    python evaluate.py out/cpt-static out/cpt-other    # one markdown table across runs
    python evaluate.py out/cpt-static --plot           # PNGs: weights over time, per-domain val loss

Definitions (the README's Metrics section), all on fixed held-out data:
    L_d         mean token cross-entropy (nats) on domain d's validation windows
    bpb_d       bits per byte: summed loss / (ln 2 * UTF-8 bytes of the predicted tokens)
    S, T        mean of L_d over the source / target domains
    forgetting  S(final) - S(base)        gain  T(base) - T(final)        balanced  (S + T) / 2
    task        exact match of the greedy answer; mean log p(answer | prompt) in nats
train.py imports this file for its evaluations; only the suite imports train.py (inside run_suite) to
drive its runs.

The suite: every mixer from the same base, with the same model, optimiser, budget and seeds, one table,
one JSON and the plots; a rerun finishes only what is missing.

    python evaluate.py --suite default                 # CPU preset, 3 seeds (about an hour on 2 cores)
    python evaluate.py --suite default --preset gpu    # config/gpu.py, on one GPU
    python evaluate.py --suite default --seeds 1 --mixers static,bandit -- --steps 200   # train.py options after --
"""

import argparse
import json
import math
import os
import sys
import time
from collections import defaultdict

import numpy as np
import torch
import torch.distributed as dist

from mixer import Corpus, DataError, eval_windows
from model import CheckpointError, autocast


# ----------------------------------------------------------------------------- validation loss

class ValidationSet:
    """Fixed validation windows per domain and the bytes their targets decode to (for bpb)."""

    def __init__(self, corpus, block_size, max_windows):
        byte_lengths = corpus.tokenizer.token_byte_lengths()
        self.domains, self.fields = corpus.domains, corpus.fields
        self.windows = [torch.from_numpy(eval_windows(v, block_size, max_windows)) for v in corpus.val]
        self.target_bytes = [int(byte_lengths[w[:, 1:].numpy()].sum()) for w in self.windows]


@torch.no_grad()
def domain_val_losses(model, valset, device, batch_size=32, shard=True):
    """Mean validation loss and bits per byte for each domain, in the model's eval mode. Under torchrun
    (shard=True) each process scores its share of the windows and the sums are all-reduced."""
    was_training = model.training
    model.eval()
    rank, world = (dist.get_rank(), dist.get_world_size()) if shard and dist.is_initialized() else (0, 1)
    totals = torch.zeros(len(valset.windows), dtype=torch.float64, device=device)
    for d, windows in enumerate(valset.windows):
        mine = windows[rank::world]
        for start in range(0, len(mine), batch_size):
            chunk = mine[start:start + batch_size].to(device)
            with autocast(device):
                _, row_loss = model(chunk[:, :-1], chunk[:, 1:], per_row=True)
            totals[d] += row_loss.double().sum() * (chunk.size(1) - 1)  # row means -> token sum
    if world > 1:
        dist.all_reduce(totals)
    losses, bpbs = [], []
    for total, windows, n_bytes in zip(totals.tolist(), valset.windows, valset.target_bytes):
        losses.append(total / (windows.size(0) * (windows.size(1) - 1)))
        bpbs.append(total / (math.log(2) * max(n_bytes, 1)))
    model.train(was_training)
    return losses, bpbs


# ----------------------------------------------------------------------------- the target task

@torch.no_grad()
def task_scores(model, tokenizer, problems, device, batch_size=64):
    """Exact-match accuracy of greedy answers and mean log p(answer | prompt) over the problems.

    Prompts end with 'Answer:' and answers start with a space; the pre-tokenizer splits there, so
    encode(prompt) + encode(answer) is the tokenization the model saw in training."""
    if not problems:
        return {"task_accuracy": None, "task_logprob": None, "task_problems": 0}
    was_training = model.training
    model.eval()
    prompts = [tokenizer.encode(p["prompt"]) for p in problems]
    answers = [tokenizer.encode(p["answer"]) for p in problems]
    max_new = max(len(a) for a in answers) + 2
    block = model.config.block_size
    correct = [0] * len(problems)
    by_length = defaultdict(list)  # equal-length prompts batch without padding
    for i, p in enumerate(prompts):
        by_length[len(p)].append(i)
    for length, indices in sorted(by_length.items()):
        for start in range(0, len(indices), batch_size):
            chunk = indices[start:start + batch_size]
            idx = torch.tensor([prompts[i][-block:] for i in chunk], dtype=torch.long, device=device)
            with autocast(device):
                new = model.generate_greedy(idx, max_new, stop_tokens=(tokenizer.eot,)).tolist()
            for i, tokens in zip(chunk, new):
                if tokenizer.eot in tokens:
                    tokens = tokens[:tokens.index(tokenizer.eot)]
                text = tokenizer.decode(tokens).split("\n")[0].strip()
                correct[i] = int(text == problems[i]["answer"].strip())
    logprobs = answer_logprobs(model, tokenizer, problems, device, batch_size)
    model.train(was_training)
    return {"task_accuracy": float(np.mean(correct)), "task_logprob": float(np.mean(logprobs)),
            "task_problems": len(problems)}


@torch.no_grad()
def answer_logprobs(model, tokenizer, problems, device, batch_size=64):
    """log p(answer | prompt) of each problem under teacher forcing (one forward per length group)."""
    was_training = model.training
    model.eval()
    prompts = [tokenizer.encode(p["prompt"]) for p in problems]
    answers = [tokenizer.encode(p["answer"]) for p in problems]
    block = model.config.block_size
    logprobs = [0.0] * len(problems)
    by_length = defaultdict(list)
    for i in range(len(problems)):
        by_length[len(prompts[i]) + len(answers[i])].append(i)
    for length, indices in sorted(by_length.items()):
        for start in range(0, len(indices), batch_size):
            chunk = indices[start:start + batch_size]
            seq = torch.tensor([(prompts[i] + answers[i])[-(block + 1):] for i in chunk], dtype=torch.long,
                               device=device)
            with autocast(device):
                logits, _ = model(seq[:, :-1], seq[:, 1:])
            real_vocab = logits[..., :tokenizer.vocab_size].float()  # the padded ids are never answers
            logp = torch.log_softmax(real_vocab, dim=-1).gather(2, seq[:, 1:, None])[:, :, 0]
            for row, i in enumerate(chunk):
                logprobs[i] = logp[row, -len(answers[i]):].sum().item()
    model.train(was_training)
    return logprobs


def full_evaluation(model, corpus, block_size, device, max_task_problems=None):
    """Every validation window of every domain, plus the target task: the numbers a run reports."""
    valset = ValidationSet(corpus, block_size, max_windows=10 ** 9)
    losses, bpbs = domain_val_losses(model, valset, device, shard=False)
    problems = corpus.task()[:max_task_problems] if max_task_problems else corpus.task()
    return {"domains": corpus.domains, "fields": corpus.fields, "val_loss": losses, "val_bpb": bpbs,
            **task_scores(model, corpus.tokenizer, problems, device)}


# ----------------------------------------------------------------------------- summaries

def field_mean(values, fields, field):
    picked = [v for v, f in zip(values, fields) if f == field]
    return float(np.mean(picked)) if picked else float("nan")


def summarize(base, final):
    """S, T, forgetting, gain, balanced loss and the task, from two full evaluations."""
    fields = final["fields"]
    S0, T0 = field_mean(base["val_loss"], fields, "source"), field_mean(base["val_loss"], fields, "target")
    S1, T1 = field_mean(final["val_loss"], fields, "source"), field_mean(final["val_loss"], fields, "target")
    return {"source_loss": S1, "target_loss": T1, "base_source_loss": S0, "base_target_loss": T0,
            "forgetting": S1 - S0, "gain": T0 - T1, "balanced_loss": (S1 + T1) / 2,
            "task_accuracy": final["task_accuracy"], "task_logprob": final["task_logprob"],
            "base_task_accuracy": base["task_accuracy"], "base_task_logprob": base["task_logprob"]}


def fmt(x, digits=3):
    return "n/a" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{x:.{digits}f}"


def run_report(result):
    """The text table of one run: per domain, per field, then the summary."""
    base, final, s = result["base"], result["final"], result["summary"]
    lines = ["| domain | field | base loss | final loss | change | base bpb | final bpb | tokens | epochs |",
             "|---|---|---|---|---|---|---|---|---|"]
    run = result.get("run", {})
    for i, (d, f) in enumerate(zip(final["domains"], final["fields"])):
        tokens = run.get("tokens_per_domain", [None] * len(final["domains"]))[i]
        epochs = run.get("epochs_per_domain", [None] * len(final["domains"]))[i]
        lines.append(f"| {d} | {f} | {fmt(base['val_loss'][i])} | {fmt(final['val_loss'][i])} | "
                     f"{final['val_loss'][i] - base['val_loss'][i]:+.3f} | {fmt(base['val_bpb'][i])} | "
                     f"{fmt(final['val_bpb'][i])} | {tokens if tokens is not None else 'n/a'} | {fmt(epochs, 2)} |")
    fields = final["fields"]
    for field in ("source", "target"):
        b, e = field_mean(base["val_loss"], fields, field), field_mean(final["val_loss"], fields, field)
        bb, eb = field_mean(base["val_bpb"], fields, field), field_mean(final["val_bpb"], fields, field)
        lines.append(f"| **{field}** (mean) | {field} | {fmt(b)} | {fmt(e)} | {e - b:+.3f} | {fmt(bb)} | {fmt(eb)} | | |")
    lines += ["",
              f"forgetting (S final - S base): {fmt(s['forgetting'], 4)}    gain (T base - T final): {fmt(s['gain'], 4)}"
              f"    balanced loss (S+T)/2: {fmt(s['balanced_loss'], 4)}",
              f"target task ({final['task_problems']} problems): accuracy {fmt(s['base_task_accuracy'])} -> "
              f"{fmt(s['task_accuracy'])}, answer log-prob {fmt(s['base_task_logprob'])} -> {fmt(s['task_logprob'])}"]
    return "\n".join(lines)


COLUMNS = [("source loss", "source_loss"), ("target loss", "target_loss"), ("forgetting", "forgetting"),
           ("gain", "gain"), ("balanced", "balanced_loss"), ("task acc", "task_accuracy"),
           ("answer logp", "task_logprob")]


def comparison_table(results):
    """One markdown table: rows = runs, columns = the summary metrics, the CPT wall time, and the extra
    cost paid before it (target estimation for dbl/velocity; blank for mixers without one)."""
    header = "| run | mixer | " + " | ".join(c for c, _ in COLUMNS) + " | wall s | extra s |"
    lines = [header, "|" + "---|" * (len(COLUMNS) + 4)]
    for name, r in results:
        s, run = r["summary"], r.get("run", {})
        lines.append(f"| {name} | {run.get('mixer', '?')} | " + " | ".join(fmt(s[k]) for _, k in COLUMNS)
                     + f" | {fmt(run.get('wall_seconds'), 0)} | {fmt(run.get('estimate_seconds'), 0)} |")
    return "\n".join(lines)


# ----------------------------------------------------------------------------- reading runs

def read_log(run_dir):
    """The records of a run's log.jsonl; a last line cut by a crash is skipped."""
    path = os.path.join(run_dir, "log.jsonl")
    if not os.path.exists(path):
        return []
    records = []
    with open(path) as f:
        for line in f:
            try:
                records.append(json.loads(line))
            except ValueError:
                break
    return records


def load_result(run_dir):
    """A run's eval.json (written by train.py at the end of a run)."""
    path = os.path.join(run_dir, "eval.json")
    if not os.path.isdir(run_dir):
        raise DataError(f"{run_dir} is not a folder; give a run folder written by train.py (e.g. out/cpt-static)")
    if not os.path.exists(path):
        raise DataError(f"{run_dir} has no eval.json (the run did not finish); finish it with "
                        f"python train.py --resume --run_name {os.path.basename(run_dir)}")
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError) as err:
        raise DataError(f"{path} is not readable ({type(err).__name__}); rerun the evaluation with "
                        f"python train.py --resume --run_name {os.path.basename(run_dir)}") from None


def mean_val_curve(run_dir):
    """(step, mean validation loss over all domains) at each periodic evaluation of a run's log."""
    return [(r["step"], float(np.mean(r["val_loss"]))) for r in read_log(run_dir) if "val_loss" in r]


def steps_to_reach(run_dir, threshold):
    """The first evaluated step whose mean validation loss is at or below threshold (None: never).
    AC-ODM's headline metric: steps to reach the bandit's (ODM's) final loss."""
    return next((step for step, loss in mean_val_curve(run_dir) if loss <= threshold), None)


def plot_run(run_dir, out_dir):
    """PNGs of the weights over time (stacked) and the per-domain validation loss curves."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    records = read_log(run_dir)
    train_rows = [r for r in records if "weights" in r]
    eval_rows = [r for r in records if "val_loss" in r]
    if not train_rows:
        raise DataError(f"{run_dir}/log.jsonl has no training lines to plot; run train.py first")
    domains = train_rows[0]["domains"]
    os.makedirs(out_dir, exist_ok=True)
    paths = []
    fig, ax = plt.subplots(figsize=(7, 3.5))
    steps = [r["step"] for r in train_rows]
    ax.stackplot(steps, np.array([r["weights"] for r in train_rows]).T, labels=domains)
    ax.set(xlabel="step", ylabel="sampling weight", ylim=(0, 1), title=f"weights: {os.path.basename(run_dir)}")
    ax.legend(loc="center left", bbox_to_anchor=(1, 0.5), fontsize=8)
    fig.tight_layout()
    paths.append(os.path.join(out_dir, "weights.png"))
    fig.savefig(paths[-1], dpi=100)
    plt.close(fig)
    if eval_rows:
        fig, ax = plt.subplots(figsize=(7, 3.5))
        for i, d in enumerate(domains):
            ax.plot([r["step"] for r in eval_rows], [r["val_loss"][i] for r in eval_rows], label=d)
        ax.set(xlabel="step", ylabel="validation loss (nats/token)", title=f"validation: {os.path.basename(run_dir)}")
        ax.legend(loc="center left", bbox_to_anchor=(1, 0.5), fontsize=8)
        fig.tight_layout()
        paths.append(os.path.join(out_dir, "val_loss.png"))
        fig.savefig(paths[-1], dpi=100)
        plt.close(fig)
    return paths


# ----------------------------------------------------------------------------- the suite

SUITES = {  # the experiment; the preset (train.py's options) gives the model and the budget
    "default": {"seeds": 3, "trajectories": 12, "trajectory_seed": 100000,
                "mixers": ["static", "bandit", "dbl", "velocity", "acodm", "regmix", "agent"]},
}
PRESETS = {"cpu": [], "gpu": ["--config", "config/gpu.py"]}
NOT_IN_SUITE = {"random"}  # the exploration mixer: its runs are the agent's trajectories


def suite_mixers(spec, registry):
    """The suite's mixers in its order, then any registered mixer it does not list (new ones gain rows)."""
    listed = [m for m in spec["mixers"] if m in registry]
    return listed + sorted(set(registry) - set(listed) - NOT_IN_SUITE)


def mean_and_spread(values):
    values = [v for v in values if v is not None and math.isfinite(v)]
    if not values:
        return None, None
    return float(np.mean(values)), float(np.std(values, ddof=1)) if len(values) > 1 else 0.0


def run_suite(suite, preset, seeds, mixers, train_args, trajectories=None, log=print):
    """Prepare what is missing (corpus, base, trajectories, agent), run every (mixer, seed) that has no
    eval.json yet (resuming from its checkpoint if it has one), then write the results folder."""
    import agent
    import train
    spec = SUITES[suite]
    common = PRESETS[preset] + list(train_args)
    cfg = train.parse_config(common)
    train.validate_config(cfg)
    mixers = mixers or suite_mixers(spec, train.MIXERS)
    unknown = [m for m in mixers if m not in train.MIXERS]
    if unknown:
        raise DataError(f"--mixers {','.join(unknown)}: unknown; choose from {sorted(train.MIXERS)}")
    seeds = [cfg["seed"] + i for i in range(seeds or spec["seeds"])]
    name = f"suite-{suite}" + ("" if preset == "cpu" else f"-{preset}")
    suite_dir = os.path.join(cfg["out_dir"], name)
    t_start = time.time()
    extra_args, proxy = {}, {}
    if {"agent", "regmix"} & set(mixers):
        folder = os.path.join(suite_dir, "trajectories")
        count = trajectories or spec["trajectories"]
        log(f"\n#### suite: {count} random-mixing trajectories (the agent's and RegMix's data)")
        train.main(common + ["--collect", str(count), "--trajectories", folder,
                             "--seed", str(spec["trajectory_seed"])])
        collected = sum(m["wall_seconds"] for _, m in agent.load_trajectories(folder))
        extra_args["regmix"] = ["--trajectories", folder]
        proxy["regmix"] = collected
        if "agent" in mixers:
            agent_path = os.path.join(suite_dir, "agent.pt")
            if not os.path.exists(agent_path):
                log("\n#### suite: training the Data Mixing Agent on the trajectories")
                agent.main(["--trajectories", folder, "--out", agent_path])
            extra_args["agent"] = ["--agent_path", agent_path]
            proxy["agent"] = collected + agent.load_agent(agent_path)[1]["train_seconds"]
    jobs = [(m, s) for m in mixers for s in seeds]
    for number, (mixer, seed) in enumerate(jobs, 1):
        run_dir = os.path.join(suite_dir, f"{mixer}-s{seed}")
        if os.path.exists(os.path.join(run_dir, "eval.json")):
            log(f"#### suite run {number}/{len(jobs)}: {mixer} seed {seed}: finished before, reused")
            continue
        resume = os.path.exists(os.path.join(run_dir, "ckpt.pt"))
        log(f"\n#### suite run {number}/{len(jobs)}: {mixer} seed {seed}" + (" (resuming)" if resume else ""))
        train.main(common + ["--mixer", mixer, "--seed", str(seed), "--run_name", os.path.join(name, f"{mixer}-s{seed}")]
                   + extra_args.get(mixer, []) + (["--resume"] if resume else []))
    results = {m: {s: load_result(os.path.join(suite_dir, f"{m}-s{s}")) for s in seeds} for m in mixers}
    out_dir = os.path.join(suite_dir, "results")
    summary = suite_summary(results, proxy, {"suite": suite, "preset": preset, "seeds": seeds, "config": cfg,
                                             "invocation_seconds": time.time() - t_start})
    paths = write_suite_outputs(summary, results, suite_dir, out_dir)
    log("\n" + suite_table(summary))
    log("\n" + "\n".join(f"wrote {p}" for p in paths))
    return summary


def suite_summary(results, proxy, info):
    """Every number of the suite: per mixer, per seed and mean/spread of each metric, tokens, epochs, times."""
    mixers = {}
    for mixer, by_seed in results.items():
        first = next(iter(by_seed.values()))
        fields = first["final"]["fields"]
        target = [i for i, f in enumerate(fields) if f == "target"]
        runs = {}
        for seed, r in by_seed.items():
            run = r["run"]
            runs[str(seed)] = {**{key: r["summary"][key] for _, key in COLUMNS},
                               "tokens_per_domain": run["tokens_per_domain"],
                               "target_epochs": float(np.mean([run["epochs_per_domain"][i] for i in target])),
                               "wall_seconds": run["wall_seconds"],
                               "estimate_seconds": run.get("estimate_seconds")}
        stats = {}
        for key in [k for _, k in COLUMNS] + ["target_epochs", "wall_seconds"]:
            stats[key] = dict(zip(("mean", "spread"), mean_and_spread([x[key] for x in runs.values()])))
        stats["tokens_per_domain"] = np.mean([x["tokens_per_domain"] for x in runs.values()], axis=0).tolist()
        estimate = mean_and_spread([x["estimate_seconds"] for x in runs.values()])[0]
        mixers[mixer] = {"runs": runs, "stats": stats, "proxy_seconds": proxy.get(mixer),
                         "estimate_seconds": estimate}
    first = next(iter(next(iter(results.values())).values()))
    return {**info, "domains": first["final"]["domains"], "fields": first["final"]["fields"], "mixers": mixers}


def suite_table(summary):
    """Rows = mixers; each metric as mean ± spread (sample standard deviation over seeds)."""
    metrics = [c for c in COLUMNS if c[1] != "task_logprob"]
    header = ("| mixer | " + " | ".join(c for c, _ in metrics) + " | k tokens per domain (" +
              "/".join(summary["domains"]) + ") | target epochs | wall s | extra s |")
    lines = [f"{len(summary['seeds'])} seed(s) {summary['seeds']}, mean ± spread (sample std); extra s = target "
             "estimation (dbl, velocity) or proxy work: trajectories (regmix), trajectories + agent training (agent)",
             "", header, "|" + "---|" * (len(metrics) + 5)]
    for mixer, m in summary["mixers"].items():
        st = m["stats"]
        cells = [f"{fmt(st[k]['mean'])} ± {fmt(st[k]['spread'])}" for _, k in metrics]
        tokens = "/".join(f"{t / 1e3:.0f}" for t in st["tokens_per_domain"])
        extra = m["proxy_seconds"] if m["proxy_seconds"] is not None else m["estimate_seconds"]
        lines.append(f"| {mixer} | " + " | ".join(cells) + f" | {tokens} | {fmt(st['target_epochs']['mean'], 2)} | "
                     f"{fmt(st['wall_seconds']['mean'], 0)} | {fmt(extra, 0)} |")
    return "\n".join(lines)


def eval_points(run_dir, fields):
    """(tokens, per-domain val losses, balanced loss) at each periodic evaluation of a run."""
    rows = [r for r in read_log(run_dir) if "val_loss" in r and None not in r["val_loss"]]
    return [(r["tokens"], r["val_loss"], (field_mean(r["val_loss"], fields, "source")
                                         + field_mean(r["val_loss"], fields, "target")) / 2) for r in rows]


def mean_curves(suite_dir, mixer, seeds, fields):
    """A mixer's evaluation curves averaged over seeds (the steps shared by all its runs)."""
    curves = [eval_points(os.path.join(suite_dir, f"{mixer}-s{s}"), fields) for s in seeds]
    tokens = sorted(set.intersection(*[{p[0] for p in c} for c in curves]))
    by_tokens = [{p[0]: p for p in c} for c in curves]
    loss = [np.mean([c[t][1] for c in by_tokens], axis=0) for t in tokens]
    balanced = [np.mean([c[t][2] for c in by_tokens]) for t in tokens]
    return np.array(tokens), np.array(loss), np.array(balanced)


def write_suite_outputs(summary, results, suite_dir, out_dir):
    """results.md, results.json and four PNGs, each written to a temp name and renamed."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from prepare import write_json_atomic, write_text_atomic
    os.makedirs(out_dir, exist_ok=True)
    paths = [os.path.join(out_dir, "results.md"), os.path.join(out_dir, "results.json")]
    write_text_atomic(paths[0], suite_table(summary) + "\n")
    write_json_atomic(paths[1], summary)
    mixers, domains, fields, seeds = list(summary["mixers"]), summary["domains"], summary["fields"], summary["seeds"]

    def save(fig, filename, legend_from=None):
        path = os.path.join(out_dir, filename)
        tmp = f"{path}.tmp-{os.getpid()}.png"
        if legend_from is not None:  # one legend for all panels, in a margin on the right
            fig.legend(*legend_from.get_legend_handles_labels(), loc="center right", fontsize=7)
        fig.tight_layout(rect=(0, 0, 0.86, 1) if legend_from is not None else None)
        fig.savefig(tmp, dpi=72)
        plt.close(fig)
        os.replace(tmp, path)
        paths.append(path)

    cols = min(4, len(mixers))
    rows = math.ceil(len(mixers) / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(3.2 * cols, 2.4 * rows), squeeze=False, sharey=True)
    for ax, mixer in zip(axes.flat, mixers):
        train_rows = [r for r in read_log(os.path.join(suite_dir, f"{mixer}-s{seeds[0]}")) if "weights" in r]
        ax.stackplot([r["step"] for r in train_rows], np.array([r["weights"] for r in train_rows]).T, labels=domains)
        ax.set(title=f"{mixer} (seed {seeds[0]})", ylim=(0, 1), xlabel="step")
    for ax in list(axes.flat)[len(mixers):]:
        ax.axis("off")
    axes[0, 0].set_ylabel("sampling weight")
    save(fig, "weights.png", legend_from=axes[0, 0])

    curves = {m: mean_curves(suite_dir, m, seeds, fields) for m in mixers}
    cols = min(3, len(domains))
    rows = math.ceil(len(domains) / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(3.6 * cols, 2.6 * rows), squeeze=False)
    for d, ax in enumerate(axes.flat[:len(domains)]):
        for mixer in mixers:
            tokens, loss, _ = curves[mixer]
            ax.plot(tokens / 1e3, loss[:, d], label=mixer, lw=1)
        ax.set(title=f"{domains[d]} ({fields[d]})", xlabel="k tokens", ylabel="val loss")
    for ax in list(axes.flat)[len(domains):]:
        ax.axis("off")
    save(fig, "val_loss.png", legend_from=axes[0, 0])

    fig, ax = plt.subplots(figsize=(6, 3.5))
    for mixer in mixers:
        tokens, _, balanced = curves[mixer]
        ax.plot(tokens / 1e3, balanced, label=mixer, lw=1)
    after_start = [b for m in mixers for b in curves[m][2][1:]]  # the base's point (token 0) is far above
    if after_start:
        ax.set_ylim(min(after_start) - 0.05, max(after_start) + 0.05)
    ax.set(xlabel="k tokens", ylabel="balanced loss (S + T) / 2", title="balanced loss (mean over seeds)")
    ax.legend(fontsize=7)
    save(fig, "balanced.png")

    fig, ax = plt.subplots(figsize=(5, 4))
    for mixer in mixers:
        runs = summary["mixers"][mixer]["runs"].values()
        points = ax.scatter([r["forgetting"] for r in runs], [r["gain"] for r in runs], s=12, alpha=0.5)
        st = summary["mixers"][mixer]["stats"]
        ax.scatter([st["forgetting"]["mean"]], [st["gain"]["mean"]], s=60, marker="x",
                   color=points.get_facecolor()[0], label=mixer)
    ax.set(xlabel="forgetting (source loss rise, nats)", ylabel="gain (target loss drop, nats)",
           title="forgetting vs gain (x = mean over seeds)")
    ax.legend(fontsize=7)
    save(fig, "tradeoff.png")
    return paths


def main(argv=None):
    argv = list(sys.argv[1:] if argv is None else argv)
    if "--suite" in argv:
        return suite_main(argv)
    parser = argparse.ArgumentParser(description="Print the metrics of runs written by train.py.")
    parser.add_argument("runs", nargs="+", help="run folders (e.g. out/cpt-static)")
    parser.add_argument("--plot", action="store_true", help="write PNGs of weights and validation curves")
    parser.add_argument("--plot_dir", default=None, help="where PNGs go (default: RUN_DIR/plots)")
    parser.add_argument("--reach", default=None, metavar="RUN_DIR",
                        help="also print the steps each run needs to reach this run's final mean validation loss")
    args = parser.parse_args(argv)
    try:
        results = [(os.path.basename(os.path.normpath(r)), load_result(r)) for r in args.runs]
        if len(results) == 1:
            print(run_report(results[0][1]))
        else:
            print(comparison_table(results))
        if args.reach:
            curve = mean_val_curve(args.reach)
            if not curve:
                raise DataError(f"--reach {args.reach}: its log.jsonl has no validation losses; give a finished run")
            threshold = curve[-1][1]
            print(f"\nsteps to reach {os.path.basename(os.path.normpath(args.reach))}'s final mean validation loss "
                  f"({threshold:.4f}):")
            for run_dir in args.runs:
                step = steps_to_reach(run_dir, threshold)
                print(f"  {os.path.basename(os.path.normpath(run_dir))}: {'never' if step is None else step}")
        if args.plot:
            for run_dir in args.runs:
                for path in plot_run(run_dir, args.plot_dir or os.path.join(run_dir, "plots")):
                    print(f"wrote {path}")
    except (DataError, CheckpointError) as e:
        sys.exit(f"error: {e}")


def suite_main(argv):
    train_args = argv[argv.index("--") + 1:] if "--" in argv else []
    own = argv[:argv.index("--")] if "--" in argv else argv
    parser = argparse.ArgumentParser(description="Run every mixer from the same base with several seeds; write "
                                     "the table, the JSON and the plots. train.py options go after --.")
    parser.add_argument("--suite", required=True, choices=sorted(SUITES))
    parser.add_argument("--preset", default="cpu", choices=sorted(PRESETS), help="cpu (the defaults) or gpu")
    parser.add_argument("--seeds", type=int, default=None, help="seeds per mixer (default: the suite's, 3)")
    parser.add_argument("--mixers", default="", help="comma-separated subset (default: every mixer)")
    parser.add_argument("--trajectories", type=int, default=None,
                        help="random-mixing trajectories for the agent and RegMix (default: the suite's, 12)")
    args = parser.parse_args(own)
    if args.trajectories is not None and args.trajectories <= 0:
        parser.error(f"--trajectories {args.trajectories} must be a positive integer")
    if args.seeds is not None and args.seeds <= 0:
        parser.error(f"--seeds {args.seeds} must be a positive integer")
    mixers = [m for m in args.mixers.split(",") if m]
    try:
        return run_suite(args.suite, args.preset, args.seeds, mixers, train_args, args.trajectories)
    except (DataError, CheckpointError) as e:
        sys.exit(f"error: {e}")


if __name__ == "__main__":
    main()
