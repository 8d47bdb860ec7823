"""The dynamic mixers: golden numbers computed by hand from the papers' equations, behaviour under
synthetic and extreme inputs, and the scaling-law fit."""

import json
import math
import os

import numpy as np
import pytest

import train
from common import ConfigError, DataError
from conftest import FakeCorpus, mixer_inputs, same
from data import average_weights_of_run
from odm import BanditMixer
from options import MIXERS, OPTIONS, parse_config, validate_config
from trajectories import RandomMixer
from velocity import DBLMixer, VelocityMixer, estimate_lengths, fit_scaling_law, predict_loss


def bandit(K, **config):
    """The paper's importance-weighted bandit unless the test asks for another variant."""
    return BanditMixer(FakeCorpus(K), {"steps": 100, "warmup_share": 0.0, **config})


def test_exp3_exploration_schedule():
    m = bandit(2)
    # eps_t = min(1/K, sqrt(ln K / (K t))), K = 2
    assert m.exploration(1) == 0.5  # sqrt(ln2 / 2) = 0.589 > 1/2
    assert m.exploration(2) == pytest.approx(math.sqrt(math.log(2) / 4))  # 0.41628
    assert m.exploration(8) == pytest.approx(0.2081386528)
    assert m.exploration(100) == pytest.approx(0.0588705011)
    assert bandit(5).exploration(8) == 0.2  # 1/K until t > K ln K = 8.05
    assert bandit(5).exploration(9) == pytest.approx(math.sqrt(math.log(5) / 45))


def test_exp3_golden_weights_after_two_steps():
    """Hand computation, K = 2, a = 0.9, R = 0:
    t=1: eps_1 = eps_0 = 1/2 -> pi_1 = 0 * softmax(.) + 1/2 = (0.5, 0.5)
         losses (2.0, 1.0): R = 0.1 * (2.0/0.5, 1.0/0.5) = (0.4, 0.2)
    t=2: eps_2 = sqrt(ln2/4) = 0.4162773056, eps_1 = 0.5
         softmax(0.5 * (0.4, 0.2)) = (0.5249791875, 0.4750208125)
         pi_2 = (1 - 2 eps_2) softmax + eps_2 = (0.5041826498, 0.4958173502)
         losses (3.0, 0.5): R = 0.9 R + 0.1 (3.0/pi_2[0], 0.5/pi_2[1]) = (0.9550224589, 0.2808435868)
    t=3: eps_3 = sqrt(ln2/6) = 0.3398889967
         pi_3 = (1 - 2 eps_3) softmax(eps_2 R) + eps_3 = (0.5223208945, 0.4776791055)"""
    m = bandit(2)
    np.testing.assert_allclose(m.weights(), [0.5, 0.5])
    m.observe_step(0, {"train_loss": [2.0, 1.0], "rows": [4, 4]})
    np.testing.assert_allclose(m.rewards, [0.4, 0.2])
    np.testing.assert_allclose(m.weights(), [0.5041826498, 0.4958173502], rtol=1e-9)
    m.observe_step(1, {"train_loss": [3.0, 0.5], "rows": [4, 4]})
    np.testing.assert_allclose(m.rewards, [0.9550224589, 0.2808435868], rtol=1e-9)
    np.testing.assert_allclose(m.weights(), [0.5223208945, 0.4776791055], rtol=1e-9)


def test_full_information_bandit_golden_weights_after_two_steps():
    """Hand computation, K = 2, a = 0.9, R = 0, reward = the loss itself:
    t=1: pi_1 = (0.5, 0.5); losses (2.0, 1.0): R = 0.1 * (2.0, 1.0) = (0.2, 0.1)
    t=2: eps_2 = sqrt(ln2/4), eps_1 = 0.5: pi_2 = (1 - 2 eps_2) softmax(0.5 R) + eps_2 = (0.5020926, 0.4979074)
         losses (3.0, 0.5): R = 0.9 R + 0.1 (3.0, 0.5) = (0.48, 0.14)
    t=3: eps_3 = sqrt(ln2/6): pi_3 = (1 - 2 eps_3) softmax(eps_2 R) + eps_3 = (0.5113117, 0.4886883)"""
    m = bandit(2, bandit_variant="hedge")
    np.testing.assert_allclose(m.weights(), [0.5, 0.5])
    m.observe_step(0, {"train_loss": [2.0, 1.0], "rows": [4, 4]})
    np.testing.assert_allclose(m.rewards, [0.2, 0.1])
    np.testing.assert_allclose(m.weights(), [0.5020926, 0.4979074], rtol=1e-6)
    m.observe_step(1, {"train_loss": [3.0, 0.5], "rows": [4, 4]})
    np.testing.assert_allclose(m.rewards, [0.48, 0.14])
    np.testing.assert_allclose(m.weights(), [0.5113117, 0.4886883], rtol=1e-6)


def test_bandit_keeps_domains_set_to_zero_at_zero_and_explores_over_the_others():
    m = BanditMixer(FakeCorpus(4), {"steps": 100, "warmup_share": 0.05, "weights": "d0=0.5,d1=0.5,d3=0"})
    assert m.K == 2 and m.exploration(1) == 0.5
    for step in range(60):
        w = m.weights()
        assert w[2] == 0.0 and w[3] == 0.0 and abs(w.sum() - 1) < 1e-12
        m.observe_step(step, {"train_loss": [3.0, 1.0, float("nan"), float("nan")], "rows": [8, 8, 0, 0]})
    assert m.weights()[0] > m.weights()[1]  # the harder of the two live domains gains


def test_bandit_warmup_uses_initial_weights_and_skips_rewards_of_absent_domains():
    m = BanditMixer(FakeCorpus(3), {"steps": 100, "warmup_share": 0.05, "weights": "d0=0.7,d1=0.2,d2=0.1"})
    for step in range(5):  # ceil(0.05 * 100) = 5 warm-up steps
        np.testing.assert_allclose(m.weights(), [0.7, 0.2, 0.1])
        m.observe_step(step, {"train_loss": [1.0, 2.0, float("nan")], "rows": [11, 3, 0]})
    assert m.rewards[2] == 0.0 and m.rewards[1] > m.rewards[0]  # 2/0.2 beats 1/0.7
    assert not np.allclose(m.weights(), [0.7, 0.2, 0.1])


def test_the_paper_bandit_draws_eight_one_domain_groups_a_step_and_its_variants_their_forms():
    """ODM's runs drew 8 one-domain micro-batches per optimizer step (world x accumulation): the paper's form
    draws 8 one-domain groups per step, one_draw one domain a step, hedge mixed rows."""
    groups = {v: bandit(3, bandit_variant=v).one_domain_groups for v in ("paper", "one_draw", "hedge", "code")}
    assert groups == {"paper": 8, "one_draw": 1, "hedge": 0, "code": 8}
    assert not any(cls.one_domain_groups for name, cls in MIXERS.items() if name != "bandit")


def test_an_unknown_bandit_variant_is_refused_naming_the_known_ones():
    config = {**{k: v[0] for k, v in OPTIONS.items()}, "mixer": "bandit", "bandit_variant": "full"}
    with pytest.raises(ConfigError, match="use one of paper, one_draw, code, hedge"):
        BanditMixer.check_options(config)


@pytest.mark.parametrize("mixer, option, value, readers", [
    ("static", "warmup_share", "0.5", "bandit, acodm"),
    ("static", "mix_interval", "20", "dbl, velocity, agent, random"),
    ("bandit", "mix_interval", "20", "dbl, velocity, agent, random"),
    ("schedule", "target_ratio", "0.5", "static, bandit, dbl, velocity, acodm, agent"),
    ("regmix", "weights", "d0=1", "static, bandit, dbl, velocity, acodm, agent")])
def test_a_mixer_refuses_an_option_it_does_not_read_naming_the_mixers_that_do(mixer, option, value, readers):
    """An option the chosen mixer does not read would be silently ignored: one line names it and its readers."""
    with pytest.raises(ConfigError, match=f"--{option} is read by mixer {readers}, not by --mixer {mixer}"):
        validate_config(parse_config(["--mixer", mixer, f"--{option}", value]))
    assert mix_interval_reader_keeps_its_option()


def mix_interval_reader_keeps_its_option():
    cfg = validate_config(parse_config(["--mixer", "dbl", "--mix_interval", "20"]))
    return cfg["mix_interval"] == 20 and cfg["run_name"] == "cpt-dbl-mix_interval-20"


def test_validation_returns_a_completed_config_and_leaves_its_argument_unchanged():
    given = parse_config(["--mixer", "bandit"])
    before = dict(given)
    cfg = validate_config(given)
    assert given == before and cfg["run_name"] == "cpt-bandit" and cfg["device"] in ("cpu", "cuda")


def run_one_domain_bandit(losses, steps=400, seed=0, sign=1.0, alpha=None):
    """The paper's loop on planted per-domain losses: each step draws ONE domain from pi_t (as the
    sampler's one-domain mode does) and only that domain's loss is observed. Returns the mean policy over
    the last quarter of the steps. sign and alpha break it on purpose for the negative controls."""
    m, rng = bandit(len(losses), steps=steps), np.random.default_rng(seed)
    m.alpha = m.alpha if alpha is None else alpha
    policies = []
    for step in range(steps):
        w = m.weights()
        policies.append(w)
        d = rng.choice(len(losses), p=w)
        rows, seen = [0] * len(losses), [float("nan")] * len(losses)
        rows[d], seen[d] = 16, sign * losses[d]
        m.observe_step(step, {"train_loss": seen, "rows": rows})
    return np.mean(policies[-steps // 4:], axis=0)


def test_known_answer_the_paper_bandit_moves_weight_to_the_domain_with_the_higher_loss():
    """Planted losses: domain 2's loss is twice the others'. The paper (a higher loss is a higher reward)
    predicts domain 2 gains weight off uniform; its R_i tracks l_i / pi_i, which damps the gain as pi_2
    grows, so the tilt is moderate."""
    w = run_one_domain_bandit([2.0, 2.0, 4.0, 2.0])
    assert w[2] - np.delete(w, 2).max() > 0.03 and w[2] > 0.25 + 0.02, w  # measured: 0.281 against 0.240


def test_known_answer_negative_control_equal_losses_do_not_separate_the_domains():
    """The same loop and the same check with every loss equal: the weights must NOT separate (if they did,
    the test above could not tell a planted difference from the draws' noise)."""
    w = run_one_domain_bandit([2.0, 2.0, 2.0, 2.0])
    assert not (w.max() - np.sort(w)[-2] > 0.03 and w.max() > 0.25 + 0.02), w
    np.testing.assert_allclose(w, 0.25, atol=0.01)


@pytest.mark.parametrize("broken", [{"alpha": 1.0}, {"sign": -1.0}])
def test_known_answer_negative_control_a_broken_bandit_fails_the_same_check(broken):
    """Deliberately broken variants on the planted losses: rewards never updated (a = 1), or the loss taken
    as a cost. The known-answer check above must fail for them."""
    w = run_one_domain_bandit([2.0, 2.0, 4.0, 2.0], **broken)
    assert not (w[2] - np.delete(w, 2).max() > 0.03 and w[2] > 0.25 + 0.02), w


@pytest.mark.parametrize("losses", [[1e30, 1e30, 1e-30], [0.0, 0.0, 0.0], [3.0, 3.0, 3.0], [1e300, 0.0, 5.0]])
def test_bandit_weights_stay_valid_under_extreme_losses(losses):
    m = bandit(3, steps=50)
    for step in range(50):
        w = m.weights()
        assert np.all(np.isfinite(w)) and abs(w.sum() - 1) < 1e-9
        assert np.all(w >= m.exploration(step + 1) - 1e-12)  # the exploration floor eps_t
        m.observe_step(step, {"train_loss": losses, "rows": [5, 5, 6]})


def loss_target_mixer(cls, weights, targets, initial_loss=None, flags=None, **config):
    m = cls(FakeCorpus(len(weights)), {"weights": ",".join(f"d{i}={w}" for i, w in enumerate(weights)),
                                       "mix_interval": 10, **config})
    m.set_targets(targets, flags)
    m.observe_eval(0, {"val_loss": initial_loss if initial_loss is not None else [9.0] * len(weights)})
    return m


def test_dbl_golden_update_paper():
    """w = (0.5, 0.3, 0.2), L = (3, 2, 5), L_ref = (2.5, 2.5, 3): Delta = max(L - L_ref, 0) = (0.5, 0, 2);
    softmax(log w + Delta) = (0.5 e^0.5, 0.3, 0.2 e^2) / 2.6021719 = (0.3167972, 0.1152883, 0.5679145)."""
    m = loss_target_mixer(DBLMixer, [0.5, 0.3, 0.2], [2.5, 2.5, 3.0])
    m.observe_eval(5, {"val_loss": [3.0, 2.0, 5.0]})  # not a mix step: no update
    np.testing.assert_allclose(m.weights(), [0.5, 0.3, 0.2])
    m.observe_eval(10, {"val_loss": [3.0, 2.0, 5.0]})
    np.testing.assert_allclose(m.weights(), [0.3167972, 0.1152883, 0.5679145], atol=1e-7)


def test_dbl_golden_update_released_code():
    """The same case with the released code's update: Delta = L - L_ref = (0.5, -0.5, 2), not clipped, so the
    domain below its reference loses weight; softmax = (0.5 e^0.5, 0.3 e^-0.5, 0.2 e^2) / 2.4841311 =
    (0.3318507, 0.0732486, 0.5949007), then (1 - c) that + c / 3 with c = 1e-4 = (0.3318509, 0.0732746,
    0.5948745)."""
    m = loss_target_mixer(DBLMixer, [0.5, 0.3, 0.2], [2.5, 2.5, 3.0], dbl_variant="code")
    m.observe_eval(10, {"val_loss": [3.0, 2.0, 5.0]})
    np.testing.assert_allclose(m.weights(), [0.3318509, 0.0732746, 0.5948745], atol=1e-7)
    assert m.log()["excess_loss"] == [0.5, -0.5, 2.0]


def test_velocity_golden_update():
    """w = (0.5, 0.3, 0.2), L_init = (4, 3, 8), L_tgt = (3, 3.5, 2), L = (3.5, 3.2, 5):
    V = clip((L - L_tgt) / |L_init - L_tgt|, 0, 1) = (0.5/1, -0.3/0.5 -> 0, 3/6) = (0.5, 0, 0.5);
    w <- softmax(log w + V) = (0.5 e^0.5, 0.3, 0.2 e^0.5) / 1.4541049 = (0.5669196, 0.2063125, 0.2267679)."""
    m = loss_target_mixer(VelocityMixer, [0.5, 0.3, 0.2], [3.0, 3.5, 2.0], initial_loss=[4.0, 3.0, 8.0])
    np.testing.assert_allclose(m.velocity(np.array([3.5, 3.2, 5.0])), [0.5, 0.0, 0.5])
    m.observe_eval(10, {"val_loss": [3.5, 3.2, 5.0]})
    np.testing.assert_allclose(m.weights(), [0.5669196, 0.2063125, 0.2267679], atol=1e-6)


FLAGGED = ["flat or rising curve", None, None]


@pytest.mark.parametrize("cls", [DBLMixer, VelocityMixer])
def test_the_papers_form_uses_every_fit_as_fitted_and_logs_the_flags(cls):
    """Neither paper has a rule for a doubtful fit: the default updates a flagged domain like any other (the
    same weights as with no flag), and the log names the flags."""
    args = ([0.5, 0.3, 0.2], [3.0, 3.5, 2.0])
    flagged = loss_target_mixer(cls, *args, initial_loss=[4.0, 3.0, 8.0], flags=FLAGGED)
    unflagged = loss_target_mixer(cls, *args, initial_loss=[4.0, 3.0, 8.0])
    for m in (flagged, unflagged):
        m.observe_eval(10, {"val_loss": [3.5, 3.2, 5.0]})
    np.testing.assert_allclose(flagged.weights(), unflagged.weights())
    assert flagged.log()["fit_flags"] == FLAGGED  # the report publishes them


@pytest.mark.parametrize("cls, variant", [(DBLMixer, "dbl_variant"), (VelocityMixer, "velocity_variant")])
def test_hold_flagged_keeps_a_flagged_domains_share_through_every_update(cls, variant):
    """hold_flagged, our rule made neutral: a flagged domain keeps its share and stays out of the update, while the
    others move among themselves (the rule that gave it a signal of 0 starved it: its share decayed)."""
    m = loss_target_mixer(cls, [0.3, 0.5, 0.2], [3.0, 2.0, 2.0], initial_loss=[4.0, 3.0, 8.0], flags=FLAGGED,
                          **{variant: "hold_flagged"})
    for step in range(10, 200, 10):
        m.observe_eval(step, {"val_loss": [3.0, 2.0, 5.0]})  # domains 0 and 1 at their targets, 2 above its
        assert m.weights()[0] == pytest.approx(0.3)
    assert m.weights()[2] > 0.5  # the lagging trusted domain gained from the other trusted one


@pytest.mark.parametrize("cls, options", [(DBLMixer, {}), (DBLMixer, {"dbl_variant": "code"}), (VelocityMixer, {}),
                                          (DBLMixer, {"dbl_variant": "hold_flagged", "flags": FLAGGED}),
                                          (VelocityMixer, {"velocity_variant": "hold_flagged", "flags": FLAGGED})])
@pytest.mark.parametrize("loss", [[1e30, 0.0, 1e30], [0.0, 0.0, 0.0], [5.0, 5.0, 5.0]])
def test_loss_target_mixers_stay_valid_under_extreme_and_degenerate_inputs(cls, options, loss):
    # L_init == L_tgt for every domain: the degenerate denominator of velocity
    m = loss_target_mixer(cls, [0.4, 0.4, 0.2], [5.0, 5.0, 5.0], initial_loss=[5.0, 5.0, 5.0], **options)
    for step in range(10, 200, 10):
        m.observe_eval(step, {"val_loss": loss})
        w = m.weights()
        assert np.all(np.isfinite(w)) and abs(w.sum() - 1) < 1e-9 and np.all(w >= 0)
        if cls is DBLMixer and m.code:
            assert np.all(w >= 1e-4 / 3 - 1e-15)  # the released code's smoothing floor c / K


def test_scaling_law_fit_recovers_known_parameters():
    tokens = np.linspace(2e4, 1.6e5, 8)
    for E, B, beta in [(1.7, 40.0, 0.35), (3.0, 5.0, 0.15), (0.5, 900.0, 0.8)]:
        fit = fit_scaling_law(tokens, E + B * tokens ** -beta)
        assert fit["flag"] is None
        assert fit["E"] == pytest.approx(E, rel=0.02)
        assert fit["B"] == pytest.approx(B, rel=0.02)
        assert fit["beta"] == pytest.approx(beta, rel=0.02)
        assert predict_loss(fit, 1e6) == pytest.approx(E + B * 1e6 ** -beta, rel=0.01)


def test_scaling_law_fit_flags_flat_rising_and_short_curves():
    tokens = np.linspace(2e4, 1.6e5, 8)
    assert fit_scaling_law(tokens, np.full(8, 3.0))["flag"] == "flat or rising curve"
    assert fit_scaling_law(tokens, 3.0 - 40 * tokens ** -0.35)["flag"] == "flat or rising curve"
    assert fit_scaling_law(tokens[:2], [3.0, 2.9])["flag"] == "only 2 points"
    noisy = 1.7 + 40 * tokens ** -0.35 + np.random.default_rng(0).normal(0, 0.3, 8)
    fit = fit_scaling_law(tokens, noisy)  # no exception; a finite prediction, maybe flagged
    assert math.isfinite(predict_loss(fit, 1e6)) and len(fit["residuals"]) == 8


@pytest.mark.parametrize("name", sorted(n for n, cls in MIXERS.items() if not cls.needs_model))
def test_every_mixer_state_dict_round_trips_through_json(tmp_path, name):
    """A mixer rebuilt from its state continues exactly like the original; a mixer with an empty state
    must then be a pure function of its config. (AC-ODM's state needs a model: the SIGKILL resume test in
    test_reliability covers it and every other mixer on real training.)"""
    corpus, cls = FakeCorpus(3), MIXERS[name]
    config = {"steps": 20, "seed": 0, "warmup_share": 0.1, "mix_interval": 2,
              **mixer_inputs(name, corpus, str(tmp_path))}

    def build():
        m = cls(corpus, config)
        if m.needs_loss_targets:
            m.set_targets([2.0, 2.0, 2.0])
        return m

    def drive(m, steps):
        seen = []
        for step in steps:
            seen.append(m.weights().tolist())
            m.observe_step(step, {"train_loss": [3.0 + step, 2.0, 1.0], "rows": [3, 3, 2]})
            m.observe_eval(step, {"val_loss": [3.0 + step, 2.5, 2.0], "task_logprob": -5.0 + 0.1 * step})
        return seen

    a = build()
    drive(a, range(6))
    state = json.loads(json.dumps(a.state_dict()))
    b = build()
    if state:
        assert not same(b.state_dict(), state), "a fresh mixer already has the driven state: the test proves nothing"
        b.load_state_dict(state)
    assert same(b.state_dict(), state) and a.log() == b.log()
    assert drive(a, range(6, 12)) == drive(b, range(6, 12))


def test_weights_from_averages_the_rows_another_run_sampled_not_its_weights(tmp_path):
    """A log where the two differ: forced rows (AC-ODM's slice) give domain a rows its weight 0 does not."""
    with open(tmp_path / "log.jsonl", "w") as f:
        f.write(json.dumps({"step": 0, "domains": ["a", "b"]}) + "\n")
        for w, rows in (([0.0, 1.0], [2, 6]), ([0.5, 0.5], [4, 4])):
            f.write(json.dumps({"step": 1, "domains": ["a", "b"], "weights": w, "rows": rows}) + "\n")
    np.testing.assert_allclose(average_weights_of_run(str(tmp_path), ["a", "b"]), [6 / 16, 10 / 16])  # weights: .25
    with pytest.raises(DataError, match="trained on domains"):
        average_weights_of_run(str(tmp_path), ["a", "c"])


def drive_random(schedule, steps=200, seed=0, K=4):
    corpus = FakeCorpus(K)
    corpus.fields = ["source", "source", "target", "target"][:K]
    m = RandomMixer(corpus, {"steps": steps, "mix_interval": 20, "seed": seed, "random_schedule": schedule})
    trajectory = []
    for step in range(steps):
        w = m.weights()
        assert np.all(np.isfinite(w)) and np.all(w > 0) and abs(w.sum() - 1) < 1e-9
        trajectory.append(w.copy())
        m.observe_step(step, {"train_loss": [1.0] * K, "rows": [1] * K})
    return np.array(trajectory)


@pytest.mark.parametrize("schedule", ["walk", "fresh", "constant", "ramp_up", "ramp_down", "alternate"])
def test_random_schedules_change_every_interval_and_stay_inside_the_simplex(schedule):
    trajectory = drive_random(schedule)
    for k in range(10):  # 200 steps, a new point every 20
        assert np.all(trajectory[20 * k:20 * k + 20] == trajectory[20 * k])
        if k and schedule != "constant":
            assert not np.array_equal(trajectory[20 * k], trajectory[20 * k - 1])
    distinct = len({tuple(np.round(w, 9)) for w in trajectory})
    assert distinct == {"constant": 1, "alternate": 2}.get(schedule, 10)
    assert np.array_equal(trajectory, drive_random(schedule))  # same seed, same schedule
    assert not np.array_equal(trajectory, drive_random(schedule, seed=1))
    target_share = trajectory[:, 2:].sum(axis=1)
    if schedule == "ramp_up":
        assert np.all(np.diff(target_share) >= -1e-12) and target_share[-1] > target_share[0]
    if schedule == "ramp_down":
        assert np.all(np.diff(target_share) <= 1e-12) and target_share[-1] < target_share[0]
    if schedule == "alternate":
        assert len(set(np.round(target_share, 9))) == 2


def test_random_schedule_is_drawn_from_the_seed_and_unknown_names_are_refused():
    kinds = {RandomMixer(FakeCorpus(3), {"seed": seed, "steps": 10}).kind for seed in range(40)}
    assert kinds == set(RandomMixer.SCHEDULES)
    with pytest.raises(DataError, match="--random_schedule spiral is unknown"):
        RandomMixer(FakeCorpus(3), {"random_schedule": "spiral", "seed": 0, "steps": 10})


def test_the_target_estimation_short_runs_have_distinct_lengths_even_for_a_short_run():
    assert estimate_lengths([0.05, 0.1, 0.2, 0.4], 800) == [40, 80, 160, 320]
    assert estimate_lengths([0.4, 0.05, 0.2, 0.1], 10) == [8, 9, 10, 11]  # never one point of the fit


def test_the_default_bandit_run_trains_each_micro_batch_on_one_domain_groups(tiny_args):
    """train.py with --mixer bandit: each step's rows are 8 groups of one domain each (the log's row counts are
    multiples of a group; several domains in a step); one_draw: one domain per micro-batch; hedge mixes rows."""
    batch = 16  # 8 groups of 2 rows

    def rows_per_step(*extra):
        run = train.main(tiny_args + ["--mixer", "bandit", "--warmup_share", "0", "--batch_size", str(batch), *extra])
        with open(os.path.join(run["run_dir"], "log.jsonl")) as f:
            return [r["rows"] for r in map(json.loads, f) if "rows" in r]

    paper = rows_per_step("--run_name", "paper")
    assert all(sum(rows) == batch and all(n % 2 == 0 for n in rows) for rows in paper), paper
    assert any(sum(n > 0 for n in rows) > 1 for rows in paper), paper  # 8 draws: several domains in a step
    one_draw = rows_per_step("--run_name", "one_draw", "--bandit_variant", "one_draw")
    assert all(sorted(rows)[-1] == batch and sum(rows) == batch for rows in one_draw), one_draw
    assert len({int(np.argmax(rows)) for rows in one_draw}) > 1, one_draw
    accumulated = rows_per_step("--run_name", "accumulated", "--grad_accum", "2", "--bandit_variant", "one_draw")
    assert all(sum(rows) == 2 * batch and all(n % batch == 0 for n in rows) for rows in accumulated), accumulated
    hedge = rows_per_step("--run_name", "hedge", "--bandit_variant", "hedge")
    assert all(sum(n > 0 for n in rows) > 1 for rows in hedge), hedge


def test_the_code_variant_is_the_released_smoothed_mean_updater():
    """--bandit_variant code, SmoothedMeanWeightUpdater.group_update of ODM's released code: each drawn domain's
    R_i <- a R_i + (1 - a) exp(l_i) (no importance weight), then pi_t = (1 - K eps_t) R / sum R + eps_t."""
    m = bandit(3, bandit_variant="code", warmup_share=0.0)
    np.testing.assert_allclose(m.weights(), m.initial)  # no reward yet: the initial weights
    m.observe_step(0, {"train_loss": [1.0, float("nan"), 2.0], "rows": [8, 0, 8]})
    R = np.array([0.1 * np.exp(1.0), 0.0, 0.1 * np.exp(2.0)])
    np.testing.assert_allclose(m.rewards, R)
    eps = min(1 / 3, np.sqrt(np.log(3) / (3 * 2)))  # t = 2: the step about to be drawn
    np.testing.assert_allclose(m.weights(), (1 - 3 * eps) * R / R.sum() + eps)
    assert m.weights()[1] == pytest.approx(eps)  # a domain never drawn keeps only the exploration share
