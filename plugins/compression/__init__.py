"""The compression plugin: variational transform codecs (factorized prior, scale and mean-scale
hyperpriors, one variable-rate model with a channel-wise context) trained on the engine, real .gsdk files
through the constriction range coder with an exact integer decoder (the same pixels on a GPU and a CPU:
benchmarks/results/compression_vr.md), a shipped trained codec, and rate-distortion against JPEG, WebP,
JPEG 2000, AVIF and HEVC-intra."""

from gensdk.plugins import Plugin

from .cli import app, compress_command, decompress_command
from .codec import compress, decompress, read_header
from .models import CODECS, FactorizedPrior, MeanScaleHyperprior, ScaleHyperprior, build_codec
from .recipe import train_recipe
from .training import load_codec, open_codec, train_codec

# gensdk.load opens a codec's folder (a model folder, a run folder, or one exported for coding) with open_codec
plugin = Plugin(name="compression", description="Learned image compression that writes real files.", app=app,
                commands={"compress": compress_command, "decompress": decompress_command},
                train_recipe=train_recipe, open_folder=open_codec)

__all__ = ["plugin", "compress", "decompress", "read_header", "CODECS", "FactorizedPrior", "ScaleHyperprior",
           "MeanScaleHyperprior", "build_codec", "load_codec", "train_codec"]
