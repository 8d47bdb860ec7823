"""RegMix as published: fitted on constant-mixture proxy runs whose score peaks at a known target share, it
lands near the peak; its variant takes the single best candidate; it refuses runs whose weights move, too
few runs and another corpus' runs; its cross-validated rank correlation tells a real signal from shuffled
scores; its candidates come from the proxy runs' own prior."""

import numpy as np
import pytest

import regmix
from common import ConfigError, DataError
from conftest import FakeCorpus
from mixer import options_of
from trajectories import TrajectoryBuffer, rank_correlation, trajectory_score

PEAK = 0.4  # the target share where the synthetic score below is highest


def corpus_3():
    """d0, d1 in the source field, d2 in the target field; natural target share 1/6."""
    corpus = FakeCorpus(3)
    corpus.train_tokens = np.array([3000.0, 2000.0, 1000.0])
    return corpus


def peaked(t):
    """(forgetting, gain) of a run with target share t: the source loss rises 2 t^2, the target loss falls
    1.6 t, so J_0 - J_T = (1.6 t - 2 t^2) / 2, highest at t = 0.4."""
    return 2 * t ** 2, 1.6 * t


def rising(t):
    """The target loss falls 4 t, the source stays put: the more target, the better."""
    return 0 * t, 4 * t


def write_runs(folder, corpus, effect, runs=64, seed=0, noise=0.005, intervals=1, shuffle=False, moving=0):
    """`runs` proxy runs with constant mixtures from RegMix's prior (the first `moving` switch mixture halfway),
    over `intervals` intervals; the scores can be shuffled over the runs to remove the signal."""
    rng = np.random.default_rng(seed)
    mixtures = regmix.regmix_prior(corpus.train_tokens, runs, rng)
    forgetting, gain = effect(mixtures[:, 2])
    gain = gain + noise * rng.normal(size=runs)
    order = rng.permutation(runs) if shuffle else np.arange(runs)
    buffer = TrajectoryBuffer(str(folder))
    for i, w in enumerate(mixtures):
        end = [4.0 + forgetting[order[i]], 4.0 + forgetting[order[i]], 8.0 - gain[order[i]]]
        val_loss = np.linspace([4.0, 4.0, 8.0], end, intervals + 1)  # the boundaries 0, n, 2n, ...
        weights = [w] * intervals if i >= moving else [w, mixtures[(i + 1) % runs]]
        buffer.save(i, {"weights": weights, "val_loss": val_loss, "answer_logprob": [float("nan")] * (intervals + 1),
                        "tokens_per_domain": [1, 1, 1]},
                    {"domains": corpus.domains, "fields": corpus.fields, "schedule": "regmix_proxy"})
    return str(folder)


def mixer(corpus, folder, **options):
    return regmix.RegMixMixer(corpus, {"trajectories": folder, "seed": 0, **options})


def test_the_scores_are_the_objectives_gain_of_the_synthetic_runs(tmp_path):
    folder = write_runs(tmp_path / "runs", corpus_3(), peaked, runs=3, noise=0.0)
    arrays, meta = TrajectoryBuffer(folder).load(0)
    t = arrays["weights"][0, 2]
    assert trajectory_score(arrays, meta) == pytest.approx((1.6 * t - 2 * t ** 2) / 2)


def test_lightgbm_lands_near_the_peak(tmp_path):
    corpus = corpus_3()
    m = mixer(corpus, write_runs(tmp_path / "runs", corpus, peaked))
    w = m.weights()
    # the natural target share is 1/6; over ten data seeds the chosen share averages 0.40, spread 0.06
    assert w.sum() == pytest.approx(1.0) and abs(w[2] - PEAK) < 0.1, w
    assert m.log()["runs"] == 64 and m.log()["r2"] > 0.8
    again = mixer(corpus, str(tmp_path / "runs")).weights()
    assert np.array_equal(again, w)  # seeded: the same runs and seed give the same mixture


def test_linear_fit_cannot_place_an_inner_peak_it_goes_to_a_corner(tmp_path):
    """A linear score is highest at a vertex of the simplex, and the prior draws near-vertex mixtures: the
    top candidates, so their average, put nearly all weight on one domain (which one, noise decides here)."""
    corpus = corpus_3()
    m = mixer(corpus, write_runs(tmp_path / "runs", corpus, peaked), regmix_model="linear")
    assert m.weights().max() > 0.9 and m.r2 < 0.5, (m.weights(), m.r2)


@pytest.mark.parametrize("model", regmix.MODELS)
def test_scores_rising_with_the_target_share_favour_the_target(tmp_path, model):
    """The earlier test's property: runs whose score grows with the target share."""
    corpus = corpus_3()
    natural = corpus.train_tokens / corpus.train_tokens.sum()
    m = mixer(corpus, write_runs(tmp_path / "runs", corpus, rising), regmix_model=model, regmix_candidates=20000)
    assert m.weights()[2] > natural[2] + 0.2 and m.r2 > 0.9, (m.weights(), m.r2)


def test_the_best_variant_takes_the_single_best_predicted_candidate(tmp_path):
    """--regmix_variant best: w is the one candidate with the highest f(m_j) (the first of the tied best, as
    the default's ranking orders them); the default averages the top 100 of the same ranking."""
    corpus = corpus_3()
    folder = write_runs(tmp_path / "runs", corpus, peaked)
    paper = mixer(corpus, folder, regmix_candidates=5000).weights()
    best = mixer(corpus, folder, regmix_candidates=5000, regmix_variant="best").weights()
    mixtures, scores, _ = regmix.proxy_runs(folder, "lightgbm")
    predict = regmix.fit(mixtures, scores, "lightgbm", 0)  # the mixer's fit: same runs, same seed
    candidates = regmix.regmix_prior(corpus.train_tokens, 5000, np.random.Generator(np.random.PCG64(0)))
    predicted = predict(candidates)
    np.testing.assert_allclose(best, candidates[np.argmax(predicted)])
    np.testing.assert_allclose(paper, candidates[np.argsort(-predicted, kind="stable")[:100]].mean(axis=0))
    assert np.abs(best - paper).max() > 0.01 and predict(best[None])[0] == predicted.max() > predict(paper[None])[0]
    assert abs(best[2] - PEAK) < 0.15, best  # the best region holds the peak


def test_runs_whose_weights_move_are_refused_with_the_collection_command(tmp_path):
    corpus = corpus_3()
    folder = write_runs(tmp_path / "moving", corpus, peaked, intervals=2, moving=3)
    with pytest.raises(DataError, match="3 of 64 runs change their weights") as error:
        mixer(corpus, folder)
    assert "--mixer regmix_proxy" in str(error.value) and folder in str(error.value)
    with pytest.raises(DataError, match="change their weights"):
        regmix.cross_validated_rank(folder)
    steady = write_runs(tmp_path / "steady", corpus, peaked, intervals=3)  # constant over several intervals: fine
    assert abs(mixer(corpus, steady, regmix_candidates=20000).weights()[2] - PEAK) < 0.1


def test_too_few_runs_for_the_regressor_are_refused(tmp_path):
    corpus = corpus_3()
    assert regmix.min_runs("linear", 3) == 5 and regmix.min_runs("lightgbm", 3) == 10
    folder = write_runs(tmp_path / "runs", corpus, rising, runs=9)
    with pytest.raises(DataError, match="needs at least 10 proxy runs; .* has 9: collect more"):
        mixer(corpus, folder)
    assert mixer(corpus, folder, regmix_model="linear", regmix_candidates=1000).weights()[2] > 0.5


def test_runs_over_other_domains_or_a_missing_folder_are_refused(tmp_path):
    folder = write_runs(tmp_path / "runs", corpus_3(), rising, runs=12)
    with pytest.raises(DataError, match="were collected over"):
        mixer(FakeCorpus(4), folder)
    with pytest.raises(DataError, match="needs --trajectories DIR"):
        mixer(corpus_3(), "")
    with pytest.raises(DataError, match="does not exist.*--mixer regmix_proxy"):
        mixer(corpus_3(), str(tmp_path / "nowhere"))


def test_options_are_checked_before_anything_loads():
    config = {name: spec[0] for name, spec in options_of(regmix.RegMixMixer).items()}
    regmix.RegMixMixer.check_options(config)
    with pytest.raises(ConfigError, match="--regmix_model forest is unknown"):
        regmix.RegMixMixer.check_options({**config, "regmix_model": "forest"})
    with pytest.raises(ConfigError, match="--regmix_variant top is unknown; choose one of paper, best"):
        regmix.RegMixMixer.check_options({**config, "regmix_variant": "top"})
    with pytest.raises(ConfigError, match="--regmix_top_k 10 must be between 1 and --regmix_candidates 5"):
        regmix.RegMixMixer.check_options({**config, "regmix_top_k": 10, "regmix_candidates": 5})


def test_cross_validated_rank_is_high_on_a_signal_and_near_zero_on_shuffled_scores(tmp_path):
    corpus = corpus_3()
    signal = write_runs(tmp_path / "signal", corpus, peaked)
    assert regmix.cross_validated_rank(signal) > 0.8
    assert regmix.cross_validated_rank(signal, model="linear") < regmix.cross_validated_rank(signal)
    # no signal: one shuffle's correlation spreads about +-0.17 around 0 (1/sqrt(63), and out-of-fold
    # predictions lean negative: each fold's fit leaves out that fold's own scores), so average four
    nulls = [regmix.cross_validated_rank(write_runs(tmp_path / f"shuffled{s}", corpus, peaked, seed=s, shuffle=True))
             for s in range(4)]
    assert abs(np.mean(nulls)) < 0.2 and max(nulls) < 0.4, nulls
    with pytest.raises(ConfigError, match="folds 1"):
        regmix.cross_validated_rank(signal, folds=1)


def test_spearman_matches_its_definition():
    assert rank_correlation([1, 2, 3, 4], [10, 20, 30, 40]) == pytest.approx(1.0)
    assert rank_correlation([1, 2, 3, 4], [4, 3, 2, 1]) == pytest.approx(-1.0)
    # ties share their mean rank: ranks (0, 1.5, 1.5, 3) against (0, 1, 2, 3)
    expected = np.corrcoef([0, 1.5, 1.5, 3], [0, 1, 2, 3])[0, 1]
    assert rank_correlation([1, 2, 2, 3], [1, 2, 3, 4]) == pytest.approx(expected)
    assert np.isnan(rank_correlation([1, 1, 1], [1, 2, 3]))


def test_candidates_follow_the_proxy_runs_prior():
    """The candidates (regmix.regmix_prior) and the proxy runs (regmix_proxy) draw from one distribution."""
    corpus = corpus_3()
    candidates = regmix.regmix_prior(corpus.train_tokens, 20000, np.random.default_rng(0))
    runs = np.array([regmix.RegMixProxyMixer(corpus, {"seed": s, "steps": 10}).weights() for s in range(3000)])
    for q in (0.25, 0.5, 0.75):
        assert np.quantile(candidates[:, 2], q) == pytest.approx(np.quantile(runs[:, 2], q), abs=0.05)
    assert np.allclose(candidates.sum(axis=1), 1.0) and candidates.min() >= 9e-7
    rare = regmix.regmix_prior(np.array([1e7, 1.0, 1.0]), 1000, np.random.default_rng(0))
    assert np.all(np.isfinite(rare)) and rare.min() >= 9e-7  # a tiny alpha does not underflow


def test_the_prior_is_the_released_codes_tempered_dirichlet_over_fifteen_strengths():
    """RegMix's released synthesize_mixture.py: Dirichlet(s q) with q = p^0.5 / sum p^0.5 (TEMP 0.5) and s one of
    15 strengths log-spaced in [0.1, 5]. Its mean is q, not the token distribution p (a concentration s K p, ours
    before, had the mean p); its strengths are those 15."""
    corpus = corpus_3()  # p = (1/2, 1/3, 1/6): q = (0.418, 0.341, 0.241)
    p = corpus.train_tokens / corpus.train_tokens.sum()
    q = np.sqrt(p) / np.sqrt(p).sum()
    candidates = regmix.regmix_prior(corpus.train_tokens, 40000, np.random.default_rng(0))
    np.testing.assert_allclose(candidates.mean(axis=0), q, atol=0.01)
    assert np.abs(candidates.mean(axis=0) - p).max() > 0.05
    np.testing.assert_allclose(regmix.PRIOR_STRENGTHS[[0, -1]], [0.1, 5.0])
    assert len(regmix.PRIOR_STRENGTHS) == 15
    # Var(m_i) = q_i (1 - q_i) / (s + 1): averaged over the 15 strengths, E[1 / (s + 1)]
    expected = q * (1 - q) * np.mean(1 / (regmix.PRIOR_STRENGTHS + 1))
    np.testing.assert_allclose(candidates.var(axis=0), expected, rtol=0.05)
