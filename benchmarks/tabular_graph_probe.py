"""CTGAN/TVAE fit time with and without CUDA-graph replay of the training step, and a sanity check
that the graphed fit learns the same table (quality score), on one table.

  python benchmarks/tabular_graph_probe.py statsmodels:fair 30
"""

import sys
import time
import warnings
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch  # noqa: E402

from gensdk.core import trainer  # noqa: E402
from gensdk_plugins.tabular.data import load_table  # noqa: E402
from gensdk_plugins.tabular.evaluate import quality_score  # noqa: E402
from gensdk_plugins.tabular.models import TableSynthesizer  # noqa: E402

warnings.filterwarnings("ignore")
table, epochs = sys.argv[1], int(sys.argv[2])
df, meta = load_table(table)
original = trainer.TrainConfig.__init__
for model in ("ctgan", "tvae"):
    for graph in (True, False):
        def init(self, *a, _graph=graph, **kw):
            original(self, *a, **kw)
            self.cuda_graph = _graph and self.cuda_graph
        trainer.TrainConfig.__init__ = init
        synth = TableSynthesizer(model, epochs=epochs, device="cuda")
        torch.cuda.synchronize()
        started = time.perf_counter()
        synth.fit(df, meta)
        torch.cuda.synchronize()
        seconds = time.perf_counter() - started
        q = quality_score(df, synth.sample(len(df)), meta)["quality_score"]
        print(f"{table} {model} epochs={epochs} cuda_graph={graph}: fit {seconds:.2f}s quality {q:.3f}", flush=True)
trainer.TrainConfig.__init__ = original
