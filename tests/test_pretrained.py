"""CPT from a pretrained GPT-2 checkpoint in the Hugging Face layout (a tiny random one written here), its
tokenizer files, and domains as datasets ship (.parquet, .jsonl.gz). transformers is a test-only
dependency: it writes the checkpoint and is the reference our logits and tokens must equal."""

from experiments import suite, tables
import gzip
import json
import os

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import torch
import transformers

import prepare
import tokenizer
import train
from common import CheckpointError
from conftest import TINY_MODEL, write_tiny_sources
from data import Corpus
from evaluate import read_test_split
from model import load_gpt2_folder
from tiny_inputs import write_tiny_gpt2

def test_our_gpt_computes_the_same_logits_as_transformers_on_a_gpt2_checkpoint(tmp_path):
    reference = write_tiny_gpt2(str(tmp_path / "gpt2"))
    ours = load_gpt2_folder(str(tmp_path / "gpt2"), block_size=64).eval()
    assert ours.padded_vocab_size == 320 and ours.config.vocab_size == 271  # padded, and the padding masked
    x = torch.randint(0, 271, (3, 40), generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        expected = reference(x).logits
        logits, _ = ours(x, torch.zeros_like(x))
    torch.testing.assert_close(logits[..., :271], expected, rtol=1e-5, atol=1e-5)
    assert torch.all(logits[..., 271:] == float("-inf"))


def test_tokenizer_from_gpt2_files_encodes_like_transformers(tmp_path):
    write_tiny_gpt2(str(tmp_path / "gpt2"))
    ours = tokenizer.tokenizer_from_files(str(tmp_path / "gpt2"))
    reference = transformers.GPT2Tokenizer(str(tmp_path / "gpt2" / "vocab.json"), str(tmp_path / "gpt2" / "merges.txt"))
    text = "the model reads the data on many domains; where are 42 ñ words?\n  tab\tend"
    assert ours.encode(text) == reference.encode(text) and ours.decode(ours.encode(text)) == text
    assert ours.eot == 270 and ours.vocab_size == 271
    with open(tmp_path / "gpt2" / "merges.txt", "a") as f:
        f.write("Ġ z\n")  # a merge the vocabulary does not have
    with pytest.raises(prepare.PrepareError, match="disagree"):
        tokenizer.tokenizer_from_files(str(tmp_path / "gpt2"))


def test_a_gpt2_folder_saved_with_its_tokenizer_json_encodes_as_with_vocab_and_merges(tmp_path):
    folder = str(tmp_path / "gpt2")
    write_tiny_gpt2(folder)
    from_files = tokenizer.tokenizer_from_gpt2_files(folder)
    files = [os.path.join(folder, name) for name in ("vocab.json", "merges.txt")]
    transformers.GPT2TokenizerFast(*files).save_pretrained(folder)
    from_json = tokenizer.tokenizer_from_files(folder)  # tokenizer.json comes first
    assert from_json.spec["name"] == "tokenizer.json" and from_json.eot == from_files.eot == 270
    text = "the model reads the data on many domains; where are 42 ñ words?\n  tab\tend 2024"
    assert from_json.encode(text) == from_files.encode(text) and from_json.vocab_size == from_files.vocab_size


def gpt2_and_its_corpus(tmp_path):
    """A tiny GPT-2 checkpoint, a corpus prepared with its tokenizer, and train.py's arguments for CPT from it."""
    checkpoint = str(tmp_path / "gpt2")
    write_tiny_gpt2(checkpoint)
    sources = write_tiny_sources(str(tmp_path / "src"))
    command = ["--data_dir", str(tmp_path / "data"), "--corpus", "gpt2tiny", "--tokenizer", checkpoint,
               "--task", "arith", "--val_permille", "100"]
    for name, (path, field) in sources.items():
        command += ["--domain", f"{name}={path}", "--field", f"{name}={field}"]
    prepare.main(command)
    return checkpoint, TINY_MODEL + ["--data_dir", str(tmp_path / "data"), "--corpus", "gpt2tiny", "--out_dir",
                                     str(tmp_path / "out"), "--init_from", checkpoint, "--steps", "10",
                                     "--eval_interval", "5", "--task_problems", "10"]


def test_cli_cpt_from_a_gpt2_checkpoint_on_a_corpus_prepared_with_its_tokenizer(tmp_path, capsys, tiny_corpus_dir):
    checkpoint, args = gpt2_and_its_corpus(tmp_path)
    run = train.main(args)
    out = capsys.readouterr().out
    assert "the base is" in out and "2 layers, 2 heads, 32 wide, vocab 271" in out and "pre-training a base" not in out
    with open(os.path.join(run["run_dir"], "eval.json")) as f:
        result = json.load(f)
    assert result["summary"]["gain"] > 0  # CPT lowered the target loss of the loaded GPT-2
    base_dir = result["run"]["base_dir"]
    base = torch.load(os.path.join(base_dir, "ckpt.pt"), weights_only=True)
    reference = transformers.GPT2LMHeadModel.from_pretrained(checkpoint)
    assert torch.equal(base["model"]["transformer.h.1.mlp.c_fc.weight"], reference.transformer.h[1].mlp.c_fc.weight.t())
    train.main(args + ["--run_name", "again"])
    assert f"reusing the converted {checkpoint}" in capsys.readouterr().out
    with pytest.raises(SystemExit, match="not tokenized with the tokenizer of"):  # a corpus of our own BPE
        train.main(args + ["--data_dir", os.path.dirname(tiny_corpus_dir), "--corpus", "tiny"])


def test_a_suite_from_one_checkpoint_does_not_claim_a_base_per_seed(tmp_path):
    """Every seed continues the one --init_from checkpoint: results.json lists no base seeds, and the README's
    table says so instead of "each its own base"."""
    _, args = gpt2_and_its_corpus(tmp_path)
    publish = str(tmp_path / "benchmark")
    suite.main(["--suite", "default", "--seeds", "2", "--sweep", "0.5", "--splits", "tokens", "--mixers", "none",
                "--oracle", "none", "--publish", publish, "--"] + args)
    with open(os.path.join(publish, "results.json")) as f:
        results = json.load(f)
    assert len(results["rows"]) >= 2 and all(r["base_seeds"] == [None, None] for r in results["rows"])
    assert "all continuing one --init_from checkpoint" in tables.primary_table(results)


def test_a_pickled_checkpoint_alone_is_refused_with_the_conversion(tmp_path):
    model = write_tiny_gpt2(str(tmp_path / "bin"))
    os.remove(tmp_path / "bin" / "model.safetensors")
    torch.save(model.state_dict(), tmp_path / "bin" / "pytorch_model.bin")  # the older, pickled format
    with pytest.raises(CheckpointError, match="pytorch_model.bin, a pickle we do not load: convert it"):
        load_gpt2_folder(str(tmp_path / "bin"), block_size=32)


def test_parquet_and_gzipped_jsonl_domains_stream_into_a_corpus(tmp_path):
    texts = [f"document {i}: " + "the mixer chooses weights " * (i % 7 + 1) for i in range(400)]
    pq.write_table(pa.table({"id": list(range(400)), "content": texts}), tmp_path / "a.parquet", row_group_size=64)
    with gzip.open(tmp_path / "b.jsonl.gz", "wt") as f:
        f.writelines(json.dumps({"content": t.upper()}) + "\n" for t in texts)
    prepare.main(["--data_dir", str(tmp_path / "data"), "--corpus", "shipped", "--vocab_size", "300", "--text_column",
                  "content", "--domain", f"a={tmp_path / 'a.parquet'}", "--field", "a=source",
                  "--domain", f"b={tmp_path / 'b.jsonl.gz'}", "--field", "b=target"])
    corpus = Corpus(str(tmp_path / "data" / "shipped"))
    meta = {d["name"]: d for d in corpus.meta["domains"]}
    for name in ("a", "b"):
        assert sum(meta[name][f"{split}_docs"] for split in prepare.SPLITS) == 400
    every_split = [corpus.train[0], corpus.val[0], read_test_split(corpus)[0]]
    decoded = corpus.tokenizer.decode(np.concatenate(every_split).tolist())
    assert sorted(d for d in decoded.split(tokenizer.EOT) if d) == sorted(texts)
    with pytest.raises(SystemExit, match="has no column 'text'"):
        prepare.main(["--data_dir", str(tmp_path / "data"), "--corpus", "x", "--domain", f"a={tmp_path / 'a.parquet'}",
                      "--field", "a=source"])
    with open(tmp_path / "cut.jsonl.gz", "wb") as f:
        f.write(open(tmp_path / "b.jsonl.gz", "rb").read()[:300])
    with pytest.raises(SystemExit, match="cut.jsonl.gz cannot be read"):
        prepare.main(["--data_dir", str(tmp_path / "data"), "--corpus", "y", "--text_column", "content",
                      "--domain", f"a={tmp_path / 'cut.jsonl.gz'}", "--field", "a=source",
                      "--domain", f"b={tmp_path / 'b.jsonl.gz'}", "--field", "b=target"])
