"""The architectures plugin: a description language for neural networks as DAGs of operations, its
validator (shapes, cycles, sizes) and compiler into ``torch.nn.Module``, search spaces written in it
(NAS-Bench-Graph, small CNNs), generators over them (grammar-constrained LM, D-VAE), searches, and
real-training evaluation."""

from gensdk.plugins import Plugin, lazy_exports

from .cli import app
from .recipe import train_recipe

plugin = Plugin(name="architectures", description="Neural architectures: a description language compiled to PyTorch.",
                app=app, train_recipe=train_recipe, registers=(f"{__name__}.training", f"{__name__}.dvae"))

# the API, on first use: the compiler and the models import torch, not wanted when the CLI is built (see gensdk.plugins)
API = {
    **dict.fromkeys(["Architecture", "Checked", "Shape", "compile_network", "validate"], "compiler"),
    **dict.fromkeys(["Description", "DescriptionError", "Input", "Node", "format_description", "from_json", "parse",
                     "read_description", "to_json"], "language"),
    **dict.fromkeys(["Choice", "CnnSpace", "NasBenchGraphSpace", "Space", "nas_bench_graph_arch",
                     "nas_bench_graph_description", "random_cnn"], "spaces"),
    **dict.fromkeys(["Journal", "Trace", "random_search", "regularized_evolution"], "search"),
    "generative_search": "generative", "DagVAE": "dvae",
    **dict.fromkeys(["ArchitectureClassifier", "TrainedNetwork", "train_and_score", "training_evaluator"], "training")}
__getattr__ = lazy_exports(__name__, API)
__all__ = ["plugin", *API]
