"""Recipes: damaged YAML and overrides get one clear UserError (regressions found by
tests/test_reader_properties.py)."""

import pytest

from gensdk.api import load_recipe
from gensdk.errors import UserError

GOOD = "data: {name: ring}\nmodel: {name: gan}\n"


@pytest.mark.parametrize("text, message", [
    (GOOD + "train: {steps: !!int inf}\n", r"not valid YAML \(ValueError: invalid literal"),  # was ValueError
    (GOOD + "train: {since: 2001-02-30}\n", r"not valid YAML \(ValueError: day is out of range"),
    (GOOD + "train: {flag: !!bool maybe}\n", r"not valid YAML \(KeyError"),
    (GOOD + "train: {when: !!timestamp soon}\n", r"not valid YAML \(AttributeError"),
    ("[" * 5000 + "]" * 5000, r"not valid YAML \(RecursionError"),  # was RecursionError
    (GOOD + "~: 1\nthen: 2\n", "unknown key None"),  # keys of two types: sorting them was a TypeError
])
def test_bad_recipe_files_are_refused_in_one_line(tmp_path, text, message):
    path = tmp_path / "recipe.yaml"
    path.write_text(text)
    with pytest.raises(UserError, match=message) as error:
        load_recipe(path)
    assert str(error.value).startswith(str(path)) and "\n" not in str(error.value)


@pytest.mark.parametrize("override", ["train.since=2001-02-30", "train.steps=!!int x", "train.x=!!bool y"])
def test_bad_override_values_are_refused(tmp_path, override):
    path = tmp_path / "recipe.yaml"
    path.write_text(GOOD)
    with pytest.raises(UserError, match="the value is not valid YAML"):
        load_recipe(path, [override])
