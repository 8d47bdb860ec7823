"""
The lab: the experiments that drive many runs of the library and publish what they measure. Run each as a module
from the repository's root (python -m experiments.suite ...). The library at the top never imports this folder.

    suite.py             the comparison suite: the static grid, every mixer's paper default and variants, twins,
                         the oracle's row
    proxy.py             the suite's proxy work: RegMix's runs, the agent's trajectories, tuning and variants
    report.py            the suite's statistics: best static, twins, paired intervals, Holm's family; docs/benchmark/
    oracle.py            the headroom of adapting: a greedy look-ahead search over schedules, on validation (the
                         suite's oracle row runs it; by hand it also judges designed settings: docs/headroom.md)
    static_search.py     what a learned mixer saves: every row's compute, the expected best of k static grid runs
    tables.py            the tables of results.md, README and docs/ generated from results.json
    predictions.py       the predictions written before the published run, checked on its files
    plots.py             the suite's figures
    swarm.py             proxy swarms: M small runs as one batched computation, each member its own run
    pretrain.py          bases pre-trained from scratch with bandit and AC-ODM (the regime their papers claim)
    agent_experiment.py  the agent's offline evaluation and its transfer (larger model, merged domains, new source)
    bench.py             tokens/s and MFU, per-mixer step-time ratios, sampler and data-preparation rates
    gpu/                 the GPU checks as shell scripts (docs/performance.md reports what they printed)
"""
