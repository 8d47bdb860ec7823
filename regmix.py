"""
RegMix (Liu et al. 2024, arXiv 2407.01492): fit a regression from a proxy run's mixture to its score,
then train with the mixture the regression predicts best. Fitted here on the Data Mixing Agent's
trajectories (agent.py), scored by the one objective's improvement (agent.trajectory_score), as the agent's
cloning ranks them.

    python suite.py --collect 12 --trajectories out/traj
    python train.py --mixer regmix --trajectories out/traj
"""

import numpy as np

from agent import load_trajectories, trajectory_score
from data import DataError, check_weights
from mixer import Mixer


class RegMixMixer(Mixer):
    """RegMix-style static baseline (Liu et al. 2024): regress each proxy trajectory's score (the objective's gain)
    on its mixture, then train with the best predicted mixture.
        fit      y_t = b + c . m_t  (least squares), m_t = trajectory t's time-averaged weights
        choose   w = mean of the top 100 of 20,000 candidates m ~ Dirichlet(K * natural) by predicted y
    RegMix regresses on constant-mixture runs; our trajectories also move, so every trajectory enters with
    its time-averaged mixture (the share of its rows per domain), which equals the mixture of a constant
    trajectory. Averaging the top candidates, as RegMix does, smooths the choice, but a linear fit on a dozen
    trajectories still extrapolates: it can pick mixtures outside the range the trajectories covered."""

    name = "regmix"
    OPTIONS = {"trajectories": ("", str, "folder of random-mixing trajectories (python suite.py --collect N)")}

    def __init__(self, corpus, config):
        super().__init__(corpus, config)
        folder = self.config["trajectories"]
        if not folder:
            raise DataError("--mixer regmix needs --trajectories DIR (collected with python suite.py --collect N "
                            "--trajectories DIR)")
        trajectories = load_trajectories(folder)
        if trajectories[0][1]["domains"] != self.domains:
            raise DataError(f"--trajectories {folder} were collected over {trajectories[0][1]['domains']}, this "
                            f"run has {self.domains}; RegMix fits one weight per domain: collect on this corpus")
        K = len(self.domains)
        if len(trajectories) < K + 2:
            raise DataError(f"--mixer regmix fits {K + 1} coefficients: {folder} needs at least {K + 2} "
                            f"trajectories, it has {len(trajectories)}; collect more")
        mixtures = np.array([a["weights"].mean(axis=0) for a, _ in trajectories])
        scores = np.array([trajectory_score(a, m) for a, m in trajectories])  # the objective's improvement
        X = np.hstack([np.ones((len(mixtures), 1)), mixtures])
        self.coef = np.linalg.lstsq(X, scores, rcond=None)[0]
        fitted = X @ self.coef
        self.r2 = float(1 - ((scores - fitted) ** 2).sum() / max(((scores - scores.mean()) ** 2).sum(), 1e-12))
        rng = np.random.Generator(np.random.PCG64(self.config["seed"]))
        natural = corpus.train_tokens / corpus.train_tokens.sum()
        candidates = rng.dirichlet(K * natural, size=20000)
        best = np.argsort(candidates @ self.coef[1:])[::-1][:100]
        self.w = check_weights(candidates[best].mean(axis=0), self.domains, self.name)

    def weights(self):
        return self.w

    def log(self):
        return {"r2": round(self.r2, 4)}

