"""Proxy swarms (experiments/swarm.py): a member is the run train.py makes alone (losses, weights, log), its trajectory file
is a single run's, and a member that fails is dropped without touching the others."""

import os
import re

import numpy as np
import pytest
import torch

from experiments import bench, proxy, suite, swarm
import agent
import train
from conftest import mixer_inputs
from evaluate import load_result, read_log
from options import config_for_mixer, make_mixer, parse_config, validate_config
from prepare import ensure_corpus
from trajectories import TrajectoryBuffer, load_trajectories

# three different runs: seeds, mixers (constant weights, a random schedule, explicit weights) and learning rates
RUNS = [("static", {"seed": 11}), ("random", {"seed": 12, "mix_interval": 5}),
        ("static", {"seed": 13, "target_ratio": 0.7, "lr": 2e-3})]


def setup(tiny_args):
    cfg = parse_config(tiny_args + ["--grad_accum", "2"])  # two micro-batches: the accumulation is per member too
    cfg = validate_config(cfg)
    corpus = ensure_corpus(cfg)
    return cfg, corpus, train.ensure_base(cfg, corpus, "cpu")


def run_configs(cfg, prefix, runs=RUNS):
    return [{**config_for_mixer(cfg, mixer), **options, "run_name": f"{prefix}-{i}", "resume": False}
            for i, (mixer, options) in enumerate(runs)]


def single_runs(cfgs, corpus, base_dir):
    return [train.run_cpt(c, corpus, base_dir, make_mixer(c["mixer"], corpus, c), "cpu")[1] for c in cfgs]


def losses(run_dir):
    return [r["loss"] for r in read_log(run_dir) if "loss" in r]


def test_stacked_forward_equals_the_models_forward(tiny_args):
    cfg, corpus, base_dir = setup(tiny_args)
    models = [train.base_model(base_dir, seed, "cpu") for seed in (1, 2)]
    with torch.no_grad():  # make the members differ
        models[1].transformer.h[0].mlp.c_fc.weight.mul_(1.5)
    params, _ = swarm.stack(models)
    x = torch.randint(0, corpus.tokenizer.vocab_size, (2, 4, cfg["block_size"] + 1))
    batched = swarm.forward(params, models[0].config, x[:, :, :-1], x[:, :, 1:])
    for m, model in enumerate(models):
        _, row_loss = model(x[m, :, :-1], x[m, :, 1:], per_row=True)
        torch.testing.assert_close(batched[m], row_loss, rtol=0, atol=1e-6)


def test_a_swarm_of_three_equals_three_single_runs(tiny_args):
    cfg, corpus, base_dir = setup(tiny_args)
    cfgs_single, cfgs_swarm = run_configs(cfg, "single"), run_configs(cfg, "swarm")
    models = single_runs(cfgs_single, corpus, base_dir)
    results = list(swarm.run_cpts(cfgs_swarm, corpus, base_dir, "cpu", mode="on", log=lambda *a: None))
    assert [r[0] for r in results] == [0, 1, 2]
    for (i, run_dir, mixer, info, state), single, c in zip(results, models, cfgs_single):
        assert not isinstance(info, Exception)
        alone = os.path.join(c["out_dir"], c["run_name"])
        assert len(losses(run_dir)) == c["steps"]
        np.testing.assert_allclose(losses(run_dir), losses(alone), rtol=0, atol=1e-4)
        log_swarm, log_single = read_log(run_dir), read_log(alone)
        assert [sorted(r) for r in log_swarm] == [sorted(r) for r in log_single]  # the same keys on every line
        for a, b in zip(log_swarm, log_single):
            assert a["step"] == b["step"] and a.get("rows") == b.get("rows")  # the same batches
            np.testing.assert_allclose(a.get("weights", []), b.get("weights", []), atol=1e-5)
            np.testing.assert_allclose(a.get("val_loss", []), b.get("val_loss", []), atol=1e-4)
        for name, p in single.state_dict().items():
            torch.testing.assert_close(state[name], p, rtol=0, atol=1e-5)
        assert info["steps"] == c["steps"] and info["wall_seconds"] > 0


def test_a_members_trajectory_loads_wherever_a_single_runs_does(tiny_args, tmp_path):
    cfg, corpus, base_dir = setup(tiny_args)
    collect = {**config_for_mixer(cfg, "random"), "mix_interval": 5, "feedback_problems": 4}
    alone, batched = str(tmp_path / "alone"), str(tmp_path / "swarm")
    proxy.collect_into(collect, 3, alone, corpus, base_dir, log=lambda *a: None, swarm_mode="off")
    proxy.collect_into(collect, 3, batched, corpus, base_dir, log=lambda *a: None, swarm_mode="on")
    assert not [n for n in os.listdir(batched) if n.startswith("run-")]  # the run folders are gone
    for (a, meta_a), (b, meta_b) in zip(load_trajectories(alone), load_trajectories(batched)):
        assert a.keys() == b.keys() and meta_a.keys() == meta_b.keys()
        assert meta_a["seed"] == meta_b["seed"] and meta_a["schedule"] == meta_b["schedule"]
        for key in a:
            np.testing.assert_allclose(a[key], b[key], rtol=0, atol=1e-4, err_msg=key)
    # one folder holding both kinds: the agent trains on it
    os.replace(TrajectoryBuffer(batched).path(2), TrajectoryBuffer(alone).path(3))
    assert len(load_trajectories(alone)) == 4
    path = str(tmp_path / "agent.pt")
    agent.train_agent(alone, path, {"bc_steps": 3, "cql_steps": 3, "width": 16, "heads": 2, "history": 2},
                      log=lambda *a: None)
    assert os.path.exists(path)


def test_a_member_whose_loss_becomes_nan_is_dropped_and_the_others_equal_their_runs(tiny_args):
    cfg, corpus, base_dir = setup(tiny_args)
    runs = [RUNS[0], ("static", {"seed": 99, "lr": 1e30}), RUNS[2]]  # member 1: an absurd learning rate
    cfgs_single, cfgs_swarm = run_configs(cfg, "single", runs), run_configs(cfg, "swarm", runs)
    messages = []
    results = list(swarm.run_cpts(cfgs_swarm, corpus, base_dir, "cpu", mode="on", log=messages.append))
    failed = [(i, info) for i, _, _, info, _ in results if isinstance(info, Exception)]
    assert [i for i, _ in failed] == [1] and isinstance(failed[0][1], train.TrainingError)
    assert any("swarm member 1 failed" in m for m in messages)
    assert "failed" in read_log(results[1][1])[-1]  # the failed member's log says so on its last line
    with pytest.raises(train.TrainingError):  # alone, the same run fails too
        single_runs([cfgs_single[1]], corpus, base_dir)
    models = single_runs([cfgs_single[0], cfgs_single[2]], corpus, base_dir)
    for (i, run_dir, _, info, state), single, c in zip([results[0], results[2]], models,
                                                       [cfgs_single[0], cfgs_single[2]]):
        alone = os.path.join(c["out_dir"], c["run_name"])
        np.testing.assert_allclose(losses(run_dir), losses(alone), rtol=0, atol=1e-4)
        for name, p in single.state_dict().items():
            torch.testing.assert_close(state[name], p, rtol=0, atol=1e-5)


def test_batched_adamw_equals_torch_adamw_per_member():
    torch.manual_seed(0)
    models = [torch.nn.Sequential(torch.nn.Linear(4, 3), torch.nn.LayerNorm(3)) for _ in range(2)]
    params, decays = swarm.stack(models)
    opt = swarm.AdamW(params, decays, (0.9, 0.95), 0.1)
    singles = [torch.optim.AdamW([{"params": [p for p in m.parameters() if p.dim() >= 2], "weight_decay": 0.1},
                                  {"params": [p for p in m.parameters() if p.dim() < 2], "weight_decay": 0.0}],
                                 lr=0.0, betas=(0.9, 0.95)) for m in models]
    for step in range(3):
        lrs = [1e-2 * (step + 1), 3e-3]
        grads = {n: torch.randn_like(p) for n, p in params.items()}
        for n, p in params.items():
            p.grad = grads[n].clone()
        opt.step(lrs)
        for m, (model, single) in enumerate(zip(models, singles)):
            for n, p in model.named_parameters():
                p.grad = grads[n][m].clone()
            for group in single.param_groups:
                group["lr"] = lrs[m]
            single.step()
            for n, p in model.named_parameters():
                torch.testing.assert_close(params[n][m], p.detach(), rtol=0, atol=0)


def test_swarm_mode_batches_on_a_gpu_by_default_and_refuses_unknown_modes():
    assert swarm.batched("auto", "cuda") and not swarm.batched("auto", "cpu")
    assert swarm.batched("on", "cpu") and not swarm.batched("off", "cuda")
    with pytest.raises(swarm.ConfigError, match="--swarm"):
        swarm.batched("always", "cpu")


def test_proxy_runs_as_a_swarm_equal_the_runs_alone_and_write_eval_json(tiny_args, tmp_path):
    cfg, corpus, base_dir = setup(tiny_args)
    pcfg = proxy.proxy_config(suite.SUITES["default"], tiny_args + ["--mix_interval", "5"])
    agent_options = mixer_inputs("agent", corpus, str(tmp_path))  # an untrained agent: deployed on the proxy
    runs = [("static", {}, 5), ("agent", agent_options, 6)]
    batched = [(m, o, s, str(tmp_path / f"swarm-{m}")) for m, o, s in runs]
    proxy.proxy_swarm(pcfg, batched, "on")
    for (m, o, s, run_dir) in batched:
        alone = str(tmp_path / f"alone-{m}")
        assert not os.path.exists(os.path.join(run_dir, "ckpt.pt"))
        np.testing.assert_allclose(proxy.proxy_run(pcfg, m, o, s, run_dir), proxy.proxy_run(pcfg, m, o, s, alone),
                                   rtol=0, atol=1e-4)
        swarm_result, alone_result = load_result(run_dir), load_result(alone)
        assert swarm_result.keys() == alone_result.keys()
        np.testing.assert_allclose(swarm_result["final"]["test_loss"], alone_result["final"]["test_loss"], atol=1e-4)


def test_an_interrupted_swarm_keeps_the_members_it_finished(tiny_args, tmp_path, monkeypatch):
    cfg, corpus, base_dir = setup(tiny_args)
    collect = {**config_for_mixer(cfg, "random"), "mix_interval": 5}
    folder = str(tmp_path / "traj")
    monkeypatch.setitem(swarm.CHUNK, "cpu", 2)  # swarms of two: runs 0 and 1, then run 2
    calls, forward_backward = [], swarm.forward_backward

    def interrupted(*args, **kwargs):
        calls.append(1)
        if len(calls) == cfg["steps"] + 3:  # the second swarm's third step
            raise KeyboardInterrupt
        return forward_backward(*args, **kwargs)
    monkeypatch.setattr(swarm, "forward_backward", interrupted)
    with pytest.raises(KeyboardInterrupt):
        proxy.collect_into(collect, 3, folder, corpus, base_dir, log=lambda *a: None, swarm_mode="on")
    assert TrajectoryBuffer(folder).finished() == [0, 1]
    unfinished = os.path.join(folder, "run-00002")
    assert os.listdir(unfinished) == []  # no log.jsonl, no half-written temp file
    monkeypatch.setattr(swarm, "forward_backward", forward_backward)
    proxy.collect_into(collect, 3, folder, corpus, base_dir, log=lambda *a: None, swarm_mode="on")
    assert TrajectoryBuffer(folder).finished() == [0, 1, 2] and not os.path.exists(unfinished)


def test_bench_swarm_prints_the_path_and_one_line_per_size(tiny_args, capsys):
    bench.main(tiny_args + ["--swarm", "--swarm_sizes", "1,2", "--swarm_steps", "4"])
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "swarm path: batched"
    rows = [line for line in lines if line.startswith("swarm M=")]
    assert [row.split(":")[0] for row in rows] == ["swarm M=1", "swarm M=2"]
    for row in rows:
        ratio, dloss = re.match(r"swarm M=\d+: ([\d.]+)x one-at-a-time, max \|dloss\| = ([\d.e+-]+)", row).groups()
        assert float(ratio) > 0 and float(dloss) <= 1e-4
