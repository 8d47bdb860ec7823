"""
RegMix (Liu et al. 2024, arXiv 2407.01492): one static mixture, chosen by a regression from a mixture to the
score of a short proxy run trained with it. Read top to bottom: step 1 (the prior, the proxy runs), step 2 (the
regression), step 3 (the choice, RegMixMixer).

The paper, in its notation (K domains, mixtures m on the simplex, p the natural token distribution):
    runs     n = 1..N small proxy models, each trained on one constant mixture m_n drawn from a Dirichlet
             around p, "scaled by factors from 0.1 to 5.0" (the released mixture_config/synthesize_mixture.py:
             Dirichlet(s p^0.5 / sum p^0.5), s one of 15 strengths log-spaced in [0.1, 5])
    score    y_n = the proxy's target validation loss after training
    fit      f = argmin sum_n (f(m_n) - y_n)^2                        (LightGBM; or linear, f(m) = b + c . m)
    choose   m_1..m_M ~ the same kind of prior, M large (100,000 in the released notebook);
             w = (1/k) sum of the k mixtures with the best f(m_j)     (k = 100 in the paper, 128 in the notebook)
    use      train the large model on the constant mixture w

Our choices
- Runs: ~64 short CPT runs from the proxy preset's base (--mixer regmix_proxy, collected by
  trajectories.collect_trajectories), not 512 models of 1M parameters trained from scratch. The score is the one
  objective's improvement over the run, y_n = J_0 - J_end (higher is better), so the "best" are the highest.
- Prior: the released code's (regmix_prior: Dirichlet(s q), q = p^0.5 tempered, 15 log-spaced strengths in
  [0.1, 5]), for the runs and the candidates alike. Not taken from it: the rejection of mixtures that would repeat a
  domain over 15 epochs of the large run's budget, the zeroing and rounding of weights under 2e-4 (a weight floor
  of 1e-6 keeps every mixture inside the simplex instead), and the notebook's candidates at strength 1.
- LightGBM, scaled to ~64 runs (the notebook: gbdt, 1000 rounds at learning rate 0.01, 31 leaves of >= 20 rows,
  early stopping after 3 rounds on a held-out split of its 512 runs): 8 leaves of >= 5 runs (the default allows
  3 leaves at 64 runs), 500 rounds at 0.02 (the same total shrinkage), no early stopping (no runs to spare for a
  held-out split); deterministic, one thread, seeded by --seed. On synthetic scores peaked at a target share of
  0.4 (64 runs, 4 domains, 5 data seeds) this gave out-of-fold Spearman 0.86 and chose a share of 0.37, where
  the notebook's settings gave 0.77 and 0.20.
- The choice: the top k = 100 of M = 50,000 candidates. Trees predict a constant per region: candidates tied at
  the best value are taken in draw order, so the average is over random draws in the best region and leans toward
  the prior's mean. --regmix_variant best takes the first candidate of the best region alone (k = 1).
- The linear fit (--regmix_model linear) cannot place a peak inside the simplex: a linear score is highest at a
  vertex, and the prior draws near-vertex mixtures, so it puts nearly all weight on the domain of the steepest
  slope. The in-sample r2 (log()) only says the fit follows its own runs; cross_validated_rank() says whether it
  ranks unseen ones.

    python -m experiments.suite --collect 64 --trajectories out/proxy -- --config config/proxy.py --mixer regmix_proxy
    python train.py --mixer regmix --trajectories out/proxy                  # --regmix_model linear
    python train.py --mixer regmix --trajectories out/proxy --regmix_variant best
    python -c "import regmix; print(regmix.cross_validated_rank('out/proxy'))"   # can the fit rank runs?
"""

import lightgbm as lgb
import numpy as np

from common import ConfigError, DataError
from data import check_weights
from mixer import Mixer
from trajectories import load_trajectories, rank_correlation, trajectory_score

MODELS = ("lightgbm", "linear")
# 8 leaves of >= 5 runs each: at ~64 runs LightGBM's defaults (31 leaves, >= 20 runs a leaf) allow 3 leaves
LIGHTGBM = {"objective": "regression", "num_leaves": 8, "min_child_samples": 5, "learning_rate": 0.02,
            "num_threads": 1, "deterministic": True, "force_col_wise": True, "verbose": -1}
LIGHTGBM_ROUNDS = 500


# ----------------------------------------------------------------------------- step 1: the prior and the proxy runs

# the released mixture_config/synthesize_mixture.py: TEMP, and 15 strengths log-spaced from MIN_STRENGH to MAX_STRENGH
PRIOR_TEMPERATURE = 0.5
PRIOR_STRENGTHS = np.logspace(np.log10(0.1), np.log10(5.0), 15)


def regmix_prior(tokens, size, rng):
    """`size` mixtures from RegMix's prior as the released code draws them (generate_weights_dirichlet), for the
    proxy runs (RegMixProxyMixer) and the candidates (RegMixMixer):
        q = p^0.5 / sum_j p_j^0.5           p = tokens / sum (the token distribution), tempered by TEMP = 0.5
        s ~ uniform over 15 strengths log-spaced in [0.1, 5]      (the code draws one mixture at each, keeps one)
        m ~ Dirichlet(s q)"""
    p = np.asarray(tokens, dtype=np.float64) / np.sum(tokens)
    q = p ** PRIOR_TEMPERATURE / np.sum(p ** PRIOR_TEMPERATURE)
    s = rng.choice(PRIOR_STRENGTHS, size=(size, 1))
    alpha = s * q
    # Dirichlet = normalised Gamma(alpha) draws, taken in logs: Gamma(a) = Gamma(a + 1) U^(1/a) underflows
    # to 0 for a small alpha, its log does not (rng.dirichlet takes one alpha, not one per row)
    log_gamma = np.log(rng.standard_gamma(alpha + 1)) + np.log(rng.uniform(size=alpha.shape)) / alpha
    w = np.exp(log_gamma - log_gamma.max(axis=1, keepdims=True))
    w = np.maximum(w / w.sum(axis=1, keepdims=True), 1e-6)  # strictly inside the simplex
    return w / w.sum(axis=1, keepdims=True)


class RegMixProxyMixer(Mixer):
    """RegMix's step 1, one proxy run: a constant mixture for the whole run, drawn from the prior with the run's
    seed. collect_trajectories runs N of them from one proxy base (seeds s, s + 1, ...) and saves each as a
    one-interval trajectory: the (m_n, y_n) that RegMixMixer fits."""

    name = "regmix_proxy"

    def __init__(self, corpus, config):
        super().__init__(corpus, config)
        rng = np.random.Generator(np.random.PCG64(self.config["seed"] + 7919))  # a stream apart from the sampler's
        self.w = regmix_prior(corpus.train_tokens, 1, rng)[0]

    def weights(self):
        return self.w


def collect_command(folder):
    return (f"python -m experiments.suite --collect 64 --trajectories {folder} -- --config config/proxy.py "
            "--mixer regmix_proxy")


# ----------------------------------------------------------------------------- step 2: the regression

def min_runs(model, K):
    """Fewer runs than this cannot fit the regressor: K + 1 coefficients and one residual for the linear fit;
    two leaves of min_child_samples runs for LightGBM's first split."""
    return K + 2 if model == "linear" else max(K + 2, 2 * LIGHTGBM["min_child_samples"])


def proxy_runs(folder, model):
    """(mixtures (N, K), scores (N,), domains) of a folder of constant-mixture proxy runs; one clear error for
    a folder of runs whose weights move or with too few runs for `model`."""
    if model not in MODELS:
        raise ConfigError(f"--regmix_model {model} is unknown; choose one of {', '.join(MODELS)}")
    try:
        runs = load_trajectories(folder)
    except DataError as e:
        raise DataError(f"{e} (RegMix's runs: {collect_command(folder)})") from None
    moving = [m.get("schedule", "?") for a, m in runs if np.ptp(np.asarray(a["weights"]), axis=0).max() > 1e-6]
    if moving:
        raise DataError(f"--trajectories {folder}: {len(moving)} of {len(runs)} runs change their weights during "
                        f"the run (schedules {', '.join(sorted(set(moving)))}); RegMix fits constant-mixture proxy "
                        f"runs: collect them with {collect_command(folder)}")
    domains = runs[0][1]["domains"]
    if len(runs) < min_runs(model, len(domains)):
        raise DataError(f"--regmix_model {model} over {len(domains)} domains needs at least "
                        f"{min_runs(model, len(domains))} proxy runs; {folder} has {len(runs)}: collect more with "
                        f"{collect_command(folder)}")
    mixtures = np.array([np.asarray(a["weights"], dtype=np.float64)[0] for a, _ in runs])
    scores = np.array([trajectory_score(a, m) for a, m in runs])  # J_0 - J_end, higher is better
    return mixtures, scores, domains


def fit(mixtures, scores, model, seed):
    """The regression y = f(m), returned as a function from mixtures (M, K) to predicted scores (M,)."""
    if model == "linear":  # y = b + c . m, least squares
        X = np.hstack([np.ones((len(mixtures), 1)), mixtures])
        # the weights sum to 1, so b and c are not identified apart; lstsq's minimum-norm solution predicts
        # the same on the simplex as any other
        coef = np.linalg.lstsq(X, scores, rcond=None)[0]
        return lambda m: coef[0] + m @ coef[1:]
    booster = lgb.train({**LIGHTGBM, "seed": seed}, lgb.Dataset(mixtures, scores), num_boost_round=LIGHTGBM_ROUNDS)
    return lambda m: booster.predict(m, num_threads=1)


def r_squared(y, predicted):
    return float(1 - ((y - predicted) ** 2).sum() / max(((y - y.mean()) ** 2).sum(), 1e-12))


def cross_validated_rank(folder, model="lightgbm", folds=8, seed=0):
    """How well the regression ranks runs it has not seen: k-fold by run (runs dealt to `folds` folds at
    random from `seed`), each fold predicted by a fit on the others, then the Spearman correlation of all
    out-of-fold predictions with the actual scores. RegMix reports this rank correlation for its fits."""
    mixtures, scores, _ = proxy_runs(folder, model)
    if not 2 <= folds <= len(scores):
        raise ConfigError(f"folds {folds} must be between 2 and the number of runs, {len(scores)}")
    fold = np.random.default_rng(seed).permutation(len(scores)) % folds
    predicted = np.zeros(len(scores))
    for k in range(folds):
        predicted[fold == k] = fit(mixtures[fold != k], scores[fold != k], model, seed)(mixtures[fold == k])
    return rank_correlation(predicted, scores)


# ----------------------------------------------------------------------------- step 3: the choice

class RegMixMixer(Mixer):
    """RegMix's steps 2 and 3 (the module's docstring: the paper and our choices), from a folder of proxy runs:
        runs     (m_n, y_n), n = 1..N: each run's mixture and the objective's improvement J_0 - J_end  [proxy_runs()]
        fit      f = argmin sum_n (f(m_n) - y_n)^2: LightGBM, or f(m) = b + c . m                 [fit()]
        choose   m_1..m_M ~ the prior (M = regmix_candidates)                                  [regmix_prior()]
                 w = (1/k) sum of the k mixtures with the highest f(m_j)                       [__init__]
                 (--regmix_variant best: k = 1, the single best candidate)"""

    name = "regmix"
    OPTIONS = {"trajectories": ("", str, "folder of constant-mixture proxy runs (python -m experiments.suite "
                                         "--collect 64 ... --mixer regmix_proxy; see regmix.py)"),
               "regmix_model": ("lightgbm", str, "the regression: lightgbm (the paper's) or linear (least squares)"),
               "regmix_candidates": (50000, int, "mixtures drawn from the proxy runs' prior and ranked by the fit"),
               "regmix_top_k": (100, int, "the mixture is the average of this many best-predicted candidates"),
               "regmix_variant": ("paper", str, "paper: the average of the top regmix_top_k candidates; best: the "
                                                "single best-predicted candidate")}
    VARIANTS = ("paper", "best")

    @classmethod
    def check_options(cls, config):
        super().check_options(config)
        if config["regmix_model"] not in MODELS:
            raise ConfigError(f"--regmix_model {config['regmix_model']} is unknown; choose one of {', '.join(MODELS)}")
        if config["regmix_variant"] not in cls.VARIANTS:
            raise ConfigError(f"--regmix_variant {config['regmix_variant']} is unknown; choose one of "
                              f"{', '.join(cls.VARIANTS)}")
        if not 1 <= config["regmix_top_k"] <= config["regmix_candidates"]:
            raise ConfigError(f"--regmix_top_k {config['regmix_top_k']} must be between 1 and --regmix_candidates "
                              f"{config['regmix_candidates']}")

    def __init__(self, corpus, config):
        super().__init__(corpus, config)
        folder, model = self.config["trajectories"], self.config["regmix_model"]
        if not folder:
            raise DataError(f"--mixer regmix needs --trajectories DIR of proxy runs: {collect_command('DIR')}")
        mixtures, scores, domains = proxy_runs(folder, model)
        if domains != self.domains:
            raise DataError(f"--trajectories {folder} were collected over {domains}, this run has {self.domains}; "
                            f"RegMix fits one weight per domain: {collect_command(folder)} on this corpus")
        predict = fit(mixtures, scores, model, self.config["seed"])  # f, fitted on (m_n, y_n)
        self.r2, self.runs = r_squared(scores, predict(mixtures)), len(scores)
        rng = np.random.Generator(np.random.PCG64(self.config["seed"]))
        candidates = regmix_prior(corpus.train_tokens, self.config["regmix_candidates"], rng)  # m_1..m_M
        k = 1 if self.config["regmix_variant"] == "best" else self.config["regmix_top_k"]
        best = np.argsort(-predict(candidates), kind="stable")[:k]  # top k by f(m_j)
        self.w = check_weights(candidates[best].mean(axis=0), self.domains, self.name)  # w = their mean

    def weights(self):
        return self.w

    def log(self):
        return {"r2": round(self.r2, 4), "runs": self.runs}
