"""
Text from a trained model (nanoGPT's sample.py): a run folder (its ckpt.pt) or a checkpoint file, decoded
with the tokenizer of the corpus the run was trained on (recorded in the checkpoint's config).

    python sample.py out/cpt-static                                      # 3 samples of 200 new tokens
    python sample.py out/cpt-static --prompt "Question: What is 2 + 3?" --temperature 0 --max_new_tokens 8
    python sample.py out/base-0123456789/ckpt.pt --num_samples 1 --seed 7 --top_k 50

Each sample starts from the prompt (from <|endoftext|>, a fresh document, when there is none) and draws
one token at a time from softmax(logits / temperature), restricted to the top_k most likely tokens;
temperature 0 takes the most likely token. Sample i depends on --seed and i only, not on --num_samples.
"""

import argparse
import os
import sys

import torch

from common import CheckpointError, ConfigError, DataError, Parser
from data import Corpus
from model import GPT, GPTConfig, autocast, load_checkpoint
from prepare import corpus_path


def load_run(path, corpus=None, device="cpu"):
    """(model in eval mode, tokenizer) of a run folder or a checkpoint file; the tokenizer is that of the
    corpus in the checkpoint's config, or of `corpus` (a corpus folder) when given."""
    if os.path.isdir(path):
        ckpt_path = os.path.join(path, "ckpt.pt")
        if not os.path.exists(ckpt_path):
            raise CheckpointError(f"{path} has no ckpt.pt; give a run folder written by train.py (e.g. "
                                  "out/cpt-static) or a checkpoint file")
    elif os.path.isfile(path):
        ckpt_path = path
    else:
        raise CheckpointError(f"{path} does not exist; give a run folder written by train.py (e.g. out/cpt-static) "
                              "or a checkpoint file")
    ckpt = load_checkpoint(ckpt_path)
    if corpus is None and "config" not in ckpt:
        raise CheckpointError(f"{ckpt_path} does not record its corpus; give the corpus folder with --corpus")
    folder = corpus or corpus_path(ckpt["config"])
    if not os.path.exists(os.path.join(folder, "meta.json")):
        raise DataError(f"the corpus {folder} of {ckpt_path} is not there (its tokenizer decodes the samples); "
                        "give its folder with --corpus")
    corpus = Corpus(folder)
    tokenizer_fingerprint = corpus.meta["tokenizer"]["fingerprint"]
    if not ckpt.get("corpus_fingerprint", "").startswith(tokenizer_fingerprint + ":"):
        raise DataError(f"{ckpt_path} was not trained with the tokenizer of corpus {corpus.path}; give the corpus "
                        "it was trained on with --corpus")
    model = GPT(GPTConfig(**ckpt["model_config"]))
    model.load_state_dict(ckpt["model"])
    return model.to(device).eval(), corpus.tokenizer


@torch.no_grad()
def generate(model, idx, max_new_tokens, temperature, top_k, generator):
    """idx (1, T) followed by max_new_tokens drawn from the model: each from softmax(logits / temperature)
    over the top_k most likely tokens (0: all), or the most likely one at temperature 0."""
    device = idx.device
    for _ in range(max_new_tokens):
        with autocast(device):
            logits, _ = model(idx[:, -model.config.block_size:])
        logits = logits[:, -1, :model.config.vocab_size].float()  # the padded ids are never drawn
        if temperature == 0:
            next_token = logits.argmax(dim=-1, keepdim=True)
        else:
            logits = logits / temperature
            if top_k:
                kth = torch.topk(logits, min(top_k, logits.size(-1))).values[:, [-1]]
                logits[logits < kth] = float("-inf")
            next_token = torch.multinomial(torch.softmax(logits, dim=-1), 1, generator=generator)
        idx = torch.cat([idx, next_token], dim=1)
    return idx


def main(argv=None):
    parser = Parser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("run", help="a run folder written by train.py (e.g. out/cpt-static) or a checkpoint file")
    parser.add_argument("--prompt", default="", help="text the samples continue (default: a fresh document)")
    parser.add_argument("--num_samples", type=int, default=3, help="how many samples (default 3)")
    parser.add_argument("--max_new_tokens", type=int, default=200, help="tokens per sample (default 200)")
    parser.add_argument("--temperature", type=float, default=0.8, help="< 1 sharper, > 1 more random, 0 greedy "
                                                                       "(default 0.8)")
    parser.add_argument("--top_k", type=int, default=200, help="draw among the k most likely tokens; 0: all "
                                                               "(default 200)")
    parser.add_argument("--seed", type=int, default=1337, help="the samples are a function of the seed (default 1337)")
    parser.add_argument("--corpus", default=None, help="the corpus folder, when it is not where the run's config "
                                                       "says (its tokenizer decodes the samples)")
    parser.add_argument("--device", default="auto", help="cpu, cuda, cuda:N or auto (default auto)")
    args = parser.parse_args(argv)
    try:
        for name in ("num_samples", "max_new_tokens"):
            if getattr(args, name) <= 0:
                raise ConfigError(f"--{name} {getattr(args, name)} must be a positive integer")
        if args.temperature < 0 or args.top_k < 0:
            raise ConfigError("--temperature and --top_k must not be negative (0 means greedy / all tokens)")
        device = ("cuda" if torch.cuda.is_available() else "cpu") if args.device == "auto" else args.device
        if device.startswith("cuda") and not torch.cuda.is_available():
            raise ConfigError(f"--device {device} but CUDA is not available here; use --device cpu")
        model, tokenizer = load_run(args.run, args.corpus, device)
        prompt = tokenizer.encode(args.prompt) if args.prompt else [tokenizer.eot]
        for i in range(args.num_samples):
            generator = torch.Generator(device).manual_seed(args.seed + i)
            idx = torch.tensor([prompt], dtype=torch.long, device=device)
            out = generate(model, idx, args.max_new_tokens, args.temperature, args.top_k, generator)
            text = tokenizer.decode(out[0, len(prompt):].tolist())
            print(args.prompt + text)
            print("---------------", flush=True)
    except (ConfigError, DataError, CheckpointError) as e:
        sys.exit(f"error: {e}")


if __name__ == "__main__":
    main()
