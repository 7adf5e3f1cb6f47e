"""The architectures plugin: a description language for neural networks as DAGs of operations, its
validator (shapes, cycles, sizes) and compiler into ``torch.nn.Module``, search spaces written in it
(NAS-Bench-Graph, small CNNs), generators over them (grammar-constrained LM, D-VAE), searches, and
real-training evaluation."""

from gensdk.plugins import Plugin

from .cli import app
from .compiler import Architecture, Checked, Shape, compile_network, validate
from .language import (Description, DescriptionError, Input, Node, format_description, from_json, parse,
                       read_description, to_json)
from .spaces import (Choice, CnnSpace, NasBenchGraphSpace, Space, nas_bench_graph_arch,
                     nas_bench_graph_description, random_cnn)
from .search import Journal, Trace, random_search, regularized_evolution
from .generative import generative_search
from .dvae import DagVAE
from .training import ArchitectureClassifier, TrainedNetwork, train_and_score, training_evaluator
from .recipe import train_recipe

plugin = Plugin(name="architectures", description="Neural architectures: a description language compiled to PyTorch.",
                app=app, train_recipe=train_recipe)

__all__ = ["plugin", "Architecture", "Checked", "Shape", "compile_network", "validate", "Description",
           "DescriptionError", "Input", "Node", "format_description", "from_json", "parse", "read_description",
           "to_json", "nas_bench_graph_arch", "nas_bench_graph_description", "ArchitectureClassifier", "TrainedNetwork",
           "train_and_score", "training_evaluator", "DagVAE", "Choice", "Space", "CnnSpace", "NasBenchGraphSpace",
           "random_cnn", "Journal", "Trace", "random_search", "regularized_evolution", "generative_search"]
