"""
Tokenizers: a byte-level BPE trained with rustbpe on the corpus (the default), tiktoken's GPT-2 encoding,
or the tokenizer files of a checkpoint (a Llama-family tokenizer.json, or GPT-2's vocab.json + merges.txt),
each used through tiktoken and saved into the corpus as plain JSON (never a pickle).
"""

import base64
import hashlib
import json
import os
import unicodedata

import numpy as np

from common import PrepareError

EOT = "<|endoftext|>"
# GPT-4's pre-tokenizer split, but every digit a token of its own (as Llama's): the maths task's numbers are
# read digit by digit instead of in arbitrary groups of up to three (2604 -> 26|0|4 with groups)
SPLIT_PATTERN = (r"""'(?i:[sdmt]|ll|ve|re)|[^\r\n\p{L}\p{N}]?+\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]++[\r\n]*|\s*[\r\n]|"""
                 r"""\s+(?!\S)|\s+""")


class Tokenizer:
    """A tiktoken Encoding plus the end-of-text id, a fingerprint and a plain-JSON file format."""

    def __init__(self, encoding, spec):
        self.encoding = encoding
        self.spec = spec  # what is saved in tokenizer.json
        self.eot = spec["eot"] if "eot" in spec else encoding.eot_token  # a checkpoint's eos, or <|endoftext|>
        self.vocab_size = encoding.n_vocab
        self.nfc = spec.get("normalizer") == "NFC"  # Qwen2's tokenizer composes characters before splitting
        self.fingerprint = hashlib.sha256(json.dumps(spec, sort_keys=True).encode()).hexdigest()[:32]

    def encode(self, text):
        return self.encoding.encode_ordinary(unicodedata.normalize("NFC", text) if self.nfc else text)

    def encode_batch(self, texts):
        return self.encoding.encode_ordinary_batch([unicodedata.normalize("NFC", t) for t in texts] if self.nfc
                                                   else texts)

    def decode(self, ids):
        return self.encoding.decode(list(ids))

    def token_byte_lengths(self):
        """Bytes per token id (0 for special tokens), for bits-per-byte."""
        lengths = np.zeros(self.vocab_size, dtype=np.int64)
        specials = set(self.encoding.special_tokens_set)
        for i in range(self.vocab_size):
            try:
                token = self.encoding.decode_single_token_bytes(i)
            except KeyError:
                continue
            if token.decode("utf-8", "replace") not in specials:
                lengths[i] = len(token)
        return lengths

    def save(self, path):
        tmp = f"{path}.tmp-{os.getpid()}"
        with open(tmp, "w") as f:
            f.write(json.dumps(self.spec))
        os.replace(tmp, path)

    @staticmethod
    def load(path):
        try:
            with open(path) as f:
                spec = json.load(f)
        except (OSError, ValueError) as e:
            raise PrepareError(f"cannot read tokenizer {path} ({e}); rebuild the corpus with prepare.py") from None
        if not isinstance(spec, dict) or spec.get("kind") not in ("bpe", "gpt2"):
            raise PrepareError(f"{path} is not a tokenizer written by prepare.py; rebuild the corpus with prepare.py")
        return Tokenizer(_encoding_from_spec(spec), spec)


def _encoding_from_spec(spec):
    import tiktoken
    if spec["kind"] == "gpt2":
        return _gpt2_encoding()
    ranks = {base64.b64decode(token): rank for token, rank in spec["ranks"]}
    return tiktoken.Encoding(name=spec["name"], pat_str=spec["pattern"], mergeable_ranks=ranks,
                             special_tokens=spec.get("special_tokens", {EOT: len(ranks)}))


def _gpt2_encoding():
    import tiktoken
    try:
        return tiktoken.get_encoding("gpt2")
    except Exception as e:
        raise PrepareError(f"tiktoken's gpt2 encoding is not available offline ({type(e).__name__}); "
                           "use the default trained BPE (drop --tokenizer gpt2) or fill TIKTOKEN_CACHE_DIR "
                           "on a machine with internet") from None


def train_tokenizer(texts, vocab_size, name="rustbpe"):
    """Byte-level BPE trained with rustbpe (vocab_size includes <|endoftext|>), used through tiktoken."""
    import rustbpe
    if vocab_size < 257:
        raise PrepareError(f"--vocab_size {vocab_size} is too small; use at least 257 (256 bytes + end-of-text)")
    bpe = rustbpe.Tokenizer()
    bpe.train_from_iterator(iter(texts), vocab_size - 1, pattern=SPLIT_PATTERN)
    ranks = [[base64.b64encode(bytes(token)).decode("ascii"), rank] for token, rank in bpe.get_mergeable_ranks()]
    spec = {"kind": "bpe", "name": name, "pattern": bpe.get_pattern(), "ranks": ranks}
    return Tokenizer(_encoding_from_spec(spec), spec)


def gpt2_tokenizer():
    return Tokenizer(_gpt2_encoding(), {"kind": "gpt2"})


GPT2_PATTERN = r"""'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+"""


def gpt2_byte_alphabet():
    """GPT-2's files write each byte as a printable character: the printable Latin-1 bytes as themselves,
    the other 68 as the characters from U+0100 on, in byte order. Returns {character: byte}."""
    printable = [b for b in range(256) if chr(b).isprintable() and chr(b) != " "]
    others = [b for b in range(256) if b not in printable]
    return {**{chr(b): b for b in printable}, **{chr(256 + i): b for i, b in enumerate(others)}}


def files_digest(paths):
    """sha256 of the files' bytes, in order: a tokenizer is known by its content, not by its folder's name."""
    digest = hashlib.sha256()
    for path in paths:
        with open(path, "rb") as f:
            digest.update(f.read())
    return digest.hexdigest()


def tokenizer_from_files(folder):
    """The tokenizer of a checkpoint folder: its tokenizer.json (the Llama family; any byte-level BPE saved
    whole by Hugging Face), else GPT-2's vocab.json + merges.txt."""
    if os.path.isfile(os.path.join(folder, "tokenizer.json")):
        return tokenizer_from_json(folder)
    if all(os.path.isfile(os.path.join(folder, name)) for name in ("vocab.json", "merges.txt")):
        return tokenizer_from_gpt2_files(folder)
    raise PrepareError(f"{folder} has no tokenizer files (tokenizer.json or vocab.json+merges.txt); give the "
                       "folder of a checkpoint saved with its tokenizer")


def tokenizer_from_gpt2_files(folder):
    """The tokenizer of a GPT-2-family checkpoint folder (vocab.json + merges.txt, as Hugging Face saves
    them), as a byte-level BPE for tiktoken: token ids are merge ranks (the 256 bytes, then the merges in
    order), <|endoftext|> comes last. Written into the corpus like any trained BPE."""
    paths = [os.path.join(folder, name) for name in ("vocab.json", "merges.txt")]
    byte_of = gpt2_byte_alphabet()
    try:
        with open(paths[0], encoding="utf-8") as f:
            vocab = json.load(f)
        eot = vocab.pop(EOT)
        ranks = {bytes(byte_of[c] for c in token): rank for token, rank in vocab.items()}
        with open(paths[1], encoding="utf-8") as f:
            lines = f.read().splitlines()
        merges = [line.split() for line in lines if line.strip() and not line.startswith("#version")]
        merged = [bytes(byte_of[c] for c in a + b) for a, b in merges]
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise PrepareError(f"--tokenizer {folder}: vocab.json or merges.txt is not GPT-2's format "
                           f"({type(e).__name__}: {e})") from None
    singles = sorted(rank for token, rank in ranks.items() if len(token) == 1)
    if singles != list(range(256)) or [ranks.get(t) for t in merged] != list(range(256, 256 + len(merged))) \
            or len(ranks) != 256 + len(merged) or eot != len(ranks):
        raise PrepareError(f"--tokenizer {folder}: vocab.json and merges.txt disagree (ids must be the 256 bytes, "
                           "then the merges in order, then <|endoftext|>); use the files saved with the checkpoint")
    spec = {"kind": "bpe", "name": "gpt2-files", "pattern": GPT2_PATTERN, "files_sha256": files_digest(paths),
            "ranks": [[base64.b64encode(token).decode("ascii"), rank] for token, rank in ranks.items()]}
    return Tokenizer(_encoding_from_spec(spec), spec)


def tokenizer_from_json(folder):
    """A byte-level BPE saved by the Hugging Face tokenizers library (tokenizer.json) as tiktoken ranks. A token's
    rank is its id, and tiktoken merges by rank: the ids must follow the order of the merges, as they do in files
    that Hugging Face trained or converted (Llama 3, Qwen2, SmolLM2). The added tokens are special tokens, never
    made from text (documents are encoded as plain text); the end-of-text token, our document separator, is the
    checkpoint's eos (config.json's eos_token_id, else tokenizer_config.json's eos_token)."""
    path = os.path.join(folder, "tokenizer.json")
    byte_of = gpt2_byte_alphabet()
    try:
        with open(path, encoding="utf-8") as f:
            hf = json.load(f)
        bpe, added = hf["model"], {token["content"]: token["id"] for token in hf.get("added_tokens") or []}
        normalizer = (hf.get("normalizer") or {}).get("type")
        if bpe.get("type") != "BPE" or bpe.get("byte_fallback") or bpe.get("continuing_subword_prefix") \
                or bpe.get("end_of_word_suffix"):
            raise PrepareError(f"{path} is not a byte-level BPE (model {bpe.get('type')}, byte_fallback "
                               f"{bpe.get('byte_fallback')}); only byte-level BPE tokenizers are supported (GPT-2, "
                               "Llama 3, Qwen2, SmolLM2; not the SentencePiece ones of Llama 2 or Mistral)")
        if normalizer not in (None, "NFC"):
            raise PrepareError(f"{path}: its normalizer {normalizer} is not supported (none, or NFC as Qwen2's)")
        pattern = split_pattern(hf.get("pre_tokenizer"), path)
        ranks = {bytes(byte_of[c] for c in token): i for token, i in bpe["vocab"].items() if token not in added}
        merges = [merge.split(" ") if isinstance(merge, str) else merge for merge in bpe["merges"]]
        first_merged = dict.fromkeys(bytes(byte_of[c] for c in a + b) for a, b in merges if a + b not in added)
        merge_ids = [ranks[token] for token in first_merged]
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as e:
        raise PrepareError(f"{path} is not a byte-level BPE tokenizer file ({type(e).__name__}: {e})") from None
    if any(bytes([b]) not in ranks for b in range(256)) or merge_ids != sorted(merge_ids):
        raise PrepareError(f"{path}: its ids do not follow its merges (each of the 256 bytes a token, each merge's "
                           "token a higher id than the merges before it), which tiktoken needs")
    eot = eos_id(folder, added)
    spec = {"kind": "bpe", "name": "tokenizer.json", "pattern": pattern, "special_tokens": added, "eot": eot,
            "normalizer": normalizer, "files_sha256": files_digest([path]),
            "ranks": [[base64.b64encode(token).decode("ascii"), rank] for token, rank in ranks.items()]}
    return Tokenizer(_encoding_from_spec(spec), spec)


def eos_id(folder, added):
    """The id of the checkpoint's end-of-text token, one of the added tokens: config.json's eos_token_id (the
    first of a list), else the id of tokenizer_config.json's eos_token."""
    found = []
    for name in ("config.json", "tokenizer_config.json"):
        try:
            with open(os.path.join(folder, name), encoding="utf-8") as f:
                config = json.load(f)
        except (OSError, ValueError):
            continue
        eos = config.get("eos_token_id" if name == "config.json" else "eos_token")
        eos = eos[0] if isinstance(eos, list) and eos else eos
        eos = eos.get("content") if isinstance(eos, dict) else eos
        found.append(added.get(eos) if isinstance(eos, str) else eos)
        if found[-1] in added.values():
            return found[-1]
    raise PrepareError(f"{folder}: no end-of-text token among tokenizer.json's added tokens (config.json's "
                       f"eos_token_id, tokenizer_config.json's eos_token: {found}); save the checkpoint with them")


def split_pattern(pre_tokenizer, path):
    """One tiktoken split pattern doing what a Hugging Face pre-tokenizer (ending in ByteLevel, bytes as
    characters) does: ByteLevel with its regex (GPT-2): GPT-2's pattern; Split(regex, Isolated) then ByteLevel
    without its regex (Llama 3, Qwen2): the regex, the text between its matches a piece too; Digits then
    ByteLevel with its regex (SmolLM2): GPT-2's pattern with the digits split off (each alone with
    individual_digits) and whitespace before a digit kept whole, as a piece ends there. Others are refused."""
    pre = pre_tokenizer or {"type": "none"}
    steps = pre.get("pretokenizers", []) if pre.get("type") == "Sequence" else [pre]
    kinds = [step.get("type") for step in steps]
    unsupported = [kind for kind in kinds if kind not in ("Split", "ByteLevel", "Digits")]
    if unsupported:
        raise PrepareError(f"{path}: its pre-tokenizer {unsupported[0]} cannot be expressed as a tiktoken pattern "
                           "(supported: ByteLevel, Split with a regex, Digits, a Sequence of them)")
    if not steps or kinds[-1] != "ByteLevel" or steps[-1].get("add_prefix_space"):
        raise PrepareError(f"{path}: its pre-tokenizer {' + '.join(kinds)} does not end in ByteLevel without "
                           "add_prefix_space; only byte-level BPE tokenizers are supported")
    first, byte_regex = steps[:-1], steps[-1].get("use_regex", True)
    if not first and byte_regex:
        return GPT2_PATTERN
    if kinds[:-1] == ["Split"] and not byte_regex and "Regex" in first[0].get("pattern", {}) \
            and first[0].get("behavior") == "Isolated" and not first[0].get("invert"):
        regex = first[0]["pattern"]["Regex"]
        return rf"{regex}|(?:(?!(?:{regex}))[\s\S])+"
    if kinds[:-1] == ["Digits"] and byte_regex:
        digits = r"\p{N}" if first[0].get("individual_digits") else r"\p{N}+"
        return GPT2_PATTERN.replace(r" ?\p{N}+", digits).replace(r"\s+(?!\S)", r"\s+(?![^\s\p{N}])")
    raise PrepareError(f"{path}: its pre-tokenizer {' + '.join(kinds)} (ByteLevel use_regex={byte_regex}) cannot be "
                       "expressed as one tiktoken pattern (supported: ByteLevel; Split with a regex, Isolated, then "
                       "ByteLevel without regex; Digits then ByteLevel)")


def make_tokenizer(kind, vocab_size, sample):
    """bpe: trained on sample() (an iterator of texts); gpt2: tiktoken's; a folder: its tokenizer files."""
    if kind == "gpt2":
        return gpt2_tokenizer()
    if kind == "bpe":
        return train_tokenizer(sample(), vocab_size)
    return tokenizer_from_files(kind)
