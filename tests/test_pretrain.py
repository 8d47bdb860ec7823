"""The pretrain experiment: a base pre-trained from scratch with a mixer (--base_mixer), steps to reach
the reference's final loss, and experiments/pretrain.py end to end on the tiny corpus."""

import json
import os

import numpy as np
import pytest

from experiments import pretrain
import train
from evaluate import read_log


def test_steps_to_reach_interpolates_between_evaluations():
    steps, losses = np.array([0.0, 10.0, 20.0]), np.array([5.0, 3.0, 1.0])
    assert pretrain.steps_to_reach(steps, losses, 2.0) == pytest.approx(15.0)  # halfway from 3 to 1
    assert pretrain.steps_to_reach(steps, losses, 3.0) == pytest.approx(10.0)
    assert pretrain.steps_to_reach(steps, losses, 6.0) == 0.0
    assert pretrain.steps_to_reach(steps, losses, 0.5) is None  # never reached


@pytest.mark.parametrize("mixer", ["bandit", "acodm"])
def test_a_base_pre_trained_with_a_mixer_moves_its_weights_and_never_samples_the_target(tiny_args, mixer):
    cfg = train.parse_config(tiny_args + ["--base_mixer", mixer, "--base_steps", "20"])
    cfg = train.validate_config(cfg)
    corpus = train.ensure_corpus(cfg)
    default_cfg = train.parse_config(tiny_args)
    default_cfg = train.validate_config(default_cfg)
    assert train.base_dir_of(cfg, corpus) != train.base_dir_of(default_cfg, corpus)  # a base of its own
    base_dir = train.ensure_base(cfg, corpus, "cpu")
    records = [r for r in read_log(base_dir) if "weights" in r]
    weights = np.array([r["weights"] for r in records])
    target = np.array(corpus.fields) == "target"
    assert len(records) == 20 and np.all(weights[:, target] == 0)
    assert np.all(np.array([r["rows"] for r in records])[:, target] == 0)
    assert np.abs(weights[-1] - weights[0]).max() > 1e-3  # the mixer moved the weights


def test_a_moving_bases_twin_is_pre_trained_static_at_the_mixture_it_sampled(tiny_args):
    cfg = train.validate_config(train.parse_config(tiny_args + ["--base_mixer", "bandit", "--base_steps", "20"]))
    corpus = train.ensure_corpus(cfg)
    moving = train.ensure_base(cfg, corpus, "cpu")
    twin_cfg = train.validate_config(train.parse_config(tiny_args + ["--base_steps", "20", "--base_weights_from",
                                                                     moving]))
    twin = train.ensure_base(twin_cfg, corpus, "cpu")
    natural = train.base_dir_of(train.validate_config(train.parse_config(tiny_args + ["--base_steps", "20"])), corpus)
    assert len({moving, twin, natural}) == 3  # each a base of its own
    rows = np.array([r["rows"] for r in read_log(moving) if "rows" in r], dtype=float)
    held = np.array([r["weights"] for r in read_log(twin) if "weights" in r])
    assert np.allclose(held, held[0]) and np.allclose(held[0], rows.sum(0) / rows.sum())
    with pytest.raises(train.ConfigError, match="--base_weights_from .* goes with the static base mixer"):
        train.validate_config(train.parse_config(tiny_args + ["--base_mixer", "acodm", "--base_weights_from", moving]))


def test_pretrain_cli_writes_its_table_and_online_json(tiny_args, tmp_path, capsys):
    publish = tmp_path / "bench"
    options = tiny_args + ["--base_steps", "12", "--base_eval_interval", "3"]
    summary = pretrain.main(["--seeds", "2", "--publish", str(publish), "--cpt_results", str(tmp_path / "none.json"),
                             "--"] + options)
    rows = summary["rows"]
    assert list(rows) == ["static", "bandit", "acodm", "larger static", "larger acodm (proxy actor)",
                          "larger acodm (untrained)"] + [f"{label} twin" for label in pretrain.TWINNED]
    for label, row in rows.items():
        assert len(row["runs"]) == 2
        assert all(0 <= run["steps_to_reach"] <= 12 for run in row["runs"].values())
    for reference in ("static", "larger static"):  # a reference reaches its own final loss, by the end
        assert all(run["reached"] for run in rows[reference]["runs"].values())
    assert rows["bandit"]["delta_static"]["seeds"] == 2
    assert rows["larger acodm (proxy actor)"]["delta_untrained"]["seeds"] == 2
    assert all(rows[label]["delta_twin"]["seeds"] == rows[label]["delta_twin_final_loss"]["seeds"] == 2
               for label in pretrain.TWINNED)
    online = json.loads((publish / "online.json").read_text())
    assert [r["mixer"] for r in online["pretrain"]] == list(rows) and online["pretrain_budget_steps"] == 12
    assert online["velocity_target_error_nats"] is None  # no CPT suite results given
    assert all("delta_twin" in r for r in online["pretrain"] if r["mixer"] in pretrain.TWINNED)
    assert "| larger acodm (untrained) | 2 |" in capsys.readouterr().out
    folder = os.path.join(tiny_args[tiny_args.index("--out_dir") + 1], "pretrain")
    assert all(os.path.exists(os.path.join(folder, f"acodm-actor-s{s}.pt")) for s in (1337, 1338))
    with open(os.path.join(folder, "summary.json")) as f:
        written = json.load(f)
    published = json.loads((publish / "pretrain-summary.json").read_text())
    assert published == written and list(published["rows"]) == list(rows) and published["seeds"] == [1337, 1338]


def test_pretrain_republishes_online_json_from_a_published_summary_without_running(tmp_path, capsys):
    """--summary FILE: the pretrain rows of a published summary beside a new CPT suite's numbers, nothing trained."""
    summary = {"budget_steps": 400, "seeds": [1337], "rows": {"bandit": {
        "runs": {"1337": {}}, "steps_to_reach_mean": 310.0, "not_reached": 0,
        "delta_static": {"mean": -12.0, "lo": -30.0, "hi": 6.0, "seeds": 1}}}}
    path = tmp_path / "pretrain-summary.json"
    path.write_text(json.dumps(summary))
    cpt = tmp_path / "results.json"
    cpt.write_text(json.dumps({"velocity_target_error_nats": 0.25, "rows": {"bandit": {"stats": {
        "reweightings": {"mean": 19.0}, "mean_abs_weight_change": {"mean": 0.02}}}}}))
    publish = tmp_path / "bench"
    pretrain.main(["--summary", str(path), "--publish", str(publish), "--cpt_results", str(cpt)])
    online = json.loads((publish / "online.json").read_text())
    assert online["velocity_target_error_nats"] == 0.25 and online["updates"]["bandit"] == 19.0
    assert online["pretrain"][0]["steps_to_reach_mean"] == 310.0 and online["pretrain_budget_steps"] == 400
    assert json.loads((publish / "pretrain-summary.json").read_text()) == summary
    (tmp_path / "broken.json").write_text("{")
    with pytest.raises(SystemExit, match="--summary .*broken.json is not a pretrain summary"):
        pretrain.main(["--summary", str(tmp_path / "broken.json"), "--publish", str(publish)])
    with pytest.raises(SystemExit, match="only republishes"):
        pretrain.main(["--summary", str(path)])
