"""
Build a corpus: text -> tokenizer -> token files, one folder per domain.

    python prepare.py                          # the built-in default corpus, offline, into data/default/
    python prepare.py --corpus mine --domain prose=books/ --field prose=source \\
                      --domain algebra=alg.jsonl --field algebra=target
    python prepare.py --corpus merged --regroup data/default --merge math=math_arith,math_algebra

Layout of data/<corpus>/:
    meta.json                domains, their field (source|target), token/byte/doc counts, tokenizer, sources
    tokenizer.json           the BPE (pattern + ranks as base64 + special tokens), plain JSON, never a pickle
    <domain>/train.bin       token ids: a 64-byte header (magic, dtype, count, vocab, tokenizer fingerprint)
    <domain>/val.bin         then uint16 (or uint32) ids; documents end with <|endoftext|>
    task.jsonl               the target task: held-out {"domain", "prompt", "answer"} problems (maths)

The default corpus is built from what the machine already has: `code` = the Python
standard library's .py files, `docs` = its docstrings and the pydoc topics, `shell` = man pages of
sections 1 and 8 (rendered with groff), `math_arith` / `math_algebra` = problems from DeepMind's
`mathematics_dataset` generator. Documents are held out by key (a module path is in val for both code
and docs), so the same machine and arguments give byte-identical files. The corpus is written into a
temp folder and renamed when complete: an interrupted build leaves nothing that looks finished.
"""

import argparse
import ast
import base64
import gzip
import hashlib
import importlib
import itertools
import json
import os
import random
import shutil
import subprocess
import sys
import sysconfig
import time
import types
from concurrent.futures import ThreadPoolExecutor

import numpy as np

# ----------------------------------------------------------------------------- defaults
DATA_DIR = "data"
VOCAB_SIZE = 4096            # BPE vocab including <|endoftext|>
VAL_PERMILLE = 50            # share of documents held out for validation (per mille)
TASK_PER_DOMAIN = 100        # held-out problems per maths domain for the target task
TOKENIZER_SAMPLE_BYTES = 1_000_000   # per domain, for training the BPE
DEFAULT_DOMAIN_BYTES = {     # text per domain in the default corpus
    "code": 2_000_000, "docs": 2_000_000, "shell": 2_000_000,
    "math_arith": 1_200_000, "math_algebra": 1_200_000,
}
DEFAULT_FIELDS = {"code": "source", "docs": "source", "shell": "source",
                  "math_arith": "target", "math_algebra": "target"}
EOT = "<|endoftext|>"
# GPT-4's pre-tokenizer split (numbers in groups of at most 3 digits)
SPLIT_PATTERN = r"""'(?i:[sdmt]|ll|ve|re)|[^\r\n\p{L}\p{N}]?+\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]++[\r\n]*|\s*[\r\n]|\s+(?!\S)|\s+"""


class PrepareError(Exception):
    """A problem with the inputs of a corpus; the message names it and the fix."""


# ----------------------------------------------------------------------------- tokenizer

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
        write_text_atomic(path, json.dumps(self.spec))

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


# ----------------------------------------------------------------------------- token files

MAGIC = b"CPTMIXTK"
HEADER_BYTES = 64
FORMAT_VERSION = 1


class TokenFileError(Exception):
    pass


def write_tokens(path, ids, vocab_size, tokenizer_fingerprint):
    dtype = np.uint16 if vocab_size <= 2 ** 16 else np.uint32
    ids = np.asarray(ids, dtype=dtype)
    header = bytearray(HEADER_BYTES)
    header[0:8] = MAGIC
    header[8:32] = np.array([FORMAT_VERSION, ids.itemsize, len(ids)], dtype="<i8").tobytes()
    header[32:40] = np.array([vocab_size], dtype="<i8").tobytes()
    header[40:56] = bytes.fromhex(tokenizer_fingerprint[:32])
    tmp = f"{path}.tmp-{os.getpid()}"
    with open(tmp, "wb") as f:
        f.write(bytes(header))
        f.write(ids.astype(ids.dtype.newbyteorder("<"), copy=False).tobytes())
    os.replace(tmp, path)


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


# ----------------------------------------------------------------------------- atomic writes

def write_text_atomic(path, text):
    tmp = f"{path}.tmp-{os.getpid()}"
    with open(tmp, "w") as f:
        f.write(text)
    os.replace(tmp, path)


def write_json_atomic(path, obj):
    write_text_atomic(path, json.dumps(obj, indent=1))


# ----------------------------------------------------------------------------- default sources

def stable_order(keys):
    """A fixed pseudo-random order (by hash), so a byte cap takes a spread of documents, not the A's."""
    return sorted(keys, key=lambda k: hashlib.sha1(k.encode()).hexdigest())


def stdlib_files():
    root = sysconfig.get_paths()["stdlib"]
    skip = {"site-packages", "dist-packages", "test", "tests", "idlelib", "lib2to3", "__pycache__", "turtledemo"}
    files = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if d not in skip)
        files += [os.path.join(dirpath, f) for f in filenames if f.endswith(".py")]
    return root, files


def code_documents(max_bytes):
    """The standard library's .py files; the key is the module path (shared with `docs`)."""
    root, files = stdlib_files()
    for path in stable_order([os.path.relpath(f, root) for f in files]):
        with open(os.path.join(root, path), encoding="utf-8", errors="replace") as f:
            yield path, f.read()


def docs_documents(max_bytes):
    """English documentation shipped with Python: each module's docstrings, then the pydoc topics."""
    root, files = stdlib_files()
    for path in stable_order([os.path.relpath(f, root) for f in files]):
        with open(os.path.join(root, path), encoding="utf-8", errors="replace") as f:
            source = f.read()
        try:
            tree = ast.parse(source)
        except (SyntaxError, ValueError):
            continue
        parts = []
        for node in ast.walk(tree):
            if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
                doc = ast.get_docstring(node)
                if doc and len(doc) > 40:
                    title = path if isinstance(node, ast.Module) else node.name
                    parts.append(f"{title}\n\n{doc}")
        if parts:
            yield path, "\n\n".join(parts)
    try:
        from pydoc_data.topics import topics
    except ImportError:
        return
    for name in sorted(topics):
        yield f"pydoc_topic:{name}", topics[name]


def man_page_files():
    pages = []
    for root in ("/usr/share/man", "/usr/local/share/man"):
        for section in ("man1", "man8"):
            folder = os.path.join(root, section)
            if os.path.isdir(folder):
                pages += [os.path.join(folder, f) for f in sorted(os.listdir(folder))]
    return pages


def render_man_page(path):
    """Plain ASCII text of one man page via groff, or None for a .so redirect or a failed render."""
    try:
        opener = gzip.open if path.endswith(".gz") else open
        with opener(path, "rb") as f:
            source = f.read()
    except OSError:
        return None
    if source.lstrip().startswith(b".so "):
        return None
    result = subprocess.run(["groff", "-t", "-man", "-Tascii", "-P-cbou"], input=source, capture_output=True,
                            env={**os.environ, "LC_ALL": "C"}, timeout=60)
    text = result.stdout.decode("ascii", "replace").strip()
    return text if result.returncode == 0 and len(text) > 200 else None


def shell_documents(max_bytes):
    pages = {os.path.basename(p): p for p in man_page_files()}
    ordered = stable_order(list(pages))
    # render in parallel chunks; stop once enough text is collected
    with ThreadPoolExecutor(max_workers=4) as pool:
        for start in range(0, len(ordered), 64):
            chunk = ordered[start:start + 64]
            for name, text in zip(chunk, pool.map(lambda n: render_man_page(pages[n]), chunk)):
                if text:
                    yield name, text


def import_mathematics_dataset():
    """Import DeepMind's mathematics_dataset (2019) on numpy 2 / sympy >= 1.6 without editing site-packages.

    Its sample/polynomials.py breaks in four places: `base_solution_linear` moved from
    sympy.solvers.diophantine to sympy.solvers.diophantine.diophantine; `np.object` is gone; and
    `ndarray.itemset` is gone (used twice). We re-export the sympy function under its old name, and
    give polynomials.py its own numpy namespace whose `object` exists and whose zeros/empty return
    arrays that still have `itemset`. Nothing else in numpy or sympy changes.
    """
    try:
        diophantine = importlib.import_module("sympy.solvers.diophantine")
        if not hasattr(diophantine, "base_solution_linear"):
            moved = importlib.import_module("sympy.solvers.diophantine.diophantine")
            diophantine.base_solution_linear = moved.base_solution_linear
        from mathematics_dataset.sample import polynomials
        from mathematics_dataset.modules import algebra, arithmetic
    except ImportError as e:
        raise PrepareError(f"the maths domains need mathematics_dataset ({e}); "
                           "run: pip install -r requirements.txt") from None
    if not isinstance(polynomials.np, _NumpyCompat):
        polynomials.np = _NumpyCompat("numpy_compat_for_mathematics_dataset")
    return arithmetic, algebra


class _ItemsetArray(np.ndarray):
    def itemset(self, index, value):  # numpy < 2 API
        self[index] = value


class _NumpyCompat(types.ModuleType):
    object = object

    def __getattr__(self, name):
        return getattr(np, name)

    @staticmethod
    def zeros(*args, **kwargs):
        return np.zeros(*args, **kwargs).view(_ItemsetArray)

    @staticmethod
    def empty(*args, **kwargs):
        return np.empty(*args, **kwargs).view(_ItemsetArray)


MATH_MODULES = {
    "math_arith": ("arithmetic", ["add_or_sub", "add_sub_multiple", "mul", "div", "mul_div_multiple", "mixed"]),
    "math_algebra": ("algebra", ["linear_1d", "linear_2d"]),
}


def easy_entropy(entropy_range):
    """The generator's 'train-easy' level: the lowest third of each module's difficulty range (a small
    CPU model can learn some of it, so the target task's accuracy is not stuck at zero)."""
    low, high = entropy_range
    return low, low + (high - low) / 3


def math_documents(domain, max_bytes, seed=0):
    """`Question: ...\nAnswer: ...` problems from a worker process. The generator iterates over sets of
    strings somewhere inside, so its output depends on Python's hash seed: the worker runs with
    PYTHONHASHSEED=0 to make the corpus byte-identical from run to run."""
    here = os.path.dirname(os.path.abspath(__file__))
    env = {**os.environ, "PYTHONHASHSEED": "0", "PYTHONPATH": here + os.pathsep + os.environ.get("PYTHONPATH", "")}
    command = [sys.executable, "-c", "import sys, prepare; prepare.math_worker(sys.argv[1], int(sys.argv[2]), "
               "int(sys.argv[3]))", domain, str(max_bytes or 10 ** 7), str(seed)]
    with subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, text=True) as worker:
        for line in worker.stdout:
            yield tuple(json.loads(line))
        error = worker.stderr.read().strip()
    if worker.returncode != 0:
        raise PrepareError(error.splitlines()[-1] if error else f"the {domain} generator failed")


def math_worker(domain, max_bytes, seed):
    """Print [question, document] JSON lines until max_bytes of documents (run by math_documents)."""
    try:
        arithmetic, algebra = import_mathematics_dataset()
    except PrepareError as e:
        sys.exit(str(e))
    package_name, module_names = MATH_MODULES[domain]
    generators = {"arithmetic": arithmetic, "algebra": algebra}[package_name].train(easy_entropy)
    random.seed(f"{domain}-{seed}")  # the generator draws from the global RNGs
    np.random.seed(int(hashlib.sha1(f"{domain}-{seed}".encode()).hexdigest()[:8], 16))
    seen, written, repeats = set(), 0, 0
    while written < max_bytes and repeats < 10_000:  # round-robin over the modules; a repeat is kept once
        for name in module_names:
            problem = generators[name]()
            question, answer = str(problem.question).strip(), str(problem.answer).strip()
            if question in seen:
                repeats += 1
                continue
            seen.add(question)
            document = f"Question: {question}\nAnswer: {answer}"
            print(json.dumps([question, document]))
            written += len(document.encode("utf-8"))


def split_qa_document(text):
    question, answer = text.rsplit("\nAnswer: ", 1)
    return f"{question}\nAnswer:", f" {answer}"


# ----------------------------------------------------------------------------- user sources

def user_documents(path, max_bytes=None):
    """A folder of .txt/.md/.py files (one document each) or a .jsonl file with a "text" field per line."""
    if not os.path.exists(path):
        raise PrepareError(f"domain path {path} does not exist; give a folder of .txt/.md/.py files or a .jsonl file")
    if os.path.isfile(path):
        if not path.endswith(".jsonl"):
            raise PrepareError(f"{path} is a file but not .jsonl; give a folder of .txt/.md/.py files or a "
                               "jsonl file with a \"text\" field")
        with open(path, encoding="utf-8", errors="replace") as f:
            for line_number, line in enumerate(f, 1):
                if not line.strip():
                    continue
                try:
                    record = json.loads(line)
                    text = record["text"]
                except (ValueError, KeyError, TypeError):
                    raise PrepareError(f"{path} line {line_number} is not a JSON object with a \"text\" field; "
                                       "fix or remove that line") from None
                yield f"{os.path.basename(path)}:{line_number}", str(text)
        return
    files = []
    for dirpath, dirnames, filenames in os.walk(path):
        dirnames.sort()
        files += [os.path.join(dirpath, f) for f in sorted(filenames) if f.endswith((".txt", ".md", ".py"))]
    for file in files:
        with open(file, encoding="utf-8", errors="replace") as f:
            yield os.path.relpath(file, path), f.read()


# ----------------------------------------------------------------------------- building a corpus

def is_val(key, val_permille):
    return int(hashlib.sha1(key.encode()).hexdigest()[:8], 16) % 1000 < val_permille


def collect(documents, max_bytes, val_permille):
    """Split (key, text) documents into train/val lists by key, up to max_bytes of text in all. An exact
    repeat of a document is kept once, so no validation document is also a training one."""
    train, val, total, seen = [], [], 0, set()
    for key, text in documents:
        text = text.replace(EOT, "")
        digest = hashlib.sha1(text.encode("utf-8", "replace")).digest()
        if not text.strip() or digest in seen:
            continue
        seen.add(digest)
        (val if is_val(key, val_permille) else train).append(text)
        total += len(text.encode("utf-8"))
        if max_bytes is not None and total >= max_bytes:
            break
    return train, val


def default_sources():
    """The default corpus' domains: name -> (field, documents function, how to add it when missing)."""
    sources = {}
    sources["code"] = ("source", code_documents, None)
    sources["docs"] = ("source", docs_documents, None)
    have_man = shutil.which("groff") and man_page_files()
    sources["shell"] = ("source", shell_documents if have_man else None,
                        "apt-get install groff-base man-db manpages (Debian/Ubuntu)")
    for domain in MATH_MODULES:
        sources[domain] = ("target", lambda max_bytes, d=domain: math_documents(d, max_bytes),
                           "pip install -r requirements.txt")
    return sources


def build_corpus(out_dir, domains, tokenizer_kind="bpe", vocab_size=VOCAB_SIZE, val_permille=VAL_PERMILLE,
                 task_domains=(), task_per_domain=TASK_PER_DOMAIN, log=print):
    """domains: {name: (field, documents function taking max_bytes, max_bytes or None, description)}.
    task_domains: domains whose documents are 'Question: ...\nAnswer: ...' problems; their first
    held-out problems become the target task. Writes the corpus into a temp folder beside out_dir and
    renames it when complete."""
    if os.path.exists(os.path.join(out_dir, "meta.json")):
        raise PrepareError(f"corpus {out_dir} already exists; delete it or choose another --corpus name")
    parent = os.path.dirname(os.path.abspath(out_dir))
    os.makedirs(parent, exist_ok=True)
    for stale in os.listdir(parent):  # leftovers of an interrupted build
        if stale.startswith(os.path.basename(out_dir) + ".tmp-"):
            shutil.rmtree(os.path.join(parent, stale), ignore_errors=True)
    tmp_dir = f"{out_dir}.tmp-{os.getpid()}"
    os.makedirs(tmp_dir)
    try:
        meta = _build_into(tmp_dir, domains, tokenizer_kind, vocab_size, val_permille, task_domains,
                           task_per_domain, log)
        if os.path.exists(out_dir):
            shutil.rmtree(out_dir)  # a folder without meta.json is an unfinished corpus
        os.replace(tmp_dir, out_dir)
    finally:
        shutil.rmtree(tmp_dir, ignore_errors=True)
    return meta


def _build_into(tmp_dir, domains, tokenizer_kind, vocab_size, val_permille, task_domains, task_per_domain, log):
    texts, sources = {}, {}
    for name, (field, documents, max_bytes, description) in domains.items():
        t0 = time.time()
        train, val = collect(documents(max_bytes), max_bytes, val_permille)
        if not train or not val:
            raise PrepareError(f"domain '{name}' has {len(train)} training and {len(val)} validation documents; "
                               "it needs at least one of each: give it more documents (or lower --val_permille "
                               "for many small ones)")
        texts[name] = (field, train, val)
        sources[name] = description
        n_bytes = sum(len(t.encode("utf-8")) for t in train + val)
        log(f"  {name:14s} {field:6s} {len(train):6d} train / {len(val):5d} val docs, "
            f"{n_bytes / 1e6:6.2f} MB  ({time.time() - t0:.1f}s)")

    t0 = time.time()
    if tokenizer_kind == "gpt2":
        tokenizer = gpt2_tokenizer()
    else:
        tokenizer = train_tokenizer(_tokenizer_sample(texts), vocab_size)
    tokenizer.save(os.path.join(tmp_dir, "tokenizer.json"))
    log(f"  tokenizer: {tokenizer_kind}, vocab {tokenizer.vocab_size} ({time.time() - t0:.1f}s)")

    t0 = time.time()
    domain_meta = []
    for name, (field, train, val) in texts.items():
        os.makedirs(os.path.join(tmp_dir, name))
        counts = {}
        for split, docs in (("train", train), ("val", val)):
            ids = []
            for doc_ids in tokenizer.encode_batch(docs):
                ids.extend(doc_ids)
                ids.append(tokenizer.eot)
            write_tokens(os.path.join(tmp_dir, name, f"{split}.bin"), ids, tokenizer.vocab_size,
                         tokenizer.fingerprint)
            counts[split] = (len(ids), len(docs), sum(len(d.encode("utf-8")) for d in docs))
        domain_meta.append({"name": name, "field": field, "source": sources[name],
                            "train_tokens": counts["train"][0], "val_tokens": counts["val"][0],
                            "train_docs": counts["train"][1], "val_docs": counts["val"][1],
                            "train_bytes": counts["train"][2], "val_bytes": counts["val"][2]})
    log(f"  encoded {sum(d['train_tokens'] + d['val_tokens'] for d in domain_meta) / 1e6:.2f}M tokens "
        f"({time.time() - t0:.1f}s)")

    task = []
    for name, (field, train, val) in texts.items():
        if name in task_domains:
            problems = [split_qa_document(doc) for doc in val if "\nAnswer: " in doc][:task_per_domain]
            if not problems:
                raise PrepareError(f"--task {name}: none of its held-out documents looks like "
                                   "'Question: ...\\nAnswer: ...'; format them so or drop --task")
            task += [{"domain": name, "prompt": prompt, "answer": answer} for prompt, answer in problems]
    if task:
        write_text_atomic(os.path.join(tmp_dir, "task.jsonl"), "".join(json.dumps(t) + "\n" for t in task))
    meta = {
        "format": FORMAT_VERSION,
        "tokenizer": {"kind": tokenizer_kind, "vocab_size": tokenizer.vocab_size,
                      "fingerprint": tokenizer.fingerprint, "file": "tokenizer.json"},
        "domains": domain_meta,
        "task": {"file": "task.jsonl", "problems": len(task)} if task else None,
        "val_permille": val_permille,
        "python": sys.version.split()[0],
    }
    write_json_atomic(os.path.join(tmp_dir, "meta.json"), meta)
    return meta


def _tokenizer_sample(texts):
    """The first TOKENIZER_SAMPLE_BYTES of each domain's training documents."""
    for field, train, val in texts.values():
        used = 0
        for doc in train:
            yield doc
            used += len(doc)
            if used >= TOKENIZER_SAMPLE_BYTES:
                break


def build_default_corpus(out_dir, domain_bytes=None, tokenizer_kind="bpe", vocab_size=VOCAB_SIZE,
                         val_permille=VAL_PERMILLE, log=print):
    domain_bytes = {**DEFAULT_DOMAIN_BYTES, **(domain_bytes or {})}
    domains = {}
    for name, (field, documents, how_to_add) in default_sources().items():
        if documents is None:
            log(f"  warning: source for domain '{name}' is missing on this machine; add it with: {how_to_add}")
            continue
        description = {"code": "Python standard library .py files", "docs": "Python docstrings + pydoc topics",
                       "shell": "man pages, sections 1 and 8", "math_arith": "mathematics_dataset arithmetic (easy)",
                       "math_algebra": "mathematics_dataset linear_1d/linear_2d (easy)"}[name]
        domains[name] = (field, documents, domain_bytes[name], description)
    for field in ("source", "target"):
        if not any(d[0] == field for d in domains.values()):
            raise PrepareError(f"no {field} domain can be built on this machine; "
                               "run: pip install -r requirements.txt, or bring your own with --domain/--field")
    return build_corpus(out_dir, domains, tokenizer_kind, vocab_size, val_permille, task_domains=MATH_MODULES,
                        log=log)


def regroup_corpus(source_dir, out_dir, merges, log=print):
    """The same documents and tokenizer as source_dir in another domain space: merges = {new: [old, ...]}
    puts several domains of one field into one (documents interleaved round-robin, each still ending
    with <|endoftext|>); the other domains are copied; the task's problems are relabelled. Written into a
    temp folder and renamed, like build_corpus."""
    with open(os.path.join(source_dir, "meta.json")) as f:
        meta = json.load(f)
    by_name = {d["name"]: d for d in meta["domains"]}
    merged_from = {old: new for new, olds in merges.items() for old in olds}
    for new, olds in merges.items():
        missing = [o for o in olds if o not in by_name]
        if missing or len(olds) < 2:
            raise PrepareError(f"--merge {new}={','.join(olds)}: give two or more of the corpus' domains "
                               f"{sorted(by_name)}" + (f" ({missing} are not among them)" if missing else ""))
        if len({by_name[o]["field"] for o in olds}) > 1:
            raise PrepareError(f"--merge {new}: {olds} are in different fields; merge domains of one field")
    if os.path.exists(os.path.join(out_dir, "meta.json")):
        raise PrepareError(f"corpus {out_dir} already exists; delete it or choose another --corpus name")
    tokenizer = Tokenizer.load(os.path.join(source_dir, "tokenizer.json"))
    tmp_dir = f"{out_dir}.tmp-{os.getpid()}"
    shutil.rmtree(tmp_dir, ignore_errors=True)
    os.makedirs(tmp_dir)
    try:
        shutil.copy(os.path.join(source_dir, "tokenizer.json"), os.path.join(tmp_dir, "tokenizer.json"))
        domains = []
        for d in meta["domains"]:
            new = merged_from.get(d["name"], d["name"])
            if any(x["name"] == new for x in domains):
                continue
            olds = merges.get(new, [d["name"]])
            os.makedirs(os.path.join(tmp_dir, new))
            entry = {"name": new, "field": d["field"], "source": " + ".join(by_name[o]["source"] for o in olds)}
            for split in ("train", "val"):
                docs = [np.split(ids, np.flatnonzero(ids == tokenizer.eot)[:-1] + 1) for ids in
                        (np.asarray(read_tokens(os.path.join(source_dir, o, f"{split}.bin"), tokenizer.fingerprint))
                         for o in olds)]
                interleaved = [doc for group in itertools.zip_longest(*docs) for doc in group if doc is not None]
                ids = np.concatenate(interleaved)
                write_tokens(os.path.join(tmp_dir, new, f"{split}.bin"), ids, tokenizer.vocab_size,
                             tokenizer.fingerprint)
                for key in ("tokens", "docs", "bytes"):
                    entry[f"{split}_{key}"] = sum(by_name[o][f"{split}_{key}"] for o in olds)
            domains.append(entry)
            log(f"  {new} ({d['field']}): {' + '.join(olds)}, {entry['train_tokens']:,} train tokens")
        if meta.get("task"):
            with open(os.path.join(source_dir, meta["task"]["file"])) as f:
                task = [json.loads(line) for line in f if line.strip()]
            write_text_atomic(os.path.join(tmp_dir, "task.jsonl"), "".join(
                json.dumps({**t, "domain": merged_from.get(t["domain"], t["domain"])}) + "\n" for t in task))
        write_json_atomic(os.path.join(tmp_dir, "meta.json"), {**meta, "domains": domains,
                                                                "regrouped_from": source_dir})
        os.replace(tmp_dir, out_dir)
    finally:
        shutil.rmtree(tmp_dir, ignore_errors=True)


def parse_named(pairs, what):
    out = {}
    for pair in pairs or []:
        if "=" not in pair:
            raise PrepareError(f"{what} '{pair}' must look like NAME=VALUE")
        name, value = pair.split("=", 1)
        if not name.isidentifier():
            raise PrepareError(f"{what} name '{name}' must be a plain identifier (letters, digits, _)")
        out[name] = value
    return out


def main(argv=None):
    parser = argparse.ArgumentParser(description="Build a corpus of domains (see the module docstring).")
    parser.add_argument("--corpus", default="default", help="corpus name: data/<corpus>/ (default: %(default)s)")
    parser.add_argument("--data_dir", default=DATA_DIR, help="where corpora live (default: %(default)s)")
    parser.add_argument("--domain", action="append", help="NAME=PATH (folder of .txt/.md/.py or a .jsonl); repeat")
    parser.add_argument("--field", action="append", help="NAME=source|target for each --domain; repeat")
    parser.add_argument("--task", action="append", default=[],
                        help="NAME of a target domain whose documents are 'Question: ...\\nAnswer: ...' "
                             "problems; its held-out ones become the target task; repeat")
    parser.add_argument("--max_bytes", type=int, default=None, help="cap of text per user domain (default: all)")
    parser.add_argument("--tokenizer", choices=["bpe", "gpt2"], default="bpe", help="(default: %(default)s)")
    parser.add_argument("--vocab_size", type=int, default=VOCAB_SIZE, help="BPE vocab (default: %(default)s)")
    parser.add_argument("--val_permille", type=int, default=VAL_PERMILLE,
                        help="documents held out for validation, per mille (default: %(default)s)")
    parser.add_argument("--regroup", default=None, metavar="CORPUS_DIR",
                        help="derive the corpus from this one (same documents, same tokenizer) with --merge")
    parser.add_argument("--merge", action="append", default=[],
                        help="with --regroup: NEW=a,b puts domains a and b (one field) into one domain; repeat")
    args = parser.parse_args(argv)
    out_dir = os.path.join(args.data_dir, args.corpus)
    try:
        if not 0 < args.val_permille < 1000:
            raise PrepareError(f"--val_permille {args.val_permille} must be between 1 and 999")
        t0 = time.time()
        if args.regroup or args.merge:
            if not (args.regroup and args.merge):
                raise PrepareError("--regroup CORPUS_DIR and --merge NEW=a,b go together")
            if not os.path.exists(os.path.join(args.regroup, "meta.json")):
                raise PrepareError(f"--regroup {args.regroup} is not a corpus (no meta.json); build it first")
            merges = {new: olds.split(",") for new, olds in parse_named(args.merge, "--merge").items()}
            print(f"regrouping {args.regroup} into {out_dir}")
            regroup_corpus(args.regroup, out_dir, merges)
        elif args.domain:
            paths, fields = parse_named(args.domain, "--domain"), parse_named(args.field, "--field")
            for name in paths:
                if fields.get(name) not in ("source", "target"):
                    raise PrepareError(f"domain '{name}' needs --field {name}=source or --field {name}=target")
            unknown = (set(fields) | set(args.task)) - set(paths)
            if unknown:
                raise PrepareError(f"--field/--task name unknown domains {sorted(unknown)}; each needs a "
                                   "--domain NAME=PATH")
            for name, path in paths.items():  # check every path before the long part
                next(iter(user_documents(path)), None)
            domains = {name: (fields[name], lambda max_bytes, p=path: user_documents(p), args.max_bytes, path)
                       for name, path in paths.items()}
            print(f"building corpus {out_dir} from {len(domains)} user domains")
            build_corpus(out_dir, domains, args.tokenizer, args.vocab_size, args.val_permille, args.task)
        else:
            if args.field or args.task:
                raise PrepareError("--field and --task need --domain NAME=PATH for the same names")
            print(f"building the default corpus in {out_dir}")
            build_default_corpus(out_dir, tokenizer_kind=args.tokenizer, vocab_size=args.vocab_size,
                                 val_permille=args.val_permille)
        print(f"corpus written to {out_dir} in {time.time() - t0:.1f}s")
    except PrepareError as e:
        sys.exit(f"error: {e}")


if __name__ == "__main__":
    main()
