"""
Metrics of a run: per-domain validation loss and bits per byte, per-field summaries, the target task, the
run's log, and the command line that prints them (one run, or one table across runs) and plots one run.

    python evaluate.py out/cpt-static                  # the metrics of one run (base vs final)
    python evaluate.py out/cpt-static out/cpt-other    # one markdown table across runs
    python evaluate.py out/cpt-static --plot           # PNGs: weights over time, per-domain val loss

Definitions (the README's Metrics section), all on fixed held-out data:
    L_d         mean token cross-entropy (nats) on domain d's validation windows
    bpb_d       bits per byte: summed loss / (ln 2 * UTF-8 bytes of the predicted tokens)
    S, T        mean of L_d over the source / target domains
    forgetting  S(final) - S(base)        gain  T(base) - T(final)        balanced  (S + T) / 2
    task        exact match of the greedy answer; mean log p(answer | prompt) in nats
train.py computes its evaluations and writes its log with this file; the lab (experiments/) reads runs through
load_result and read_log.
"""

import json
import math
import os
import sys
from collections import defaultdict

import numpy as np
import torch
import torch.distributed as dist
import torch.nn.functional as F

from common import CheckpointError, DataError, Parser, TokenFileError
from data import eval_windows
from mixer import objective
from model import autocast
from tokens import read_tokens


# ----------------------------------------------------------------------------- validation loss

class HeldOutSet:
    """Fixed held-out windows per domain and the bytes their targets decode to (for bpb): of the val split
    (the periodic evaluations mixers see) unless `tokens` gives the test split (the final report). For the test
    split also the document of each target token, so that its losses are summed per document too: the report's
    bootstrap over which documents were held out (experiments/report.py) reads those sums."""

    def __init__(self, corpus, block_size, max_windows, tokens=None):
        byte_lengths = corpus.tokenizer.token_byte_lengths()
        self.domains, self.fields = corpus.domains, corpus.fields
        self.windows = [torch.from_numpy(eval_windows(v, block_size, max_windows)) for v in
                        (corpus.val if tokens is None else tokens)]
        self.target_bytes = [int(byte_lengths[w[:, 1:].numpy()].sum()) for w in self.windows]
        self.documents = None if tokens is None else [
            torch.from_numpy(eval_windows(document_index(v, corpus.tokenizer.eot), block_size, max_windows)[:, 1:])
            for v in tokens]


def document_index(tokens, eot):
    """The document of each position of a split: the count of <|endoftext|> before it (a document's own
    <|endoftext|> is its last token)."""
    ends = np.asarray(tokens) == eot
    return np.concatenate([[0], np.cumsum(ends[:-1])]).astype(np.int64)


@torch.no_grad()
def loss_sums(model, heldout, device, batch_size=32, shard=True):
    """Per domain, the summed token loss (nats, float64) of its held-out windows: a 1-vector, or one sum per
    document where the set has documents (the test split). In the model's eval mode; under torchrun
    (shard=True) each process scores its share of the windows and the sums are all-reduced."""
    was_training = model.training
    model.eval()
    rank, world = (dist.get_rank(), dist.get_world_size()) if shard and dist.is_initialized() else (0, 1)
    sums = []
    for d, windows in enumerate(heldout.windows):
        documents = None if heldout.documents is None else heldout.documents[d]
        total = torch.zeros(1 if documents is None else int(documents.max()) + 1, dtype=torch.float64, device=device)
        mine = windows[rank::world]
        for start in range(0, len(mine), batch_size):
            chunk = mine[start:start + batch_size].to(device)
            with autocast(device):
                logits, row_loss = model(chunk[:, :-1], chunk[:, 1:], per_row=True)
            if documents is None:
                total += row_loss.double().sum() * (chunk.size(1) - 1)  # row means -> token sum
            else:  # every token's loss, added to its document's sum
                token_loss = F.cross_entropy(logits.float().flatten(0, 1), chunk[:, 1:].flatten(), reduction="none")
                ids = documents[rank::world][start:start + batch_size].flatten().to(device)
                total.index_add_(0, ids, token_loss.double())
        if world > 1:
            dist.all_reduce(total)
        sums.append(total)
    model.train(was_training)
    return sums


def mean_losses(sums, heldout):
    """(mean token loss, bits per byte) per domain from loss_sums over the held-out set's windows."""
    losses, bpbs = [], []
    for total, windows, n_bytes in zip(sums, heldout.windows, heldout.target_bytes):
        total = float(total.sum())
        losses.append(total / (windows.size(0) * (windows.size(1) - 1)))
        bpbs.append(total / (math.log(2) * max(n_bytes, 1)))
    return losses, bpbs


def domain_losses(model, valset, device, batch_size=32, shard=True):
    """Mean held-out loss and bits per byte for each domain."""
    return mean_losses(loss_sums(model, valset, device, batch_size, shard), valset)


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


def read_test_split(corpus):
    """The test split's token files: read here, by the final report, and nowhere else."""
    try:
        return [read_tokens(os.path.join(corpus.path, d, "test.bin"), corpus.tokenizer.fingerprint)
                for d in corpus.domains]
    except TokenFileError as e:
        raise DataError(str(e)) from None


def full_evaluation(model, corpus, block_size, device, max_task_problems=None):
    """The numbers a run reports, on the test split: every test window of every domain (also summed per
    document: "test_documents", each domain's per-document loss sums and token counts), and the target task's
    test problems (all of them, or the first max_task_problems)."""
    testset = HeldOutSet(corpus, block_size, max_windows=10 ** 9, tokens=read_test_split(corpus))
    sums = loss_sums(model, testset, device, shard=False)
    losses, bpbs = mean_losses(sums, testset)
    problems = corpus.task("test")
    problems = problems[:max_task_problems] if max_task_problems else problems
    return {"domains": corpus.domains, "fields": corpus.fields, "test_loss": losses, "test_bpb": bpbs,
            "test_documents": [{"loss_sums": total.tolist(), "tokens": np.bincount(ids.flatten().numpy(),
                                                                                   minlength=len(total)).tolist()}
                               for total, ids in zip(sums, testset.documents)],
            **task_scores(model, corpus.tokenizer, problems, device)}


# ----------------------------------------------------------------------------- summaries

def field_mean(values, fields, field):
    picked = [v for v, f in zip(values, fields) if f == field]
    return float(np.mean(picked)) if picked else float("nan")


def field_losses(losses, fields):
    """(S, T): the mean loss of the source and of the target domains."""
    return field_mean(losses, fields, "source"), field_mean(losses, fields, "target")


def summarize(base, final):
    """S, T, forgetting, gain, the objective (balanced loss) and the task, from two full evaluations."""
    fields = final["fields"]
    S0, T0 = field_losses(base["test_loss"], fields)
    S1, T1 = field_losses(final["test_loss"], fields)
    return {"source_loss": S1, "target_loss": T1, "base_source_loss": S0, "base_target_loss": T0,
            "forgetting": S1 - S0, "gain": T0 - T1, "balanced_loss": objective(S1, T1),
            "task_accuracy": final["task_accuracy"], "task_logprob": final["task_logprob"],
            "base_task_accuracy": base["task_accuracy"], "base_task_logprob": base["task_logprob"]}


def fmt(x, digits=3):
    return "n/a" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{x:.{digits}f}"


def run_report(result):
    """The text table of one run, on the test split: per domain, per field, then the summary."""
    base, final, s = result["base"], result["final"], result["summary"]
    lines = ["| domain | field | base test loss | final test loss | change | base bpb | final bpb | tokens | epochs |",
             "|---|---|---|---|---|---|---|---|---|"]
    run = result.get("run", {})
    for i, (d, f) in enumerate(zip(final["domains"], final["fields"])):
        tokens = run.get("tokens_per_domain", [None] * len(final["domains"]))[i]
        epochs = run.get("epochs_per_domain", [None] * len(final["domains"]))[i]
        lines.append(f"| {d} | {f} | {fmt(base['test_loss'][i])} | {fmt(final['test_loss'][i])} | "
                     f"{final['test_loss'][i] - base['test_loss'][i]:+.3f} | {fmt(base['test_bpb'][i])} | "
                     f"{fmt(final['test_bpb'][i])} | {tokens if tokens is not None else 'n/a'} | {fmt(epochs, 2)} |")
    fields = final["fields"]
    for field in ("source", "target"):
        b, e = field_mean(base["test_loss"], fields, field), field_mean(final["test_loss"], fields, field)
        bb, eb = field_mean(base["test_bpb"], fields, field), field_mean(final["test_bpb"], fields, field)
        lines.append(f"| **{field}** (mean) | {field} | {fmt(b)} | {fmt(e)} | {e - b:+.3f} | {fmt(bb)} | {fmt(eb)} "
                     "| | |")
    lines += ["",
              f"forgetting (S final - S base): {fmt(s['forgetting'], 4)}    gain (T base - T final): "
              f"{fmt(s['gain'], 4)}    balanced loss (S+T)/2, the objective: {fmt(s['balanced_loss'], 4)}",
              f"target task ({final['task_problems']} problems): accuracy {fmt(s['base_task_accuracy'])} -> "
              f"{fmt(s['task_accuracy'])}, answer log-prob {fmt(s['base_task_logprob'])} -> {fmt(s['task_logprob'])}"]
    return "\n".join(lines)


COLUMNS = [("source loss", "source_loss"), ("target loss", "target_loss"), ("forgetting", "forgetting"),
           ("gain", "gain"), ("balanced", "balanced_loss"), ("task acc", "task_accuracy"),
           ("answer logp", "task_logprob")]


# a run's options that do not tell its setting: where it is written, how it reports, how it resumes
NOT_A_SETTING = {"run_name", "out_dir", "resume", "overwrite", "device", "compile", "log_interval", "ckpt_interval",
                 "task_problems", "config"}


def setting_differences(results):
    """Per run, the options whose values differ among the runs compared ("target_ratio=0.8, weights="), so
    that two runs of one mixer are told apart; "" for a run that differs in none."""
    configs = [r.get("config", {}) for _, r in results]
    keys = sorted({k for c in configs for k in c} - NOT_A_SETTING - {"mixer"})
    differing = [k for k in keys if len({repr(c.get(k)) for c in configs}) > 1]
    return [", ".join(f"{k}={c.get(k)}" for k in differing) for c in configs]


def target_share(result):
    """The share of the run's training tokens that came from the target field (what it actually sampled)."""
    tokens, fields = result.get("run", {}).get("tokens_per_domain"), result["final"]["fields"]
    if not tokens or not sum(tokens):
        return None
    return sum(n for n, f in zip(tokens, fields) if f == "target") / sum(tokens)


def comparison_table(results):
    """One markdown table: rows = runs; what sets each apart (its mixer, the options that differ among the runs,
    its steps and the target share it sampled), the summary metrics, and its cost."""
    header = ("| run | mixer | differs in | steps | target share | " + " | ".join(c for c, _ in COLUMNS)
              + " | CPT s | before s |")
    lines = [header, "|" + "---|" * (len(COLUMNS) + 7)]
    for (name, r), differs in zip(results, setting_differences(results)):
        s, run = r["summary"], r.get("run", {})
        lines.append(f"| {name} | {run.get('mixer', '?')} | {differs} | {run.get('steps', 'n/a')} | "
                     f"{fmt(target_share(r), 2)} | " + " | ".join(fmt(s[k]) for _, k in COLUMNS)
                     + f" | {fmt(run.get('wall_seconds'), 0)} | {fmt(run.get('estimate_seconds'), 0)} |")
    lines += ["", "CPT s: the CPT loop's wall time (evaluations included); before s: work a mixer does before CPT "
              "(DBL's and Velocitune's target estimation), n/a for the others. Metrics on the test split."]
    return "\n".join(lines)


# ----------------------------------------------------------------------------- the run's log
# log.jsonl: one JSON line per step (written by train.py), read back by the reports and plots below.

def current_rss_mb():
    """Resident memory of this process now (Linux), for the log's memory column; None elsewhere."""
    try:
        with open("/proc/self/statm") as f:
            return round(int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2 ** 20, 1)
    except (OSError, ValueError):
        return None


def json_number(x):
    return None if x is None or not math.isfinite(x) else round(float(x), 6)


def step_record(step, tokens, lr, loss, train_loss, w, row_count, sampler, tokens_per_second, corpus, mixer):
    """One line of log.jsonl: everything a plot or a later analysis of the step needs."""
    return {"step": step, "tokens": tokens, "lr": lr, "loss": json_number(loss),
            "train_loss": [json_number(v) for v in train_loss], "weights": [round(float(v), 6) for v in w],
            "rows": row_count.long().tolist(), "tokens_per_domain": sampler.tokens_per_domain(),
            "epochs_per_domain": [round(e, 4) for e in sampler.epochs_per_domain()],
            "tokens_per_second": round(tokens_per_second, 1), "rss_mb": current_rss_mb(),
            "domains": corpus.domains, "mixer_state": mixer.log()}


def console_line(phase, step, steps, loss, record, tokens_per_second, mfu, lr, w, corpus, seconds_left=None):
    """`cpt step 50/400 | loss 3.39 | val S 4.90 T 2.29 | 10,716 tok/s | 2m 05s left | lr 3.0e-03 | w code=0.22 ...`
    (the time left of this stage, at the rate of its steps so far, evaluations included)"""
    val = ""
    if "val_loss" in record:
        source = field_mean(record["val_loss"], corpus.fields, "source")
        target = field_mean(record["val_loss"], corpus.fields, "target")
        val = f" | val S {source:.3f} T {target:.3f}"
    mfu_text = f" | mfu {100 * mfu:.1f}%" if mfu is not None else ""
    left = f" | {int(seconds_left) // 60}m {int(seconds_left) % 60:02d}s left" if seconds_left is not None else ""
    weights = " ".join(f"{d}={v:.2f}" for d, v in zip(corpus.domains, w) if v > 0)
    return (f"  {phase} step {step:5d}/{steps} | loss {loss:.4f}{val} | {tokens_per_second:,.0f} tok/s{mfu_text}{left} | "
            f"lr {lr:.2e} | w {weights}")


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


LINE_STYLES, MARKERS = ["-", "--", ":", "-."], ["x", "+", "1", "4"]


def series_style(index, marker=False):
    """The index-th series' colour (matplotlib's 10-colour cycle) and line style (or marker), which change
    together: no two of the first 20 series share both, so 11 rows never look alike."""
    return {"color": f"C{index % 10}", ("marker" if marker else "linestyle"): (MARKERS if marker else LINE_STYLES)[index % 4]}


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
            ax.plot([r["step"] for r in eval_rows], [r["val_loss"][i] for r in eval_rows], label=d, **series_style(i))
        ax.set(xlabel="step", ylabel="validation loss (nats/token)", title=f"validation: {os.path.basename(run_dir)}")
        ax.legend(loc="center left", bbox_to_anchor=(1, 0.5), fontsize=8)
        fig.tight_layout()
        paths.append(os.path.join(out_dir, "val_loss.png"))
        fig.savefig(paths[-1], dpi=100)
        plt.close(fig)
    return paths


def plot_runs(run_dirs, out_dir):
    """One PNG overlaying several runs: the target field's share of the weights over the steps, and the validation
    objective (S + T) / 2 at each evaluation. Returns its path."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, (shares, objectives) = plt.subplots(1, 2, figsize=(12, 4.5), layout="constrained")
    for i, run_dir in enumerate(run_dirs):
        records, name = read_log(run_dir), os.path.basename(os.path.normpath(run_dir))
        steps = [r for r in records if "weights" in r]
        if not steps:
            raise DataError(f"{run_dir}/log.jsonl has no training lines to plot; run train.py first")
        target = np.array([f == "target" for f in load_result(run_dir)["final"]["fields"]])
        shares.plot([r["step"] for r in steps], [np.asarray(r["weights"])[target].sum() for r in steps], label=name,
                    **series_style(i))
        evals = [r for r in records if "val_loss" in r and None not in r["val_loss"]]
        fields = load_result(run_dir)["final"]["fields"]
        objectives.plot([r["step"] for r in evals], [objective(*field_losses(r["val_loss"], fields)) for r in evals],
                        label=name, **series_style(i))
    shares.set(xlabel="step", ylabel="target field's share of the weights", ylim=(0, 1))
    objectives.set(xlabel="step", ylabel="validation objective (S + T) / 2", yscale="log")
    fig.legend(*shares.get_legend_handles_labels(), loc="outside lower center", ncol=min(4, len(run_dirs)), fontsize=8)
    os.makedirs(out_dir, exist_ok=True)
    path = os.path.join(out_dir, "compare.png")
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def main(argv=None):
    parser = Parser(description="Print the metrics of runs written by train.py.")
    parser.add_argument("runs", nargs="+", help="run folders (e.g. out/cpt-static)")
    parser.add_argument("--plot", action="store_true", help="write PNGs of weights and validation curves (each "
                        "run's, and for several runs one figure that overlays them)")
    parser.add_argument("--plot_dir", default=None, help="where PNGs go (default: RUN_DIR/plots; the overlay of "
                        "several runs: compare-plots beside the first run)")
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
            if len(args.runs) > 1:
                beside = os.path.join(os.path.dirname(os.path.normpath(args.runs[0])), "compare-plots")
                print(f"wrote {plot_runs(args.runs, args.plot_dir or beside)}")
    except (DataError, CheckpointError) as e:
        sys.exit(f"error: {e}")


if __name__ == "__main__":
    main()
