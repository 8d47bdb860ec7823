"""
Where the text of a corpus comes from: the built-in default corpus' sources (what a machine with Python
and the requirements already has) and the user's own files. Each source yields (key, text) documents;
prepare.py splits them by key, tokenizes and writes them.

    code          the Python standard library's .py files
    docs          their docstrings and the pydoc topics (English documentation that ships with Python)
    shell         man pages of sections 1 and 8, rendered to plain text with groff
    math_compare  DeepMind's mathematics_dataset generator (closest value; greatest common divisor), as
    math_numbers  'Question: ...\nAnswer: ...' documents

More text the machine has, for corpora derived with prepare.py --regroup ... --add NAME=FOLDER:

    python sources.py licenses FOLDER    the licence and copyright texts of the installed Debian packages
"""

import argparse
import ast
import gzip
import hashlib
import importlib
import json
import os
import random
import shutil
import subprocess
import sys
import sysconfig
import types
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq


class PrepareError(Exception):
    """A problem with the inputs of a corpus; the message names it and the fix."""


class Parser(argparse.ArgumentParser):
    """argparse with a short error: the one line that matters and where to look, not ~30 lines of usage.
    Every script's command line goes through it (it lives here, in the lowest layer, so all can import it)."""

    def error(self, message):
        self.exit(2, f"{self.prog}: error: {message}\n(python {self.prog} --help lists every option)\n")


# ----------------------------------------------------------------------------- the default corpus' sources

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


def code_documents():
    """The standard library's .py files; the key is the module path (shared with `docs`)."""
    root, files = stdlib_files()
    for path in stable_order([os.path.relpath(f, root) for f in files]):
        with open(os.path.join(root, path), encoding="utf-8", errors="replace") as f:
            yield path, f.read()


def docs_documents():
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


def shell_documents():
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
        from mathematics_dataset.modules import modules
    except ImportError as e:
        raise PrepareError(f"the maths domains need mathematics_dataset ({e}); "
                           "run: pip install -r requirements.txt") from None
    if not isinstance(polynomials.np, _NumpyCompat):
        polynomials.np = _NumpyCompat("numpy_compat_for_mathematics_dataset")
    return modules


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


MATH_MODULES = {  # target domain -> the generator's (package, module)
    "math_compare": ("comparison", "closest"),
    "math_numbers": ("numbers", "gcd"),
}
# The generator's difficulty, as the entropy range of every module: (1, 2), below its 'train-easy' level.
# Calibrated (docs/benchmark.md) so that the default 4x128 GPT learns the task within the CPU budget:
# exact match rises from about 0.02 (the base) to between 0.2 and 0.8 with CPT, and the target share
# moves it. At harder levels (multi-digit arithmetic, equations) this model stays near 0 whatever the mixer.
MATH_ENTROPY = (1.0, 2.0)
def math_documents(domain, max_bytes, seed=0):
    """`Question: ...\nAnswer: ...` problems from a worker process. The generator iterates over sets of
    strings somewhere inside, so its output depends on Python's hash seed: the worker runs with
    PYTHONHASHSEED=0 to make the corpus byte-identical from run to run."""
    here = os.path.dirname(os.path.abspath(__file__))
    env = {**os.environ, "PYTHONHASHSEED": "0", "PYTHONPATH": here + os.pathsep + os.environ.get("PYTHONPATH", "")}
    command = [sys.executable, "-c", "import sys, sources; sources.math_worker(sys.argv[1], int(sys.argv[2]), "
               "int(sys.argv[3]))", domain, str(max_bytes), str(seed)]
    with subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, text=True) as worker:
        for line in worker.stdout:
            yield tuple(json.loads(line))
        error = worker.stderr.read().strip()
    if worker.returncode != 0:
        raise PrepareError(error.splitlines()[-1] if error else f"the {domain} generator failed")


def math_worker(domain, max_bytes, seed):
    """Print [question, document] JSON lines until max_bytes of documents (run by math_documents)."""
    try:
        modules = import_mathematics_dataset()
    except PrepareError as e:
        sys.exit(str(e))
    package, module = MATH_MODULES[domain]
    generate = modules.train(lambda entropy_range: MATH_ENTROPY)[package][module]
    random.seed(f"{domain}-{seed}")  # the generator draws from the global RNGs
    np.random.seed(int(hashlib.sha1(f"{domain}-{seed}".encode()).hexdigest()[:8], 16))
    seen, written, repeats = set(), 0, 0
    while written < max_bytes and repeats < 10_000:  # a repeated question is kept once
        try:
            problem = generate()
        except AssertionError:  # the 2019 generator's rare internal failure (seen in linear_2d after ~5 MB)
            continue
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

USER_FORMATS = "a folder of .txt/.md/.py files, a .jsonl or .jsonl.gz file, or a .parquet file"


def user_documents(path, text_column="text"):
    """A user's domain: a folder of .txt/.md/.py files (one document each), a .jsonl or .jsonl.gz file (one
    JSON object per line) or a .parquet file (one row each), the text in `text_column`. Read as a stream:
    a large file never sits in memory whole."""
    if not os.path.exists(path):
        raise PrepareError(f"domain path {path} does not exist; give {USER_FORMATS}")
    if os.path.isdir(path):
        files = []
        for dirpath, dirnames, filenames in os.walk(path):
            dirnames.sort()
            files += [os.path.join(dirpath, f) for f in sorted(filenames) if f.endswith((".txt", ".md", ".py"))]
        for file in files:
            with open(file, encoding="utf-8", errors="replace") as f:
                yield os.path.relpath(file, path), f.read()
    elif path.endswith((".jsonl", ".jsonl.gz")):
        opener = gzip.open if path.endswith(".gz") else open
        try:
            with opener(path, "rt", encoding="utf-8", errors="replace") as f:
                for line_number, line in enumerate(f, 1):
                    if not line.strip():
                        continue
                    try:
                        text = json.loads(line)[text_column]
                    except (ValueError, KeyError, TypeError):
                        raise PrepareError(f"{path} line {line_number} is not a JSON object with a \"{text_column}\" "
                                           "field; fix or remove that line (or name it with --text_column)") from None
                    yield f"{os.path.basename(path)}:{line_number}", str(text)
        except (OSError, EOFError) as e:  # a truncated or mislabelled .gz
            raise PrepareError(f"{path} cannot be read ({type(e).__name__}: {e}); check the file") from None
    elif path.endswith(".parquet"):
        try:
            table = pq.ParquetFile(path)
        except (OSError, pa.ArrowException) as e:
            raise PrepareError(f"{path} is not a readable parquet file ({type(e).__name__}); check the file") from None
        if text_column not in table.schema_arrow.names:
            raise PrepareError(f"{path} has no column '{text_column}' (it has {table.schema_arrow.names}); name the "
                               "text column with --text_column")
        row = 0
        for batch in table.iter_batches(batch_size=1024, columns=[text_column]):
            for text in batch.column(0).to_pylist():
                row += 1
                if text is not None:
                    yield f"{os.path.basename(path)}:{row}", str(text)
    else:
        raise PrepareError(f"{path} is a file of an unknown kind; give {USER_FORMATS}")


# ----------------------------------------------------------------------------- the default corpus

DEFAULT_DOMAIN_BYTES = {     # text per domain in the default corpus (train and held out)
    "code": 750_000, "docs": 750_000, "shell": 750_000,
    "math_compare": 390_000, "math_numbers": 390_000,
}
# held-out documents per mille, for validation and again for test: 10% of the source documents (a standard
# library module is a document, so code has only about 40), 15% of the maths problems, so that the test
# split gives the target task 500 problems per domain while the train split stays small
DEFAULT_HELD_OUT_PERMILLE = {"code": 100, "docs": 100, "shell": 100, "math_compare": 150, "math_numbers": 150}


def default_sources(domain_bytes):
    """The default corpus' domains: name -> (field, documents() or None when the machine lacks the source,
    max bytes, description, how to add it when missing)."""
    have_man = shutil.which("groff") and man_page_files()
    maths = "pip install -r requirements.txt"
    sources = {
        "code": ("source", code_documents, "Python standard library .py files", None),
        "docs": ("source", docs_documents, "Python docstrings + pydoc topics", None),
        "shell": ("source", shell_documents if have_man else None, "man pages, sections 1 and 8",
                  "apt-get install groff-base man-db manpages (Debian/Ubuntu)"),
        "math_compare": ("target", None, "mathematics_dataset comparison/closest, entropy (1, 2)", maths),
        "math_numbers": ("target", None, "mathematics_dataset numbers/gcd, entropy (1, 2)", maths),
    }
    out = {}
    for name, (field, documents, description, how_to_add) in sources.items():
        if field == "target":
            documents = lambda d=name: math_documents(d, domain_bytes[d])  # the generator stops at the cap
        out[name] = (field, documents, domain_bytes[name], description, how_to_add)
    return out


# ----------------------------------------------------------------------------- more text the machine has

LICENSE_BYTES = DEFAULT_DOMAIN_BYTES["shell"]  # as much text as one source domain of the default corpus


def license_files(share="/usr/share"):
    """{key: path} of the licence texts of the installed Debian packages: the common licences
    (share/common-licenses/*) and each package's copyright file (share/doc/<package>/copyright or .gz)."""
    files, licenses, docs = {}, os.path.join(share, "common-licenses"), os.path.join(share, "doc")
    for name in sorted(os.listdir(licenses)) if os.path.isdir(licenses) else []:
        if os.path.isfile(os.path.join(licenses, name)):
            files[f"common-licenses/{name}"] = os.path.join(licenses, name)
    for package in sorted(os.listdir(docs)) if os.path.isdir(docs) else []:
        for name in ("copyright", "copyright.gz"):
            if os.path.isfile(os.path.join(docs, package, name)):
                files[f"copyright/{package}"] = os.path.join(docs, package, name)
                break
    return files


def write_license_texts(folder, max_bytes=LICENSE_BYTES, share="/usr/share"):
    """The licence texts of the installed Debian packages as a folder of documents for prepare.py --add, one
    .txt per file (common-licenses/<name>.txt, copyright/<package>.txt): English legal text, a source the
    default corpus does not use. Exact repeats are kept once (many packages share a file); files are taken
    in a fixed pseudo-random order (stable_order) while they fit in max_bytes of text in all, so the same
    machine gives the same folder. Written into a temp folder and renamed. Returns (documents, bytes)."""
    files = license_files(share)
    if not files:
        raise PrepareError(f"this machine has no licence texts ({share}/common-licenses/*, {share}/doc/*/copyright); "
                           "Debian and Ubuntu have them, unless the image leaves /usr/share/doc out")
    if os.path.exists(folder):
        raise PrepareError(f"{folder} already exists; delete it or choose another folder")
    tmp = f"{folder}.tmp-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    count, total, seen = 0, 0, set()
    try:
        for key in stable_order(list(files)):
            opener = gzip.open if files[key].endswith(".gz") else open
            try:
                with opener(files[key], "rb") as f:
                    text = f.read().decode("utf-8", "replace")
            except (OSError, EOFError):  # unreadable, or a damaged .gz
                continue
            size, digest = len(text.encode("utf-8")), hashlib.sha1(text.encode("utf-8")).digest()
            if not text.strip() or digest in seen or total + size > max_bytes:
                continue
            seen.add(digest)
            os.makedirs(os.path.dirname(os.path.join(tmp, key)), exist_ok=True)
            with open(os.path.join(tmp, key + ".txt"), "w", encoding="utf-8") as f:
                f.write(text)
            count, total = count + 1, total + size
        if not count:
            raise PrepareError(f"none of the {len(files)} licence texts fits in {max_bytes} bytes; raise --max_bytes")
        os.replace(tmp, folder)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return count, total


# ----------------------------------------------------------------------------- the known-answer corpus

KNOWN_ANSWER_HELD_OUT_PERMILLE = {"noise": 100, "tiny": 300, "slow": 100, "fast": 100, "target": 150}


def known_answer_sources(seed=0):
    """A corpus whose domains have designed properties, to check what each mixer does with each
    (tests/test_known_answer.py, docs/known-answer.md). name -> (field, documents()):
        noise   (source) random letters and spaces: nothing to learn past the letters' frequencies, so its
                loss stays the highest of all
        tiny    (source) 60 short templated notes, 30% held out for val and again for test: the training
                part is learned by heart within the first epochs, then the model over-fits it (its
                validation loss stops falling, then rises)
        slow    (source) copy problems, a random sequence of words then the same again: a small model
                learns to copy (an induction head) slowly
        fast    (source) one sentence template with few slots: learned within a few dozen steps, then flat
        target  (target) 'Question: What is a + b?\\nAnswer: c' for a, b below 50"""
    words = ("apple river stone cloud tiger paper glass honey orange silver window garden pencil rocket "
             "violin marble candle forest butter planet").split()
    names = ("Ada Ben Cleo Dan Eve Finn Gus Hana Ivo Jun Kai Lea Mo Nia Oli Pia Quin Ray Sol Tea").split()

    def documents(kind):
        rng = random.Random(f"{kind}-{seed}")
        count = {"tiny": 60, "target": 1500}.get(kind, 400)
        for i in range(count):
            if kind == "noise":
                text = "".join(rng.choice("abcdefghijklmnopqrstuvwxyz     ") for _ in range(40))
            elif kind == "tiny":
                text = f"Note {i}: {rng.choice(names)} met {rng.choice(names)} by the {rng.choice(words)}."
            elif kind == "slow":
                sequence = " ".join(rng.choice(words) for _ in range(12))
                text = f"{sequence} | {sequence}"
            elif kind == "fast":
                text = " ".join(f"The {rng.choice(words[:3])} is on the table." for _ in range(12))
            else:
                a, b = rng.randrange(50), rng.randrange(50)
                text = f"Question: What is {a} + {b}?\nAnswer: {a + b}"
            yield f"{kind}-{i}", text
    return {kind: ("target" if kind == "target" else "source", lambda k=kind: documents(k))
            for kind in ("noise", "tiny", "slow", "fast", "target")}


def main(argv=None):
    parser = Parser(description="Write text this machine has as a folder of documents, for "
                                     "prepare.py --regroup CORPUS_DIR --add NAME=FOLDER --field NAME=source.")
    parser.add_argument("kind", choices=["licenses"], help="licenses: the licence and copyright texts of the "
                        "installed Debian packages (/usr/share/common-licenses, /usr/share/doc/*/copyright)")
    parser.add_argument("folder", help="where to write them (one .txt per document); must not exist")
    parser.add_argument("--max_bytes", type=int, default=LICENSE_BYTES, help="text in all (default: %(default)s)")
    args = parser.parse_args(argv)
    try:
        count, total = write_license_texts(args.folder, args.max_bytes)
    except PrepareError as e:
        sys.exit(f"error: {e}")
    print(f"{count} licence texts, {total / 1e6:.2f} MB, written to {args.folder}")


if __name__ == "__main__":
    main()
