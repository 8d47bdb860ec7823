"""AC-ODM: the DDPG pieces on a toy problem with a known best action, the gradient-alignment reward,
exact per-domain gradients from one backward, state features, transfer and frozen mode."""

import json
import os

import numpy as np
import pytest
import torch
import torch.nn.functional as F

import acodm
import train
from conftest import FakeCorpus
from data import DataError
from model import GPT, GPTConfig, CheckpointError


def tiny_gpt(n_layer=2, n_embd=32):
    torch.manual_seed(0)
    return GPT(GPTConfig(vocab_size=50, block_size=8, n_layer=n_layer, n_head=2, n_embd=n_embd))


def test_ddpg_learns_to_put_the_weight_where_the_reward_is():
    """One-step episodes, reward = the weight on domain 2: the best action puts all weight there."""
    torch.manual_seed(0)
    ddpg = acodm.DDPG(state_size=4, num_domains=3, hidden=32, actor_lr=1e-3, critic_lr=1e-2, seed=0)
    buffer = acodm.ReplayBuffer(1000, 4, 3, seed=0)
    state = torch.tensor([0.5, -1.0, 0.2, 1.0])
    before = F.softmax(ddpg.actor(state), dim=-1)[2].item()
    for _ in range(400):
        with torch.no_grad():
            action = F.softmax(ddpg.actor(state) + 1.0 * torch.randn(3), dim=-1)
        buffer.add(state, action, action[2].item(), state, True)
        if buffer.size >= 32:
            ddpg.update(buffer.sample(32))
    after = F.softmax(ddpg.actor(state), dim=-1)[2].item()
    assert before < 0.5 and after > 0.8


def test_gradient_alignment_on_hand_made_gradients():
    g = torch.tensor([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])
    # total = (2, 2); W_0 = <(1,0), (1,2)> = 1; W_1 = <(0,1), (2,1)> = 1; W_2 = <(1,1), (1,1)> = 2
    assert acodm.gradient_alignment(g).tolist() == [1.0, 1.0, 2.0]
    opposed = torch.tensor([[1.0, 0.0], [-1.0, 0.0]])
    assert acodm.gradient_alignment(opposed).tolist() == [-1.0, -1.0]


def test_domain_gradients_from_one_backward_equal_autograd_per_domain():
    model = tiny_gpt()
    layer = model.transformer.h[-1].mlp.c_proj
    probe = acodm.DomainGradients([layer])
    x, y = torch.randint(0, 50, (6, 8)), torch.randint(0, 50, (6, 8))
    row_domain = torch.tensor([0, 0, 0, 1, 2, 2])
    _, row_loss = model(x, y, per_row=True)
    expected = [torch.autograd.grad(row_loss[row_domain == d].mean(), layer.weight, retain_graph=True)[0].flatten()
                for d in range(3)]
    probe.captured = []  # the hooks above ran no backward through the output; start clean
    _, row_loss = model(x, y, per_row=True)
    row_loss.mean().backward()
    got = probe.compute(row_domain, 3)
    for d in range(3):
        torch.testing.assert_close(got[d], expected[d], rtol=1e-4, atol=1e-7)


def acodm_mixer(K=3, **config):
    return acodm.ACODMMixer(FakeCorpus(K), {"steps": 50, "warmup_share": 0.1, "acodm_batch": 4, "seed": 0,
                                            **config})


def drive(mixer, model, steps):
    """Run the mixer against a real model's steps: forward, backward, observe."""
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    for step in range(steps):
        w = mixer.weights()
        assert np.all(np.isfinite(w)) and abs(w.sum() - 1) < 1e-9
        x, y = torch.randint(0, 50, (6, 8)), torch.randint(0, 50, (6, 8))
        row_domain = torch.tensor([0, 0, 1, 1, 2, 2])
        _, row_loss = model(x, y, per_row=True)
        row_loss.mean().backward()
        optimizer.step()
        optimizer.zero_grad()
        losses = [row_loss[row_domain == d].mean().item() for d in range(3)]
        mixer.observe_step(step, {"train_loss": losses, "rows": [2, 2, 2], "row_domain": row_domain})


def test_state_size_does_not_depend_on_the_number_of_layers():
    sizes = []
    for n_layer in (2, 6):
        mixer, model = acodm_mixer(), tiny_gpt(n_layer)
        mixer.attach_model(model)
        drive(mixer, model, 2)
        sizes.append(mixer.current_state().shape)
    assert sizes[0] == sizes[1] == (4 * 3 + 2 * 3 + 1,)
    assert acodm.depth_layers(4, 3) == [0, 2, 3] and acodm.depth_layers(12, 3) == [0, 6, 11]


def test_learning_mode_steps_the_actor_and_frozen_mode_steps_nothing(tmp_path):
    model = tiny_gpt()
    learner = acodm_mixer()
    learner.attach_model(model)
    actor_before = [p.clone() for p in learner.ddpg.actor.parameters()]
    drive(learner, model, 20)
    assert learner.buffer.size == 20 and "critic_loss" in learner.last
    assert any(not torch.equal(a, b) for a, b in zip(actor_before, learner.ddpg.actor.parameters()))

    path = str(tmp_path / "policy.pt")
    learner.save_policy(path)
    frozen = acodm_mixer(acodm_load=path, acodm_frozen=True)
    model = tiny_gpt()
    frozen.attach_model(model)
    frozen_before = [p.clone() for p in frozen.ddpg.actor.parameters()]
    drive(frozen, model, 20)
    assert frozen.buffer.size == 0 and "reward" not in frozen.last
    assert np.any(frozen.alignment != 0)  # the state it sees is computed as on the proxy
    assert not frozen.ddpg.actor_optimizer.state and not frozen.ddpg.critic_optimizer.state
    assert all(torch.equal(a, b) for a, b in zip(frozen_before, frozen.ddpg.actor.parameters()))


def test_the_reward_depends_on_the_action_and_on_what_the_state_shows():
    mixer, model = acodm_mixer(), tiny_gpt()
    mixer.attach_model(model)
    drive(mixer, model, 6)
    e = mixer.normalized_alignment()
    np.testing.assert_allclose(mixer.current_state()[9:12].numpy(), e, rtol=1e-5)  # e~ is features 3K..4K
    assert np.abs(e).mean() == pytest.approx(1.0) and len(set(np.round(e, 6))) == 3
    toward, away = np.eye(3)[np.argmax(e)] * 0.8 + 0.1, np.eye(3)[np.argmin(e)] * 0.8 + 0.1
    assert mixer.reward(toward) == pytest.approx(toward @ e) and mixer.reward(toward) > mixer.reward(away)


def test_a_domain_without_rows_keeps_its_alignment():
    mixer, model = acodm_mixer(), tiny_gpt()
    mixer.attach_model(model)
    drive(mixer, model, 4)
    before = mixer.alignment.copy()
    mixer.weights()
    x, y = torch.randint(0, 50, (4, 8)), torch.randint(0, 50, (4, 8))
    row_domain = torch.tensor([0, 0, 1, 1])  # domain 2 absent from this batch
    _, row_loss = model(x, y, per_row=True)
    row_loss.mean().backward()
    mixer.observe_step(4, {"train_loss": [1.0, 1.0, float("nan")], "rows": [2, 2, 0], "row_domain": row_domain})
    assert mixer.alignment[2] == before[2] and not np.allclose(mixer.alignment[:2], before[:2])


def test_saved_policy_gives_identical_actions_and_wrong_shapes_are_refused(tmp_path):
    learner, model = acodm_mixer(), tiny_gpt()
    learner.attach_model(model)
    drive(learner, model, 12)
    path = str(tmp_path / "policy.pt")
    learner.save_policy(path)
    loaded = acodm_mixer(acodm_load=path, acodm_frozen=True)
    state = torch.randn(learner.state_size)
    torch.testing.assert_close(loaded.ddpg.actor(state), learner.ddpg.actor(state), rtol=0, atol=0)
    with pytest.raises(DataError, match="trained for 3 domains"):
        acodm_mixer(K=4, acodm_load=path, acodm_frozen=True)
    with pytest.raises(CheckpointError, match="does not exist"):
        acodm_mixer(acodm_load=str(tmp_path / "none.pt"))
    torch.save({"kind": "something-else"}, str(tmp_path / "other.pt"))
    with pytest.raises(CheckpointError, match="not an AC-ODM policy"):
        acodm_mixer(acodm_load=str(tmp_path / "other.pt"))


def test_cli_proxy_run_then_frozen_transfer_to_a_larger_model_and_untrained_control(tiny_args, tmp_path):
    policy = str(tmp_path / "actor.pt")
    # a replay batch of 4 and a fast actor, so the 10-step proxy run's actor really learns something
    train.main(tiny_args + ["--mixer", "acodm", "--acodm_save", policy, "--run_name", "proxy", "--acodm_batch", "4",
                            "--acodm_actor_lr", "0.01"])
    saved = torch.load(policy, weights_only=True)
    larger = tiny_args + ["--n_embd", "64", "--n_head", "4"]  # 4x the proxy's non-embedding parameters
    runs = {}
    runs["transfer"] = train.main(larger + ["--mixer", "acodm", "--acodm_load", policy, "--acodm_frozen",
                                            "--run_name", "transfer"])
    runs["untrained"] = train.main(larger + ["--mixer", "acodm", "--acodm_untrained", "--run_name", "untrained"])
    transferred = runs["transfer"]["mixer"]
    # the larger model's run is driven by the proxy's actor, which it never changes
    for name, tensor in transferred.ddpg.actor.state_dict().items():
        assert torch.equal(tensor, saved["actor"][name]), name
    assert transferred.buffer.size == 0 and not transferred.ddpg.actor_optimizer.state
    last = {name: [json.loads(line) for line in open(os.path.join(run["run_dir"], "log.jsonl"))][-1]["weights"]
            for name, run in runs.items()}
    with torch.no_grad():  # the last step's weights are the actor's softmax on that step's state of the larger model
        expected = F.softmax(transferred.ddpg.actor(transferred.state).double(), dim=-1)
    np.testing.assert_allclose(last["transfer"], expected.numpy(), atol=1e-6)
    untrained_actor = runs["untrained"]["mixer"].ddpg.actor.state_dict()
    assert any(not torch.equal(untrained_actor[name], saved["actor"][name]) for name in untrained_actor)
    assert not np.allclose(last["transfer"], last["untrained"], atol=1e-4)  # another actor, other weights


def test_a_learning_warm_up_fills_a_replay_batch_with_noisy_actions_and_a_frozen_one_does_not_wait():
    assert acodm_mixer(steps=800, warmup_share=0.02, acodm_batch=32).warmup_steps == 32  # 2% would be 16
    assert acodm_mixer(steps=800, warmup_share=0.02, acodm_batch=32, acodm_untrained=True).warmup_steps == 16
    assert acodm_mixer(steps=5000, warmup_share=0.02, acodm_batch=32).warmup_steps == 100
