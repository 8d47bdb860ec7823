"""
Tiny inputs to try the repository on in seconds, the ones its tests use: source texts of three small domains,
a random GPT-2 in the Hugging Face layout with its vocab.json and merges.txt, a random Llama or Qwen2 with its
tokenizer.json. docs/pretrained.md's worked examples start from them.

    python examples/tiny_inputs.py sources src            # src/prose/, src/code/ (source), src/arith.jsonl (target)
    python examples/tiny_inputs.py gpt2 tiny-gpt2         # 2 layers, 32 wide, a 271-token vocabulary
    python examples/tiny_inputs.py llama tiny-llama       # 2 layers, grouped-query attention, a byte-level BPE
    python examples/tiny_inputs.py qwen2 tiny-qwen2

transformers and tokenizers write the checkpoints (the library itself never imports them).
"""

import argparse
import json
import os
import random
import sys

import tokenizers
import torch
import transformers
from tokenizers import Regex, decoders, models, normalizers, pre_tokenizers, trainers

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # the repository's modules
import tokenizer  # noqa: E402

WORDS = ("the model reads data from many domains and the mixer chooses weights for each step of "
         "training while the loss goes down slowly over time").split()


def write_tiny_sources(root, seed=0, scale=1):
    """Two source domains (prose folder, code folder) and one target domain of Q/A problems (.jsonl);
    `scale` multiplies the number of documents."""
    rng = random.Random(seed)
    prose, code = os.path.join(root, "prose"), os.path.join(root, "code")
    os.makedirs(prose)
    os.makedirs(code)
    for i in range(40 * scale):
        with open(os.path.join(prose, f"doc{i:02d}.txt"), "w") as f:
            f.write(" ".join(rng.choice(WORDS) for _ in range(300)) + "\n")
        with open(os.path.join(code, f"mod{i:02d}.py"), "w") as f:
            f.write("".join(f"def f{j}(x):\n    return x * {rng.randint(0, 99)} + {j}\n\n" for j in range(30)))
    arith = os.path.join(root, "arith.jsonl")
    with open(arith, "w") as f:
        for i in range(1500 * scale):
            a, b = rng.randint(0, 30 * scale), rng.randint(0, 30 * scale)
            f.write(json.dumps({"text": f"Question: What is {a} + {b}?\nAnswer: {a + b}"}) + "\n")
    return {"prose": (prose, "source"), "code": (code, "source"), "arith": (arith, "target")}


MERGES = ["Ġ t", "h e", "Ġt he", "Ġ a", "i n", "e r", "o n", "r e", "Ġ m", "a t", "e n", "o r", "Ġ w", "e s"]


def write_tiny_gpt2(folder):
    """A random 2-layer GPT-2 saved by transformers, with GPT-2-format vocab.json and merges.txt."""
    os.makedirs(folder, exist_ok=True)
    vocab = {char: i for i, char in enumerate(tokenizer.gpt2_byte_alphabet())}  # the 256 bytes in GPT-2's order
    for merge in MERGES:
        vocab[merge.replace(" ", "")] = len(vocab)
    vocab["<|endoftext|>"] = len(vocab)
    with open(os.path.join(folder, "vocab.json"), "w", encoding="utf-8") as f:
        json.dump(vocab, f, ensure_ascii=False)
    with open(os.path.join(folder, "merges.txt"), "w", encoding="utf-8") as f:
        f.write("#version: 0.2\n" + "\n".join(MERGES) + "\n")
    config = transformers.GPT2Config(vocab_size=len(vocab), n_positions=64, n_embd=32, n_layer=2, n_head=2,
                                     bos_token_id=len(vocab) - 1, eos_token_id=len(vocab) - 1)
    torch.manual_seed(0)
    model = transformers.GPT2LMHeadModel(config).eval()
    model.save_pretrained(folder)
    return model


# the split patterns of Llama 3's and Qwen2's tokenizer.json (Qwen2: every digit alone, NFC first)
LLAMA3_SPLIT = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|"
                r"\s*[\r\n]+|\s+(?!\S)|\s+")
QWEN2_SPLIT = LLAMA3_SPLIT.replace(r"\p{N}{1,3}", r"\p{N}")
EOS = {"llama3": "<|end_of_text|>", "qwen2": "<|endoftext|>", "smollm2": "<|endoftext|>"}


def write_tokenizer(folder, style, vocab_size=400):
    """A byte-level BPE trained by tokenizers on sample text, with the pre-tokenizer (and normalizer) of
    Llama 3, Qwen2 or SmolLM2, saved as tokenizer.json. Returns (tokenizers' object, the eos id)."""
    bpe = tokenizers.Tokenizer(models.BPE())
    if style == "smollm2":  # digits alone, then GPT-2's split
        bpe.pre_tokenizer = pre_tokenizers.Sequence([pre_tokenizers.Digits(individual_digits=True),
                                                     pre_tokenizers.ByteLevel(add_prefix_space=False)])
    else:
        bpe.normalizer = normalizers.NFC() if style == "qwen2" else None
        split = pre_tokenizers.Split(Regex(LLAMA3_SPLIT if style == "llama3" else QWEN2_SPLIT), "isolated")
        bpe.pre_tokenizer = pre_tokenizers.Sequence([split, pre_tokenizers.ByteLevel(add_prefix_space=False,
                                                                                      use_regex=False)])
    bpe.decoder = decoders.ByteLevel()
    # SmolLM2's specials come first (id 0 is its eos); Llama 3's and Qwen2's are added after the merges
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, show_progress=False, initial_alphabet=pre_tokenizers.ByteLevel
                                  .alphabet(), special_tokens=[EOS["smollm2"]] if style == "smollm2" else [])
    bpe.train_from_iterator([" ".join(WORDS[i:] + WORDS[:i]) + f" {i * 37} {i}.5\n" for i in range(40)], trainer)
    if style != "smollm2":
        bpe.add_special_tokens(["<|begin_of_text|>", EOS[style]])
    os.makedirs(folder, exist_ok=True)
    bpe.save(os.path.join(folder, "tokenizer.json"))
    return bpe, bpe.token_to_id(EOS[style])


def write_tiny_llama(folder, kind="llama", shard=False, tied=False, rope_scaling=None, vocab_size=400):
    """A random 2-layer LlamaForCausalLM (grouped-query attention: 4 heads, 2 key/value heads) or
    Qwen2ForCausalLM saved by transformers (sharded when shard) with its tokenizer.json. Every weight is
    random, the norms' gains and Qwen2's biases too, so each one's mapping matters."""
    bpe, eos = write_tokenizer(folder, "qwen2" if kind == "qwen2" else "llama3", vocab_size)
    common = dict(vocab_size=bpe.get_vocab_size() + (20 if kind == "qwen2" else 0), hidden_size=32,
                  intermediate_size=56, num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2,
                  max_position_embeddings=64, tie_word_embeddings=tied, rms_norm_eps=1e-6, eos_token_id=eos,
                  bos_token_id=eos)
    if kind == "qwen2":
        config = transformers.Qwen2Config(rope_theta=20000.0, **common)
    else:
        config = transformers.LlamaConfig(rope_theta=5000.0, rope_scaling=rope_scaling, **common)
    torch.manual_seed(0)
    model = (transformers.Qwen2ForCausalLM if kind == "qwen2" else transformers.LlamaForCausalLM)(config).eval()
    with torch.no_grad():
        for p in model.parameters():
            p.normal_(0.0, 0.2)
    model.save_pretrained(folder, max_shard_size="20KB" if shard else "5GB")
    return model


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("kind", choices=["sources", "gpt2", "llama", "qwen2"], help="what to write")
    parser.add_argument("folder", help="where to write it")
    parser.add_argument("--vocab_size", type=int, default=400, help="llama, qwen2: the BPE's size (default 400)")
    args = parser.parse_args(argv)
    if args.kind == "sources":
        write_tiny_sources(args.folder)
    elif args.kind == "gpt2":
        write_tiny_gpt2(args.folder)
    else:
        write_tiny_llama(args.folder, kind=args.kind, vocab_size=args.vocab_size)
    print(f"wrote {args.folder}")


if __name__ == "__main__":
    main()
