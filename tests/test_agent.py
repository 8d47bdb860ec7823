"""The Data Mixing Agent: permutation invariance and any domain count, behaviour cloning, CQL on a toy
offline dataset with a known best action, and the CLI pipeline collect -> train -> deploy."""

import json
import os

import numpy as np
import pytest
import torch

from experiments import agent_experiment, suite
import agent
import trajectories
import train
from common import DataError


def random_state(B, H, K, seed):
    g = torch.Generator().manual_seed(seed)
    window = torch.randn(B, H, K, len(agent.FEATURES), generator=g)
    pad = torch.zeros(B, H, dtype=torch.bool)
    pad[:, 0] = True  # one missing boundary: the padding path is exercised too
    return window, pad


@pytest.mark.parametrize("K", [2, 5, 9])
def test_policy_is_a_distribution_for_any_domain_count_and_permutation_equivariant(K):
    torch.manual_seed(0)
    policy, critic = agent.MixingPolicy(history=3), agent.MixingCritic(history=3)
    window, pad = random_state(4, 3, K, seed=K)
    w = policy(window, pad)
    assert w.shape == (4, K) and torch.all(w > 0) and torch.allclose(w.sum(-1), torch.ones(4))
    perm = torch.randperm(K, generator=torch.Generator().manual_seed(1))
    assert torch.allclose(policy(window[:, :, perm], pad), w[:, perm], atol=1e-5)
    actions = torch.distributions.Dirichlet(torch.ones(K)).sample((4, 6))
    q = critic(window, pad, actions)
    assert q.shape == (4, 6)
    assert torch.allclose(critic(window[:, :, perm], pad, actions[..., perm]), q, atol=1e-5)


def toy_dataset(N, K, seed, best=2):
    """One-interval episodes from random states; the behaviour actions are Dirichlet(1) draws (mean 1/K
    on every domain) and reward = the action's weight on domain `best`."""
    window, pad = random_state(N, 2, K, seed)
    window[..., 0] = 0.0
    window[:, :, best, 0] = 1.0  # the agent tells domains apart only by their features: mark `best` a target
    action = torch.distributions.Dirichlet(torch.ones(K)).sample((N,))
    return {"window": window, "pad": pad, "action": action, "reward": action[:, best],
            "next_window": window, "next_pad": pad, "done": torch.ones(N), "cloned": torch.ones(N)}


def test_behaviour_cloning_reduces_the_imitation_loss():
    torch.manual_seed(0)
    K = 4
    data = toy_dataset(256, K, seed=0, best=0)
    target = torch.tensor([0.7, 0.1, 0.1, 0.1])
    data["action"] = target.expand(256, K).clone()  # every good trajectory did the same thing
    policy = agent.MixingPolicy(history=2)
    losses = agent.behaviour_cloning(policy, data, steps=150, batch_size=32, lr=3e-3,
                                     generator=torch.Generator().manual_seed(0), log=lambda *a: None)
    assert losses[-1] < losses[0] - 0.1
    w = policy(data["window"][:8], data["pad"][:8]).mean(0)
    assert abs(w[0].item() - 0.7) < 0.1


@pytest.mark.slow
def test_cql_prefers_the_best_action_over_the_behaviour_average():
    """Averaged over three seeds: one seed's outcome moves with the thread count (float summation order)."""
    K, weights = 3, []
    for seed in range(3):
        torch.manual_seed(seed)
        data = toy_dataset(512, K, seed=1)
        data["cloned"] = torch.zeros(512)  # no cloning term: what moves the actor is Q alone
        policy, critic = agent.MixingPolicy(history=2), agent.MixingCritic(history=2)
        agent.conservative_q_learning(policy, critic, data, steps=400, batch_size=64, lr=1e-3, gamma=0.9, tau=0.05,
                                      alpha=1.0, bc_weight=0.0, num_samples=8,
                                      generator=torch.Generator().manual_seed(seed), log=lambda *a: None)
        weights.append(policy(data["window"], data["pad"]).mean(0).detach())
        assert data["action"][:, 2].mean().item() < 0.4  # the behaviour policy's average: about 1/3
    w = torch.stack(weights).mean(0)
    # conservative, so not all the way to the vertex, but past the behaviour average and the others
    assert w[2].item() > 0.4 and w[2].item() > 1.5 * max(w[0].item(), w[1].item()), w


def test_boundary_tokens_and_history_window():
    val_loss = [[4.0, 3.0, 8.0], [4.2, 3.1, 4.0]]
    tokens = agent.boundary_tokens(val_loss, [-10.0, -5.0], [[0.2, 0.2, 0.6]], ["source", "source", "target"], 4)
    assert tokens.shape == (2, 3, len(agent.FEATURES))
    assert np.allclose(tokens[0, :, 1], 1.0) and np.allclose(tokens[1, :, 1], [0.6, 0.6, 1.8])  # K * w
    assert np.allclose(tokens[1, :, 2], [1.05, 3.1 / 3.0, 0.5])
    assert np.allclose(tokens[1, :, 5], (0.5 + 0.5) / 2)  # target score: (4/8 + 5/10) / 2
    assert np.allclose(tokens[1, :, 6], 0.25)
    window, pad = agent.history_window(tokens, 1, history=3)
    assert pad.tolist() == [True, False, False] and np.array_equal(window[1:], tokens)


def test_cli_collect_three_trajectories_train_and_deploy(tiny_args, tmp_path, capsys):
    traj = str(tmp_path / "traj")
    collect = ["--collect", "3", "--trajectories", traj, "--"] + tiny_args + ["--steps", "10", "--mix_interval", "5",
                                                                           "--feedback_problems", "8"]
    suite.main(collect)
    arrays, meta = trajectories.TrajectoryBuffer(traj).load(2)
    assert arrays["weights"].shape == (2, 3) and arrays["val_loss"].shape == (3, 3)
    assert np.all(np.isfinite(arrays["answer_logprob"])) and meta["schedule"] == "constant"
    assert not [n for n in os.listdir(traj) if not n.endswith(".npz") and n != "collection.json"]  # run folders go
    capsys.readouterr()
    suite.main(collect)  # nothing missing: nothing rerun
    assert "3 of 3 trajectories already" in capsys.readouterr().out

    agent_path = str(tmp_path / "agent.pt")
    agent.main(["--trajectories", traj, "--out", agent_path, "--bc_steps", "20", "--cql_steps", "20"])
    saved = torch.load(agent_path, weights_only=True)
    assert saved["trained_on"]["trajectories"] == 2 and len(saved["losses"]["td"]) == 20  # one of 3 held out
    assert len(saved["trained_on"]["held_out"]) == 1 and saved["trained_on"]["offline"]["held_out_transitions"] == 2

    run = train.main(tiny_args + ["--mixer", "agent", "--agent_path", agent_path, "--mix_interval", "5",
                                  "--run_name", "deployed"])
    log = [json.loads(line) for line in open(os.path.join(run["run_dir"], "log.jsonl"))]
    assert [r["step"] for r in log if "feedback_logprob" in r] == [0, 5, 10]
    assert len(run["mixer"].actions) == 3
    assert log[6]["weights"] == pytest.approx(run["mixer"].actions[1], abs=1e-6)  # step 6 runs action 1


def test_trajectory_score_is_the_objectives_gain_whatever_the_path():
    meta = {"fields": ["source", "target"]}
    nan = [float("nan")] * 3
    straight = {"val_loss": [[4.0, 8.0], [4.1, 6.0], [4.2, 4.0]], "answer_logprob": nan}
    zigzag = {"val_loss": [[4.0, 8.0], [4.4, 4.0], [4.2, 4.0]], "answer_logprob": nan}
    a, b = trajectories.trajectory_score(straight, meta), trajectories.trajectory_score(zigzag, meta)
    assert a == pytest.approx(b) == pytest.approx((4.0 + 8.0) / 2 - (4.2 + 4.0) / 2)  # J_0 - J_T = 1.9
    assert trajectories.interval_rewards(zigzag, meta["fields"]).sum() == pytest.approx(a)  # the rewards telescope


def test_trajectory_buffer_round_trip_resume_and_atomic_write(tmp_path, monkeypatch):
    buffer = trajectories.TrajectoryBuffer(str(tmp_path / "trajectories"))
    actions = np.random.default_rng(0).dirichlet(np.ones(3), size=4)
    meta = {"domains": ["a", "b", "c"], "fields": ["source", "source", "target"], "seed": 7, "config": {"n": 25}}
    buffer.save(0, {"actions": actions, "source_score": [3.0, 2.9, 2.95, 2.8, 2.7]}, meta)
    arrays, loaded_meta = buffer.load(0)
    assert loaded_meta == meta and np.array_equal(arrays["actions"], actions)
    assert buffer.missing(3) == [1, 2]

    def crash(*args, **kwargs):
        raise KeyboardInterrupt  # dies while writing trajectory 1

    monkeypatch.setattr(np, "savez", crash)
    with pytest.raises(KeyboardInterrupt):
        buffer.save(1, {"actions": actions}, meta)
    monkeypatch.undo()
    assert buffer.finished() == [0] and buffer.missing(3) == [1, 2]  # no half-written trajectory counts
    reopened = trajectories.TrajectoryBuffer(buffer.folder)  # a restarted collection clears the temp file
    assert sorted(os.listdir(reopened.folder)) == ["traj_00000.npz"]

    np.savez(buffer.path(2), actions=np.array([{"evil": 1}], dtype=object))  # needs pickle to load
    with pytest.raises(DataError, match="damaged or not a trajectory file"):
        buffer.load(2)


def test_interval_rewards_recomputed_from_raw_feedback():
    fields = ["source", "target"]
    # S: 4.0 -> 3.6 -> 3.6, T: 2.0 -> 1.8 -> 1.0; J = (S + T) / 2: 3.0 -> 2.7 -> 2.3
    arrays = {"val_loss": [[4.0, 2.0], [3.6, 1.8], [3.6, 1.0]], "answer_logprob": [float("nan")] * 3}
    np.testing.assert_allclose(trajectories.interval_rewards(arrays, fields), [0.3, 0.4])
    # the named earlier variant: dS = (0.1, 0.0), dT = (0.1, 0.4) normalised by the start values
    np.testing.assert_allclose(trajectories.interval_rewards(arrays, fields, "normalized", lam=0.5), [0.1, 0.2 - 0.5 * 0.4])
    np.testing.assert_allclose(trajectories.interval_rewards(arrays, fields, "normalized", lam=0.0), [0.1, 0.2])


def planted_folder(folder, count=6, intervals=3):
    """Trajectories from one start whose interval reward is known: J falls by 0.1 + 0.2 * target share."""
    rng = np.random.default_rng(0)
    buffer = trajectories.TrajectoryBuffer(folder)
    for i in range(count):
        weights = rng.dirichlet(np.ones(3), size=intervals)
        loss = [np.array([4.0, 4.0, 6.0])]
        for w in weights:
            loss.append(loss[-1] - 2 * (0.1 + 0.2 * w[2]))
        buffer.save(i, {"weights": weights, "val_loss": np.array(loss), "tokens_per_domain": [1, 1, 1],
                        "answer_logprob": [float("nan")] * (intervals + 1)},
                    {"domains": ["a", "b", "c"], "fields": ["source", "source", "target"]})


def test_the_default_return_is_discounted_and_the_undiscounted_one_sums_to_the_final_objective(tmp_path, monkeypatch):
    folder = str(tmp_path / "traj")
    planted_folder(folder)
    seen = {}

    def no_cql(policy, critic, data, steps, batch_size, lr, gamma, *args):
        seen["gamma"] = gamma
        return {}
    monkeypatch.setattr(agent, "conservative_q_learning", no_cql)
    small = {"bc_steps": 1, "width": 8, "heads": 2, "history": 2, "holdout": 0.0}
    agent.train_agent(folder, str(tmp_path / "paper.pt"), small, log=lambda *a: None)
    saved = torch.load(tmp_path / "paper.pt", weights_only=True)
    assert seen["gamma"] == saved["options"]["gamma"] == 0.9 and saved["options"]["variant"] == "paper"
    agent.train_agent(folder, str(tmp_path / "u.pt"), {**small, "variant": "undiscounted"}, log=lambda *a: None)
    assert seen["gamma"] == torch.load(tmp_path / "u.pt", weights_only=True)["options"]["gamma"] == 1.0
    with pytest.raises(DataError, match="contradicts --variant paper"):
        agent.train_agent(folder, str(tmp_path / "x.pt"), {**small, "gamma": 1.0}, log=lambda *a: None)
    with pytest.raises(DataError, match="--variant greedy is unknown"):
        agent.agent_options({"variant": "greedy"})

    # the first boundary's return: undiscounted, the normalised rewards add back up to J_0 - J_T; discounted, not
    runs = trajectories.load_trajectories(folder)
    data, norm, scores = agent.transitions(runs, 2, "balanced", 0.25, 0.25)
    first = torch.cat([torch.ones(1), data["done"][:-1]]).bool()
    for gamma, sums_up in ((1.0, True), (0.9, False)):
        G = agent.returns_to_go(data, gamma)[first].numpy() * norm["scale"] + np.sum(norm["baseline"])
        assert np.allclose(G, scores, atol=1e-5) == sums_up


def test_the_deployed_mixer_reports_its_variant(tiny_args, tmp_path):
    path = str(tmp_path / "u.pt")
    agent.untrained_agent(path, {"variant": "undiscounted", "history": 2, "width": 8, "heads": 2}, log=lambda *a: None)
    run = train.main(tiny_args + ["--mixer", "agent", "--agent_path", path, "--mix_interval", "5", "--run_name", "u"])
    log = [json.loads(line) for line in open(os.path.join(run["run_dir"], "log.jsonl"))]
    assert log[-1]["mixer_state"]["variant"] == "undiscounted"


def test_the_learning_curve_trains_on_nested_subsets_and_ranks_the_same_held_out_trajectories(tmp_path):
    folder = str(tmp_path / "traj")
    planted_folder(folder, count=12)
    small = {"bc_steps": 2, "cql_steps": 2, "width": 8, "heads": 2, "history": 2, "holdout": 0.25}
    curve = agent_experiment.learning_curve(folder, small, str(tmp_path / "curve"), log=lambda *a: None, start=2)
    assert [p["trajectories"] for p in curve["points"]] == [2, 4, 8] and curve["training_trajectories_available"] == 9
    agents = [agent.load_agent(str(tmp_path / "curve" / f"agent-{n}.pt"))[1]["trained_on"] for n in (2, 4, 8)]
    assert [a["trajectories"] for a in agents] == [2, 4, 8]
    assert agents[0]["held_out"] == agents[2]["held_out"] and len(agents[0]["held_out"]) == 3
    assert all(p["held_out_trajectories"] == 3 for p in curve["points"])
    with pytest.raises(DataError, match="--train_trajectories 10: .* holds 9 training trajectories"):
        agent.train_agent(folder, str(tmp_path / "x.pt"), {**small, "train_trajectories": 10}, log=lambda *a: None)
