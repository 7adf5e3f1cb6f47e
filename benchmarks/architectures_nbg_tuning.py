"""The generative search's settings, tuned on held-out seeds (100-109) of cora: evaluations each
setting needs to reach the top 1% by validation accuracy (censored median over 10 seeds; None = not
within 300). The winners are what benchmarks/architectures_nbg.py reports on seeds 0-9.

    python benchmarks/architectures_nbg_tuning.py cora
"""
import sys, statistics, time
from pathlib import Path
sys.path.insert(0, str(Path(__file__).resolve().parent.parent)); sys.path.insert(0, str(Path(__file__).resolve().parent))
from gensdk_plugins.architectures.nasbench import load_table, table_evaluator
from gensdk_plugins.architectures.generative import generative_search
from gensdk_plugins.architectures.search import random_search, regularized_evolution
from architectures_nbg import censored_median
ds = sys.argv[1]
table = load_table(ds); space = table.space()
vt = table.top_fraction_threshold(0.01, "valid_perf")
configs = {
 "random": lambda s: random_search(space, table_evaluator(table), 300, seed=s),
 "evolution": lambda s: regularized_evolution(space, table_evaluator(table), 300, seed=s),
 "default": lambda s: generative_search(space, table_evaluator(table), 300, seed=s),
 "w10b5e5": lambda s: generative_search(space, table_evaluator(table), 300, seed=s, warmup=10, batch=5, elite=5),
 "w10b5e10s10": lambda s: generative_search(space, table_evaluator(table), 300, seed=s, warmup=10, batch=5, elite=10, screen=10),
 "w20b10e20": lambda s: generative_search(space, table_evaluator(table), 300, seed=s, elite=20),
 "w20b10e10st50": lambda s: generative_search(space, table_evaluator(table), 300, seed=s, steps=50),
 "w20b10e5": lambda s: generative_search(space, table_evaluator(table), 300, seed=s, elite=5),
}
for name, f in configs.items():
    t0 = time.time()
    reach = [f(s).evaluations_to_reach(vt, "valid") for s in range(100, 110)]
    print(ds, name, censored_median(reach, 300), reach, f"{time.time()-t0:.0f}s", flush=True)
