"""A known-answer test of the Data Mixing Agent's whole pipeline: trajectories -> cloning -> CQL -> deployment.

The planted environment needs no model training. Every trajectory starts from one state (the same losses),
and an interval's reward is highest when the target field's share follows a planted ramp x*_k (0.15 up to
0.85 over T intervals):
    r_k = c_k - (x_k - x*_k)^2 / 2,   c_k = 0.3 * 0.8^k (most of the gain early, whatever the action)
written into the losses as real feedback is: J = (S + T) / 2 falls by r_k, the target's loss by 2 r_k x_k
and the sources' by 2 r_k (1 - x_k). The random trajectories are the suite's exploration schedules
(trajectories.RandomMixer: walks, fresh draws, constants, ramps up and down, alternations). The trained agent is
deployed in the same environment through agent.next_action, the deployment mixer's own step.

Recovered = the deployed target shares rise with the planted ones (Spearman >= 0.8) and the deployed run
scores better than the best constant share would (mean x*). The negative control (a policy that outputs
the average cloned action, what cloning from one start state tends to) is checked the same way and must
fail."""

import sys
import tempfile
import types

import numpy as np
import pytest
import torch

import agent
from trajectories import RandomMixer, TrajectoryBuffer, load_trajectories, rank_correlation, trajectory_score

T = 8
DOMAINS, FIELDS = ["prose", "code", "arith"], ["source", "source", "target"]
PLANTED = 0.15 + 0.7 * np.arange(T) / (T - 1)  # the best target share of every interval
START = np.array([4.0, 4.0, 6.0])  # every trajectory's first boundary


def planted_step(loss, w, k):
    """The next boundary's losses and the interval's reward after weights w in interval k."""
    x = w[FIELDS.index("target")]
    r = 0.3 * 0.8 ** k - 0.5 * (x - PLANTED[k]) ** 2
    return loss - 2 * r * np.array([1 - x, 1 - x, x]), r


def exploration_schedule(seed):
    """One trajectory's weights from the suite's random mixer (the schedule kind drawn from the seed)."""
    corpus = types.SimpleNamespace(domains=DOMAINS, fields=FIELDS, train_tokens=[1, 1, 1],
                                   field_indices=lambda f: [i for i, g in enumerate(FIELDS) if g == f])
    mixer = RandomMixer(corpus, {"seed": seed, "mix_interval": 1, "steps": T})
    weights = []
    for k in range(T):
        weights.append(mixer.weights().copy())
        mixer.observe_step(k, {})
    return np.array(weights)


def collect(folder, count):
    buffer = TrajectoryBuffer(folder)
    for i in range(count):
        weights, loss = exploration_schedule(1000 + i), [START]
        for k, w in enumerate(weights):
            loss.append(planted_step(loss[-1], w, k)[0])
        buffer.save(i, {"weights": weights, "val_loss": np.array(loss), "answer_logprob": np.full(T + 1, np.nan),
                        "tokens_per_domain": [1, 1, 1]}, {"domains": DOMAINS, "fields": FIELDS})


def deploy(policy, history):
    """The policy's target shares over one run of the planted environment, from the one start state."""
    loss, actions = [START], []
    for k in range(T):
        w = agent.next_action(policy, history, loss, [float("nan")] * len(loss), actions, FIELDS, T)
        actions.append(w.tolist())
        loss.append(planted_step(loss[-1], w, k)[0])
    return np.array(actions)[:, FIELDS.index("target")]


def regret(shares):
    """What a schedule of target shares loses against the planted optimum: sum_k (x_k - x*_k)^2 / 2."""
    return float(np.sum((np.asarray(shares) - PLANTED) ** 2) / 2)


def recovers(shares):
    """The shares rise with the planted ones and score better than any constant share would."""
    return bool(rank_correlation(shares, PLANTED) >= 0.8 and regret(shares) < regret(np.full(T, PLANTED.mean())))


class AverageClonedAction(torch.nn.Module):
    """The negative control: whatever the state, the average action of the cloned (top) trajectories."""

    def __init__(self, folder, bc_share):
        super().__init__()
        runs = load_trajectories(folder)
        scores = [trajectory_score(a, m) for a, m in runs]
        top = np.argsort(scores)[::-1][:round(bc_share * len(runs))]
        self.w = torch.tensor(np.mean([runs[i][0]["weights"] for i in top], axis=(0, 1)), dtype=torch.float32)

    def forward(self, window, pad):
        return self.w.expand(len(window), -1)


OPTIONS = {"width": 32, "heads": 2, "history": 2, "bc_steps": 150, "cql_steps": 300, "holdout": 0.0}


@pytest.mark.slow
def test_the_pipeline_recovers_a_planted_ramp_and_the_average_action_does_not(tmp_path):
    folder = str(tmp_path / "trajectories")
    collect(folder, 48)
    policy, _ = agent.train_agent(folder, str(tmp_path / "agent.pt"), OPTIONS, log=lambda *a: None)
    shares = deploy(policy, OPTIONS["history"])
    assert recovers(shares), (shares.round(3), regret(shares), PLANTED)
    control = deploy(AverageClonedAction(folder, agent.AGENT_OPTIONS["bc_share"][0]), OPTIONS["history"])
    assert not recovers(control), (control.round(3), regret(control))


def study(folder, options, seeds):
    """The table in docs/agent.md: both variants, with the rewards centred (agent.py) and not (baseline 0),
    a few seeds each, at the test's size or at agent.py's (`options`)."""
    collect(folder, 48)
    centred = agent.transitions

    def uncentred(runs, history, reward, lam, bc_share, norm=None):
        R = np.array([agent.interval_rewards(a, m["fields"], reward, lam) for a, m in runs])
        return centred(runs, history, reward, lam, bc_share, norm or {"baseline": [0.0] * R.shape[1],
                                                                     "scale": float(np.sqrt(np.mean(R ** 2)))})
    print(f"planted {PLANTED.round(3)}; the best constant share's regret {regret(np.full(T, PLANTED.mean())):.3f}; "
          f"the average cloned action's {regret(deploy(AverageClonedAction(folder, 0.25), 2)):.3f}")
    for rewards, transitions in (("centred", centred), ("uncentred", uncentred)):
        agent.transitions = transitions
        for variant in agent.VARIANT_GAMMA:
            for seed in range(seeds):
                o = {**options, "seed": seed, "variant": variant}
                x = deploy(agent.train_agent(folder, folder + ".pt", o, log=lambda *a: None)[0],
                           o.get("history", agent.AGENT_OPTIONS["history"][0]))
                print(f"{rewards:9s} {variant:12s} seed {seed}: shares {x[0]:.3f} -> {x[-1]:.3f}, Spearman "
                      f"{rank_correlation(x, PLANTED):+.2f}, regret {regret(x):.3f}, recovered {recovers(x)}",
                      flush=True)
    agent.transitions = centred


if __name__ == "__main__":  # PYTHONPATH=. python tests/test_agent_known_answer.py [defaults]
    at_default_size = sys.argv[1:] == ["defaults"]  # agent.py's network and updates, one seed
    study(tempfile.mkdtemp() + "/trajectories", {"holdout": 0.0} if at_default_size else OPTIONS,
          1 if at_default_size else 4)
