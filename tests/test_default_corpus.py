"""The default corpus is the same bytes on every machine: built while the interpreter's standard library and the
operating system's /usr/share are hidden from what the build reads, it has the fingerprint README states; and its
task measures learning: no test problem asks about the numbers of a training or validation problem."""
import json
import os
import re
import subprocess
import sys

import numpy as np
import pytest

import data
import prepare
import sources
from options import parse_config
from sources import DEFAULT_CORPUS_FINGERPRINT, DEFAULT_DOMAIN_BYTES, NUMBER, numbers_key
from tokenizer import EOT, Tokenizer
from tokens import read_tokens

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# Installed in every Python process of the build (the maths worker too) through sitecustomize: reading a file of the
# standard library (other than by importing a module), listing its folders, anything under /usr/share, importing
# the interpreter's documentation (pydoc_data) or running another program (groff) raises.
HIDE = r'''
import os, sys, sysconfig
STDLIB = os.path.abspath(sysconfig.get_paths()["stdlib"]) + os.sep
PACKAGES = ("site-packages", "dist-packages")

def hidden(path):
    path = os.path.abspath(os.fsdecode(path))
    if path.startswith("/usr/share" + os.sep) or path == "/usr/share":
        return True
    return path.startswith(STDLIB) and not any(p in path[len(STDLIB):].split(os.sep)[:1] for p in PACKAGES)

def importing():
    frame = sys._getframe(2)
    while frame is not None:
        if frame.f_code.co_filename.startswith("<frozen importlib"):
            return True
        frame = frame.f_back
    return False

def hook(event, args):
    if event == "import" and args[0].split(".")[0] == "pydoc_data":
        raise PermissionError("hidden from the corpus build: the interpreter's pydoc topics")
    if event == "subprocess.Popen" and os.path.abspath(os.fsdecode(args[0])) != os.path.abspath(sys.executable):
        raise PermissionError(f"hidden from the corpus build: running {args[0]}")
    if event in ("open", "os.listdir", "os.scandir") and args and isinstance(args[0], (str, bytes)) \
            and hidden(args[0]) and not importing():
        raise PermissionError(f"hidden from the corpus build: {args[0]}")

sys.addaudithook(hook)
'''


def hidden_env(tmp_path):
    folder = tmp_path / "hide"
    folder.mkdir()
    (folder / "sitecustomize.py").write_text(HIDE)
    return {**os.environ, "PYTHONPATH": os.pathsep.join([str(folder), ROOT])}


def readme_fingerprint():
    with open(os.path.join(ROOT, "README.md")) as f:
        found = re.search(r"corpus fingerprint `([0-9a-f]{16})`", f.read())
    assert found, "README.md must state the default corpus' fingerprint as: corpus fingerprint `<16 hex digits>`"
    return found.group(1)


def documents(corpus, tokenizer, domain, split):
    ids = np.asarray(read_tokens(os.path.join(corpus, domain, f"{split}.bin"), tokenizer.fingerprint))
    return [d for d in tokenizer.decode(ids.tolist()).split(EOT) if "\nAnswer: " in d]


def test_hiding_works(tmp_path):
    """The negative control: what the old default corpus read (a standard library file, a folder of man pages,
    groff) fails under the hook; importing a standard library module still works."""
    env = hidden_env(tmp_path)
    for code in ("import sysconfig; open(sysconfig.get_paths()['stdlib'] + '/os.py').read()",
                 "import os; os.listdir('/usr/share')",
                 "import subprocess; subprocess.run(['true'])",
                 "import pydoc_data.topics"):
        run = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
        assert run.returncode != 0 and "hidden from the corpus build" in run.stderr, code
    run = subprocess.run([sys.executable, "-c", "import json.tool, inspect, textwrap"], env=env, capture_output=True,
                         text=True)
    assert run.returncode == 0, run.stderr


@pytest.mark.slow
def test_default_corpus_is_the_readmes_and_its_task_is_unseen(tmp_path):
    out = tmp_path / "data" / "default"
    build = subprocess.run([sys.executable, "-c", "import sys, prepare; prepare.build_default_corpus(sys.argv[1])",
                            str(out)], env=hidden_env(tmp_path), capture_output=True, text=True, timeout=600)
    assert build.returncode == 0, build.stderr[-2000:]
    with open(out / "meta.json") as f:
        meta = json.load(f)
    assert readme_fingerprint() == DEFAULT_CORPUS_FINGERPRINT
    assert meta["content_sha256"][:16] == DEFAULT_CORPUS_FINGERPRINT, (
        "the default corpus built here differs from the one README states: a source changed (sources.py, a "
        "pinned package) or the build did; if on purpose, recalibrate and state the new fingerprint")
    few = {d["name"]: d["test_docs"] for d in meta["domains"] if d["field"] == "source" and d["test_docs"] < 50}
    assert not few, f"source domains with under 50 test documents (the report's bootstrap resamples them): {few}"

    tokenizer = Tokenizer.load(str(out / "tokenizer.json"))
    with open(out / "task.jsonl") as f:
        task = [json.loads(line) for line in f]
    for domain in ("math_compare", "math_numbers"):
        seen = {numbers_key(d.split("\nAnswer: ")[0]) for split in ("train", "val")
                for d in documents(str(out), tokenizer, domain, split)}
        test = [p["prompt"] for p in task if p["domain"] == domain and p["split"] == "test"]
        assert len(test) == 500 and len(seen) > 100
        assert all(NUMBER.search(p) for p in test)
        shared = [p for p in test if numbers_key(p[:-len("\nAnswer:")]) in seen]
        assert not shared, f"{len(shared)} {domain} test problems ask about numbers seen in training: {shared[:2]}"


MODULE = '''"""A module whose docstring is long enough to be kept in docs."""
import os

LIMIT = 3


# the helper's comment
@decorated
def helper(x):
    """Return x, a docstring long enough to be kept in docs."""
    return x


class Thing:
    def method(self):
        """A method's docstring, long enough to be kept in docs."""


if os.name:
    def hidden():
        """A docstring outside a top-level unit, still kept in docs."""
'''


def test_a_module_is_cut_into_its_top_level_units_and_their_docstrings_share_their_keys():
    """code and docs documents are a module's top-level functions and classes (with their decorators and the
    comment above), and the rest of the module; a unit's docstrings are keyed like its code, so both are held
    out together."""
    units = dict(sources.python_units(MODULE))
    assert list(units) == ["", "helper", "Thing"]
    assert units["helper"].startswith("# the helper's comment\n@decorated\ndef helper(x):")
    assert "LIMIT = 3" in units[""] and "def hidden" in units[""] and "def helper" not in units[""]
    assert "".join(units.values()).count("\n") == MODULE.count("\n")  # every line in one unit
    docs = dict(sources.unit_docstrings(MODULE, "pkg/mod.py"))
    assert list(docs) == ["", "helper", "Thing"]
    assert docs[""][0].startswith("pkg/mod.py\n\nA module") and docs[""][1].startswith("hidden\n\n")
    assert docs["Thing"] == ["method\n\nA method's docstring, long enough to be kept in docs."]
    assert sources.unit_key("pkg/mod.py", "helper") == "pkg/mod.py::helper" and sources.unit_key("pkg/mod.py", "") \
        == "pkg/mod.py"
    assert sources.python_units("def broken(:") is None and sources.unit_docstrings("def broken(:", "t") == []


def test_an_older_default_corpus_is_rebuilt_and_a_users_is_kept(tmp_path, monkeypatch):
    """prepare.ensure_corpus: a data/default with the built-in domains but other bytes (built by an older version from
    other sources) is rebuilt; a corpus the user named default, with domains of their own, is never touched."""
    built = []
    monkeypatch.setattr(prepare, "build_default_corpus", lambda path, domain_bytes: built.append(path))
    monkeypatch.setattr(prepare, "Corpus", lambda path: type("C", (), {"check_block_size": lambda self, n: None,
                                                                    "field_indices": lambda self, f: [0]})())
    cfg = parse_config(["--data_dir", str(tmp_path)])
    path = tmp_path / "default"
    for names, fingerprint, rebuilt in ((list(DEFAULT_DOMAIN_BYTES), "0" * 64, True),
                                        (list(DEFAULT_DOMAIN_BYTES), DEFAULT_CORPUS_FINGERPRINT + "0" * 48, False),
                                        (["prose", "algebra"], "0" * 64, False)):
        path.mkdir(exist_ok=True)
        (path / "meta.json").write_text(json.dumps({"format": data.META_FORMAT, "content_sha256": fingerprint,
                                                    "domains": [{"name": n} for n in names]}))
        built.clear()
        prepare.ensure_corpus(cfg)
        assert bool(built) == rebuilt and path.exists() != rebuilt, (names, fingerprint)
