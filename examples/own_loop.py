"""
A mixer of this repo inside a plain PyTorch loop that trains a model that is not ours: a small GPT-2 from
`transformers` (random init), on a corpus written by prepare.py, with the bandit (ODM) setting the weights.

    python examples/own_loop.py data/default --mixer bandit --steps 200
    python examples/own_loop.py data/default --mixer velocity --mix_interval 20 --loss_targets 3.2,3.6,2.4,0.7,0.8
    python examples/own_loop.py data/default --mixer agent --agent_path out/agent.pt --help   # its options

Every mixer that runs outside train.py takes its options here (the registry's, as train.py's --help lists them);
acodm reads our GPT's layers and is refused in one line.
"""

import argparse
import os
import sys

import torch
import transformers

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # the repository's modules
from common import UserError  # noqa: E402
from data import Corpus  # noqa: E402
from mixing import (HeldOutSet, eval_due, eval_stats, own_loop_mixer, own_loop_sampler, parse_mixer_args,  # noqa: E402
                    row_losses, step_stats)


def main(argv=None):
    try:
        return train(argv)
    except UserError as e:  # a refused mixer, a missing option or corpus: one line
        sys.exit(f"error: {e}")


def train(argv):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("corpus", help="a corpus folder written by prepare.py, e.g. data/default")
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--batch_size", type=int, default=16)
    parser.add_argument("--block_size", type=int, default=128)
    parser.add_argument("--eval_interval", type=int, default=50)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    args, options = parse_mixer_args(parser, argv)
    corpus = Corpus(args.corpus)
    torch.manual_seed(0)
    config = transformers.GPT2Config(vocab_size=corpus.tokenizer.vocab_size, n_positions=args.block_size,
                                     n_embd=64, n_layer=2, n_head=2, bos_token_id=corpus.tokenizer.eot,
                                     eos_token_id=corpus.tokenizer.eot)
    model = transformers.GPT2LMHeadModel(config).to(args.device)
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)
    mixer = own_loop_mixer(args.mixer, corpus, steps=args.steps, loss_targets=getattr(args, "loss_targets", None),
                           **options)
    sampler = own_loop_sampler(mixer, corpus, args.batch_size, args.block_size)  # mixed, or one domain a batch
    valset = HeldOutSet(corpus, args.block_size, max_windows=8)
    mixer.observe_eval(0, eval_stats(model, corpus, valset, args.device))
    for step in range(args.steps):
        w = mixer.weights()
        x, y, row_domain = sampler.batch(w, mixer.min_rows_per_domain)
        row_loss = row_losses(model(x.to(args.device)), y.to(args.device))  # (B,): one loss per row
        row_loss.mean().backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        mixer.observe_step(step, step_stats(row_loss, row_domain, len(corpus.domains)))
        if eval_due(mixer, step + 1, args.eval_interval):
            ev = eval_stats(model, corpus, valset, args.device)
            mixer.observe_eval(step + 1, ev)
            print(f"step {step + 1}: val loss " + " ".join(f"{d}={v:.3f}" for d, v in zip(corpus.domains, ev["val_loss"]))
                  + " | w " + " ".join(f"{d}={v:.2f}" for d, v in zip(corpus.domains, w)))
    return model, mixer


if __name__ == "__main__":
    main()
