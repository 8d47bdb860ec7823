"""
Tokenizers: a byte-level BPE trained with rustbpe on the corpus (the default), tiktoken's GPT-2 encoding,
or the tokenizer files of a GPT-2-family checkpoint (vocab.json + merges.txt), each used through tiktoken
and saved into the corpus as plain JSON (never a pickle).
"""

import base64
import hashlib
import json
import os

import numpy as np

from sources import PrepareError

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
        self.eot = encoding.eot_token
        self.vocab_size = encoding.n_vocab
        self.fingerprint = hashlib.sha256(json.dumps(spec, sort_keys=True).encode()).hexdigest()[:32]

    def encode(self, text):
        return self.encoding.encode_ordinary(text)

    def encode_batch(self, texts):
        return self.encoding.encode_ordinary_batch(texts)

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
                             special_tokens={EOT: len(ranks)})


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


def tokenizer_from_files(folder):
    """The tokenizer of a GPT-2-family checkpoint folder (vocab.json + merges.txt, as Hugging Face saves
    them), as a byte-level BPE for tiktoken: token ids are merge ranks (the 256 bytes, then the merges in
    order), <|endoftext|> comes last. Written into the corpus like any trained BPE."""
    paths = [os.path.join(folder, name) for name in ("vocab.json", "merges.txt")]
    missing = [p for p in paths if not os.path.isfile(p)]
    if missing:
        raise PrepareError(f"--tokenizer {folder} lacks {', '.join(os.path.basename(p) for p in missing)}; give "
                           "the folder of a GPT-2-family checkpoint with its tokenizer files")
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
    spec = {"kind": "bpe", "name": f"gpt2-files:{os.path.basename(os.path.normpath(folder))}",
            "pattern": GPT2_PATTERN,
            "ranks": [[base64.b64encode(token).decode("ascii"), rank] for token, rank in ranks.items()]}
    return Tokenizer(_encoding_from_spec(spec), spec)


def make_tokenizer(kind, vocab_size, sample):
    """bpe: trained on sample() (an iterator of texts); gpt2: tiktoken's; a folder: its GPT-2 files."""
    if kind == "gpt2":
        return gpt2_tokenizer()
    if kind == "bpe":
        return train_tokenizer(sample(), vocab_size)
    return tokenizer_from_files(kind)
