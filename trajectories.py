"""
The Data Mixing Agent's environment (Yang et al. 2025, arXiv 2507.15640), its step 1: random mixing trajectories
of a small proxy model, and what is computed from them.

    RandomMixer           the exploration: random mixing schedules (walks, fresh draws, constants, ramps, ...)
    collect_trajectories  N CPT runs of it from one proxy base, each saved as one trajectory file
    TrajectoryBuffer      the folder of trajectory files (.npz, no pickle, written atomically)
    interval_rewards      the reward of every re-weighting interval; trajectory_score, a trajectory's whole gain
    load_trajectories     a folder's trajectories, checked to be of one kind

Notation: a run has n re-weighting intervals of m = --mix_interval steps, k = 0..n-1, and n + 1 boundaries
j = 0..n (boundary j at step j m); S_j and T_j are the source and target fields' mean validation losses at
boundary j, J_j = (S_j + T_j) / 2 the one objective. agent.py learns from the
trajectories; regmix.py fits its regression on proxy runs of one constant mixture each, stored the same way.

    python -m experiments.suite --collect 64 --trajectories out/traj -- --config config/proxy.py
"""

import json
import math
import os
import shutil
import sys
import time
from contextlib import redirect_stdout

import numpy as np
from tqdm import tqdm

from common import ConfigError, DataError, TrainingError, read_json, write_json_atomic
from evaluate import read_log
from mixer import Mixer, field_split, objective


# ----------------------------------------------------------------------------- the exploration

class RandomMixer(Mixer):
    """Random mixing schedules, the environment's exploration for the Data Mixing Agent (arXiv 2507.15640):
    its training trajectories must cover the strategy space. Every mix_interval steps the weights move
    to the next point of one schedule, drawn from the run's seed unless --random_schedule names it:
        walk       Dirichlet random walk around a centre c ~ Dirichlet(1):
                   w <- Dirichlet(kappa (lam w + (1 - lam) c)), kappa = random_concentration (50), lam = 0.7
        fresh      w ~ Dirichlet(1), a fresh draw every interval
        constant   one Dirichlet(1) draw for the whole run
        ramp_up    the target field's share moves linearly from r0 to r1 > r0 over the run (r0, r1 drawn),
        ramp_down  ... or from r1 down to r0; within a field, domains are split by tokens
        alternate  the target share switches between r0 and r1 every interval
    Weights keep a floor of 1e-6 so every vector lies strictly inside the simplex."""

    name = "random"
    needs_feedback = True  # its runs are the agent's trajectories: feedback at every re-weighting
    shared_options = ("mix_interval",)
    SCHEDULES = ("walk", "fresh", "constant", "ramp_up", "ramp_down", "alternate")  # drawn in turn
    OPTIONS = {"random_schedule": ("", str, f"one of {', '.join(SCHEDULES)}; empty: drawn from the seed"),
               "random_concentration": (50.0, float, "Dirichlet concentration of the walk's steps")}

    def __init__(self, corpus, config):
        super().__init__(corpus, config)
        self.rng = np.random.Generator(np.random.PCG64(self.config["seed"] + 7919))
        self.kind = self.config["random_schedule"] or str(self.rng.choice(self.SCHEDULES))
        if self.kind not in self.SCHEDULES:
            raise DataError(f"--random_schedule {self.kind} is unknown; choose one of {list(self.SCHEDULES)}")
        if self.kind.startswith("ramp") or self.kind == "alternate":
            if not corpus.field_indices("target") or not corpus.field_indices("source"):
                raise DataError(f"--random_schedule {self.kind} moves the target field's share; the corpus "
                                "needs source and target domains")
        self.interval = self.eval_every = self.config["mix_interval"]
        self.intervals = max(1, math.ceil(self.config["steps"] / self.interval))
        self.concentration = self.config["random_concentration"]
        self.tokens = np.asarray(corpus.train_tokens, dtype=np.float64)
        self.target = np.array([f == "target" for f in self.fields])
        K = len(self.domains)
        self.centre = self.rng.dirichlet(np.ones(K))
        self.shares = np.sort(self.rng.uniform(0.05, 0.95, 2))  # r0 < r1
        self.t, self.k = 0, 0
        self.w = self.point(0)

    def point(self, k):
        """The schedule's weights for interval k (the walk and the draws use the mixer's own generator)."""
        K = len(self.domains)
        r0, r1 = self.shares
        progress = k / max(1, self.intervals - 1)
        if self.kind == "walk":
            w = self.centre if k == 0 else self.rng.dirichlet(self.concentration * (0.7 * self.w + 0.3 * self.centre))
        elif self.kind == "fresh" or (self.kind == "constant" and k == 0):
            w = self.rng.dirichlet(np.ones(K))
        elif self.kind == "constant":
            w = self.w
        elif self.kind == "ramp_up":
            w = field_split(self.tokens, self.target, r0 + (r1 - r0) * progress)
        elif self.kind == "ramp_down":
            w = field_split(self.tokens, self.target, r1 - (r1 - r0) * progress)
        else:  # alternate
            w = field_split(self.tokens, self.target, r0 if k % 2 == 0 else r1)
        w = np.maximum(w, 1e-6)
        return w / w.sum()

    def weights(self):
        return self.w

    def observe_step(self, step, stats):
        self.t += 1
        if self.t % self.interval == 0:
            self.k += 1
            self.w = self.point(self.k)

    def state_dict(self):
        return {"rng": self.rng.bit_generator.state, "kind": self.kind, "t": self.t, "k": self.k,
                "w": self.w.tolist(), "centre": self.centre.tolist(), "shares": self.shares.tolist()}

    def load_state_dict(self, state):
        self.rng.bit_generator.state = state["rng"]
        self.kind, self.t, self.k = state["kind"], state["t"], state["k"]
        self.w, self.centre = np.array(state["w"]), np.array(state["centre"])
        self.shares = np.array(state["shares"])

    def log(self):
        return {"schedule": self.kind, "interval": self.k}


# ----------------------------------------------------------------------------- collection

def whole_intervals(steps, interval):
    """A trajectory is whole intervals: refuse a run length that is not a multiple of the interval."""
    if steps % interval:
        raise ConfigError(f"--collect: --steps {steps} must be a multiple of --mix_interval {interval} (a trajectory "
                          "is whole intervals)")


def collect_trajectories(cfg, count, folder, interval, corpus, base_dir, run_cpts, log=print):
    """`count` CPT runs from the proxy base, each saved as one trajectory file of `folder`: run i has seed
    cfg["seed"] + i and, for the random mixer, the schedules taken in turn (unless --random_schedule names one);
    its feedback is read at every `interval` steps (the mixer's --mix_interval; RegMix's constant runs: the whole
    run). A finished run becomes one file of the buffer and its run folder is deleted; a rerun collects only the
    missing indices. run_cpts(configs) trains the runs (one at a time or as swarms: the caller decides) and yields
    (i, run_dir, info) per finished run, info an exception for a run that failed."""
    whole_intervals(cfg["steps"], interval)
    t0 = time.time()
    buffer = TrajectoryBuffer(folder)
    for name in os.listdir(folder):  # the run folder of a trajectory that was interrupted
        if name.startswith("run-"):
            shutil.rmtree(os.path.join(folder, name))
    missing = buffer.missing(count)
    log(f"{count - len(missing)} of {count} trajectories already in {folder}")
    clock = os.path.join(folder, "collection.json")  # the wall time of every invocation, summed
    spent = read_json(clock, "the collection clock")["wall_seconds"] if os.path.exists(clock) else 0.0
    schedules = RandomMixer.SCHEDULES
    run_cfgs = [{**cfg, "seed": cfg["seed"] + index, "resume": False,
                 **({"random_schedule": cfg["random_schedule"] or schedules[index % len(schedules)]}
                    if cfg["mixer"] == RandomMixer.name else {}),
                 "run_name": os.path.join(os.path.abspath(folder), f"run-{index:05d}"),
                 "eval_interval": interval, "ckpt_interval": cfg["steps"], "log_interval": cfg["steps"]}
                for index in missing]
    bar = tqdm(desc="trajectories", initial=count - len(missing), total=count, unit="traj", file=sys.stdout,
               dynamic_ncols=True)
    failed = []
    with open(os.devnull, "w") as quiet, redirect_stdout(quiet):  # one progress bar, not every run's lines
        for i, run_dir, info in run_cpts(run_cfgs):
            index, run_cfg = missing[i], run_cfgs[i]
            if isinstance(info, Exception):  # a run that failed: the others go on
                failed.append(f"trajectory {index}: {info}")
                continue
            arrays = trajectory_from_log(read_log(run_dir), interval)
            buffer.save(index, arrays, {"domains": corpus.domains, "fields": corpus.fields, "seed": run_cfg["seed"],
                                        "schedule": run_cfg["random_schedule"] if cfg["mixer"] == RandomMixer.name
                                        else cfg["mixer"], "interval": interval,
                                        "base_dir": base_dir, "wall_seconds": info["wall_seconds"], "config": run_cfg})
            shutil.rmtree(run_dir)
            spent += time.time() - t0
            t0 = time.time()
            write_json_atomic(clock, {"wall_seconds": spent, "trajectories": len(buffer.finished())})
            bar.update()
    bar.close()
    if failed:
        raise TrainingError(f"{len(failed)} run(s) failed ({'; '.join(failed)}); rerun to collect them")
    seconds = sum(buffer.load(i)[1]["wall_seconds"] for i in buffer.finished())
    log(f"{len(buffer.finished())} trajectories in {folder} ({seconds:.0f} s of CPT in all)")


# ----------------------------------------------------------------------------- the records

class TrajectoryBuffer:
    """A folder of finished mixing trajectories for offline agent training, one `traj_NNNNN.npz` each.

    Each file holds plain numeric arrays (actions, raw feedback, ...) plus its metadata (domains, fields,
    config, seed) as JSON text stored in a uint8 array, so loading never needs pickle
    (np.load(..., allow_pickle=False)). Files are written to a temp name and renamed: a crash leaves
    either no file or a complete one, and an interrupted collection continues from `missing()`."""

    def __init__(self, folder):
        self.folder = folder
        os.makedirs(folder, exist_ok=True)
        for name in os.listdir(folder):  # leftovers of a collection killed mid-write
            if ".tmp-" in name:
                os.remove(os.path.join(folder, name))

    def path(self, index):
        return os.path.join(self.folder, f"traj_{index:05d}.npz")

    def save(self, index, arrays, meta):
        tmp = f"{self.path(index)}.tmp-{os.getpid()}"
        payload = {name: np.asarray(value, dtype=np.float64) for name, value in arrays.items()}
        payload["meta_json"] = np.frombuffer(json.dumps(meta).encode("utf-8"), dtype=np.uint8)
        with open(tmp, "wb") as f:
            np.savez(f, **payload)
        os.replace(tmp, self.path(index))

    def finished(self):
        """Indices of the complete trajectories in the folder."""
        names = [n for n in os.listdir(self.folder) if n.startswith("traj_") and n.endswith(".npz")]
        return sorted(int(n[5:-4]) for n in names)

    def missing(self, count):
        done = set(self.finished())
        return [i for i in range(count) if i not in done]

    def load(self, index):
        path = self.path(index)
        try:
            with np.load(path, allow_pickle=False) as data:
                arrays = {name: data[name] for name in data.files}
            meta = json.loads(arrays.pop("meta_json").tobytes().decode("utf-8"))
        except (OSError, ValueError, KeyError) as e:
            raise DataError(f"trajectory {path} is damaged or not a trajectory file ({type(e).__name__}); "
                            "delete it and collect it again") from None
        return arrays, meta


def trajectory_from_log(records, interval):
    """A finished random-mixing run's log.jsonl records -> the trajectory's arrays: weights (n, K), the action
    of each interval (the weights of its first step); val_loss (n+1, K) and answer_logprob (n+1,) at the
    boundaries 0, m, 2m, ... (m = interval); tokens_per_domain (K,) at the end."""
    by_step = {r["step"]: r for r in records}
    last = max(by_step)
    boundaries = list(range(0, last + 1, interval))
    return {"weights": [by_step[b + 1]["weights"] for b in boundaries[:-1]],
            "val_loss": [by_step[b]["val_loss"] for b in boundaries],
            "answer_logprob": [by_step[b].get("feedback_logprob", float("nan")) for b in boundaries],
            "tokens_per_domain": by_step[last]["tokens_per_domain"]}


def interval_rewards(arrays, fields, reward="balanced", lam=0.25):
    """The reward of each re-weighting interval, recomputed from a trajectory's raw feedback at its n + 1
    boundaries (so another reward needs no new runs):
        balanced    (default) the change of the project's one objective (mixer.objective) over the
                    interval: r_k = J_k - J_{k+1}, J_j = (S_j + T_j) / 2, with S_j and T_j the mean
                    validation losses (nats) of the source and of the target domains at boundary j. The
                    rewards of a trajectory sum to J_0 - J_n, its improvement of the objective.
        normalized  another objective, named as such: start-normalised improvements
                    dS_k = (S_k - S_{k+1}) / S_0, dT_k likewise (T with the answer NLL averaged in),
                    r_k = mean(dS_k, dT_k) - lam |dS_k - dT_k|. Dividing by the start weighs a nat of source
                    loss S_0 / T_0 times a nat of target loss, so an agent trained on it is not trained on
                    the score the report judges it by."""
    if reward == "balanced":
        S, T = field_losses_per_boundary(arrays["val_loss"], fields)
        J = objective(S, T)
        return J[:-1] - J[1:]
    S, T = feedback_scores(arrays["val_loss"], fields, arrays["answer_logprob"])
    dS, dT = (S[:-1] - S[1:]) / S[0], (T[:-1] - T[1:]) / T[0]
    return (dS + dT) / 2 - lam * np.abs(dS - dT)


def field_losses_per_boundary(val_loss, fields):
    """(S_j, T_j) over the boundaries: mean validation loss of the source and of the target domains."""
    L, fields = np.asarray(val_loss, dtype=np.float64), np.asarray(fields)
    return L[:, fields == "source"].mean(axis=1), L[:, fields == "target"].mean(axis=1)


def feedback_scores(val_loss, fields, answer_logprob):
    """Source and target scores at every boundary, normalised by the first (lower is better):
        S_j = mean_{source d} L_{j,d} / S_0
        T_j = (TL_j / TL_0 + A_j / A_0) / 2,  TL = mean_{target d} L_{j,d},  A = -answer log-prob
    (T_j = TL_j / TL_0 when the corpus has no task: the log-probs are NaN)."""
    L = np.asarray(val_loss, dtype=np.float64)
    fields = np.asarray(fields)
    S = L[:, fields == "source"].mean(axis=1)
    TL = L[:, fields == "target"].mean(axis=1)
    A = -np.asarray(answer_logprob, dtype=np.float64)
    target = (TL / TL[0] + A / A[0]) / 2 if np.all(np.isfinite(A)) else TL / TL[0]
    return S / S[0], target


def load_trajectories(folder):
    """Every finished trajectory of a collection folder as (arrays, meta); one clear error if there are
    none or if they come from different domain lists."""
    if not os.path.isdir(folder):
        raise DataError(f"--trajectories {folder} does not exist; collect trajectories with "
                        f"python -m experiments.suite --collect N --trajectories {folder}")
    buffer = TrajectoryBuffer(folder)
    trajectories = [buffer.load(i) for i in buffer.finished()]
    if not trajectories:
        raise DataError(f"--trajectories {folder} holds no finished trajectory; collect some with "
                        f"python -m experiments.suite --collect N --trajectories {folder}")
    domains = trajectories[0][1]["domains"]
    with_logprob = {bool(np.all(np.isfinite(arrays["answer_logprob"]))) for arrays, _ in trajectories}
    for arrays, meta in trajectories:
        if meta["domains"] != domains:
            raise DataError(f"{folder} mixes trajectories over {domains} and over {meta['domains']}; keep one "
                            "domain list per folder")
    if len(with_logprob) > 1:
        raise DataError(f"{folder} mixes trajectories with and without the answer log-prob feedback (another "
                        "--feedback_problems or corpus); keep one kind per folder")
    return trajectories


def trajectory_score(arrays, meta, reward="balanced", lam=0.25):
    """A trajectory's score, higher is better: its reward from its first boundary to its last, as one
    interval. For the balanced reward that is J_0 - J_n, the objective's improvement (the sum of its interval
    rewards); every trajectory starts from the same base, so it ranks them by their final objective. It
    ranks trajectories for cloning and is RegMix's regression target."""
    ends = {"val_loss": np.asarray(arrays["val_loss"])[[0, -1]],
            "answer_logprob": np.asarray(arrays["answer_logprob"])[[0, -1]]}
    return float(interval_rewards(ends, meta["fields"], reward, lam)[0])


def rank_correlation(x, y):
    """Spearman's rank correlation of two equal-length sequences (ties get their average rank); NaN when
    either is constant. Used for the offline checks: does a critic or a regressor order runs correctly?"""
    def ranks(v):
        v = np.asarray(v, dtype=np.float64)
        order = np.argsort(v, kind="stable")
        r = np.empty(len(v))
        r[order] = np.arange(len(v), dtype=np.float64)
        for value in np.unique(v):  # ties share their mean rank
            r[v == value] = r[v == value].mean()
        return r
    rx, ry = ranks(x), ranks(y)
    if rx.std() == 0 or ry.std() == 0:
        return float("nan")
    return float(np.corrcoef(rx, ry)[0, 1])


def bootstrap_rank_correlation(x, y, draws=2000, seed=0):
    """The 95% percentile interval [lo, hi] of Spearman's rank correlation of paired points (x_i, y_i),
    resampling the pairs with replacement (each pair is one held-out trajectory): how far the correlation
    of so few points can move. [nan, nan] when over 5% of the resamples have no correlation (a constant
    side, as two or three points often give): too few points to say anything."""
    x, y = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    rng = np.random.Generator(np.random.PCG64(seed))
    values = np.array([rank_correlation(x[i], y[i]) for i in rng.integers(0, len(x), size=(draws, len(x)))])
    if np.mean(~np.isfinite(values)) > 0.05:
        return [float("nan"), float("nan")]
    values = values[np.isfinite(values)]
    return [float(np.percentile(values, 2.5)), float(np.percentile(values, 97.5))]


def held_out_split(count, share, seed=0):
    """(train indices, held-out indices) of `count` trajectories: a seeded random `share` held out for the
    offline checks and the tuning (collection takes its schedules in turn, so every n-th index would not do)."""
    order = np.random.Generator(np.random.PCG64(seed)).permutation(count)
    held = sorted(order[:round(share * count)].tolist())
    return [i for i in range(count) if i not in set(held)], held
