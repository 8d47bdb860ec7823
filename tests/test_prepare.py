"""Corpus building: the tokenizer, token files and their headers, determinism, held-out documents,
meta.json checks and the mathematics_dataset compatibility shim."""

import filecmp
import gzip
import json
import os
import shutil

import numpy as np
import pytest

import evaluate
import prepare
import tokenizer
import sources
import tokens
from common import DataError
from conftest import build_tiny_corpus
from data import Corpus


def test_tokenizer_round_trips_unicode_and_code(tiny_corpus_dir):
    tok = tokenizer.Tokenizer.load(os.path.join(tiny_corpus_dir, "tokenizer.json"))
    for text in ["def f(x):\n\treturn x ** 2  # squared\n", "naïve café — 数学 ∑ 😀", "  \n\n  spaces\r\n", ""]:
        assert tok.decode(tok.encode(text)) == text
    assert tok.vocab_size == 320 and tok.eot == 319
    assert tok.token_byte_lengths()[tok.eot] == 0


def test_prompt_and_answer_tokenize_as_in_training(tiny_corpus_dir):
    tok = tokenizer.Tokenizer.load(os.path.join(tiny_corpus_dir, "tokenizer.json"))
    prompt, answer = sources.split_qa_document("Question: What is 12 + 30?\nAnswer: -42.5")
    assert (prompt, answer) == ("Question: What is 12 + 30?\nAnswer:", " -42.5")
    assert tok.encode(prompt) + tok.encode(answer) == tok.encode(prompt + answer)


def test_token_file_header_checks(tmp_path):
    path = str(tmp_path / "t.bin")
    tokens.write_tokens(path, [1, 2, 3, 65000], 65536, "ab" * 16)
    np.testing.assert_array_equal(tokens.read_tokens(path, "ab" * 16), [1, 2, 3, 65000])
    with pytest.raises(tokens.TokenFileError, match="another tokenizer"):
        tokens.read_tokens(path, "cd" * 16)
    with open(path, "r+b") as f:  # truncated
        f.truncate(os.path.getsize(path) - 2)
    with pytest.raises(tokens.TokenFileError, match="truncated"):
        tokens.read_tokens(path)
    with open(path, "r+b") as f:  # broken magic
        f.write(b"NOTATOKN")
    with pytest.raises(tokens.TokenFileError, match="bad header"):
        tokens.read_tokens(path)
    tokens.write_tokens(path, [70000], 70001, "ab" * 16)  # large vocab -> uint32
    assert tokens.read_tokens(path).dtype == np.dtype("<u4")


def test_build_is_deterministic_and_holds_out_documents(tmp_path, tiny_corpus_dir):
    again = build_tiny_corpus(str(tmp_path))
    metas = []
    for corpus_dir in (tiny_corpus_dir, again):
        with open(os.path.join(corpus_dir, "meta.json")) as f:
            meta = json.load(f)
        metas.append([{k: v for k, v in d.items() if k != "source"} for d in meta["domains"]])  # source = path
    assert metas[0] == metas[1]
    for rel in ["tokenizer.json", "task.jsonl", "prose/train.bin", "prose/val.bin", "prose/test.bin", "arith/test.bin"]:
        assert filecmp.cmp(os.path.join(tiny_corpus_dir, rel), os.path.join(again, rel), shallow=False), rel


def test_the_skills_corpus_is_the_same_on_every_build_and_its_documents_hold_what_they_say(tmp_path):
    """The second setting's corpus (docs/headroom.md): its fingerprint is pinned, a copy document repeats its
    sequence and a lookup's answer is the value its pairs give the key asked."""
    meta = prepare.build_skills_corpus(str(tmp_path / "skills"), log=lambda *a: None)
    assert meta["content_sha256"][:16] == sources.SKILLS_CORPUS_FINGERPRINT, \
        "sources.skills_sources changed the corpus: if meant, pin the new fingerprint in sources.py and say so in " \
        "docs/headroom.md (its runs were made on the old one)"
    assert {d["name"]: d["field"] for d in meta["domains"]} == {"prose": "source", "copy": "target",
                                                                 "lookup": "target"}
    documents = {name: list(make()) for name, (_, make) in sources.skills_sources().items()}
    for _, text in documents["copy"][:50]:
        first, second = text.split(" | ")
        assert first == second and 8 <= len(first.split()) <= 14
    for _, text in documents["lookup"][:50]:
        question, answer = sources.split_qa_document(text)
        pairs = dict(pair.split("=") for pair in question.split(" ; ")[0].split()[1:])
        assert pairs[question.split(" ; ")[-1].split("?")[0]] == answer.strip()


def test_the_facts_source_states_one_fixed_world_whose_every_sentence_agrees_with_every_other():
    """The third design's source (sources.skills_sources(source="facts")): each person has one home, one trade
    and one friend, in every document, so held-out documents test what the model remembers of the same world;
    the target field is the same copy and lookup as the prose corpus'."""
    made = sources.skills_sources(source="facts")
    assert {name: field for name, (field, _) in made.items()} == {"facts": "source", "copy": "target",
                                                                  "lookup": "target"}
    assert list(made["copy"][1]()) == list(sources.skills_sources()["copy"][1]())
    said = {}
    for _, text in list(made["facts"][1]())[:2000]:
        sentences = [x for x in text.split(".") if x.strip()]
        assert len(sentences) == 8
        for sentence in sentences:
            words = sentence.split()
            key = (words[0], words[1])  # person, the relation's first word: lives / works / is
            said.setdefault(key, set()).add(words[-1])
    assert len({person for person, _ in said}) > 1000  # most of the 2,000 people appear
    assert all(len(values) == 1 for values in said.values())  # one fact per person and relation, everywhere
    with pytest.raises(ValueError, match="prose or facts"):
        sources.skills_sources(source="poems")

def test_the_three_splits_and_the_task_splits_are_disjoint_by_document(tiny_corpus_dir):
    corpus = Corpus(tiny_corpus_dir)
    tok = corpus.tokenizer
    for d, name in enumerate(corpus.domains):
        docs = {split: [doc for doc in tok.decode(np.asarray(tokens).tolist()).split(tokenizer.EOT) if doc]
                for split, tokens in (("train", corpus.train[d]), ("val", corpus.val[d]),
                                      ("test", evaluate.read_test_split(corpus)[d]))}
        assert all(docs.values()), name
        for a, b in (("train", "val"), ("train", "test"), ("val", "test")):
            assert not set(docs[a]) & set(docs[b]), (name, a, b)
    dev, test = corpus.task("dev"), corpus.task("test")
    assert len(dev) == len(test) == 20 and not {p["prompt"] for p in dev} & {p["prompt"] for p in test}
    assert all(p["prompt"].endswith("Answer:") for p in dev + test)
    test_docs = {doc for doc in tok.decode(np.asarray(evaluate.read_test_split(corpus)[2]).tolist()).split(tokenizer.EOT)}
    assert all(p["prompt"] + p["answer"] in test_docs for p in test)  # the test problems are test documents
    assert not hasattr(corpus, "test") and corpus.dev_problems(8) == dev[:8]


def test_corpus_refuses_missing_domain_files_and_foreign_token_files(tmp_path, tiny_corpus_dir):
    broken = str(tmp_path / "broken")
    shutil.copytree(tiny_corpus_dir, broken)
    os.remove(os.path.join(broken, "code", "val.bin"))
    with pytest.raises(DataError, match="code/val.bin"):
        Corpus(broken)
    other = build_tiny_corpus(str(tmp_path / "other"), vocab_size=300)
    shutil.copy(os.path.join(other, "code", "val.bin"), os.path.join(broken, "code", "val.bin"))
    with pytest.raises(DataError, match="another tokenizer"):
        Corpus(broken)
    with pytest.raises(DataError, match="no corpus at"):
        Corpus(str(tmp_path / "nowhere"))
    meta_path = os.path.join(broken, "meta.json")
    with open(meta_path) as f:
        meta = json.load(f)
    meta["domains"][0]["field"] = "poetry"
    with open(meta_path, "w") as f:
        json.dump(meta, f)
    with pytest.raises(DataError, match="unknown fields"):
        Corpus(broken)


def test_empty_or_tiny_domains_are_refused(tmp_path, tiny_corpus_dir):
    empty = tmp_path / "empty"
    empty.mkdir()
    domains = {"e": ("source", lambda: sources.user_documents(str(empty)), None, "")}
    with pytest.raises(sources.PrepareError, match="domain 'e' has 0 training"):
        prepare.build_corpus(str(tmp_path / "c"), domains, vocab_size=300, log=lambda *a: None)
    assert not os.path.exists(tmp_path / "c")  # nothing half-written
    with pytest.raises(DataError, match="fewer than one window"):
        Corpus(tiny_corpus_dir).check_block_size(10 ** 6)


def test_interrupted_build_leaves_no_corpus_and_a_rerun_succeeds(tmp_path):
    def exploding():
        yield "a", "some text " * 50
        raise KeyboardInterrupt

    out = str(tmp_path / "data" / "c")
    with pytest.raises(KeyboardInterrupt):
        prepare.build_corpus(out, {"a": ("source", exploding, None, "")}, vocab_size=300, log=lambda *a: None)
    assert not os.path.exists(out) and os.listdir(tmp_path / "data") == []


def test_mathematics_dataset_shim_generates_problems_on_numpy2_and_new_sympy():
    sources.import_mathematics_dataset()
    from mathematics_dataset.sample import polynomials
    # the four patched places: base_solution_linear, np.object, and itemset (twice)
    coefficients = polynomials.sample_coefficients(np.array([2]), entropy=4)
    expanded = polynomials.expand_coefficients(coefficients, entropy=4)
    assert expanded.dtype == object
    a, b, first, second = polynomials.coefficients_linear_split(np.array([3, 5]), entropy=4)
    assert list(a * first + b * second) == [3, 5]  # the diophantine solver's split
    docs = [doc for _, doc in zip(range(6), sources.math_documents("math_numbers", 2000))]
    assert all(doc[1].startswith("Question: ") and "\nAnswer: " in doc[1] for doc in docs)
    assert "object" not in vars(np)  # numpy itself is untouched


@pytest.mark.slow
def test_math_documents_are_identical_across_processes():
    first = list(sources.math_documents("math_compare", 3000))
    second = list(sources.math_documents("math_compare", 3000))
    assert first == second and len(first) > 10


def test_regroup_merges_domains_of_one_field_and_keeps_every_token(tiny_corpus_dir, tmp_path):
    out = str(tmp_path / "merged")
    prepare.regroup_corpus(tiny_corpus_dir, out, {"text": ["prose", "code"]}, log=lambda *a: None)
    old, new = Corpus(tiny_corpus_dir), Corpus(out)
    assert new.domains == ["text", "arith"] and new.fields == ["source", "target"]
    for split in ("train", "val"):
        merged = np.asarray(getattr(new, split)[0])
        parts = [np.asarray(getattr(old, split)[i]) for i in (0, 1)]
        assert len(merged) == sum(len(p) for p in parts)
        assert sorted(merged.tolist()) == sorted(np.concatenate(parts).tolist())  # same tokens, interleaved docs
        assert merged[-1] == new.tokenizer.eot
    assert [p["prompt"] for p in new.task("test")] == [p["prompt"] for p in old.task("test")]
    with pytest.raises(sources.PrepareError, match="different fields"):
        prepare.regroup_corpus(tiny_corpus_dir, str(tmp_path / "bad"), {"mixed": ["prose", "arith"]})
    with pytest.raises(sources.PrepareError, match="not among them"):
        prepare.regroup_corpus(tiny_corpus_dir, str(tmp_path / "bad"), {"x": ["prose", "nope"]})


def test_math_worker_skips_a_problem_the_generator_fails_on(monkeypatch, capsys):
    calls = {"n": 0}

    def flaky():  # fails on its second call, as linear_2d's integers_with_sum assertion does now and then
        calls["n"] += 1
        if calls["n"] == 2:
            raise AssertionError
        return type("P", (), {"question": f"What is {calls['n']} + 1?", "answer": str(calls["n"] + 1)})

    fake = type("Modules", (), {"train": staticmethod(lambda entropy: {"numbers": {"gcd": flaky}})})
    monkeypatch.setattr(sources, "import_mathematics_dataset", lambda: fake)
    sources.math_worker("math_numbers", 100, seed=0)
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [doc.split("\n")[0] for _, doc in lines[:3]] == [f"Question: What is {n} + 1?" for n in (1, 3, 4)]
    assert [key for key, _ in lines[:3]] == ["numbers:1 1", "numbers:1 3", "numbers:1 4"] and calls["n"] >= 4


def write_notes(folder, count=60):
    """A folder of short documents in words the tiny corpus never had; returns {key: text}."""
    os.makedirs(folder)
    notes = {}
    for i in range(count):
        notes[f"note{i:02d}.txt"] = f"Note {i}: the licence grants zebra quartz rights, clause {i * 7} — ünïcode.\n"
        with open(os.path.join(folder, f"note{i:02d}.txt"), "w", encoding="utf-8") as f:
            f.write(notes[f"note{i:02d}.txt"])
    return notes


def split_texts(corpus_dir, domain, tok):
    """The documents of each split of one domain, decoded from its token files."""
    return {split: tok.decode(tokens.read_tokens(os.path.join(corpus_dir, domain, f"{split}.bin"),
                                                 tok.fingerprint).tolist()).split(tokenizer.EOT)[:-1]
            for split in prepare.SPLITS}


def test_regroup_drops_domains_and_the_task_problems_of_dropped_ones(tiny_corpus_dir, tmp_path):
    out = str(tmp_path / "dropped")
    prepare.regroup_corpus(tiny_corpus_dir, out, drop=["prose"], log=lambda *a: None)
    new = Corpus(out)
    assert new.domains == ["code", "arith"] and new.fields == ["source", "target"]
    for rel in ["tokenizer.json", "task.jsonl", "code/train.bin", "code/test.bin", "arith/val.bin"]:
        assert filecmp.cmp(os.path.join(tiny_corpus_dir, rel), os.path.join(out, rel), shallow=False), rel
    assert not os.path.exists(os.path.join(out, "prose"))
    notes = str(tmp_path / "notes")
    write_notes(notes)
    out = str(tmp_path / "new-target")  # the task's only domain dropped: the corpus has no task any more
    prepare.regroup_corpus(tiny_corpus_dir, out, drop=["arith"], add={"notes": ("target", notes)},
                           val_permille=100, log=lambda *a: None)
    with open(os.path.join(out, "meta.json")) as f:
        assert json.load(f)["task"] is None
    assert Corpus(out).task("test") == [] and not os.path.exists(os.path.join(out, "task.jsonl"))


def test_regroup_adds_a_user_domain_with_the_source_tokenizer(tiny_corpus_dir, tmp_path):
    notes = write_notes(str(tmp_path / "notes"))
    data_dir = str(tmp_path / "data")
    prepare.main(["--data_dir", data_dir, "--corpus", "added", "--regroup", tiny_corpus_dir, "--drop", "code",
                  "--add", f"notes={tmp_path / 'notes'}", "--field", "notes=source", "--val_permille", "100"])
    out = os.path.join(data_dir, "added")
    new = Corpus(out)  # reads every token file, checking the tokenizer's fingerprint
    assert new.domains == ["prose", "arith", "notes"] and new.fields == ["source", "target", "source"]
    for rel in ["tokenizer.json", "task.jsonl", "prose/train.bin", "arith/test.bin"]:
        assert filecmp.cmp(os.path.join(tiny_corpus_dir, rel), os.path.join(out, rel), shallow=False), rel
    with open(os.path.join(out, "meta.json")) as f:
        entry = json.load(f)["domains"][2]
    assert entry["field"] == "source" and entry["source"] == str(tmp_path / "notes")
    assert entry["held_out_permille"] == 100 and sum(entry[f"{s}_docs"] for s in prepare.SPLITS) == len(notes)
    texts = split_texts(out, "notes", new.tokenizer)
    assert all(texts.values()) and sorted(sum(texts.values(), [])) == sorted(notes.values())  # decodes back
    for split in prepare.SPLITS:  # held out by document, by the same key hash as build_corpus
        assert sorted(texts[split]) == sorted(text for key, text in notes.items()
                                              if prepare.split_of(key, 100) == split)
        assert entry[f"{split}_tokens"] == len(tokens.read_tokens(os.path.join(out, "notes", f"{split}.bin")))
    assert not set(texts["train"]) & set(texts["val"]) and not set(texts["train"]) & set(texts["test"])


@pytest.mark.parametrize("argv, message", [
    (["--drop", "nope"], r"\['nope'\] are not among the corpus' domains"),
    (["--drop", "prose,code"], "would have no source domain"),
    (["--drop", "arith"], "would have no target domain"),
    (["--merge", "text=prose,code", "--drop", "code"], "also merged"),
    (["--add", "prose={notes}", "--field", "prose=source"], "already has a domain 'prose'"),
    (["--add", "notes={notes}"], "needs --field notes=source or --field notes=target"),
    (["--add", "notes={notes}", "--field", "notes=poetry"], "needs --field notes=source"),
    (["--add", "notes={notes}", "--field", "notes=source", "--field", "other=source"], "which no --add"),
    (["--add", "notes={tmp}/nowhere", "--field", "notes=source"], "does not exist"),
    (["--add", "notes={tmp}/empty", "--field", "notes=source"], "there is no text there"),
    (["--add", "notes={tmp}/blank", "--field", "notes=source"], "domain 'notes' has 0 training"),
    (["--add", "notes={notes}", "--field", "notes=source", "--task", "notes"], "keeps the corpus' task"),
])
def test_regroup_refuses_bad_drops_and_adds(tiny_corpus_dir, tmp_path, argv, message):
    write_notes(str(tmp_path / "notes"))
    os.makedirs(tmp_path / "empty")
    os.makedirs(tmp_path / "blank")
    (tmp_path / "blank" / "a.txt").write_text("  \n")
    argv = [a.format(notes=tmp_path / "notes", tmp=tmp_path) for a in argv]
    with pytest.raises(SystemExit, match=message):
        prepare.main(["--data_dir", str(tmp_path / "data"), "--corpus", "c", "--regroup", tiny_corpus_dir] + argv)
    assert not os.path.exists(tmp_path / "data" / "c")  # nothing half-written
    assert not os.path.exists(tmp_path / "data") or os.listdir(tmp_path / "data") == []
    with pytest.raises(SystemExit, match="go together with --regroup"):
        prepare.main(["--data_dir", str(tmp_path / "data"), "--drop", "prose"])


def test_license_texts_are_written_once_each_within_the_cap(tmp_path):
    share = tmp_path / "share"
    for rel, text in {"common-licenses/GPL-3": "GNU GENERAL PUBLIC LICENSE\n" * 40,
                      "common-licenses/GPL": "GNU GENERAL PUBLIC LICENSE\n" * 40,  # a repeat (a link on Debian)
                      "doc/bash/copyright": "Files: *\nCopyright: 1987 Free Software Foundation\n",
                      "doc/bash-static/copyright": "Files: *\nCopyright: 1987 Free Software Foundation\n",
                      "doc/zlib1g/README": "not a copyright file\n"}.items():
        (share / rel).parent.mkdir(parents=True, exist_ok=True)
        (share / rel).write_text(text)
    (share / "doc" / "tar").mkdir()
    with gzip.open(share / "doc" / "tar" / "copyright.gz", "wt") as f:
        f.write("Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/\nLicense: GPL-3+\n")
    count, total = sources.write_license_texts(str(tmp_path / "a"), 10_000, share=str(share))
    written = {os.path.relpath(os.path.join(d, f), tmp_path / "a") for d, _, fs in os.walk(tmp_path / "a") for f in fs}
    assert count == len(written) == 3 and "copyright/tar.txt" in written  # .gz read, repeats kept once
    assert len(written & {"common-licenses/GPL-3.txt", "common-licenses/GPL.txt"}) == 1
    assert len(written & {"copyright/bash.txt", "copyright/bash-static.txt"}) == 1
    assert total == sum(os.path.getsize(tmp_path / "a" / w) for w in written)
    sources.write_license_texts(str(tmp_path / "b"), 10_000, share=str(share))
    assert not filecmp.dircmp(tmp_path / "a", tmp_path / "b").diff_files  # the same machine, the same folder
    count, total = sources.write_license_texts(str(tmp_path / "capped"), 500, share=str(share))
    assert count == 2 and total <= 500  # the 1080-byte licence does not fit
    docs = dict(sources.user_documents(str(tmp_path / "capped")))
    assert sorted(docs) == ["copyright/bash.txt", "copyright/tar.txt"] or \
        sorted(docs) == ["copyright/bash-static.txt", "copyright/tar.txt"]
    with pytest.raises(sources.PrepareError, match="already exists"):
        sources.write_license_texts(str(tmp_path / "a"), 10_000, share=str(share))
    with pytest.raises(sources.PrepareError, match="no licence texts"):
        sources.write_license_texts(str(tmp_path / "c"), 10_000, share=str(tmp_path / "nothing"))
    with pytest.raises(sources.PrepareError, match="fits in 10 bytes"):
        sources.write_license_texts(str(tmp_path / "c"), 10, share=str(share))
    assert not os.path.exists(tmp_path / "c")


@pytest.mark.skipif(not os.path.isdir("/usr/share/common-licenses"), reason="not a Debian-family machine")
def test_this_machine_license_texts_make_a_folder_of_documents(tmp_path, capsys):
    sources.main(["licenses", str(tmp_path / "licenses"), "--max_bytes", "40000"])
    assert "licence texts" in capsys.readouterr().out
    docs = dict(sources.user_documents(str(tmp_path / "licenses")))
    assert docs and sum(len(t.encode("utf-8")) for t in docs.values()) <= 40_000
    assert any("licen" in text.lower() for text in docs.values())
