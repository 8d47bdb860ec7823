"""The GPT: per-row losses, initialisation, generation, checkpoint safety."""

import os

import pytest
import torch

from common import CheckpointError, save_atomic
from model import GPT, GPTConfig, load_checkpoint


def tiny_model(**overrides):
    torch.manual_seed(0)
    return GPT(GPTConfig(**{"vocab_size": 100, "block_size": 16, "n_layer": 2, "n_head": 2, "n_embd": 32, **overrides}))


def test_per_row_losses_average_to_the_batch_loss():
    model = tiny_model()
    x, y = torch.randint(0, 100, (6, 16)), torch.randint(0, 100, (6, 16))
    _, batch_loss = model(x, y)
    _, row_loss = model(x, y, per_row=True)
    assert row_loss.shape == (6,)
    torch.testing.assert_close(row_loss.mean(), batch_loss)
    # each row's loss is that row alone through the model (rows do not interact)
    _, first_alone = model(x[:1], y[:1], per_row=True)
    torch.testing.assert_close(first_alone[0], row_loss[0])


def test_gpt2_initialisation_and_padded_tied_vocab():
    model = tiny_model()
    assert model.lm_head.weight.shape[0] == 128  # 100 padded to a multiple of 64
    assert model.transformer.wte.weight is model.lm_head.weight
    assert model.transformer.wte.weight.std().item() == pytest.approx(0.02, rel=0.1)
    initial_loss = model(torch.randint(0, 100, (4, 16)), torch.randint(0, 100, (4, 16)))[1].item()
    assert initial_loss == pytest.approx(torch.log(torch.tensor(128.0)).item(), abs=0.3)


def test_greedy_generation_stops_on_stop_token():
    model = tiny_model()
    prompt = torch.randint(0, 100, (3, 5))
    out = model.generate_greedy(prompt, max_new_tokens=4)
    assert out.shape == (3, 4) and int(out.max()) < 100  # never a padding id
    first = model.generate_greedy(prompt, max_new_tokens=4, stop_tokens=out[:, 0].tolist())
    assert first.shape == (3, 1)


def test_checkpoint_round_trip_and_corrupt_file_is_named(tmp_path):
    path = str(tmp_path / "ckpt.pt")
    model = tiny_model()
    save_atomic({"model": model.state_dict(), "model_config": {"n_layer": 2}}, path)
    assert set(load_checkpoint(path)["model"]) == set(model.state_dict())
    with open(path, "r+b") as f:
        f.truncate(os.path.getsize(path) // 2)
    with pytest.raises(CheckpointError, match="corrupt, truncated"):
        load_checkpoint(path)
    with pytest.raises(CheckpointError, match="does not exist"):
        load_checkpoint(str(tmp_path / "missing.pt"))
