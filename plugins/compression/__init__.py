"""The compression plugin: variational transform codecs (factorized prior, scale and mean-scale
hyperpriors, one variable-rate model with a channel-wise context) trained on the engine, real .gsdk files
through the constriction range coder with an exact integer decoder (the same pixels on a GPU and a CPU:
benchmarks/results/compression_vr.md), a shipped trained codec, and rate-distortion against JPEG, WebP,
JPEG 2000, AVIF and HEVC-intra."""

from gensdk.plugins import Plugin, lazy_exports

from .cli import app, compress_command, decompress_command
from .recipe import train_recipe


def open_folder(path, device):
    """gensdk.load opens a codec's folder (a model folder, a run folder, or one exported for coding) with
    open_codec; imported here, when called, because training.py imports torch."""
    from .training import open_codec

    return open_codec(path, device)


plugin = Plugin(name="compression", description="Learned image compression that writes real files.", app=app,
                commands={"compress": compress_command, "decompress": decompress_command},
                train_recipe=train_recipe, open_folder=open_folder, registers=(f"{__name__}.models",))

# the API imports torch: on first use, not when the CLI is built (see gensdk.plugins)
API = {
    "compress": "codec", "decompress": "codec", "read_header": "codec",
    **dict.fromkeys(["CODECS", "FactorizedPrior", "MeanScaleHyperprior", "ScaleHyperprior", "build_codec"], "models"),
    "load_codec": "training", "open_codec": "training", "train_codec": "training"}
__getattr__ = lazy_exports(__name__, API)
__all__ = ["plugin", *API]
