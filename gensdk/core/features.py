"""Feature extractors for the sample-quality metrics (Frechet distance, KID, IS, precision/recall).

The metrics in ``metrics.py`` take features from any extractor. For labelled image data that has no
pretrained network at hand (no weights can be downloaded here, and Inception features mean little on
8x8 digits), ``train_classifier`` fits a small CNN on the real images: its penultimate layer gives the
features and its softmax the class probabilities, as in the MNIST variants of FID/IS in the
literature. Figures are comparable between models evaluated with the same extractor and seed only.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class SmallCNN(nn.Module):
    """Two conv blocks and a 128-wide feature layer; works for any square size >= 8."""

    def __init__(self, channels: int, num_classes: int, width: int = 32):
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(channels, width, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(width, 2 * width, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(4),
            nn.Flatten(), nn.Linear(2 * width * 16, 128), nn.ReLU())
        self.head = nn.Linear(128, num_classes)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.body(x))


def train_classifier(x: torch.Tensor, y: torch.Tensor, num_classes: int, steps: int = 600, batch_size: int = 128,
                     seed: int = 0) -> SmallCNN:
    """Fit ``SmallCNN`` to labelled images (seconds on a CPU for the digits); returned in eval mode."""
    with torch.enable_grad():  # evaluation runs under no_grad; this fit needs gradients
        return _fit(x, y, num_classes, steps, batch_size, seed)


def _fit(x: torch.Tensor, y: torch.Tensor, num_classes: int, steps: int, batch_size: int, seed: int) -> SmallCNN:
    gen = torch.Generator().manual_seed(seed)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        net = SmallCNN(x.shape[1], num_classes)
    opt = torch.optim.Adam(net.parameters(), lr=1e-3)
    for _ in range(steps):
        idx = torch.randint(len(x), (min(batch_size, len(x)),), generator=gen)
        loss = F.cross_entropy(net(x[idx]), y[idx])
        opt.zero_grad()
        loss.backward()
        opt.step()
    return net.eval()


@torch.no_grad()
def extract(net: SmallCNN, x: torch.Tensor, batch: int = 512) -> tuple[torch.Tensor, torch.Tensor]:
    """(features, class probabilities) of images ``x``, in batches."""
    feats = torch.cat([net.features(x[i:i + batch]) for i in range(0, len(x), batch)])
    return feats, net.head(feats).softmax(1)
