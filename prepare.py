"""
Build a corpus: text -> tokenizer -> token files, one folder per domain.

    python prepare.py                          # the built-in default corpus, offline, into data/default/
    python prepare.py --corpus mine --domain prose=books/ --field prose=source \\
                      --domain algebra=alg.jsonl --field algebra=target
    python prepare.py --corpus merged --regroup data/default --merge math=math_compare,math_numbers
    python sources.py licenses data/licenses-text   # text the default corpus never saw, as a folder, then:
    python prepare.py --corpus licenses-source --regroup data/default --drop code,docs,shell \\
                      --add licenses=data/licenses-text --field licenses=source --val_permille 100

Layout of data/<corpus>/:
    meta.json                domains, their field (source|target), token/byte/doc counts, tokenizer, sources
    tokenizer.json           the BPE (pattern + ranks as base64 + special tokens), plain JSON, never a pickle
    <domain>/train.bin       token ids: a 64-byte header (magic, dtype, count, vocab, tokenizer fingerprint)
    <domain>/val.bin         then uint16 (or uint32) ids; documents end with <|endoftext|>
    <domain>/test.bin        the test split: only the final report reads it (no mixer, estimation or feedback)
    task.jsonl               the target task: held-out {"domain", "split", "prompt", "answer"} problems, "dev"
                             ones from the validation documents (feedback), "test" ones from the test documents

The default corpus is built from pinned packages' files (sources.py: awscli's, botocore's, s3transfer's
and docutils' code and docstrings, botocore's API reference, awscli's example pages; DeepMind's
mathematics_dataset). Documents are held out by key (a module's top-level function or class is in val for both code and
docs; a maths problem by its numbers), so every machine gives byte-identical files (meta.json's content_sha256). The corpus is written into a
temp folder and renamed when complete: an interrupted build leaves nothing that looks finished.
"""

import hashlib
import itertools
import json
import os
import shutil
import signal
import sys
import time

import numpy as np
from tqdm import tqdm

from common import DataError, Parser, PrepareError, write_json_atomic, write_text_atomic
from data import META_FORMAT, Corpus
from distributed import barrier, is_main_process
from sources import (DEFAULT_CORPUS_FINGERPRINT, DEFAULT_DOMAIN_BYTES, DEFAULT_HELD_OUT_PERMILLE,
                     KNOWN_ANSWER_HELD_OUT_PERMILLE, MATH_MODULES, SKILLS_HELD_OUT_PERMILLE, USER_FORMATS, default_sources,
                     known_answer_sources, skills_sources, split_qa_document, user_documents)
from tokenizer import EOT, Tokenizer, make_tokenizer, tokenizer_from_files
from tokens import TokenWriter, read_tokens, write_tokens

# ----------------------------------------------------------------------------- defaults
DATA_DIR = "data"
VOCAB_SIZE = 4096            # BPE vocab including <|endoftext|>
VAL_PERMILLE = 50            # share of documents held out for validation (per mille)
TASK_PER_DOMAIN = {"dev": 50, "test": 500}   # target-task problems per task domain, from val and from test
TOKENIZER_SAMPLE_BYTES = 1_000_000   # per domain, for training the BPE
ENCODE_BATCH_DOCS = 2048     # documents per parallel encoding batch (memory stays bounded)
SPLITS = ("train", "val", "test")


# ----------------------------------------------------------------------------- building a corpus

def split_of(key, held_out_permille):
    """train, val or test, by a hash of the document's key: held_out_permille per mille of the documents go
    to val, as many to test, the rest to train."""
    slot = int(hashlib.sha1(key.encode()).hexdigest()[:8], 16) % 1000
    return "val" if slot < held_out_permille else "test" if slot < 2 * held_out_permille else "train"


def split_documents(documents, max_bytes, held_out_permille, dropped=None):
    """(split, text) for (key, text) documents, split by key, up to max_bytes of text in all. An exact repeat
    of a document is kept once, so no held-out document is also a training one; `dropped` (a dict) counts the
    "repeated" and "empty" documents left out."""
    total, seen = 0, set()
    dropped = {} if dropped is None else dropped
    for key, text in documents:
        text = text.replace(EOT, "")
        digest = hashlib.sha1(text.encode("utf-8", "replace")).digest()
        if not text.strip() or digest in seen:
            reason = "empty" if not text.strip() else "repeated"
            dropped[reason] = dropped.get(reason, 0) + 1
            continue
        seen.add(digest)
        yield split_of(key, held_out_permille), text
        total += len(text.encode("utf-8"))
        if max_bytes is not None and total >= max_bytes:
            break


def build_corpus(out_dir, domains, tokenizer_kind="bpe", vocab_size=VOCAB_SIZE, val_permille=VAL_PERMILLE,
                 task_domains=(), task_per_domain=TASK_PER_DOMAIN, log=print, held_out_permille=None):
    """domains: {name: (field, documents() yielding (key, text), max_bytes or None, description)}.
    val_permille: documents held out per mille for val, and as many for test (held_out_permille may give
    some domains their own). task_domains: domains whose documents are 'Question: ...\nAnswer: ...'
    problems; their first val documents become the task's dev problems, their first test documents its
    test problems. Writes the corpus into a temp folder beside out_dir and renames it when complete."""
    if os.path.exists(os.path.join(out_dir, "meta.json")):
        raise PrepareError(f"corpus {out_dir} already exists; delete it or choose another --corpus name")
    parent = os.path.dirname(os.path.abspath(out_dir))
    os.makedirs(parent, exist_ok=True)
    for stale in os.listdir(parent):  # leftovers of an interrupted build
        if stale.startswith(os.path.basename(out_dir) + ".tmp-"):
            shutil.rmtree(os.path.join(parent, stale), ignore_errors=True)
    tmp_dir = f"{out_dir}.tmp-{os.getpid()}"
    os.makedirs(tmp_dir)
    t0 = time.time()
    try:
        held_out = {name: (held_out_permille or {}).get(name, val_permille) for name in domains}
        meta = _build_into(tmp_dir, domains, tokenizer_kind, vocab_size, held_out, task_domains, task_per_domain, log)
        meta["build_seconds"] = round(time.time() - t0, 1)  # the suite's calibration reports it
        write_json_atomic(os.path.join(tmp_dir, "meta.json"), meta)
        if os.path.exists(out_dir):
            shutil.rmtree(out_dir)  # a folder without meta.json is an unfinished corpus
        os.replace(tmp_dir, out_dir)
    finally:
        shutil.rmtree(tmp_dir, ignore_errors=True)
    return meta


def batches(spill_file):
    """The spilled documents of one split, ENCODE_BATCH_DOCS at a time."""
    while batch := [json.loads(line) for line in itertools.islice(spill_file, ENCODE_BATCH_DOCS)]:
        yield batch


def spill_domain(domain_dir, name, documents, max_bytes, held_out_permille):
    """Pass 1 of one domain: its documents split by key (split_documents), each split's texts written one JSON
    string a line into domain_dir/.<split>.jsonl. Returns its documents and bytes per split, and the documents left
    out ({"repeated": n, "empty": n}); a domain with an empty split is refused."""
    os.makedirs(domain_dir)
    files = {split: open(os.path.join(domain_dir, f".{split}.jsonl"), "w") for split in SPLITS}
    docs, n_bytes, dropped = dict.fromkeys(SPLITS, 0), dict.fromkeys(SPLITS, 0), {}
    try:
        with tqdm(total=max_bytes, unit="B", unit_scale=True, desc=f"reading {name}", disable=None,
                  leave=False) as bar:
            for split, text in split_documents(documents(), max_bytes, held_out_permille, dropped):
                files[split].write(json.dumps(text) + "\n")
                size = len(text.encode("utf-8"))
                docs[split], n_bytes[split] = docs[split] + 1, n_bytes[split] + size
                bar.update(size)
    finally:
        for f in files.values():
            f.close()
    if not all(docs.values()):
        raise PrepareError(f"domain '{name}' has {docs['train']} training, {docs['val']} validation and "
                           f"{docs['test']} test documents; it needs at least one of each: give it more "
                           "documents (or raise --val_permille for a few large ones)")
    return docs, n_bytes, dropped


def dropped_text(dropped):
    """', 2 repeated documents left out' for the build's log; '' when none was."""
    return "".join(f", {n} {reason} document{'s' if n > 1 else ''} left out" for reason, n in sorted(dropped.items()))


def spilled_texts(domain_dir, split):
    """The texts of one spilled split, in order."""
    with open(os.path.join(domain_dir, f".{split}.jsonl")) as f:
        for line in f:
            yield json.loads(line)


def tokenizer_sample(domain_dir):
    """The first training documents of a spilled domain, up to TOKENIZER_SAMPLE_BYTES characters."""
    sample, sampled = [], 0
    for text in spilled_texts(domain_dir, "train"):
        if sampled >= TOKENIZER_SAMPLE_BYTES:
            break
        sample.append(text)
        sampled += len(text)
    return sample


def task_problems(domain_dir, task_per_domain):
    """The task's (prompt, answer) problems of a spilled domain: its first 'Question: ...\\nAnswer: ...'
    documents of val (dev problems) and of test (test problems)."""
    problems = {}
    for split, kind in (("val", "dev"), ("test", "test")):
        texts = (text for text in spilled_texts(domain_dir, split) if "\nAnswer: " in text)
        problems[kind] = [split_qa_document(text) for text in itertools.islice(texts, task_per_domain[kind])]
    return problems


def encode_domain(domain_dir, name, tokenizer, n_bytes):
    """Pass 2 of one domain: its spilled documents encoded in parallel batches into <split>.bin, each
    ending with <|endoftext|>; the spill files are removed. Returns the tokens per split."""
    counts = {}
    for split in SPLITS:
        spill = os.path.join(domain_dir, f".{split}.jsonl")
        writer = TokenWriter(os.path.join(domain_dir, f"{split}.bin"), tokenizer.vocab_size, tokenizer.fingerprint)
        with open(spill) as f, tqdm(total=n_bytes[split], unit="B", unit_scale=True, disable=None,
                                    desc=f"encoding {name}/{split}", leave=False) as bar:
            for batch in batches(f):
                for doc_ids in tokenizer.encode_batch(batch):
                    writer.write(doc_ids + [tokenizer.eot])
                bar.update(sum(len(text.encode("utf-8")) for text in batch))
        writer.close()
        os.remove(spill)
        counts[split] = writer.count
    return counts


def domain_entry(name, field, description, held_out_permille, counts, docs, n_bytes):
    """A domain's entry in meta.json."""
    return {"name": name, "field": field, "source": description, "held_out_permille": held_out_permille,
            **{f"{split}_tokens": counts[split] for split in SPLITS},
            **{f"{split}_docs": docs[split] for split in SPLITS},
            **{f"{split}_bytes": n_bytes[split] for split in SPLITS}}


def _build_into(tmp_dir, domains, tokenizer_kind, vocab_size, held_out, task_domains, task_per_domain, log):
    """Two passes, so memory stays bounded whatever the size of the text: (1) read every domain's documents
    once, split them and spill them to temp files (then read back the tokenizer's sample and the task's
    problems); (2) make the tokenizer, then encode the spilled documents in parallel batches into the token
    files."""
    spilled, sample, task, domain_meta = {}, {}, [], []
    for name, (field, documents, max_bytes, description) in domains.items():
        t0 = time.time()
        domain_dir = os.path.join(tmp_dir, name)
        docs, n_bytes, dropped = spill_domain(domain_dir, name, documents, max_bytes, held_out[name])
        sample[name] = tokenizer_sample(domain_dir)
        if name in task_domains:
            problems = task_problems(domain_dir, task_per_domain)
            if not (problems["dev"] and problems["test"]):
                raise PrepareError(f"--task {name}: its held-out documents give {len(problems['dev'])} dev and "
                                   f"{len(problems['test'])} test problems 'Question: ...\\nAnswer: ...'; it "
                                   "needs both: format them so, give it more documents, or drop --task")
            task += [{"domain": name, "split": kind, "prompt": prompt, "answer": answer}
                     for kind in ("dev", "test") for prompt, answer in problems[kind]]
        spilled[name] = (field, description, docs, n_bytes)
        log(f"  {name:14s} {field:6s} {docs['train']:6d} train / {docs['val']:5d} val / {docs['test']:5d} test docs, "
            f"{sum(n_bytes.values()) / 1e6:6.2f} MB  ({time.time() - t0:.1f}s){dropped_text(dropped)}")

    t0 = time.time()
    tokenizer = make_tokenizer(tokenizer_kind, vocab_size, lambda: (t for texts in sample.values() for t in texts))
    tokenizer.save(os.path.join(tmp_dir, "tokenizer.json"))
    log(f"  tokenizer: {tokenizer_kind}, vocab {tokenizer.vocab_size} ({time.time() - t0:.1f}s)")

    t0 = time.time()
    for name, (field, description, docs, n_bytes) in spilled.items():
        counts = encode_domain(os.path.join(tmp_dir, name), name, tokenizer, n_bytes)
        domain_meta.append(domain_entry(name, field, description, held_out[name], counts, docs, n_bytes))
    log(f"  encoded {sum(d[f'{s}_tokens'] for d in domain_meta for s in SPLITS) / 1e6:.2f}M tokens "
        f"({time.time() - t0:.1f}s)")

    if task:
        write_text_atomic(os.path.join(tmp_dir, "task.jsonl"), "".join(json.dumps(t) + "\n" for t in task))
    meta = {
        "format": META_FORMAT,
        "tokenizer": {"kind": tokenizer_kind if tokenizer_kind in ("bpe", "gpt2") else "folder",
                      "vocab_size": tokenizer.vocab_size, "fingerprint": tokenizer.fingerprint,
                      "file": "tokenizer.json"},
        "domains": domain_meta,
        "task": {"file": "task.jsonl", **{kind: sum(p["split"] == kind for p in task) for kind in ("dev", "test")}}
        if task else None,
        "python": sys.version.split()[0],
        "content_sha256": content_fingerprint(tmp_dir, [d["name"] for d in domain_meta]),
    }
    log(f"  corpus fingerprint: {meta['content_sha256'][:16]}")
    write_json_atomic(os.path.join(tmp_dir, "meta.json"), meta)
    return meta


def content_fingerprint(corpus_dir, domains):
    """The sha256 of what a corpus is (tokenizer, token files, task), not of when or where it was built: two
    builds agree on it exactly when they agree byte for byte. README states the default corpus' value."""
    digest = hashlib.sha256()
    paths = ["tokenizer.json", "task.jsonl"] + [os.path.join(d, f"{s}.bin") for d in domains for s in SPLITS]
    for path in paths:
        full = os.path.join(corpus_dir, path)
        if os.path.exists(full):
            digest.update(path.encode() + b"\0")
            with open(full, "rb") as f:
                for chunk in iter(lambda: f.read(1 << 20), b""):
                    digest.update(chunk)
    return digest.hexdigest()


def build_default_corpus(out_dir, domain_bytes=None, tokenizer_kind="bpe", vocab_size=VOCAB_SIZE,
                         val_permille=VAL_PERMILLE, log=print):
    """The default corpus, from pinned packages' files alone (sources.py): the same bytes on every machine. A
    missing or differently versioned package is refused while reading, naming the fix."""
    domains = default_sources({**DEFAULT_DOMAIN_BYTES, **(domain_bytes or {})})
    return build_corpus(out_dir, domains, tokenizer_kind, vocab_size, val_permille, task_domains=MATH_MODULES,
                        held_out_permille=DEFAULT_HELD_OUT_PERMILLE,
                        log=log)


def build_known_answer_corpus(out_dir, seed=0, log=print):
    """The known-answer corpus (sources.known_answer_sources): five small domains with designed properties,
    built in seconds, with a 512-token BPE and the target's sums as the task."""
    domains = {name: (field, documents, None, f"known-answer {name}")
               for name, (field, documents) in known_answer_sources(seed).items()}
    return build_corpus(out_dir, domains, vocab_size=512, task_domains=["target"], log=log,
                        task_per_domain={"dev": 50, "test": 200}, held_out_permille=KNOWN_ANSWER_HELD_OUT_PERMILLE)


def build_skills_corpus(out_dir, seed=0, log=print, source="prose"):
    """The skills corpus (sources.skills_sources): a source field (prose, or with source="facts" a fixed world's
    facts) and a target skill with its prerequisite, the second setting of docs/headroom.md, built in seconds,
    with a 512-token BPE and the lookups as the task."""
    domains = {name: (field, documents, None, f"skills {name}")
               for name, (field, documents) in skills_sources(seed, source).items()}
    return build_corpus(out_dir, domains, vocab_size=512, task_domains=["lookup"], log=log,
                        task_per_domain={"dev": 50, "test": 300}, held_out_permille=SKILLS_HELD_OUT_PERMILLE)


def regroup_corpus(source_dir, out_dir, merges=None, drop=(), add=None, val_permille=VAL_PERMILLE, max_bytes=None,
                   text_column="text", log=print):
    """A corpus derived from source_dir, with its tokenizer, in another domain space. merges = {new: [old, ...]}
    puts several domains of one field into one (documents interleaved round-robin, each still ending with
    <|endoftext|>); drop = [name, ...] leaves domains out (and their task problems); add = {name: (field,
    path)} adds user domains (sources.user_documents), held out by document with val_permille like
    build_corpus and encoded with source_dir's tokenizer: text the models of source_dir never saw. The other
    domains are copied; the task's problems are relabelled. Written into a temp folder and renamed, like
    build_corpus."""
    merges, add = merges or {}, add or {}
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
    unknown, merged = [d for d in drop if d not in by_name], [d for d in drop if d in merged_from]
    if unknown or merged:
        raise PrepareError(f"--drop {','.join(drop)}: " + (f"{unknown} are not among the corpus' domains "
                           f"{sorted(by_name)}" if unknown else f"{merged} are also merged; drop or merge them"))
    for name, (field, path) in add.items():
        if name in by_name or name in merges:
            raise PrepareError(f"--add {name}: the corpus already has a domain '{name}'; choose another name")
        if field not in ("source", "target"):
            raise PrepareError(f"--add {name} needs --field {name}=source or --field {name}=target")
        if next(iter(user_documents(path, text_column)), None) is None:  # a missing path is refused here too
            raise PrepareError(f"--add {name}={path}: there is no text there; give {USER_FORMATS}")
    fields = {d["field"] for d in meta["domains"] if d["name"] not in drop} | {field for field, _ in add.values()}
    for field in ("source", "target"):
        if field not in fields:
            raise PrepareError(f"the derived corpus would have no {field} domain; drop fewer domains or "
                               f"--add one with --field NAME={field}")
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
            if d["name"] in drop or any(x["name"] == new for x in domains):
                continue
            olds = merges.get(new, [d["name"]])
            os.makedirs(os.path.join(tmp_dir, new))
            entry = {"name": new, "field": d["field"], "source": " + ".join(by_name[o]["source"] for o in olds)}
            for split in SPLITS:
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
        for name, (field, path) in add.items():  # pass 1 and pass 2 of build_corpus, with the source's tokenizer
            domain_dir = os.path.join(tmp_dir, name)
            docs, n_bytes, dropped = spill_domain(domain_dir, name, lambda p=path: user_documents(p, text_column),
                                                  max_bytes, val_permille)
            counts = encode_domain(domain_dir, name, tokenizer, n_bytes)
            domains.append(domain_entry(name, field, path, val_permille, counts, docs, n_bytes))
            log(f"  {name} ({field}): added from {path}, {docs['train']} train / {docs['val']} val / {docs['test']} "
                f"test docs, {counts['train']:,} train tokens{dropped_text(dropped)}")
        task = []
        if meta.get("task"):
            with open(os.path.join(source_dir, meta["task"]["file"])) as f:
                task = [json.loads(line) for line in f if line.strip()]
            task = [{**t, "domain": merged_from.get(t["domain"], t["domain"])} for t in task if t["domain"] not in drop]
        if task:
            write_text_atomic(os.path.join(tmp_dir, "task.jsonl"), "".join(json.dumps(t) + "\n" for t in task))
        write_json_atomic(os.path.join(tmp_dir, "meta.json"), {
            **meta, "domains": domains, "regrouped_from": source_dir,
            "task": {"file": "task.jsonl", **{kind: sum(t["split"] == kind for t in task) for kind in ("dev", "test")}}
            if task else None})
        if os.path.exists(out_dir):
            shutil.rmtree(out_dir)  # a folder without meta.json is an unfinished corpus
        os.replace(tmp_dir, out_dir)
    finally:
        shutil.rmtree(tmp_dir, ignore_errors=True)


# ----------------------------------------------------------------------------- the corpus a run trains on

def corpus_path(cfg):
    scale = cfg["corpus_scale"]
    name = f"default-x{scale}" if cfg["corpus"] == "default" and scale > 1 else cfg["corpus"]
    return os.path.join(cfg["data_dir"], name)


def ensure_corpus(cfg):
    """The corpus; the default one is built when it is missing, rebuilt when an older prepare.py or older sources
    wrote it."""
    path = corpus_path(cfg)
    outdated = False
    if os.path.exists(os.path.join(path, "meta.json")):
        with open(os.path.join(path, "meta.json")) as f:
            try:
                meta = json.load(f)
            except ValueError:
                meta = {}  # a damaged description: Corpus() names it below
        # written by an older prepare.py, or the built-in domains read from older sources than this version's
        built_in = [d.get("name") for d in meta.get("domains", [])] == list(DEFAULT_DOMAIN_BYTES)
        outdated = meta.get("format") != META_FORMAT or (built_in and cfg["corpus_scale"] == 1 and not str(
            meta.get("content_sha256", "")).startswith(DEFAULT_CORPUS_FINGERPRINT))
    if not os.path.exists(os.path.join(path, "meta.json")) or (outdated and cfg["corpus"] == "default"):
        if cfg["corpus"] != "default":
            raise DataError(f"corpus {path} does not exist; build it with prepare.py --corpus {cfg['corpus']} "
                            "--domain NAME=PATH --field NAME=source|target ...")
        if is_main_process():
            print(f"{'rebuilding the outdated' if outdated else 'building the'} default corpus in {path} (once)")
            if outdated:
                shutil.rmtree(path)
            scale = cfg["corpus_scale"]
            build_default_corpus(path, domain_bytes={d: n * scale for d, n in DEFAULT_DOMAIN_BYTES.items()})
    barrier()
    corpus = Corpus(path)
    corpus.check_block_size(cfg["block_size"])
    for field in ("source", "target"):
        if not corpus.field_indices(field):
            raise DataError(f"corpus {path} has no {field} domain; CPT needs both fields (prepare.py --field)")
    return corpus


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
    parser = Parser(description="Build a corpus: text -> BPE tokenizer -> token files of each domain's train, val "
                    "and test splits (held out by document), in data/<corpus>/. Without --domain: the built-in "
                    "default corpus (offline, the same bytes on every machine). docs/corpus.md has the layout and "
                    "examples.")
    parser.add_argument("--corpus", default="default", help="corpus name: data/<corpus>/ (default: %(default)s)")
    parser.add_argument("--data_dir", default=DATA_DIR, help="where corpora live (default: %(default)s)")
    parser.add_argument("--domain", action="append", help="NAME=PATH (a folder of .txt/.md/.py files, a .jsonl, "
                        ".jsonl.gz or .parquet file); repeat")
    parser.add_argument("--field", action="append", help="NAME=source|target for each --domain; repeat")
    parser.add_argument("--task", action="append", default=[],
                        help="NAME of a target domain whose documents are 'Question: ...\\nAnswer: ...' "
                             "problems; its held-out ones become the target task; repeat")
    parser.add_argument("--max_bytes", type=int, default=None, help="cap of text per user domain (default: all)")
    parser.add_argument("--tokenizer", default="bpe", help="bpe (trained on the corpus), gpt2 (tiktoken's, when "
                        "cached) or the folder of a checkpoint (its tokenizer.json, or GPT-2's vocab.json + "
                        "merges.txt, for train.py --init_from) (default: %(default)s)")
    parser.add_argument("--text_column", default="text", help="the text field of .jsonl(.gz) and .parquet domains "
                        "(default: %(default)s)")
    parser.add_argument("--vocab_size", type=int, default=VOCAB_SIZE, help="BPE vocab (default: %(default)s)")
    parser.add_argument("--val_permille", type=int, default=VAL_PERMILLE,
                        help="documents held out for validation, per mille, and as many again for test "
                        "(default: %(default)s)")
    parser.add_argument("--known_answer", action="store_true",
                        help="build the known-answer corpus (domains with designed properties; docs/known-answer.md)")
    parser.add_argument("--skills", nargs="?", const="prose", choices=("prose", "facts"), default=None,
                        help="build the skills corpus (a target skill and its prerequisite; docs/headroom.md), its "
                             "source field prose (the default) or facts (a fixed world's facts)")
    parser.add_argument("--regroup", default=None, metavar="CORPUS_DIR",
                        help="derive the corpus from this one (same tokenizer) with --merge, --drop and --add")
    parser.add_argument("--merge", action="append", default=[],
                        help="with --regroup: NEW=a,b puts domains a and b (one field) into one domain; repeat")
    parser.add_argument("--drop", default=None, help="with --regroup: a,b leaves domains a and b out")
    parser.add_argument("--add", action="append", default=[],
                        help="with --regroup: NAME=PATH adds a user domain (as --domain; with --field "
                        "NAME=source|target, --val_permille, --max_bytes), encoded with CORPUS_DIR's tokenizer; repeat")
    args = parser.parse_args(argv)
    previous = signal.signal(signal.SIGTERM, signal.default_int_handler)  # SIGTERM cleans up as Ctrl-C does
    out_dir = os.path.join(args.data_dir, args.corpus)
    try:
        if not 0 < args.val_permille < 500:
            raise PrepareError(f"--val_permille {args.val_permille} must be between 1 and 499 (as many again go "
                               "to test)")
        if args.tokenizer not in ("bpe", "gpt2"):
            if not os.path.isdir(args.tokenizer):
                raise PrepareError(f"--tokenizer {args.tokenizer} is neither bpe, gpt2 nor a folder; give the "
                                   "folder of a checkpoint (tokenizer.json, or vocab.json + merges.txt)")
            tokenizer_from_files(args.tokenizer)  # a bad folder stops here, before the long part
        t0 = time.time()
        if args.known_answer:
            print(f"building the known-answer corpus in {out_dir}")
            build_known_answer_corpus(out_dir)
        elif args.skills:
            print(f"building the skills corpus ({args.skills}) in {out_dir}")
            build_skills_corpus(out_dir, source=args.skills)
        elif args.regroup or args.merge or args.drop or args.add:
            if not (args.regroup and (args.merge or args.drop or args.add)):
                raise PrepareError("--merge NEW=a,b, --drop a,b and --add NAME=PATH derive a corpus: they go together "
                                   "with --regroup CORPUS_DIR (the corpus to derive from), which needs one of them")
            if args.domain or args.task:
                raise PrepareError("--regroup keeps the corpus' task and takes new domains with --add, not --domain "
                                   "or --task")
            if not os.path.exists(os.path.join(args.regroup, "meta.json")):
                raise PrepareError(f"--regroup {args.regroup} is not a corpus (no meta.json); build it first")
            merges = {new: olds.split(",") for new, olds in parse_named(args.merge, "--merge").items()}
            paths, fields = parse_named(args.add, "--add"), parse_named(args.field, "--field")
            if set(fields) - set(paths):
                raise PrepareError(f"--field names {sorted(set(fields) - set(paths))}, which no --add NAME=PATH adds")
            print(f"regrouping {args.regroup} into {out_dir}")
            regroup_corpus(args.regroup, out_dir, merges, args.drop.split(",") if args.drop else [],
                           {name: (fields.get(name), path) for name, path in paths.items()}, args.val_permille,
                           args.max_bytes, args.text_column)
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
                next(iter(user_documents(path, args.text_column)), None)
            missing = [f for f in ("source", "target") if f not in fields.values()]
            if missing:  # train.py would refuse the corpus after it was built
                raise PrepareError(f"the domains {sorted(paths)} have no {' and no '.join(missing)} field; continual "
                                   "pre-training needs both: give at least one --domain with --field NAME=source and "
                                   "one with --field NAME=target")
            domains = {name: (fields[name], lambda p=path: user_documents(p, args.text_column), args.max_bytes,
                              path) for name, path in paths.items()}
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
    except KeyboardInterrupt:  # build_corpus removes its temp folder on the way out
        print("interrupted: the corpus being built was removed (nothing half-written is kept); rerun the command "
              "to build it", file=sys.stderr)
        sys.exit(130)
    finally:
        signal.signal(signal.SIGTERM, previous)


if __name__ == "__main__":
    main()