"""The oracle's search (experiments/oracle.py) and the replay mixer that runs its schedule frozen."""

import json
import os

import numpy as np
import pytest

import train
from common import ConfigError, DataError
from data import Corpus
from evaluate import read_log
from experiments import oracle
from mixer import ReplayMixer
from options import parse_config, validate_config


def replay(corpus, tmp_path, spec):
    path = tmp_path / "schedule.json"
    path.write_text(json.dumps(spec))
    return ReplayMixer(corpus, {"replay": str(path)})


def test_the_replay_mixer_holds_each_mixture_from_its_step_and_names_a_bad_file(tiny_corpus_dir, tmp_path):
    corpus = Corpus(tiny_corpus_dir)
    K = len(corpus.domains)
    first, second = [1.0] + [0.0] * (K - 1), [0.0] * (K - 1) + [1.0]
    mixer = replay(corpus, tmp_path, {"domains": corpus.domains, "steps": [0, 3], "weights": [first, second]})
    seen = []
    for step in range(5):
        seen.append(mixer.weights().tolist())
        mixer.observe_step(step, {})
    assert seen == [first] * 3 + [second] * 2
    mixer.load_state_dict({"t": 1})
    assert mixer.weights().tolist() == first
    with pytest.raises(ConfigError, match="--replay .* is not a file"):
        ReplayMixer(corpus, {"replay": str(tmp_path / "missing.json")})
    for bad in ({"domains": corpus.domains, "steps": [1], "weights": [first]},  # not from step 0
                {"domains": corpus.domains[::-1], "steps": [0], "weights": [first]},  # another corpus' order
                {"domains": corpus.domains, "steps": [0, 3], "weights": [first]}):  # a step without a mixture
        with pytest.raises(DataError, match="does not fit this corpus"):
            replay(corpus, tmp_path, bad)
    with pytest.raises(DataError, match="cannot be read"):
        replay(corpus, tmp_path, {"domains": corpus.domains, "steps": [0], "weights": [[0.5] * K]})  # sums to K/2


def test_the_search_keeps_the_best_branch_on_validation_and_its_schedule_replays_to_the_same_run(tiny_args,
                                                                                               tmp_path):
    """Each interval keeps the candidate with the lowest validation objective at the interval's end; the schedule
    it writes, run frozen by train.py, is the search's live run step for step (the same validation losses)."""
    args = tiny_args + ["--steps", "10", "--eval_interval", "5"]
    cfg = validate_config(parse_config(args))
    train.main(args)  # a finished run in the same --out_dir (the README's main job) does not stop the search
    out = tmp_path / "oracle"
    record = oracle.main(["--out_dir", str(out), "--shares", "0.1,0.9", "--interval", "5", "--"] + args)
    assert [(x["start"], x["end"]) for x in record["intervals"]] == [(0, 5), (5, 10)]
    for x in record["intervals"]:
        scores = x["val_objective"]
        assert x["chosen_share"] == float(min(scores, key=scores.get))
        assert x["margin"] == pytest.approx(abs(scores["0.1"] - scores["0.9"]))
        assert scores["0.1"] != scores["0.9"]  # the branches differ
    with open(out / "schedule.json") as f:
        schedule = json.load(f)
    corpus = Corpus(os.path.join(cfg["data_dir"], cfg["corpus"]))
    assert schedule["steps"] == [0, 5]
    assert np.allclose(schedule["weights"], oracle.candidate_mixtures(corpus, record["schedule_shares"]))
    live = out / "interval-1" / f"share-{record['schedule_shares'][1]}"
    run = train.main(args + ["--mixer", "replay", "--replay", str(out / "schedule.json")])
    frozen = [r["val_loss"] for r in read_log(run["run_dir"]) if "val_loss" in r]
    searched = [r["val_loss"] for r in read_log(str(live)) if "val_loss" in r]
    assert frozen == searched and len(frozen) == 3  # steps 0, 5 and 10
    assert record["final_val_objective"] == oracle.val_objective({"val_loss": frozen[-1]}, corpus.fields)


def test_named_mixtures_are_the_candidates_and_a_bad_file_is_refused(tiny_args, tmp_path, tiny_corpus_dir):
    corpus = Corpus(tiny_corpus_dir)
    first, last = corpus.domains[0], corpus.domains[-1]
    path = tmp_path / "mixtures.json"
    path.write_text(json.dumps({"first": {first: 3}, "both": {first: 1, last: 1}}))
    args = tiny_args + ["--steps", "10", "--eval_interval", "5"]
    record = oracle.main(["--out_dir", str(tmp_path / "oracle"), "--mixtures", str(path), "--interval", "5", "--"]
                         + args)
    assert set(record["intervals"][0]["val_objective"]) == {"first", "both"} and len(record["schedule"]) == 2
    with open(tmp_path / "oracle" / "schedule.json") as f:
        weights = json.load(f)["weights"]
    K = len(corpus.domains)
    named = {"first": [1.0] + [0.0] * (K - 1), "both": [0.5] + [0.0] * (K - 2) + [0.5]}
    assert weights == [named[name] for name in record["schedule"]]
    for bad, message in (({"x": {"nowhere": 1}}, "names \\['nowhere'\\]"), ({"x": {first: 0}}, "not all 0"),
                         ([1, 2], "must hold")):
        path.write_text(json.dumps(bad))
        with pytest.raises(DataError, match=message):
            oracle.named_mixtures(corpus, str(path))


def test_the_judge_pairs_the_frozen_schedule_with_its_twin_and_natural_by_seed(tmp_path, capsys):
    def finished(folder, objective):
        os.makedirs(tmp_path / folder)
        (tmp_path / folder / "eval.json").write_text(json.dumps({"summary": {"balanced_loss": objective}, "final": {
            "domains": ["a", "b"], "fields": ["source", "target"], "test_loss": [objective - 0.1, objective + 0.1]}}))
        (tmp_path / folder / "log.jsonl").write_text(json.dumps({"step": 0, "val_loss": [3.0, 4.0]}) + "\n" + json.dumps(
            {"step": 1, "domains": ["a", "b"], "rows": [3, 1]}) + "\n")
    for folder, objective in (("replay-1337", 2.30), ("replay-1338", 2.32), ("twin-1337", 2.31), ("twin-1338", 2.34),
                              ("cpt-static", 2.35), ("static-1338", 2.33), ("twin-1339", 2.0)):
        finished(folder, objective)
    os.makedirs(tmp_path / "replay-1340")  # unfinished: no eval.json
    judged = oracle.main(["--judge", str(tmp_path)])
    assert judged["seeds"] == [1337, 1338] and judged["natural"] == {1337: 2.35, 1338: 2.33}
    assert judged["delta_twin"]["mean"] == pytest.approx(-0.015) and judged["delta_twin"]["seeds"] == 2
    assert judged["delta_natural"]["mean"] == pytest.approx(-0.03)
    assert "replay - twin: -0.0150 [" in capsys.readouterr().out
    with pytest.raises(SystemExit, match="no finished replay-SEED run"):
        oracle.main(["--judge", str(tmp_path / "replay-1340")])

    # other names, published as a section of a headroom file beside the one already there
    for folder, objective in (("burst-1337", 1.91), ("even-1337", 1.89)):
        finished(folder, objective)
    path = tmp_path / "headroom.json"
    path.write_text(json.dumps({"default": {"kept": True}}))
    oracle.main(["--judge", str(tmp_path), "--names", "burst,even,none", "--publish", str(path), "--setting",
                 "skills", "--what", "a burst of copy"])
    written = json.loads(path.read_text())
    assert written["default"] == {"kept": True} and written["skills"]["what"] == "a burst of copy"
    assert written["skills"]["delta_twin"]["mean"] == pytest.approx(0.02) and written["skills"]["natural"] == {}
    burst = written["skills"]["runs"]["burst-1337"]
    assert burst["test_loss"] == pytest.approx([1.81, 2.01]) and {k: v for k, v in burst.items() if k != "test_loss"} \
        == {"role": "replay", "objective": 1.91, "domains": ["a", "b"], "val_steps": [0], "val_loss": [[3.0, 4.0]],
            "val_objective": 3.5, "mixture": [0.75, 0.25]}
    assert written["skills"]["search"] is None
    # a search recorded before its intervals kept their margins gains them when published
    (tmp_path / "search").mkdir()
    (tmp_path / "search" / "search.json").write_text(json.dumps(
        {"seed": 1337, "intervals": [{"start": 0, "end": 5, "val_objective": {"0.1": 2.5, "0.5": 2.4, "0.9": 2.7}}]}))
    oracle.publish(str(path), "skills", {}, "a burst of copy", search_dir=str(tmp_path / "search"))
    assert json.loads(path.read_text())["skills"]["search"]["intervals"][0]["margin"] == pytest.approx(0.1)
    with pytest.raises(SystemExit):
        oracle.main(["--judge", str(tmp_path), "--names", "burst,even"])
