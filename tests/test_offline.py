"""The agent's offline evaluation and the agent experiment's bookkeeping: returns-to-go, the critic's rank
correlation on held-out trajectories, the held-out split, and the transfer rows' paired differences."""

import json
import os

import numpy as np
import pytest
import torch

from experiments import agent_experiment
import agent
from trajectories import TrajectoryBuffer, bootstrap_rank_correlation, held_out_split, rank_correlation


def test_rank_correlation_is_spearmans():
    assert rank_correlation([1, 2, 3, 4], [10, 20, 30, 45]) == pytest.approx(1.0)
    assert rank_correlation([1, 2, 3, 4], [4, 3, 2, 1]) == pytest.approx(-1.0)
    assert rank_correlation([1, 2, 2, 3], [1, 2, 3, 4]) == pytest.approx(np.corrcoef([0, 1.5, 1.5, 3], [0, 1, 2, 3])[0, 1])
    assert np.isnan(rank_correlation([1, 1, 1], [1, 2, 3]))


@pytest.mark.slow
def test_bootstrap_interval_of_a_rank_correlation_is_narrow_for_many_points_and_wide_for_few():
    rng = np.random.default_rng(0)
    x = rng.normal(size=400)
    y = x + rng.normal(size=400)
    lo, hi = bootstrap_rank_correlation(x, y)
    assert lo < rank_correlation(x, y) < hi and hi - lo < 0.2 and lo > 0.5
    lo, hi = bootstrap_rank_correlation(x[:8], rng.normal(size=8))  # 8 unrelated points can say little
    assert hi - lo > 0.8 and lo < 0 < hi
    assert bootstrap_rank_correlation(np.arange(12), np.arange(12) ** 2) == pytest.approx([1.0, 1.0])
    assert np.isnan(bootstrap_rank_correlation([1, 2], [3, 4])).all()  # two trajectories cannot say anything


def test_held_out_split_is_seeded_disjoint_and_sized():
    train, held = held_out_split(64, 0.25)
    assert len(held) == 16 and not set(train) & set(held) and sorted(train + held) == list(range(64))
    assert held_out_split(64, 0.25) == (train, held) and held_out_split(64, 0.25, seed=1)[1] != held
    assert held_out_split(10, 0.0)[1] == []


def test_returns_to_go_restart_at_every_trajectory_end():
    data = {"reward": torch.tensor([1.0, 2.0, 3.0, 10.0, 20.0]), "done": torch.tensor([0.0, 0.0, 1.0, 0.0, 1.0])}
    G = agent.returns_to_go(data, gamma=0.5)
    np.testing.assert_allclose(G.numpy(), [1 + 0.5 * 2 + 0.25 * 3, 2 + 0.5 * 3, 3, 10 + 0.5 * 20, 20])


def synthetic_trajectories(folder, count, intervals=4, K=3, seed=0):
    """Trajectories whose interval reward is the target share (the objective falls by it): a critic that
    learns Q from the action can rank them."""
    rng = np.random.default_rng(seed)
    buffer = TrajectoryBuffer(folder)
    fields = ["source", "source", "target"]
    for i in range(count):
        weights = rng.dirichlet(np.ones(K), size=intervals)
        loss = [np.full(K, 4.0)]
        for w in weights:
            loss.append(loss[-1] - np.array([0.0, 0.0, 2.0 * w[2]]))
        buffer.save(i, {"weights": weights, "val_loss": np.array(loss), "answer_logprob": np.full(intervals + 1, np.nan),
                        "tokens_per_domain": [1] * K}, {"domains": ["a", "b", "c"], "fields": fields})


@pytest.mark.slow
def test_the_trained_critic_ranks_held_out_returns_and_the_untrained_one_does_not(tmp_path, monkeypatch):
    folder = str(tmp_path / "traj")
    synthetic_trajectories(folder, 40)
    monkeypatch.setitem(agent.VARIANT_GAMMA, "myopic", 0.0)  # Q = the interval's reward: a critic can learn it here
    options = {"bc_steps": 20, "cql_steps": 300, "width": 16, "heads": 2, "history": 2, "batch_size": 32,
               "cql_alpha": 0.1, "variant": "myopic", "holdout": 0.25}
    agent.train_agent(folder, str(tmp_path / "a.pt"), options, log=lambda *a: None)
    trained = torch.load(tmp_path / "a.pt", weights_only=True)["trained_on"]
    assert trained["trajectories"] == 30 and len(trained["held_out"]) == 10
    offline = trained["offline"]
    assert offline["held_out_transitions"] == 40 and offline["critic_rank_corr"] > 0.6
    assert offline["critic_rank_corr_first_boundary"] > 0.3 and offline["held_out_trajectories"] == 10
    lo, hi = offline["critic_rank_corr_first_boundary_interval"]
    # an interval around the point estimate (its width on few points is tested with bootstrap_rank_correlation)
    assert -1 <= lo <= offline["critic_rank_corr_first_boundary"] <= hi <= 1
    agent.train_agent(folder, str(tmp_path / "b.pt"), {**options, "cql_steps": 0}, log=lambda *a: None)
    untrained = torch.load(tmp_path / "b.pt", weights_only=True)["trained_on"]["offline"]  # the critic is random
    assert abs(untrained["critic_rank_corr"]) < offline["critic_rank_corr"] - 0.3


def write_run(run_dir, balanced, device="cpu"):
    os.makedirs(run_dir)
    with open(os.path.join(run_dir, "eval.json"), "w") as f:
        json.dump({"summary": {"balanced_loss": balanced}, "config": {"device": device}}, f)


def test_transfer_rows_pair_each_seed_against_natural_and_the_untrained_agent(tmp_path):
    values = {"static": [2.0, 2.1, 2.2], "agent": [1.9, 2.05, 2.1], "agent-untrained": [2.5, 2.4, 2.6]}
    run_dirs = {}
    for label, balanced in values.items():
        for seed, b in zip((1, 2, 3), balanced):
            write_run(str(tmp_path / f"{label}-s{seed}"), b)
            run_dirs.setdefault(label, {})[seed] = str(tmp_path / f"{label}-s{seed}")
    rows = {r["mixer"]: r for r in agent_experiment.transfer_rows("b", run_dirs)}
    d = np.array(values["agent"]) - np.array(values["static"])
    assert rows["agent"]["delta_best_static"]["mean"] == pytest.approx(d.mean())
    half = 4.303 * d.std(ddof=1) / np.sqrt(3)  # the t quantile for 2 degrees of freedom
    assert rows["agent"]["delta_best_static"]["hi"] == pytest.approx(d.mean() + half, rel=1e-3)
    assert rows["agent"]["delta_untrained"]["mean"] == pytest.approx(np.mean(np.array(values["agent"]) -
                                                                             np.array(values["agent-untrained"])))
    assert rows["static"]["delta_best_static"]["mean"] == 0 and rows["agent"]["seeds"] == 3
    assert {r["setting"] for r in rows.values()} == {"b"} and rows["agent"]["device"] == "cpu"


def test_a_transfer_setting_derives_its_corpus_and_runs_natural_the_agent_and_the_control(tiny_args, tmp_path,
                                                                                          monkeypatch):
    monkeypatch.setitem(agent_experiment.SETTINGS, "c", {"what": "merged", "corpus": "tiny-merged",
                                                         "derive": ["--merge", "both=prose,code"]})
    monkeypatch.setitem(agent_experiment.SPEC, "seeds", 2)
    agents = {}
    for label in ("agent", "agent-untrained"):
        agents[label] = str(tmp_path / f"{label}.pt")
        agent.untrained_agent(agents[label], {"seed": len(agents), "history": 2, "width": 16, "heads": 2},
                              log=lambda *a: None)
    out = str(tmp_path / "transfer")
    run_dirs = agent_experiment.transfer_runs("c", agents, tiny_args + ["--mix_interval", "5"], out, print)
    assert sorted(run_dirs) == ["agent", "agent-untrained", "static"] and all(len(d) == 2 for d in run_dirs.values())
    data_dir = tiny_args[tiny_args.index("--data_dir") + 1]
    with open(os.path.join(data_dir, "tiny-merged", "meta.json")) as f:
        assert "both" in [d["name"] for d in json.load(f)["domains"]]
    with open(os.path.join(run_dirs["agent"][1337], "eval.json")) as f:
        result = json.load(f)
    assert result["config"]["agent_path"] == os.path.abspath(agents["agent"]) and result["config"]["corpus"] == "tiny-merged"
    finished = os.path.getmtime(os.path.join(run_dirs["static"][1337], "eval.json"))
    agent_experiment.transfer_runs("c", agents, tiny_args + ["--mix_interval", "5"], out, print)  # all reused
    assert os.path.getmtime(os.path.join(run_dirs["static"][1337], "eval.json")) == finished
    assert len(agent_experiment.transfer_rows("c", run_dirs)) == 3
    agent_experiment.plot_agent_weights({"c": run_dirs}, str(tmp_path / "weights.png"))
    with open(tmp_path / "weights.png", "rb") as f:
        assert f.read(8) == b"\x89PNG\r\n\x1a\n"


def test_the_published_critic_fields_say_whether_the_first_boundary_interval_excludes_zero():
    rows = {"agent": {"critic_rank_corr_first_boundary": 0.84, "critic_rank_corr_first_boundary_interval": [0.5, 0.97],
                      "critic_rank_corr_first_boundary_final": 0.3,
                      "critic_rank_corr_first_boundary_final_interval": [-0.2, 0.7],
                      "held_out_trajectories": 16, "gamma": 0.9},
            "static": {"replay_val_objective": 3.1}}
    published = agent_experiment.critic_first_boundary(rows)
    assert list(published) == ["agent"] and published["agent"]["held_out_trajectories"] == 16
    assert published["agent"]["critic_rank_corr_first_boundary"] == {"value": 0.84, "interval95": [0.5, 0.97],
                                                                      "informative": True}
    assert published["agent"]["critic_rank_corr_first_boundary_final"]["informative"] is False
