"""
Where the text of a corpus comes from: the built-in default corpus' sources (what a machine with Python
and the requirements already has) and the user's own files. Each source yields (key, text) documents;
prepare.py splits them by key, tokenizes and writes them.

    code          the .py files of four pinned pure-Python packages (awscli, botocore, s3transfer, docutils)
    docs          their docstrings, and the AWS API reference in botocore's service models
    shell         awscli's example pages (shell commands with their output and explanations)
    math_compare  DeepMind's mathematics_dataset generator (closest value; greatest common divisor), as
    math_numbers  'Question: ...\nAnswer: ...' documents

More text the machine has, for corpora derived with prepare.py --regroup ... --add NAME=FOLDER:

    python sources.py licenses FOLDER    the licence and copyright texts of the installed Debian packages
"""

import ast
import gzip
import hashlib
import importlib
import importlib.metadata
import json
import os
import random
import re
import shutil
import subprocess
import sys
import types
from html import unescape

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from common import Parser, PrepareError


# ----------------------------------------------------------------------------- the default corpus' sources

def stable_order(keys):
    """A fixed pseudo-random order (by hash), so a byte cap takes a spread of documents, not the A's."""
    return sorted(keys, key=lambda k: hashlib.sha1(k.encode()).hexdigest())


# The source field's text comes from the files of pinned, pure-Python packages (requirements.txt pins them), never
# from the running interpreter or the operating system: the same corpus on every machine and Python version.
SOURCE_PACKAGES = {"awscli": "1.45.11", "botocore": "1.43.11", "s3transfer": "0.17.0", "docutils": "0.19"}
# what every machine builds (meta.json's content_sha256, its first 16 hex digits); README states it, a test builds it
DEFAULT_CORPUS_FINGERPRINT = "d70c07e03669f323"


def package_files(suffix, under=""):
    """{key: path} of one kind of file of the pinned source packages, the key 'package/relative/path'. A
    package that is missing or at another version is refused with the fix (another version is other text)."""
    files = {}
    for name, version in SOURCE_PACKAGES.items():
        try:
            dist = importlib.metadata.distribution(name)
        except importlib.metadata.PackageNotFoundError:
            dist = None
        if dist is None or dist.version != version:
            found = "is not installed" if dist is None else f"is version {dist.version}"
            raise PrepareError(f"the default corpus is read from {name} {version}, which {found} here; run: "
                               f"pip install -r requirements.txt")
        for f in dist.files or []:
            key = str(f).replace(os.sep, "/")
            if key.startswith(f"{name}/{under}") and key.endswith(suffix):
                files[key] = str(dist.locate_file(f))
    return files


def read_text(path):
    with open(path, encoding="utf-8", errors="replace") as f:
        return f.read()


UNITS = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)  # a Python module's top-level units


def python_units(source):
    """A module's source cut into its top-level units: ("", every line outside them: imports, constants,
    top-level code) first, then (name, text) for each top-level function or class, with its decorators and the
    comment lines right above it. None when the source does not parse."""
    try:
        tree = ast.parse(source)
    except (SyntaxError, ValueError):
        return None
    lines = source.splitlines(keepends=True)
    units, taken = [], set()
    for node in tree.body:
        if isinstance(node, UNITS):
            start = min([node.lineno] + [d.lineno for d in node.decorator_list]) - 1
            while start > 0 and lines[start - 1].lstrip().startswith("#"):
                start -= 1
            units.append((node.name, "".join(lines[start:node.end_lineno])))
            taken.update(range(start, node.end_lineno))
    return [("", "".join(line for i, line in enumerate(lines) if i not in taken))] + units


def unit_key(module_key, name):
    """A unit's document key: the module path, and the function's or class's name after '::'."""
    return f"{module_key}::{name}" if name else module_key


def code_documents():
    """The pinned packages' .py files, each cut into its top-level units (python_units), a unit a document.
    The key is the module path and the unit's name, shared with `docs`: a function's code and its docstrings
    are held out together. Whole modules (a few dozen fill the byte cap) left 7 documents in code's test
    split; units give it over 50."""
    files = package_files(".py")
    for key in stable_order(list(files)):
        text = read_text(files[key])
        for name, unit in python_units(text) or [("", text)]:
            yield unit_key(key, name), unit


def clean_docstring(text):
    """A docstring without its indentation (our own, so no interpreter's inspect.cleandoc decides the text)."""
    lines = text.expandtabs().split("\n")
    indents = [len(line) - len(line.lstrip()) for line in lines[1:] if line.strip()]
    margin = min(indents, default=0)
    lines = [lines[0].strip()] + [line[margin:].rstrip() for line in lines[1:]]
    return "\n".join(lines).strip()


def docstring_part(node, title):
    """'name\n\ndocstring' of a module (named `title`), class or function whose docstring is longer than 40
    characters, else None."""
    if isinstance(node, (ast.Module,) + UNITS) and node.body:
        first = node.body[0]
        if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant) and isinstance(first.value.value, str):
            doc = clean_docstring(first.value.value)
            if len(doc) > 40:
                return f"{title if isinstance(node, ast.Module) else node.name}\n\n{doc}"
    return None


def unit_docstrings(source, title):
    """(name, docstrings) of each top-level unit of a module (python_units' names): under "" the module's own
    and those outside its top-level functions and classes, then each function's or class's (its methods' too)."""
    try:
        tree = ast.parse(source)
    except (SyntaxError, ValueError):
        return []
    groups = {"": [part for part in [docstring_part(tree, title)] if part]}
    for top in tree.body:
        name = top.name if isinstance(top, UNITS) else ""
        groups.setdefault(name, []).extend(part for node in ast.walk(top) if (part := docstring_part(node, title)))
    return [(name, parts) for name, parts in groups.items() if parts]


def html_to_text(html):
    """Paragraphs of plain text from the service models' documentation HTML."""
    text = re.sub(r"</?(p|li|note|ul|ol|important|dd|dt|dl)\b[^>]*>", "\n", html)
    text = unescape(re.sub(r"<[^>]+>", "", text))
    return "\n".join(" ".join(line.split()) for line in text.split("\n") if line.strip())


def docs_documents():
    """English documentation of the pinned packages: each module's docstrings, a top-level unit a document (the
    key of its code, unit_docstrings), then the AWS API reference that botocore's service models carry (each service a document: its own text, then each operation's)."""
    files = package_files(".py")
    for key in stable_order(list(files)):
        for name, parts in unit_docstrings(read_text(files[key]), key):
            yield unit_key(key, name), "\n\n".join(parts)
    models = package_files("service-2.json.gz", under="data/")
    for key in stable_order(list(models)):
        with gzip.open(models[key], "rt", encoding="utf-8") as f:
            model = json.load(f)
        parts = [html_to_text(model.get("documentation", ""))]
        for name, operation in model.get("operations", {}).items():
            parts.append(f"{name}\n\n{html_to_text(operation.get('documentation', ''))}")
        text = "\n\n".join(p for p in parts if len(p) > 40)
        if text:
            yield key, text


def shell_documents():
    """The AWS command line's example pages (awscli/examples): shell commands, their output and what they do."""
    files = package_files(".rst", under="examples/")
    for key in stable_order(list(files)):
        yield key, read_text(files[key])


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
    """(numbers_key, `Question: ...\nAnswer: ...`) problems from a worker process. The generator iterates over sets of
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
    """Print [numbers_key, document] JSON lines until max_bytes of documents (run by math_documents)."""
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
        print(json.dumps([numbers_key(question), document]))
        written += len(document.encode("utf-8"))


NUMBER = re.compile(r"-?\d+(?:\.\d+)?(?:/\d+)?")


def numbers_key(question):
    """A problem's held-out key: the numbers it asks about, in sorted order. The generator words the same numbers
    many ways ('What is the highest common divisor of 20 and 220?', 'Calculate the greatest common factor of 220
    and 20.'); keyed by its numbers, every wording of a pair lands in one split, so no test problem asks about
    the numbers of a training or validation problem and the task measures learning, not recall."""
    return "numbers:" + " ".join(sorted(NUMBER.findall(question)))


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
# held-out documents per mille, for validation and again for test: 10% of the source documents (a module's top-level
# function or class is a document of code and of docs, held out of both), 15% of the maths problems' number sets, so that the test split
# gives the target task 500 problems per domain while the train split stays small
DEFAULT_HELD_OUT_PERMILLE = {"code": 100, "docs": 100, "shell": 100, "math_compare": 150, "math_numbers": 150}


def default_sources(domain_bytes):
    """The default corpus' domains: name -> (field, documents(), max bytes, description). Every source is a
    pinned package's files; a missing one is refused while reading, naming the fix."""
    maths = {name: lambda d=name: math_documents(d, domain_bytes[d]) for name in MATH_MODULES}  # stops at the cap
    sources = {
        "code": ("source", code_documents, "Python code of awscli, botocore, s3transfer, docutils (pinned)"),
        "docs": ("source", docs_documents, "their docstrings + botocore's AWS API reference (pinned)"),
        "shell": ("source", shell_documents, "awscli's example pages: shell commands and what they do (pinned)"),
        "math_compare": ("target", maths["math_compare"], "mathematics_dataset comparison/closest, entropy (1, 2)"),
        "math_numbers": ("target", maths["math_numbers"], "mathematics_dataset numbers/gcd, entropy (1, 2)"),
    }
    return {name: (field, documents, domain_bytes[name], description)
            for name, (field, documents, description) in sources.items()}


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


# ----------------------------------------------------------------------------- the skills corpus

SKILLS_HELD_OUT_PERMILLE = {"prose": 50, "facts": 50, "copy": 50, "lookup": 100}
SKILLS_CORPUS_FINGERPRINT = "e7ca50e7d4745b67"  # meta.json's content_sha256 of python prepare.py --skills


def skills_sources(seed=0, source="prose"):
    """A corpus built for headroom (docs/headroom.md, the second setting): a target skill that needs a
    prerequisite (Skill-It's ordered skills, arXiv 2307.14430), so that *when* a domain is shown can matter.
    name -> (field, documents()):
        prose   (source) short sentences from a few templates over invented names and places: what the base
                knows, and what CPT can make it forget
        facts   (source, instead of prose with source="facts") sentences stating the facts of one fixed world
                (2,000 people, each with a home, a trade and a friend): held-out documents state the same facts
                in other sentences, so its loss falls only as far as the model remembers them; knowledge that
                more rows keep improving and fewer let fade, at every share
        copy    (target) a sequence of 8-14 invented words, a bar, then the same sequence: the prerequisite,
                copying from the context (an induction head), learnt from its purest signal
        lookup  (target) 'Question: k=v k=v ... (6 pairs) ; k=v k=v k=v ; k?\nAnswer: v': the skill, reading a
                key's value back from the context; the queries after ';' need the copying skill too, and the
                held-out problems are the target task"""
    syllables = "ba ko ri tu me sa lo ne vi da gu pe zo fi ha".split()
    rng = random.Random(f"skills-words-{seed}")
    words = sorted({"".join(rng.choice(syllables) for _ in range(rng.choice((2, 3)))) for _ in range(400)})
    names, places = words[:40], words[40:80]
    world = random.Random(f"skills-world-{seed}")
    people = sorted({"".join(world.choice(syllables) for _ in range(3)) for _ in range(2600)})[:2000]
    home = {p: world.choice(places) for p in people}
    trade = {p: world.choice(words[80:120]) for p in people}
    friend = {p: world.choice(people) for p in people}
    facts = (lambda p: f"{p} lives in {home[p]}.", lambda p: f"{p} works as a {trade[p]}.",
             lambda p: f"{p} is a friend of {friend[p]}.")
    templates = ("{a} met {b} at {p}.", "{a} walked from {p} to {q}.", "At {p}, {a} gave {b} a {w}.",
                 "{a} and {b} live near {p}.", "The {w} of {p} is old.", "{a} said that {b} had left {p}.")

    def documents(kind):
        rng = random.Random(f"skills-{kind}-{seed}")
        for i in range({"prose": 6000, "facts": 12000, "copy": 3000, "lookup": 4000}[kind]):
            if kind == "facts":
                text = " ".join(rng.choice(facts)(rng.choice(people)) for _ in range(8))
            elif kind == "prose":
                text = " ".join(rng.choice(templates).format(a=rng.choice(names), b=rng.choice(names),
                                                            p=rng.choice(places), q=rng.choice(places),
                                                            w=rng.choice(words[80:])) for _ in range(6))
            elif kind == "copy":
                sequence = " ".join(rng.choice(words) for _ in range(rng.randint(8, 14)))
                text = f"{sequence} | {sequence}"
            else:
                keys = rng.sample(words, 6)
                values = {k: rng.randrange(100) for k in keys}
                pairs = " ".join(f"{k}={values[k]}" for k in keys)
                queries = " ".join(f"{k}={values[k]}" for k in rng.sample(keys, 3))
                asked = rng.choice(keys)
                text = f"Question: {pairs} ; {queries} ; {asked}?\nAnswer: {values[asked]}"
            yield f"{kind}-{i}", text
    if source not in ("prose", "facts"):
        raise ValueError(f"skills_sources(source={source!r}): the source domain is prose or facts")
    return {kind: ("source" if kind == source else "target", lambda k=kind: documents(k))
            for kind in (source, "copy", "lookup")}


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
