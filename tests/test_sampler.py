"""The sampler: row counts follow the weights with low variance, windows are drawn without replacement
within an epoch, epochs and tokens are counted, and the state round-trips exactly."""

import numpy as np
import pytest

from common import DataError
from data import Corpus, Sampler, check_weights, parse_weights
from mixer import StaticMixer


@pytest.fixture(scope="module")
def corpus(tiny_corpus_dir):
    return Corpus(tiny_corpus_dir)


def test_row_counts_are_floor_or_ceil_of_batch_times_weight(corpus):
    sampler = Sampler(corpus, batch_size=10, block_size=16, seed=0)
    w = np.array([0.53, 0.26, 0.21])
    for _ in range(200):
        counts = sampler.row_counts(w)
        assert counts.sum() == 10
        assert np.all(counts >= np.floor(10 * w)) and np.all(counts <= np.ceil(10 * w))


def test_row_counts_average_to_the_weights(corpus):
    sampler = Sampler(corpus, batch_size=7, block_size=16, seed=1)
    w = np.array([0.6, 0.25, 0.15])
    mean = np.mean([sampler.row_counts(w) for _ in range(4000)], axis=0)
    np.testing.assert_allclose(mean, 7 * w, atol=0.05)


def test_zero_weight_domain_is_never_read(corpus):
    sampler = Sampler(corpus, batch_size=8, block_size=16, seed=2)
    for _ in range(50):
        _, _, row_domain = sampler.batch(np.array([0.0, 0.5, 0.5]))
        assert 0 not in row_domain.tolist()
    assert sampler.rows_seen[0] == 0


def test_windows_are_not_repeated_within_an_epoch_and_epochs_are_counted(corpus):
    block = 16
    sampler = Sampler(corpus, batch_size=4, block_size=block, seed=3)
    d = 2
    n = sampler.n_windows[d]
    starts = sampler.next_windows(d, n).tolist()
    assert sorted(starts) == [i * block for i in range(n)]  # every window exactly once
    assert sampler.epochs_per_domain()[d] == pytest.approx(1.0)
    again = sampler.next_windows(d, n).tolist()
    assert sorted(again) == sorted(starts) and again != starts  # a new shuffle for epoch 2
    assert sampler.epoch[d] == 1 and sampler.epochs_per_domain()[d] == pytest.approx(2.0)


def test_batches_are_windows_of_the_domain_with_shifted_targets(corpus):
    sampler = Sampler(corpus, batch_size=6, block_size=16, seed=4)
    x, y, row_domain = sampler.batch(np.array([0.5, 0.0, 0.5]))
    assert x.shape == y.shape == (6, 16)
    assert (x[:, 1:] == y[:, :-1]).all()
    train = [np.asarray(t) for t in corpus.train]
    for row, d in zip(x.numpy(), row_domain.tolist()):
        text = train[d]
        hits = [s for s in range(0, len(text) - 16, 16) if np.array_equal(text[s:s + 16], row)]
        assert hits, "every row is a window of its own domain"
    assert sampler.tokens_per_domain() == [3 * 16, 0, 3 * 16]


def test_state_dict_round_trip_gives_the_same_batches(corpus):
    a = Sampler(corpus, batch_size=5, block_size=16, seed=5)
    w = np.array([0.3, 0.3, 0.4])
    for _ in range(7):
        a.batch(w)
    b = Sampler(corpus, batch_size=5, block_size=16, seed=999)
    b.load_state_dict(a.state_dict())
    for _ in range(20):
        xa, _, da = a.batch(w)
        xb, _, db = b.batch(w)
        assert (xa == xb).all() and (da == db).all()


def test_same_seed_same_batches_other_seed_other_batches(corpus):
    w = np.array([0.3, 0.3, 0.4])
    x1 = Sampler(corpus, 8, 16, seed=6).batch(w)[0]
    x2 = Sampler(corpus, 8, 16, seed=6).batch(w)[0]
    x3 = Sampler(corpus, 8, 16, seed=7).batch(w)[0]
    assert (x1 == x2).all() and not (x1 == x3).all()


def test_weights_parsing_and_refusals(corpus):
    np.testing.assert_allclose(parse_weights("prose=1,arith=3", corpus.domains), [0.25, 0, 0.75])
    with pytest.raises(DataError, match="unknown domain 'poetry'"):
        parse_weights("poetry=1", corpus.domains)
    with pytest.raises(DataError, match="negative or non-finite"):
        parse_weights("prose=-1,arith=2", corpus.domains)
    with pytest.raises(DataError, match="negative or non-finite"):
        parse_weights("prose=nan,arith=2", corpus.domains)
    with pytest.raises(DataError, match="sums to zero"):
        parse_weights("prose=0,arith=0", corpus.domains)
    with pytest.raises(DataError, match="mixer 'x'"):
        check_weights([0.5, 0.6, -0.1], corpus.domains, "x")


def test_target_ratio_splits_each_field_by_tokens(corpus):
    w = StaticMixer(corpus, {"target_ratio": 0.8}).weights()
    tokens = corpus.train_tokens
    assert w[2] == pytest.approx(0.8)
    assert w[0] / w[1] == pytest.approx(tokens[0] / tokens[1])
    assert StaticMixer(corpus, {"init_weights": "uniform"}).weights() == pytest.approx([1 / 3] * 3)


# ----------------------------------------------------------------------------- one-domain mode (ODM's batches)

def test_one_domain_mode_fills_each_process_share_with_rows_of_one_domain(corpus):
    w = np.array([0.4, 0.3, 0.3])
    single = Sampler(corpus, batch_size=8, block_size=16, seed=8, one_domain_shares=1)
    two = Sampler(corpus, batch_size=8, block_size=16, seed=8, one_domain_shares=2)  # 2 processes x 4 rows
    train = [np.asarray(t) for t in corpus.train]
    seen_pairs = set()
    for _ in range(30):
        x, y, row_domain = single.batch(w)
        assert len(set(row_domain.tolist())) == 1 and (x[:, 1:] == y[:, :-1]).all()
        _, _, row_domain = two.batch(w)
        shares = [set(row_domain[s::2].tolist()) for s in (0, 1)]  # the rows process s trains on
        assert all(len(share) == 1 for share in shares), row_domain
        seen_pairs.add(tuple(min(share) for share in shares))
    assert any(a != b for a, b in seen_pairs)  # the two shares draw their domains independently
    x, _, row_domain = single.batch(w)  # the rows are windows of the drawn domain
    d = int(row_domain[0])
    for row in x.numpy():
        assert any(np.array_equal(train[d][s:s + 16], row) for s in range(0, len(train[d]) - 16, 16))


def test_one_domain_draws_follow_the_weights_and_skip_zero_weight_domains(corpus):
    sampler = Sampler(corpus, batch_size=4, block_size=16, seed=9, one_domain_shares=1)
    for w in (np.array([0.6, 0.25, 0.15]), np.array([0.0, 0.8, 0.2])):
        draws = [int(sampler.domains_of_rows(w)[0]) for _ in range(4000)]
        freq = np.bincount(draws, minlength=3) / len(draws)
        np.testing.assert_allclose(freq, w, atol=0.025)  # 3.5 standard errors of a share near 0.5
    for _ in range(20):
        assert 0 not in sampler.batch(np.array([0.0, 0.5, 0.5]))[2].tolist()


def test_one_domain_mode_resumes_exactly_and_refuses_forced_rows(corpus):
    w = np.array([0.3, 0.3, 0.4])
    a = Sampler(corpus, batch_size=6, block_size=16, seed=10, one_domain_shares=2)
    for _ in range(5):
        a.batch(w)
    b = Sampler(corpus, batch_size=6, block_size=16, seed=999, one_domain_shares=2)
    b.load_state_dict(a.state_dict())
    domains = []
    for _ in range(20):
        xa, _, da = a.batch(w)
        xb, _, db = b.batch(w)
        assert (xa == xb).all() and (da == db).all()
        domains.append(tuple(da[:2].tolist()))
    assert len(set(domains)) > 1  # the draws did vary, so equal batches say the generator's state was restored
    with pytest.raises(DataError, match="one domain per batch"):
        a.batch(w, min_rows=1)
    with pytest.raises(DataError, match="cannot be cut into 2 one-domain groups"):
        Sampler(corpus, batch_size=5, block_size=16, seed=0, one_domain_shares=2)
