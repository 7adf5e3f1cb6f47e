"""A third-party gensdk plugin, as small as one can be: it registers a data set, a model and a
sub-app, and gensdk itself is not touched. tests/test_plugins.py installs it by writing a
``.dist-info`` folder with an ``entry_points.txt`` onto the path, exactly what pip would write."""

import torch
import typer

from gensdk.core.data import Dataset, register_dataset
from gensdk.core.model import GenerativeModel, register_model
from gensdk.plugins import Plugin

app = typer.Typer()


@app.command()
def hello(name: str = "world") -> None:
    """Say hello (proves the sub-app is mounted)."""
    print(f"hello {name} from the example plugin")


@register_dataset("example-line")
def line(n: int = 512) -> Dataset:
    t = torch.linspace(-1, 1, n).unsqueeze(1)
    return Dataset(torch.cat([t, 2 * t], 1))


@register_model("example-gaussian")
class GaussianModel(GenerativeModel):
    """Fits a diagonal Gaussian by gradient descent on its NLL."""

    def __init__(self, *, data_shape: list[int], lr: float = 0.05):
        super().__init__()
        self.mean = torch.nn.Parameter(torch.zeros(data_shape))
        self.log_std = torch.nn.Parameter(torch.zeros(data_shape))
        self.lr = lr

    def make_optimizers(self):
        return {"all": torch.optim.Adam(self.parameters(), lr=self.lr)}

    def nll(self, x):
        dist = torch.distributions.Normal(self.mean, self.log_std.exp())
        return -dist.log_prob(x).sum(1)

    def train_step(self, batch, ctx):
        loss = self.nll(batch[0]).mean()
        ctx.optimize("all", loss)
        return {"loss": loss.detach()}

    @torch.no_grad()
    def sample(self, n, **kw):
        return self.mean + self.log_std.exp() * torch.randn(n, *self.mean.shape, device=self.mean.device)


plugin = Plugin(name="example", description="An example third-party plugin", app=app)  # its models: from the registry
