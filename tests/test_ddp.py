"""Two processes on CPU (torchrun, gloo): identical models and weights on every process, and the same
losses as one process training on the same global batch."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest

import train
from conftest import ROOT_DIR


def run_two_processes(tiny_args, extra):
    """train.py under torchrun with 2 processes of 4 rows each (the single run's global batch of 8), then each
    rank's final state (ranks/rank{0,1}.json written by tests/ddp_worker.py)."""
    out_dir = tiny_args[tiny_args.index("--out_dir") + 1]
    per_process = list(tiny_args)
    per_process[per_process.index("--batch_size") + 1] = "4"
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
               "tests/ddp_worker.py"] + per_process + extra
    result = subprocess.run(command, cwd=ROOT_DIR, capture_output=True, text=True, timeout=600,
                            env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-3000:]
    ranks = []
    for rank in (0, 1):
        with open(os.path.join(out_dir, f"rank{rank}.json")) as f:
            ranks.append(json.load(f))
    return out_dir, ranks


@pytest.mark.slow
def test_two_processes_match_each_other_and_the_single_process_run(tiny_args):
    # mixed rows: the global batch is the single run's
    out_dir, ranks = run_two_processes(tiny_args, ["--mixer", "bandit", "--bandit_variant", "hedge", "--run_name", "ddp"])
    assert ranks[0] == ranks[1]  # same parameters bit for bit, same mixer weights
    assert ranks[0]["ddp_wrappers_alive"] == 0  # freed before the process group was torn down

    train.main(tiny_args + ["--mixer", "bandit", "--bandit_variant", "hedge", "--run_name", "single"])
    logs = {}
    for name in ("ddp", "single"):
        with open(os.path.join(out_dir, name, "log.jsonl")) as f:
            logs[name] = [json.loads(line) for line in f]
    assert [r["step"] for r in logs["ddp"]] == [r["step"] for r in logs["single"]]
    for a, b in zip(logs["ddp"], logs["single"]):
        assert a["tokens"] == b["tokens"]
        for key in ("train_loss", "val_loss", "weights"):
            if key in a:
                np.testing.assert_allclose(np.array(a[key], dtype=float), np.array(b[key], dtype=float),
                                           rtol=1e-3, atol=1e-4, err_msg=f"step {a['step']} {key}")


@pytest.mark.slow
def test_the_one_draw_bandit_under_two_processes_draws_one_domain_per_process_and_stays_identical(tiny_args):
    """ODM's released code draws one domain per process and micro-batch from one shared list; here every
    process holds the same sampler, so they agree on every share's domain and end identical."""
    out_dir, ranks = run_two_processes(tiny_args, ["--mixer", "bandit", "--bandit_variant", "one_draw",
                                                   "--warmup_share", "0", "--run_name", "odm"])
    assert ranks[0] == ranks[1]
    with open(os.path.join(out_dir, "odm", "log.jsonl")) as f:
        rows = [r["rows"] for r in map(json.loads, f) if "rows" in r]
    assert all(sum(r) == 8 and all(n % 4 == 0 for n in r) for r in rows), rows  # 4 rows per process, one domain
    assert any(max(r) == 4 for r in rows), rows  # some step drew two domains, one per process


@pytest.mark.slow
def test_velocity_target_estimate_under_two_processes_equals_the_single_process_one(tiny_args):
    """The estimation extrapolates to the full run's tokens, all processes' (it once counted one process')."""
    out_dir, _ = run_two_processes(tiny_args, ["--mixer", "velocity", "--run_name", "ddp-velocity"])
    train.main(tiny_args + ["--mixer", "velocity", "--run_name", "single-velocity"])
    estimates = []
    for name in sorted(os.listdir(out_dir)):
        if name.startswith("estimate-"):
            with open(os.path.join(out_dir, name, "targets.json")) as f:
                estimates.append(json.load(f))
    assert len(estimates) == 2  # one per world size (and base)
    assert estimates[0]["full_tokens"] == estimates[1]["full_tokens"] == 10 * 8 * 32
    np.testing.assert_allclose(estimates[0]["targets"], estimates[1]["targets"], rtol=1e-3, atol=1e-3)


@pytest.mark.slow
def test_acodm_slice_under_two_processes_gives_every_process_a_row_of_every_domain(tiny_args):
    """AC-ODM's slice (one forced row of every domain) holds per process: with 2 processes every step's global
    batch has at least 2 rows of each domain, one in each process' share, and the processes end identical."""
    out_dir, ranks = run_two_processes(tiny_args, ["--mixer", "acodm", "--run_name", "ddp-acodm",  # tiny shares:
                                                   "--weights", "prose=1,code=0.001,arith=0.001"])
    assert ranks[0] == ranks[1]
    with open(os.path.join(out_dir, "ddp-acodm", "log.jsonl")) as f:
        rows = [r["rows"] for r in map(json.loads, f) if "rows" in r]
    assert rows and all(sum(r) == 8 and min(r) >= 2 for r in rows), rows
