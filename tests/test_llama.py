"""Llama-family checkpoints (LlamaForCausalLM, Qwen2ForCausalLM) and their tokenizer.json: tiny random ones
written here with transformers and tokenizers (test-only dependencies), which are the references our logits and
token ids must equal; then CPT from one through the command line, and the refusals a user meets first."""

import json
import os
import shutil
import unicodedata
from dataclasses import replace

import pytest
import torch

import prepare
import tokenizer
import train
from common import CheckpointError
from conftest import TINY_MODEL, WORDS, write_tiny_sources
from model import GPTConfig, load_pretrained, rotary_frequencies
from tiny_inputs import EOS, write_tiny_llama, write_tokenizer

SAMPLE = ("It's 2024: 3.14159 and 1,000,000 tokens; x1y22z333!\n\n\tTabs  and   spaces \u00e9 vs e\u0301 — "
          "東京タワー 🙂 THE'LL  \r\n  end 42 ²³ ٣٤\n")


# wavelengths below 32 / 4 stay, above 32 / 0.5 are divided by 8, between are blended: the tiny models' head size 8
# with theta 5000 has one frequency below, one between, two above
LLAMA3_SCALING = {"rope_type": "llama3", "factor": 8.0, "low_freq_factor": 0.5, "high_freq_factor": 4.0,
                  "original_max_position_embeddings": 32}
CASES = {"llama_gqa_untied": dict(kind="llama"),
         "llama3_rope_scaling_tied": dict(rope_scaling=LLAMA3_SCALING, tied=True),
         "qwen2_biases_tied_sharded": dict(kind="qwen2", tied=True, shard=True)}


@pytest.mark.parametrize("case", CASES)
def test_our_gpt_computes_the_same_logits_as_transformers_on_llama_and_qwen2(tmp_path, case):
    reference = write_tiny_llama(str(tmp_path / case), **CASES[case])
    if "shard" in CASES[case]:
        assert os.path.exists(tmp_path / case / "model.safetensors.index.json")
        assert not os.path.exists(tmp_path / case / "model.safetensors")
        shard = min(name for name in os.listdir(tmp_path / case) if name.startswith("model-0000"))
        os.rename(tmp_path / case / shard, tmp_path / shard)
        with pytest.raises(CheckpointError, match=f"lacks {shard}, which its model.safetensors.index.json lists"):
            load_pretrained(str(tmp_path / case), block_size=64)
        os.rename(tmp_path / shard, tmp_path / case / shard)
    ours = load_pretrained(str(tmp_path / case), block_size=64).eval()
    vocab = reference.config.vocab_size
    assert ours.config.vocab_size == vocab and ours.config.tied == CASES[case].get("tied", False)
    x = torch.randint(0, vocab, (3, 64), generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        expected = reference(x).logits
        logits, _ = ours(x, torch.zeros_like(x))
    torch.testing.assert_close(logits[..., :vocab], expected, rtol=1e-5, atol=1e-5)
    assert torch.all(logits[..., vocab:] == float("-inf"))
    generated = ours.generate_greedy(x[:1, :8], max_new_tokens=3)
    assert generated.tolist() == reference.generate(x[:1, :8], max_new_tokens=3, do_sample=False)[:, 8:].tolist()


def test_llama3_rope_scaling_keeps_short_wavelengths_divides_long_ones_and_blends_between():
    plain = GPTConfig(n_embd=32, n_head=2, arch="llama", rope_theta=10000.0)  # head size 16: wavelengths 6.3 .. 4e4
    scaled = replace(plain, rope_scaling={k: v for k, v in LLAMA3_SCALING.items() if k != "rope_type"})
    w, w_scaled = rotary_frequencies(plain), rotary_frequencies(scaled)
    wavelength = 2 * torch.pi / w
    short, long = wavelength < 32 / 4, wavelength > 32 / 0.5
    assert short.any() and long.any() and (~short & ~long).any()  # all three bands occur
    torch.testing.assert_close(w_scaled[short], w[short])
    torch.testing.assert_close(w_scaled[long], w[long] / 8)
    between = ~short & ~long
    assert torch.all(w_scaled[between] < w[between]) and torch.all(w_scaled[between] > w[between] / 8)


@pytest.mark.parametrize("style", ["llama3", "qwen2", "smollm2"])
def test_tokenizer_json_encodes_like_the_tokenizers_library(tmp_path, style):
    reference, eos = write_tokenizer(str(tmp_path), style)
    with open(tmp_path / "config.json", "w") as f:
        json.dump({"eos_token_id": eos}, f)
    ours = tokenizer.tokenizer_from_files(str(tmp_path))
    texts = [SAMPLE, SAMPLE * 3 + " ".join(WORDS), "a  1\n\n 22  333 \t4", " leading and trailing  "]
    for text in texts:
        ids = ours.encode(text)
        assert ids == reference.encode(text, add_special_tokens=False).ids
        assert ours.decode(ids) == (unicodedata.normalize("NFC", text) if style == "qwen2" else text)
    assert ours.encode_batch(texts) == [ours.encode(t) for t in texts]
    assert ours.eot == eos and ours.vocab_size == reference.get_vocab_size()
    if style == "smollm2":
        assert ours.eot == 0 and ours.encode("a 12") == [reference.token_to_id(t) for t in ("a", "Ġ", "1", "2")]
    ours.save(str(tmp_path / "saved.json"))  # as prepare.py writes it into a corpus
    saved = tokenizer.Tokenizer.load(str(tmp_path / "saved.json"))
    assert saved.fingerprint == ours.fingerprint and saved.encode(SAMPLE) == ours.encode(SAMPLE)


def test_tokenizer_identity_is_the_files_content_not_the_folder_name(tmp_path):
    write_tokenizer(str(tmp_path / "a"), "llama3")
    with open(tmp_path / "a" / "tokenizer_config.json", "w") as f:  # no config.json: the eos is named here
        json.dump({"eos_token": {"content": EOS["llama3"]}}, f)
    a = tokenizer.tokenizer_from_files(str(tmp_path / "a"))
    shutil.copytree(tmp_path / "a", tmp_path / "copy of a")
    assert tokenizer.tokenizer_from_files(str(tmp_path / "copy of a")).fingerprint == a.fingerprint
    _, eos = write_tokenizer(str(tmp_path / "b"), "llama3", vocab_size=390)  # another tokenizer, same style
    with open(tmp_path / "b" / "config.json", "w") as f:
        json.dump({"eos_token_id": eos}, f)
    assert tokenizer.tokenizer_from_files(str(tmp_path / "b")).fingerprint != a.fingerprint
    with open(tmp_path / "b" / "config.json", "w") as f:
        json.dump({"eos_token_id": 5}, f)  # a byte, not an added token
    with pytest.raises(prepare.PrepareError, match="no end-of-text token among tokenizer.json's added tokens"):
        tokenizer.tokenizer_from_files(str(tmp_path / "b"))
    with pytest.raises(prepare.PrepareError, match=r"has no tokenizer files \(tokenizer.json or vocab.json\+merges"):
        tokenizer.tokenizer_from_files(str(tmp_path))


def test_tokenizer_files_tiktoken_cannot_express_are_refused_by_name(tmp_path):
    bpe, eos = write_tokenizer(str(tmp_path), "llama3")
    with open(tmp_path / "tokenizer.json") as f:
        saved = json.load(f)
    refusals = {"Metaspace": ("pre_tokenizer", {"type": "Metaspace", "replacement": "▁"}),
                "Split \\+ ByteLevel \\(ByteLevel use_regex=True\\)":
                    ("pre_tokenizer", {**saved["pre_tokenizer"], "pretokenizers": [
                        saved["pre_tokenizer"]["pretokenizers"][0], {"type": "ByteLevel", "use_regex": True}]}),
                "normalizer NFKC": ("normalizer", {"type": "NFKC"}),
                "byte_fallback True": ("model", {**saved["model"], "byte_fallback": True})}
    a, b = ("".join(m.split(" ") if isinstance(m, str) else m) for m in saved["model"]["merges"][-2:])
    vocab = {**saved["model"]["vocab"], a: saved["model"]["vocab"][b], b: saved["model"]["vocab"][a]}  # ids swapped
    refusals["ids do not follow its merges"] = ("model", {**saved["model"], "vocab": vocab})
    for message, (key, value) in refusals.items():
        with open(tmp_path / "tokenizer.json", "w") as f:
            json.dump({**saved, key: value}, f)
        with pytest.raises(prepare.PrepareError, match=message):
            tokenizer.tokenizer_from_files(str(tmp_path))


def test_configs_this_gpt_does_not_compute_are_refused_by_their_key(tmp_path):
    write_tiny_llama(str(tmp_path))
    with open(tmp_path / "config.json") as f:
        config = json.load(f)
    rope = {**config.get("rope_parameters", {}), "rope_type": "yarn", "factor": 4.0}
    for key, value, message in [("rope_parameters", rope, "rope_scaling 'yarn'"), ("attention_bias", True,
                                 "attention_bias True"), ("hidden_act", "gelu", "hidden_act 'gelu'")]:
        with open(tmp_path / "config.json", "w") as f:
            json.dump({**config, key: value}, f)
        with pytest.raises(CheckpointError, match=message):
            load_pretrained(str(tmp_path), block_size=32)
    with open(tmp_path / "config.json", "w") as f:
        json.dump(config, f)
    with pytest.raises(CheckpointError, match="--block_size 128 exceeds the 64 positions"):
        load_pretrained(str(tmp_path), block_size=128)


def test_cli_cpt_from_a_llama_checkpoint_and_the_refusals_of_its_folder(tmp_path, capsys):
    checkpoint = str(tmp_path / "llama")
    reference = write_tiny_llama(checkpoint, vocab_size=320)
    sources = write_tiny_sources(str(tmp_path / "src"))
    command = ["--data_dir", str(tmp_path / "data"), "--corpus", "llamatiny", "--tokenizer", checkpoint,
               "--task", "arith", "--val_permille", "100"]
    for name, (path, field) in sources.items():
        command += ["--domain", f"{name}={path}", "--field", f"{name}={field}"]
    prepare.main(command)
    copy = str(tmp_path / "the same checkpoint")
    shutil.copytree(checkpoint, copy)
    args = TINY_MODEL + ["--data_dir", str(tmp_path / "data"), "--corpus", "llamatiny", "--out_dir",
                         str(tmp_path / "out"), "--steps", "8", "--eval_interval", "4", "--task_problems", "5"]
    run = train.main(args + ["--init_from", copy])  # the corpus was prepared with the original folder
    out = capsys.readouterr().out
    vocab = reference.config.vocab_size
    assert f"the base is {copy}: Llama-family with 2 layers, 4 heads, 32 wide, vocab {vocab}" in out
    with open(os.path.join(run["run_dir"], "eval.json")) as f:
        result = json.load(f)
    assert result["summary"]["gain"] > 0  # CPT lowered the target loss of the loaded model
    base = torch.load(os.path.join(result["run"]["base_dir"], "ckpt.pt"), weights_only=True)
    down = reference.model.layers[1].mlp.down_proj.weight
    assert torch.equal(base["model"]["transformer.h.1.mlp.c_proj.weight"], down)

    other = str(tmp_path / "other")  # the same weights with another tokenizer
    shutil.copytree(checkpoint, other)
    _, eos = write_tokenizer(other, "llama3", vocab_size=300)
    with open(os.path.join(other, "config.json")) as f:
        config = json.load(f)
    with open(os.path.join(other, "config.json"), "w") as f:
        json.dump({**config, "eos_token_id": eos}, f)
    with pytest.raises(SystemExit, match="not tokenized with the tokenizer of"):
        train.main(args + ["--init_from", other])
    os.remove(os.path.join(other, "tokenizer.json"))
    with pytest.raises(SystemExit, match=r"other has no tokenizer files \(tokenizer.json or vocab.json\+merges.txt\)"):
        train.main(args + ["--init_from", other])
    os.remove(os.path.join(other, "model.safetensors"))
    torch.save(reference.state_dict(), os.path.join(other, "pytorch_model.bin"))
    with pytest.raises(SystemExit, match="pytorch_model.bin, a pickle we do not load: convert it"):
        train.main(args + ["--init_from", other])
