"""
The GPT: nanoGPT's model with per-row losses, greedy generation, safe checkpoint helpers and MFU.

Token + position embeddings, pre-norm blocks (LayerNorm -> causal self-attention, LayerNorm -> GELU
MLP), a final LayerNorm and a head tied to the token embedding. Attention goes through
F.scaled_dot_product_attention (flash kernels on CUDA). bf16 autocast is applied by the caller on
CUDA (see `autocast`), fp32 everywhere on CPU.

With arch="llama" the same GPT is a Llama-family model (loaded from a LlamaForCausalLM or Qwen2ForCausalLM
folder): rotary positions instead of the position table, RMSNorm, a SwiGLU MLP, grouped-query attention
(n_kv_head), optionally Qwen2's q/k/v biases and a head of its own (tied=False).
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

from common import CheckpointError


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
    arch: str = "gpt"       # "llama": rotary positions, RMSNorm, SwiGLU (the fields below)
    n_kv_head: int = 0      # key/value heads of grouped-query attention (0: n_head)
    mlp_hidden: int = 0     # SwiGLU's inner width (intermediate_size)
    norm_eps: float = 1e-5  # RMSNorm's epsilon
    rope_theta: float = 10000.0
    rope_scaling: dict | None = None  # Llama 3's frequency rescale (rotary_frequencies); None: plain rotary
    qkv_bias: bool = False  # Qwen2's attention biases
    tied: bool = True       # the head shares the token embedding


def rotary_frequencies(config):
    """Rotary positions' angular frequencies w_i = theta^(-2i/d), i < d/2 (d: the head size). Llama 3's rescale
    (rope_type "llama3"), with the original context L and wavelengths l_i = 2 pi / w_i: w_i stays where
    l_i < L / high_freq_factor, becomes w_i / factor where l_i > L / low_freq_factor, and in between
    (1 - s) w_i / factor + s w_i with s = (L / l_i - low_freq_factor) / (high_freq_factor - low_freq_factor)."""
    d = config.n_embd // config.n_head
    w = 1.0 / config.rope_theta ** (torch.arange(0, d, 2, dtype=torch.int64).float() / d)
    if config.rope_scaling:
        r = config.rope_scaling
        context, factor, low, high = (r["original_max_position_embeddings"], r["factor"], r["low_freq_factor"],
                                      r["high_freq_factor"])
        wavelength = 2 * math.pi / w
        s = (context / wavelength - low) / (high - low)
        rescaled = torch.where(wavelength > context / low, w / factor, w)
        between = (wavelength >= context / high) & (wavelength <= context / low)
        w = torch.where(between, (1 - s) * w / factor + s * w, rescaled)
    return w


def rotate(x, cos, sin):
    """Rotary positions in the Hugging Face layout: dimension j of a head pairs with j + d/2."""
    x1, x2 = x.chunk(2, dim=-1)
    return x * cos.to(x.dtype) + torch.cat((-x2, x1), dim=-1) * sin.to(x.dtype)


class CausalSelfAttention(nn.Module):
    def __init__(self, config):
        super().__init__()
        assert config.n_embd % config.n_head == 0, "n_embd must be divisible by n_head"
        self.n_head, self.n_kv_head = config.n_head, config.n_kv_head or config.n_head
        self.kv_size = self.n_kv_head * config.n_embd // config.n_head
        self.c_attn = nn.Linear(config.n_embd, config.n_embd + 2 * self.kv_size, bias=config.bias or config.qkv_bias)
        self.c_proj = nn.Linear(config.n_embd, config.n_embd, bias=config.bias)
        self.resid_dropout = nn.Dropout(config.dropout)
        self.dropout = config.dropout

    def forward(self, x, rope=None):
        B, T, C = x.size()
        q, k, v = self.c_attn(x).split([C, self.kv_size, self.kv_size], dim=2)
        # (B, T, heads * head_size) -> (B, heads, T, head_size)
        q = q.view(B, T, self.n_head, C // self.n_head).transpose(1, 2)
        k, v = (t.view(B, T, self.n_kv_head, C // self.n_head).transpose(1, 2) for t in (k, v))
        if rope is not None:
            q, k = rotate(q, *rope), rotate(k, *rope)
        y = F.scaled_dot_product_attention(q, k, v, dropout_p=self.dropout if self.training else 0.0, is_causal=True,
                                           enable_gqa=self.n_kv_head != self.n_head)
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


class SwiGLU(nn.Module):
    """Llama's MLP: down(silu(gate(x)) * up(x)); gate and up are one matmul (c_fc), down is c_proj."""
    def __init__(self, config):
        super().__init__()
        self.c_fc = nn.Linear(config.n_embd, 2 * config.mlp_hidden, bias=False)
        self.c_proj = nn.Linear(config.mlp_hidden, config.n_embd, bias=False)
        self.dropout = nn.Dropout(config.dropout)

    def forward(self, x):
        gate, up = self.c_fc(x).chunk(2, dim=-1)
        return self.dropout(self.c_proj(F.silu(gate) * up))


def norm(config):
    """GPT's LayerNorm, or Llama's RMSNorm: x / sqrt(mean(x^2) + eps) * g (no mean, no bias)."""
    if config.arch == "llama":
        return nn.RMSNorm(config.n_embd, eps=config.norm_eps)
    return nn.LayerNorm(config.n_embd, bias=config.bias)


class Block(nn.Module):
    def __init__(self, config):
        super().__init__()
        self.ln_1 = norm(config)
        self.attn = CausalSelfAttention(config)
        self.ln_2 = norm(config)
        self.mlp = SwiGLU(config) if config.arch == "llama" else MLP(config)

    def forward(self, x, rope=None):
        x = x + self.attn(self.ln_1(x), rope)
        return x + self.mlp(self.ln_2(x))


class GPT(nn.Module):
    def __init__(self, config):
        super().__init__()
        self.config = config
        self.padded_vocab_size = (config.vocab_size + 63) // 64 * 64  # faster matmuls
        self.rotary = config.arch == "llama"  # positions rotate q and k instead of a position table
        positions = {} if self.rotary else {"wpe": nn.Embedding(config.block_size, config.n_embd)}
        self.transformer = nn.ModuleDict(dict(
            wte=nn.Embedding(self.padded_vocab_size, config.n_embd),
            **positions,
            drop=nn.Dropout(config.dropout),
            h=nn.ModuleList([Block(config) for _ in range(config.n_layer)]),
            ln_f=norm(config),
        ))
        self.lm_head = nn.Linear(config.n_embd, self.padded_vocab_size, bias=False)
        if config.tied:
            self.transformer.wte.weight = self.lm_head.weight  # weight tying
        if self.rotary:  # the angles t * w_i of positions t < block_size, each frequency for both halves of a head
            angles = torch.outer(torch.arange(config.block_size).float(), rotary_frequencies(config))
            angles = torch.cat((angles, angles), dim=-1)
            self.register_buffer("rope_cos", angles.cos(), persistent=False)
            self.register_buffer("rope_sin", angles.sin(), persistent=False)
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
        """Parameters; non_embedding: without the lookup tables (positions, and tokens when the head is not tied)."""
        n = sum(p.numel() for p in self.parameters())
        if non_embedding:
            n -= 0 if self.rotary else self.transformer.wpe.weight.numel()
            n -= 0 if self.config.tied else self.transformer.wte.weight.numel()
        return n

    def forward(self, idx, targets=None, per_row=False):
        """Logits for idx (B, T); with targets also the loss: the mean over all tokens, or with
        per_row=True a (B,) vector of each row's mean token loss (one forward gives every domain's
        loss in a mixed batch; rows have equal length, so their mean is the batch loss)."""
        B, T = idx.size()
        assert T <= self.config.block_size, f"sequence of {T} tokens exceeds block_size {self.config.block_size}"
        x, rope = self.transformer.wte(idx), None
        if self.rotary:
            rope = (self.rope_cos[:T], self.rope_sin[:T])
        else:
            x = x + self.transformer.wpe(torch.arange(T, dtype=torch.long, device=idx.device))
        x = self.transformer.drop(x)
        for block in self.transformer.h:
            x = block(x, rope)
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
        # decay the 2D weights (matmuls, embeddings), not the biases and norm gains
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


# ----------------------------------------------------------------------------- checkpoints in the Hugging Face layout

ARCHITECTURES = {"gpt2": "GPT2LMHeadModel", "llama": "LlamaForCausalLM", "qwen2": "Qwen2ForCausalLM"}


def safetensors_files(folder):
    """The weight files of a checkpoint folder: model.safetensors, or the shards model.safetensors.index.json
    lists; [] if neither."""
    index = os.path.join(folder, "model.safetensors.index.json")
    if os.path.isfile(index):
        with open(index) as f:
            return [os.path.join(folder, name) for name in sorted(set(json.load(f)["weight_map"].values()))]
    single = os.path.join(folder, "model.safetensors")
    return [single] if os.path.isfile(single) else []


def pretrained_folder(folder):
    """config.json and the weight files of a Hugging Face checkpoint folder of a supported architecture, or a
    CheckpointError that names what is missing and the fix."""
    if not os.path.isfile(os.path.join(folder, "config.json")):
        raise CheckpointError(f"--init_from {folder} has no config.json; give the folder of a checkpoint in the "
                              "Hugging Face layout (config.json, model.safetensors and the tokenizer files)")
    try:
        with open(os.path.join(folder, "config.json")) as f:
            hf = json.load(f)
        files = safetensors_files(folder)
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as e:
        raise CheckpointError(f"--init_from {folder}: cannot read its config.json or model.safetensors.index.json "
                              f"({type(e).__name__}: {e})") from None
    if not files:
        pickled = any(os.path.isfile(os.path.join(folder, f"pytorch_model.bin{end}")) for end in ("", ".index.json"))
        fix = ("it has only pytorch_model.bin, a pickle we do not load: convert it once with transformers, "
               "AutoModelForCausalLM.from_pretrained(FOLDER).save_pretrained(FOLDER, safe_serialization=True)"
               if pickled else "give the folder its weights")
        raise CheckpointError(f"--init_from {folder} has no model.safetensors; {fix}")
    missing = [os.path.basename(path) for path in files if not os.path.isfile(path)]
    if missing:
        raise CheckpointError(f"--init_from {folder} lacks {', '.join(missing[:3])}, which its "
                              "model.safetensors.index.json lists; download the checkpoint's missing shards")
    if hf.get("model_type", "gpt2") not in ARCHITECTURES:
        raise CheckpointError(f"--init_from {folder} is a {hf.get('model_type')} model; supported: "
                              f"{', '.join(ARCHITECTURES.values())}")
    return hf, files


def load_pretrained(folder, block_size, dropout=0.0):
    """--init_from: our GPT from a GPT-2 or Llama-family checkpoint folder (CPU, fp32)."""
    hf, _ = pretrained_folder(folder)
    load = load_gpt2_folder if hf.get("model_type", "gpt2") == "gpt2" else load_llama_folder
    return load(folder, block_size, dropout)


def read_weights(folder, files):
    try:
        return {name: value for path in files for name, value in load_file(path).items()}
    except (OSError, SafetensorError) as e:
        raise CheckpointError(f"--init_from {folder}: cannot read its weights ({type(e).__name__}: {e})") from None


def taker(weights, folder, architecture):
    """take(name): a checkpoint tensor, removed from weights (so what is left is what we do not use)."""
    def take(name):
        if name not in weights:
            raise CheckpointError(f"--init_from {folder}: its weights lack {name}; is it a {architecture} checkpoint?")
        return weights.pop(name)
    return take


def pad_rows(value, rows):
    """The vocabulary's rows padded with zeros up to ours (a multiple of 64; the padding is masked out)."""
    return torch.cat([value, value.new_zeros(rows - value.shape[0], value.shape[1])])


def load_into(model, tensors, folder):
    """Our state dict from {our name: tensor}, each checked against the shape config.json gave us (fp32)."""
    for name, ours in model.state_dict().items():
        if tensors[name].shape != ours.shape:
            raise CheckpointError(f"--init_from {folder}: {name} has shape {tuple(tensors[name].shape)}, config.json "
                                  f"says {tuple(ours.shape)}; the checkpoint and its config.json disagree")
    model.load_state_dict({name: value.float() for name, value in tensors.items()})
    return model


def load_gpt2_folder(folder, block_size, dropout=0.0):
    """A GPT-2-family model from a local folder in the Hugging Face layout (config.json + model.safetensors)
    as our GPT: nanoGPT's from_pretrained, offline and without pickles. GPT-2's Conv1D keeps its matrices as
    (in, out); they are transposed into nn.Linear's (out, in). The position table is cut to block_size;
    the embedding rows past the vocabulary (our padding to a multiple of 64) start at zero and are masked
    out of the logits. Returns the model (CPU, fp32)."""
    hf, files = pretrained_folder(folder)
    try:
        config = GPTConfig(vocab_size=hf["vocab_size"], block_size=block_size, n_layer=hf["n_layer"],
                           n_head=hf["n_head"], n_embd=hf["n_embd"], dropout=dropout, bias=True,
                           gelu="tanh" if hf.get("activation_function", "gelu_new") == "gelu_new" else "exact")
        positions = hf.get("n_positions", hf.get("n_ctx", 1024))
    except (KeyError, TypeError) as e:
        raise CheckpointError(f"--init_from {folder}: cannot read its GPT-2 config.json ({type(e).__name__}: "
                              f"{e})") from None
    if hf.get("model_type", "gpt2") != "gpt2" or abs(hf.get("layer_norm_epsilon", 1e-5) - 1e-5) > 1e-12:
        raise CheckpointError(f"--init_from {folder} is a {hf.get('model_type')} model with layer-norm epsilon "
                              f"{hf.get('layer_norm_epsilon')}; only the GPT-2 family (epsilon 1e-5) maps onto "
                              "this GPT")
    if block_size > positions:
        raise CheckpointError(f"--block_size {block_size} exceeds the {positions} positions of {folder}; "
                              f"use --block_size {positions} or less")
    weights = {k[len("transformer."):] if k.startswith("transformer.") else k: v
               for k, v in read_weights(folder, files).items()}
    take, model, tensors = taker(weights, folder, "GPT-2 language model (GPT2LMHeadModel)"), GPT(config), {}
    for name in model.state_dict():
        if name == "lm_head.weight":
            continue  # tied to wte
        value = take(name[len("transformer."):] if name.startswith("transformer.") else name)
        if name.endswith(("c_attn.weight", "c_proj.weight", "c_fc.weight")):
            value = value.t()  # Conv1D (in, out) -> Linear (out, in)
        tensors[name] = value
    tensors["transformer.wpe.weight"] = tensors["transformer.wpe.weight"][:block_size]
    tensors["lm_head.weight"] = tensors["transformer.wte.weight"] = pad_rows(tensors["transformer.wte.weight"],
                                                                             model.padded_vocab_size)
    return load_into(model, tensors, folder)


def load_llama_folder(folder, block_size, dropout=0.0):
    """A LlamaForCausalLM or Qwen2ForCausalLM folder (config.json + model.safetensors, or its shards) as our
    GPT with arch="llama". Hugging Face's q, k, v projections become one matmul (c_attn), as do the MLP's gate
    and up (c_fc); the vocabulary rows are padded as GPT-2's. The rotary frequencies come from rope_theta (and
    Llama 3's rope_scaling); what this GPT does not compute (another rope type, sliding windows, biases past
    Qwen2's q/k/v ones, another activation) is refused by its config key. Returns the model (CPU, fp32)."""
    hf, files = pretrained_folder(folder)
    architecture = ARCHITECTURES[hf["model_type"]]
    rope = dict(hf.get("rope_parameters") or hf.get("rope_scaling") or {})  # transformers 5 names it rope_parameters
    rope_type = rope.pop("rope_type", rope.pop("type", "default"))
    theta = rope.pop("rope_theta", hf.get("rope_theta", 10000.0))
    head_size = hf.get("hidden_size", 0) // max(hf.get("num_attention_heads", 1), 1)
    found = {  # config key: (its value, the values this GPT computes)
        "rope_scaling": (rope_type, ("default", "llama3")), "hidden_act": (hf.get("hidden_act", "silu"), ("silu",)),
        "attention_bias": (hf.get("attention_bias", False), (False,)),
        "mlp_bias": (hf.get("mlp_bias", False), (False,)),
        "use_sliding_window": (hf.get("use_sliding_window", False), (False,)),
        "partial_rotary_factor": (rope.get("partial_rotary_factor", 1.0), (1.0,)),
        "head_dim": (hf.get("head_dim") or head_size, (head_size,))}
    refused = [f"{key} {value!r}" for key, (value, supported) in found.items() if value not in supported]
    if refused:
        raise CheckpointError(f"--init_from {folder}: its config.json has {', '.join(refused)}, which this GPT does "
                              "not implement (it does rope_scaling types default and llama3, silu, Qwen2's q/k/v "
                              "biases and no others, full attention, head_dim = hidden_size / num_attention_heads)")
    try:
        scaling = {key: rope[key] for key in ("factor", "low_freq_factor", "high_freq_factor",
                                              "original_max_position_embeddings")} if rope_type == "llama3" else None
        config = GPTConfig(vocab_size=hf["vocab_size"], block_size=block_size, n_layer=hf["num_hidden_layers"],
                           n_head=hf["num_attention_heads"], n_embd=hf["hidden_size"], dropout=dropout, arch="llama",
                           n_kv_head=hf.get("num_key_value_heads") or hf["num_attention_heads"],
                           mlp_hidden=hf["intermediate_size"], norm_eps=hf.get("rms_norm_eps", 1e-6),
                           rope_theta=theta, rope_scaling=scaling, qkv_bias=hf["model_type"] == "qwen2",
                           tied=bool(hf.get("tie_word_embeddings", False)))
        positions = hf.get("max_position_embeddings", block_size)
    except (KeyError, TypeError) as e:
        raise CheckpointError(f"--init_from {folder}: cannot read its {architecture} config.json "
                              f"({type(e).__name__}: {e})") from None
    if block_size > positions:
        raise CheckpointError(f"--block_size {block_size} exceeds the {positions} positions of {folder}; "
                              f"use --block_size {positions} or less")
    weights = read_weights(folder, files)
    take, model = taker(weights, folder, architecture), GPT(config)
    wte = pad_rows(take("model.embed_tokens.weight"), model.padded_vocab_size)
    tensors = {"transformer.wte.weight": wte, "transformer.ln_f.weight": take("model.norm.weight")}
    for i in range(config.n_layer):
        theirs, ours = f"model.layers.{i}.", f"transformer.h.{i}."
        tensors[ours + "ln_1.weight"] = take(theirs + "input_layernorm.weight")
        tensors[ours + "attn.c_attn.weight"] = torch.cat([take(f"{theirs}self_attn.{x}_proj.weight") for x in "qkv"])
        if config.qkv_bias:
            tensors[ours + "attn.c_attn.bias"] = torch.cat([take(f"{theirs}self_attn.{x}_proj.bias") for x in "qkv"])
        tensors[ours + "attn.c_proj.weight"] = take(theirs + "self_attn.o_proj.weight")
        tensors[ours + "ln_2.weight"] = take(theirs + "post_attention_layernorm.weight")
        tensors[ours + "mlp.c_fc.weight"] = torch.cat([take(f"{theirs}mlp.{x}_proj.weight") for x in ("gate", "up")])
        tensors[ours + "mlp.c_proj.weight"] = take(theirs + "mlp.down_proj.weight")
    tensors["lm_head.weight"] = wte if config.tied else pad_rows(take("lm_head.weight"), model.padded_vocab_size)
    weights.pop("lm_head.weight", None)  # a tied checkpoint may store its head too
    unused = [name for name in weights if not name.endswith("rotary_emb.inv_freq")]
    if unused:
        raise CheckpointError(f"--init_from {folder}: its weights hold {unused[:3]}, which this {architecture} "
                              "does not use; is its config.json the one saved with it?")
    return load_into(model, tensors, folder)
