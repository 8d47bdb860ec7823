"""
The GPT: nanoGPT's model with per-row losses, greedy generation, safe checkpoint helpers and MFU.

Token + position embeddings, pre-norm blocks (LayerNorm -> causal self-attention, LayerNorm -> GELU
MLP), a final LayerNorm and a head tied to the token embedding. Attention goes through
F.scaled_dot_product_attention (flash kernels on CUDA). bf16 autocast is applied by the caller on
CUDA (see `autocast`), fp32 everywhere on CPU.
"""

import json
import math
import os
from contextlib import nullcontext
from dataclasses import dataclass, asdict

import torch
import torch.nn as nn
from safetensors import SafetensorError
from safetensors.torch import load_file
from torch.nn import functional as F


@dataclass
class GPTConfig:
    vocab_size: int = 4096  # padded up to a multiple of 64 inside the model
    block_size: int = 128
    n_layer: int = 4
    n_head: int = 4
    n_embd: int = 128
    dropout: float = 0.0
    bias: bool = False
    gelu: str = "exact"     # "tanh": GPT-2's approximation (gelu_new), for checkpoints loaded from it


class CausalSelfAttention(nn.Module):
    def __init__(self, config):
        super().__init__()
        assert config.n_embd % config.n_head == 0, "n_embd must be divisible by n_head"
        self.c_attn = nn.Linear(config.n_embd, 3 * config.n_embd, bias=config.bias)
        self.c_proj = nn.Linear(config.n_embd, config.n_embd, bias=config.bias)
        self.resid_dropout = nn.Dropout(config.dropout)
        self.n_head = config.n_head
        self.dropout = config.dropout

    def forward(self, x):
        B, T, C = x.size()
        q, k, v = self.c_attn(x).split(C, dim=2)
        # (B, T, C) -> (B, n_head, T, head_size)
        q, k, v = (t.view(B, T, self.n_head, C // self.n_head).transpose(1, 2) for t in (q, k, v))
        y = F.scaled_dot_product_attention(q, k, v, dropout_p=self.dropout if self.training else 0.0, is_causal=True)
        y = y.transpose(1, 2).contiguous().view(B, T, C)
        return self.resid_dropout(self.c_proj(y))


class MLP(nn.Module):
    def __init__(self, config):
        super().__init__()
        self.c_fc = nn.Linear(config.n_embd, 4 * config.n_embd, bias=config.bias)
        self.c_proj = nn.Linear(4 * config.n_embd, config.n_embd, bias=config.bias)
        self.dropout = nn.Dropout(config.dropout)
        self.approximate = "tanh" if config.gelu == "tanh" else "none"

    def forward(self, x):
        return self.dropout(self.c_proj(F.gelu(self.c_fc(x), approximate=self.approximate)))


class Block(nn.Module):
    def __init__(self, config):
        super().__init__()
        self.ln_1 = nn.LayerNorm(config.n_embd, bias=config.bias)
        self.attn = CausalSelfAttention(config)
        self.ln_2 = nn.LayerNorm(config.n_embd, bias=config.bias)
        self.mlp = MLP(config)

    def forward(self, x):
        x = x + self.attn(self.ln_1(x))
        return x + self.mlp(self.ln_2(x))


class GPT(nn.Module):
    def __init__(self, config):
        super().__init__()
        self.config = config
        self.padded_vocab_size = (config.vocab_size + 63) // 64 * 64  # faster matmuls
        self.transformer = nn.ModuleDict(dict(
            wte=nn.Embedding(self.padded_vocab_size, config.n_embd),
            wpe=nn.Embedding(config.block_size, config.n_embd),
            drop=nn.Dropout(config.dropout),
            h=nn.ModuleList([Block(config) for _ in range(config.n_layer)]),
            ln_f=nn.LayerNorm(config.n_embd, bias=config.bias),
        ))
        self.lm_head = nn.Linear(config.n_embd, self.padded_vocab_size, bias=False)
        self.transformer.wte.weight = self.lm_head.weight  # weight tying
        # GPT-2 initialisation. PyTorch's default N(0, 1) embedding init makes CPU steps ~2.7x slower
        # (huge logits push the softmax backward into denormal floats), and it trains worse.
        self.apply(self._init_weights)
        for name, p in self.named_parameters():
            if name.endswith("c_proj.weight"):  # scaled residual projections, as in GPT-2
                torch.nn.init.normal_(p, mean=0.0, std=0.02 / math.sqrt(2 * config.n_layer))

    def _init_weights(self, module):
        if isinstance(module, nn.Linear):
            torch.nn.init.normal_(module.weight, mean=0.0, std=0.02)
            if module.bias is not None:
                torch.nn.init.zeros_(module.bias)
        elif isinstance(module, nn.Embedding):
            torch.nn.init.normal_(module.weight, mean=0.0, std=0.02)

    def num_params(self, non_embedding=True):
        n = sum(p.numel() for p in self.parameters())
        return n - self.transformer.wpe.weight.numel() if non_embedding else n

    def forward(self, idx, targets=None, per_row=False):
        """Logits for idx (B, T); with targets also the loss: the mean over all tokens, or with
        per_row=True a (B,) vector of each row's mean token loss (one forward gives every domain's
        loss in a mixed batch; rows have equal length, so their mean is the batch loss)."""
        B, T = idx.size()
        assert T <= self.config.block_size, f"sequence of {T} tokens exceeds block_size {self.config.block_size}"
        pos = torch.arange(T, dtype=torch.long, device=idx.device)
        x = self.transformer.drop(self.transformer.wte(idx) + self.transformer.wpe(pos))
        for block in self.transformer.h:
            x = block(x)
        x = self.transformer.ln_f(x)
        if targets is None:
            return self.head(x[:, [-1], :]), None  # only the last position is needed to generate
        logits = self.head(x)
        token_loss = F.cross_entropy(logits.float().view(B * T, -1), targets.reshape(B * T), reduction="none")
        row_loss = token_loss.view(B, T).mean(dim=1)
        return logits, (row_loss if per_row else row_loss.mean())

    def head(self, x):
        logits = self.lm_head(x)
        if self.padded_vocab_size > self.config.vocab_size:  # padding ids are never targets: they get no mass
            logits[..., self.config.vocab_size:] = float("-inf")
        return logits

    def configure_optimizer(self, learning_rate, weight_decay, betas, device_type):
        # decay the 2D weights (matmuls, embeddings), not the biases and LayerNorm gains
        params = [p for p in self.parameters() if p.requires_grad]
        groups = [
            {"params": [p for p in params if p.dim() >= 2], "weight_decay": weight_decay},
            {"params": [p for p in params if p.dim() < 2], "weight_decay": 0.0},
        ]
        fused = device_type == "cuda"  # the fused kernel is a CUDA one
        return torch.optim.AdamW(groups, lr=learning_rate, betas=betas, fused=fused)

    def flops_per_token(self):
        """Training FLOPs per token (forward + backward), PaLM appendix B: 6N + 12 L H Q T."""
        cfg = self.config
        return 6 * self.num_params() + 12 * cfg.n_layer * cfg.n_embd * cfg.block_size

    @torch.no_grad()
    def generate_greedy(self, idx, max_new_tokens, stop_tokens=()):
        """Greedy continuation of a batch of equal-length prompts idx (B, T). Returns (B, n) new
        tokens; generation stops early once every row has produced one of stop_tokens."""
        out = []
        done = torch.zeros(idx.size(0), dtype=torch.bool, device=idx.device)
        stop = torch.tensor(list(stop_tokens), dtype=torch.long, device=idx.device)
        for _ in range(max_new_tokens):
            logits, _ = self(idx[:, -self.config.block_size:])
            next_token = logits[:, -1, :self.config.vocab_size].argmax(dim=-1)
            out.append(next_token)
            idx = torch.cat([idx, next_token[:, None]], dim=1)
            done |= torch.isin(next_token, stop)
            if bool(done.all()):
                break
        return torch.stack(out, dim=1)


# Dense bf16 peak FLOP/s by device name, for an honest MFU. Unknown device: no MFU rather than a wrong one.
PEAK_FLOPS = {
    "H200": 989e12, "H100": 989e12, "A100": 312e12, "A10G": 125e12, "L4": 121e12, "L40S": 362e12,
    "RTX 4090": 165e12, "RTX 3090": 71e12, "V100": 125e12, "T4": 65e12,
}


def device_peak_flops(device):
    if torch.device(device).type != "cuda":
        return None
    name = torch.cuda.get_device_name(device)
    return next((flops for key, flops in PEAK_FLOPS.items() if key in name), None)


def autocast(device):
    """bf16 autocast on a CUDA device that has bf16 (Ampere and later), plain fp32 elsewhere."""
    if torch.device(device).type == "cuda" and torch.cuda.is_bf16_supported():
        return torch.autocast(device_type="cuda", dtype=torch.bfloat16)
    return nullcontext()


# ----------------------------------------------------------------------------- checkpoints

class CheckpointError(Exception):
    pass


def save_atomic(obj, path):
    """torch.save to a temp file beside `path`, then rename: a crash leaves the old file or the new one."""
    tmp = f"{path}.tmp-{os.getpid()}"
    torch.save(obj, tmp)
    os.replace(tmp, path)


def load_checkpoint(path):
    """Load a checkpoint written by train.py; tensors and plain containers only (no pickle code)."""
    if not os.path.exists(path):
        raise CheckpointError(f"checkpoint {path} does not exist; run train.py to create it")
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:
        raise CheckpointError(f"checkpoint {path} is corrupt, truncated or not a safe checkpoint "
                              f"({type(e).__name__}); delete it and rerun the training that writes it") from None
    if not isinstance(ckpt, dict) or "model" not in ckpt or "model_config" not in ckpt:
        raise CheckpointError(f"{path} is not a checkpoint written by train.py (no model/model_config)")
    return ckpt


def model_config_dict(model):
    return asdict(model.config)


# ----------------------------------------------------------------------------- GPT-2 in the Hugging Face layout

def load_gpt2_folder(folder, block_size, dropout=0.0):
    """A GPT-2-family model from a local folder in the Hugging Face layout (config.json + model.safetensors)
    as our GPT: nanoGPT's from_pretrained, offline and without pickles. GPT-2's Conv1D keeps its matrices as
    (in, out); they are transposed into nn.Linear's (out, in). The position table is cut to block_size;
    the embedding rows past the vocabulary (our padding to a multiple of 64) start at zero and are masked
    out of the logits. Returns the model (CPU, fp32)."""
    config_path, weights_path = os.path.join(folder, "config.json"), os.path.join(folder, "model.safetensors")
    if not os.path.isfile(config_path):
        raise CheckpointError(f"--init_from {folder} has no config.json; give a folder with a GPT-2 checkpoint "
                              "in the Hugging Face layout (config.json, model.safetensors, vocab.json, merges.txt)")
    if not os.path.isfile(weights_path):
        fix = ("it has only pytorch_model.bin, a pickle we do not load: convert it once with transformers, "
               "GPT2LMHeadModel.from_pretrained(FOLDER).save_pretrained(FOLDER, safe_serialization=True)"
               if os.path.isfile(os.path.join(folder, "pytorch_model.bin")) else "give the folder its weights")
        raise CheckpointError(f"--init_from {folder} has no model.safetensors; {fix}")
    try:
        with open(config_path) as f:
            hf = json.load(f)
        config = GPTConfig(vocab_size=hf["vocab_size"], block_size=block_size, n_layer=hf["n_layer"],
                           n_head=hf["n_head"], n_embd=hf["n_embd"], dropout=dropout, bias=True,
                           gelu="tanh" if hf.get("activation_function", "gelu_new") == "gelu_new" else "exact")
        positions = hf.get("n_positions", hf.get("n_ctx", 1024))
        weights = load_file(weights_path)
    except (OSError, ValueError, KeyError, TypeError, SafetensorError) as e:
        raise CheckpointError(f"--init_from {folder}: cannot read its GPT-2 checkpoint ({type(e).__name__}: "
                              f"{e})") from None
    if hf.get("model_type", "gpt2") != "gpt2" or abs(hf.get("layer_norm_epsilon", 1e-5) - 1e-5) > 1e-12:
        raise CheckpointError(f"--init_from {folder} is a {hf.get('model_type')} model with layer-norm epsilon "
                              f"{hf.get('layer_norm_epsilon')}; only the GPT-2 family (epsilon 1e-5) maps onto "
                              "this GPT")
    if block_size > positions:
        raise CheckpointError(f"--block_size {block_size} exceeds the {positions} positions of {folder}; "
                              f"use --block_size {positions} or less")
    weights = {k[len("transformer."):] if k.startswith("transformer.") else k: v for k, v in weights.items()}
    model = GPT(config)
    ours = model.state_dict()
    missing = []
    for name in ours:
        key = name[len("transformer."):] if name.startswith("transformer.") else name
        if name == "lm_head.weight":
            continue  # tied to wte
        if key not in weights:
            missing.append(key)
            continue
        value = weights[key]
        if key.endswith(("c_attn.weight", "c_proj.weight", "c_fc.weight")):
            value = value.t()  # Conv1D (in, out) -> Linear (out, in)
        if key == "wpe.weight":
            value = value[:block_size]
        if key == "wte.weight":
            value = torch.cat([value, value.new_zeros(ours[name].shape[0] - value.shape[0], value.shape[1])])
        if value.shape != ours[name].shape:
            raise CheckpointError(f"--init_from {folder}: {key} has shape {tuple(value.shape)}, config.json says "
                                  f"{tuple(ours[name].shape)}; the checkpoint and its config.json disagree")
        ours[name] = value.float()
    if missing:
        raise CheckpointError(f"--init_from {folder}: model.safetensors lacks {missing[:3]}; is it a GPT-2 "
                              "language model (GPT2LMHeadModel) checkpoint?")
    model.load_state_dict(ours)
    return model
