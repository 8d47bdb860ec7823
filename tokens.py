"""
The token file: what prepare.py writes for each domain and split, and what data.py memmaps.

A 64-byte header (magic, format version, item size, count, vocab size, the tokenizer's fingerprint), then
the ids as little-endian uint16 (uint32 when the vocab does not fit). A wrong, truncated or foreign file
is refused with one line that names it; files are written to a temp name and renamed.
"""

import os

import numpy as np

from common import TokenFileError

MAGIC = b"CPTMIXTK"
HEADER_BYTES = 64
FORMAT_VERSION = 1


class TokenWriter:
    """Writes a token file chunk by chunk (bounded memory): a placeholder header, the ids as they come, then
    the real header with the count; written to a temp name and renamed on close()."""

    def __init__(self, path, vocab_size, tokenizer_fingerprint):
        self.path, self.vocab_size, self.fingerprint = path, vocab_size, tokenizer_fingerprint
        self.dtype = np.dtype("<u2" if vocab_size <= 2 ** 16 else "<u4")
        self.tmp = f"{path}.tmp-{os.getpid()}"
        self.file = open(self.tmp, "wb")
        self.file.write(bytes(HEADER_BYTES))
        self.count = 0

    def write(self, ids):
        ids = np.asarray(ids, dtype=self.dtype)
        self.file.write(ids.tobytes())
        self.count += len(ids)

    def close(self):
        header = bytearray(HEADER_BYTES)
        header[0:8] = MAGIC
        header[8:32] = np.array([FORMAT_VERSION, self.dtype.itemsize, self.count], dtype="<i8").tobytes()
        header[32:40] = np.array([self.vocab_size], dtype="<i8").tobytes()
        header[40:56] = bytes.fromhex(self.fingerprint[:32])
        self.file.seek(0)
        self.file.write(bytes(header))
        self.file.close()
        os.replace(self.tmp, self.path)


def write_tokens(path, ids, vocab_size, tokenizer_fingerprint):
    writer = TokenWriter(path, vocab_size, tokenizer_fingerprint)
    writer.write(ids)
    writer.close()


def read_tokens(path, tokenizer_fingerprint=None):
    """Memmap a token file after checking its header, size and (optionally) its tokenizer."""
    fix = "rebuild the corpus with prepare.py"
    try:
        with open(path, "rb") as f:
            header = f.read(HEADER_BYTES)
    except OSError as e:
        raise TokenFileError(f"cannot read token file {path} ({e.strerror}); {fix}") from None
    if len(header) < HEADER_BYTES or header[0:8] != MAGIC:
        raise TokenFileError(f"{path} is not a token file written by prepare.py (bad header); {fix}")
    version, itemsize, count = np.frombuffer(header[8:32], dtype="<i8")
    if version != FORMAT_VERSION or itemsize not in (2, 4):
        raise TokenFileError(f"{path} has an unsupported header (version {version}, itemsize {itemsize}); {fix}")
    fingerprint = header[40:56].hex()
    if tokenizer_fingerprint is not None and fingerprint != tokenizer_fingerprint[:32]:
        raise TokenFileError(f"{path} was written with another tokenizer than the corpus' tokenizer.json; {fix}")
    expected = HEADER_BYTES + int(count) * int(itemsize)
    if os.path.getsize(path) != expected:
        raise TokenFileError(f"{path} is truncated or padded ({os.path.getsize(path)} bytes, header says "
                             f"{expected}); {fix}")
    dtype = np.dtype("<u2" if itemsize == 2 else "<u4")
    if count == 0:
        return np.zeros(0, dtype=dtype)
    return np.memmap(path, dtype=dtype, mode="r", offset=HEADER_BYTES, shape=(int(count),))
