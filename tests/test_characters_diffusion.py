"""The diffusion character generators: the class-conditional one draws the class it is asked for and
guidance matters; the style-crossing one trains on pairs within a font and takes the look of its
reference. Tiny U-Nets on 16x16 bars, one CPU thread (about 10-20 s per trained model)."""

import pytest
import torch

from gensdk_plugins.characters.classifier import ClassifierRecipe
from gensdk_plugins.characters.data import style_group
from gensdk_plugins.characters.generative import load_generator, train_generator
from gensdk_plugins.characters.style import NO_REFERENCE, pair_data, style_pairs
from gensdk.errors import UserError

TINY = {"width": 8, "channel_mult": [1, 2], "depth": 1, "attention": False, "sample_steps": 10, "lr": 3e-3}
FAST = {"ema_decay": 0.9, "warmup_steps": 0, "batch_size": 32}
NO_CLASSIFIER = ClassifierRecipe(steps=5, width=4)


def bars(n: int, kind: str, thick: bool = False, seed: int = 0) -> torch.Tensor:
    """16x16 bars: 'top' and 'bottom' (horizontal) or 'vertical', 1 or 4 pixels thick, at random offsets."""
    gen = torch.Generator().manual_seed(seed)
    x = torch.zeros(n, 1, 16, 16)
    w = 4 if thick else 1
    for i in range(n):
        r, c = (int(v) for v in torch.randint(0, 2, (2,), generator=gen))
        if kind == "vertical":
            x[i, 0, 3:13, 6 + r:6 + r + w] = 1
        else:
            r += 2 if kind == "top" else 10
            x[i, 0, r:r + w, 2 * c:2 * c + 10] = 1
    return x


@pytest.fixture(scope="module")
def two_class_model(tmp_path_factory):
    torch.set_num_threads(1)
    x = torch.cat([bars(12, "top"), bars(12, "bottom", seed=1)])
    y = torch.tensor([0] * 12 + [1] * 12)
    folder = tmp_path_factory.mktemp("diffusion") / "g"
    train_generator("diffusion", x, y, ["top", "bottom"], folder, steps=150, device="cpu",
                    model_options={**TINY, "guidance": 3.0}, train_options=FAST, classifier_recipe=NO_CLASSIFIER,
                    progress=False)
    return load_generator(folder)  # the saved folder: what a later augment run would use


def top_minus_bottom(images: torch.Tensor) -> torch.Tensor:
    return images[:, 0, :8].mean((1, 2)) - images[:, 0, 8:].mean((1, 2))


def test_the_conditional_sampler_draws_the_class_asked_for(two_class_model):
    labels = torch.tensor([0] * 8 + [1] * 8)
    images = two_class_model.generate(labels, noise_seeds=list(range(16)))
    assert images.shape == (16, 1, 16, 16) and 0 <= images.min() and images.max() <= 1
    assert two_class_model.sampling == {"guidance": 3.0}
    side = top_minus_bottom(images)
    assert (side[:8] > 0).sum() >= 7 and (side[8:] < 0).sum() >= 7, side


def test_guidance_0_ignores_the_label_and_a_positive_scale_does_not(two_class_model):
    seeds = list(range(6))
    unguided = two_class_model.with_sampling(guidance=0.0)
    a, b = (unguided.generate(torch.full((6,), c), noise_seeds=seeds) for c in (0, 1))
    torch.testing.assert_close(a, b, rtol=0, atol=1e-5)  # w = 0: the unconditional model alone
    guided = two_class_model.generate(torch.zeros(6, dtype=torch.long), noise_seeds=seeds)
    assert (guided - a).abs().mean() > 0.01
    # the same seed is the same image, whatever else is in the batch
    torch.testing.assert_close(guided[2:4], two_class_model.generate(torch.zeros(2, dtype=torch.long),
                                                                     noise_seeds=seeds[2:4]), rtol=0, atol=1e-5)
    with pytest.raises(UserError, match="no sampling option steps"):
        two_class_model.with_sampling(steps=3)


def test_style_crossing_draws_a_class_in_a_font_seen_only_for_other_classes(tmp_path):
    """The thick font shows only top and vertical bars; asked for a bottom bar with a thick
    reference, the model draws a heavier bottom bar than with a thin reference."""
    torch.set_num_threads(1)
    x = torch.cat([bars(6, "top"), bars(6, "bottom", seed=1), bars(6, "vertical", seed=2),
                   bars(6, "top", True, seed=3), bars(6, "vertical", True, seed=4)])
    y = torch.tensor([0] * 6 + [1] * 6 + [2] * 6 + [0] * 6 + [2] * 6)
    groups = ["thin"] * 18 + ["thick"] * 12
    gen = train_generator("style", x, y, ["top", "bottom", "vertical"], tmp_path / "s", steps=200, device="cpu",
                          model_options={**TINY, "style_dim": 8, "style_width": 8, "guidance": 3.0},
                          train_options=FAST, classifier_recipe=NO_CLASSIFIER, progress=False, groups=groups)
    bottom, seeds = torch.ones(8, dtype=torch.long), list(range(8))
    thick = gen.generate(bottom, torch.cat([x[18:24], x[18:20]]), seeds)  # references: thick top bars
    thin = gen.generate(bottom, torch.cat([x[:6], x[:2]]), seeds)        # thin top bars
    ink = lambda images: images[:, 0, 8:].sum((1, 2))  # noqa: E731
    assert ink(thick).mean() > 1.3 * ink(thin).mean(), (ink(thick), ink(thin))
    with pytest.raises(ValueError, match="pass sources"):
        gen.generate(bottom)


def test_style_pairs_stay_in_their_group_and_never_pair_an_image_with_itself():
    groups = ["a", "a", "a", "b", "b", "c"]
    i, j = style_pairs(groups, per_image=5, seed=0)
    assert (i != j).all()
    solo = j == NO_REFERENCE
    assert i[solo].tolist() == [5]  # alone in its group: trained without a reference
    assert all(groups[a] == groups[b] for a, b in zip(i[~solo].tolist(), j[~solo].tolist()))
    assert sorted(i.tolist()) == [0, 0, 1, 1, 2, 2, 3, 4, 5]  # every image is a target
    i, j = style_pairs(groups, per_image=1, seed=0)
    assert len(i) == 6
    x = torch.rand(6, 1, 4, 4)
    target, labels, reference = pair_data(x, torch.arange(6), groups, 5, seed=0)
    assert target.shape == reference.shape == (9, 1, 4, 4) and target.min() >= -1
    assert (reference[-1] == 0).all() and labels[-1] == 5  # the missing reference is the zero image


@pytest.mark.parametrize("source, group", [
    ("font:DejaVu Sans Bold", "DejaVu Sans Bold"),
    ("data/chars/train/0041-A/DejaVuSans-Bold-3.png", "DejaVuSans-Bold"),
    ("in/bar/bar0.png", "in/bar/bar0.png"),  # no group in the name: a group of its own
])
def test_style_group_of_a_source(source, group):
    assert style_group(source) == group


def test_bad_style_and_sampling_options_are_clear_errors(tmp_path):
    x, y = bars(4, "top"), torch.tensor([0, 1, 0, 1])
    common = dict(steps=1, device="cpu", classifier_recipe=NO_CLASSIFIER, progress=False)
    with pytest.raises(UserError, match="style group"):
        train_generator("style", x, y, ["a", "b"], tmp_path / "a", model_options=TINY, **common)
    with pytest.raises(UserError, match="share a style group"):
        train_generator("style", x, y, ["a", "b"], tmp_path / "b", model_options=TINY, groups=list("wxyz"), **common)
    with pytest.raises(UserError, match="guidance must be a number"):
        train_generator("diffusion", x, y, ["a", "b"], tmp_path / "c", model_options={**TINY, "guidance": "x"},
                        **common)
    with pytest.raises(UserError, match="cgan: no sampling option guidance"):
        train_generator("cgan", x, y, ["a", "b"], tmp_path / "d", model_options={"guidance": 2.0}, **common)
