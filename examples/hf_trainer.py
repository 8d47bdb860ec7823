"""
A mixer of this repo inside a `transformers` Trainer: a callback asks the mixer for the weights, the
Trainer's loss draws each step's rows from the sampler with them, and after every step the rows' losses go
back to the mixer (validation losses every --eval_interval steps and whenever the mixer asks for them).

    python examples/hf_trainer.py data/default --mixer bandit --steps 200
    python examples/hf_trainer.py data/default --mixer regmix --trajectories out/proxy   # any mixer's options

The rows are drawn in compute_loss, not by the dataset: a Trainer's data loader (accelerate's) fetches a
batch one step ahead, so rows drawn there would follow the weights of the step before, and ODM's paper form
would divide a domain's loss by a probability it was not drawn with. Drawn when the step runs, every batch
follows the weights the mixer gave last, as in train.py. One process: every process would draw the same rows.
"""

import argparse
import os
import sys
import tempfile

import torch
import transformers

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # the repository's modules
from common import UserError  # noqa: E402
from data import Corpus  # noqa: E402
from mixing import (HeldOutSet, eval_due, eval_stats, own_loop_mixer, own_loop_sampler, parse_mixer_args,  # noqa: E402
                    row_losses, step_stats)


class MixerCallback(transformers.TrainerCallback):
    """The mixer's side of the Trainer: the current weights, the step's row losses, the validation losses."""

    def __init__(self, mixer, corpus, valset, eval_interval):
        self.mixer, self.corpus, self.valset, self.eval_interval = mixer, corpus, valset, eval_interval
        self.weights, self.row_loss, self.row_domain = None, [], []

    def evaluate(self, steps_done, model, device):
        ev = eval_stats(model, self.corpus, self.valset, device)
        self.mixer.observe_eval(steps_done, ev)
        print(f"step {steps_done}: val loss " + " ".join(f"{d}={v:.3f}" for d, v in zip(self.corpus.domains,
                                                                                       ev["val_loss"]))
              + " | w " + " ".join(f"{d}={v:.2f}" for d, v in zip(self.corpus.domains, self.mixer.weights())))

    def on_train_begin(self, args, state, control, model=None, **kwargs):
        self.evaluate(0, model, args.device)  # a mixer may set its first weights from the base's losses
        self.weights = self.mixer.weights()

    def on_step_end(self, args, state, control, model=None, **kwargs):
        stats = step_stats(torch.cat(self.row_loss), torch.cat(self.row_domain), len(self.corpus.domains))
        self.row_loss, self.row_domain = [], []
        self.mixer.observe_step(state.global_step - 1, stats)  # global_step counts the steps done
        if eval_due(self.mixer, state.global_step, self.eval_interval):
            self.evaluate(state.global_step, model, args.device)
        self.weights = self.mixer.weights()


class StepTicks(torch.utils.data.IterableDataset):
    """Endless placeholders that only pace the Trainer's loop: MixingTrainer draws the rows themselves."""

    def __iter__(self):
        while True:
            yield {"tick": 0}


class MixingTrainer(transformers.Trainer):
    """The Trainer with a loss that draws the step's rows at the mixer's current weights (one sampler batch per
    micro-batch) and keeps each row's loss for the mixer (the sampler's targets are already the next tokens)."""

    def __init__(self, *args, mixer_callback, sampler, **kwargs):
        super().__init__(*args, callbacks=[mixer_callback], **kwargs)
        self.mixer_callback, self.sampler = mixer_callback, sampler

    def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
        callback = self.mixer_callback
        x, y, row_domain = self.sampler.batch(callback.weights, callback.mixer.min_rows_per_domain)
        outputs = model(input_ids=x.to(self.args.device))
        row_loss = row_losses(outputs, y.to(self.args.device))
        callback.row_loss.append(row_loss.detach())
        callback.row_domain.append(row_domain)
        return (row_loss.mean(), outputs) if return_outputs else row_loss.mean()


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
    args, options = parse_mixer_args(parser, argv)
    corpus = Corpus(args.corpus)
    torch.manual_seed(0)
    config = transformers.GPT2Config(vocab_size=corpus.tokenizer.vocab_size, n_positions=args.block_size,
                                     n_embd=64, n_layer=2, n_head=2, bos_token_id=corpus.tokenizer.eot,
                                     eos_token_id=corpus.tokenizer.eot)
    model = transformers.GPT2LMHeadModel(config)
    mixer = own_loop_mixer(args.mixer, corpus, steps=args.steps, loss_targets=getattr(args, "loss_targets", None),
                           **options)
    callback = MixerCallback(mixer, corpus, HeldOutSet(corpus, args.block_size, max_windows=8), args.eval_interval)
    sampler = own_loop_sampler(mixer, corpus, args.batch_size, args.block_size)
    with tempfile.TemporaryDirectory() as out_dir:  # nothing to keep: no checkpoints
        training = transformers.TrainingArguments(
            output_dir=out_dir, max_steps=args.steps, per_device_train_batch_size=args.batch_size,
            learning_rate=1e-3, lr_scheduler_type="cosine", warmup_steps=min(20, args.steps // 10),
            logging_strategy="no", save_strategy="no", report_to="none", disable_tqdm=True,  # the callback prints
            dataloader_pin_memory=False, remove_unused_columns=False)  # keep the tick the loop counts
        MixingTrainer(model=model, args=training, train_dataset=StepTicks(), mixer_callback=callback,
                      sampler=sampler).train()
    return model, mixer


if __name__ == "__main__":
    main()
