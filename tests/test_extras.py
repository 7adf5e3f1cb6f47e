"""Optional extras: a missing one is one line naming the extra to install, exit code 2, and only for the
commands that need it; every other command says nothing about it."""

import subprocess
import sys

import pytest
from PIL import Image

from gensdk.extras import MissingExtra, require
from helpers import ENV, assert_user_error

ARCH_EXAMPLES = "plugins/architectures/examples"


def gensdk_without(missing: list[str], *args) -> subprocess.CompletedProcess:
    """The CLI in a process where the ``missing`` packages cannot be imported, as if not installed."""
    code = ("import sys; sys.modules.update(dict.fromkeys(sys.argv.pop(1).split(',')))\n"
            "from gensdk.cli import main; main()")
    return subprocess.run([sys.executable, "-c", code, ",".join(missing), *map(str, args)],
                          capture_output=True, text=True, env=ENV)


def test_require_imports_or_names_the_extra(monkeypatch):
    assert require("json.decoder", "x").__name__ == "json.decoder"
    with pytest.raises(MissingExtra) as error:
        require("no_such_package_xyz.Chem", "molecules")  # a submodule of a package that is not there
    assert str(error.value) == ("this needs the 'molecules' extra (no_such_package_xyz is not installed): "
                                "pip install 'gensdk[molecules]'")
    monkeypatch.setitem(sys.modules, "fcd", None)  # installed or not, as if it were not
    with pytest.raises(MissingExtra, match=r"\(fcd is not installed\)"):
        require("fcd", "molecules")


def test_a_broken_install_is_not_called_a_missing_extra(tmp_path, monkeypatch):
    (tmp_path / "half_installed.py").write_text("import no_such_module_xyz\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(ModuleNotFoundError) as error:
        require("half_installed", "x")
    assert not isinstance(error.value, MissingExtra) and error.value.name == "no_such_module_xyz"


def test_missing_extra_crosses_a_process_boundary():
    import pickle

    error = pickle.loads(pickle.dumps(MissingExtra("fcd", "molecules")))
    assert (error.module, error.extra) == ("fcd", "molecules") and "gensdk[molecules]" in str(error)


def test_a_plugin_without_its_extra_is_one_line_when_used(tmp_path):
    smiles = tmp_path / "gen.smi"
    smiles.write_text("CCO\n")
    assert_user_error(gensdk_without(["rdkit"], "molecules", "data", smiles),
                      "gensdk molecules needs the 'molecules' extra", "pip install 'gensdk[molecules]'")
    assert_user_error(gensdk_without(["pandas"], "tabular", "sample", "m", "-o", "x.csv"),
                      "gensdk tabular needs the 'tabular' extra", "pip install 'gensdk[tabular]'")


def test_a_command_that_needs_an_extra_only_sometimes(tmp_path):
    """A CNN compiles without torch-geometric; a GNN needs it. Classic augmentation needs albumentations."""
    cnn = gensdk_without(["torch_geometric"], "architectures", "compile", f"{ARCH_EXAMPLES}/small-cnn.arch")
    assert cnn.returncode == 0, cnn.stderr
    assert_user_error(gensdk_without(["torch_geometric"], "architectures", "compile",
                                     f"{ARCH_EXAMPLES}/nas-bench-graph-cora.arch"),
                      "needs the 'architectures' extra (torch_geometric is not installed)")
    for label in "ab":
        (tmp_path / "chars" / label).mkdir(parents=True)
        Image.new("L", (8, 8)).save(tmp_path / "chars" / label / "0.png")
    assert_user_error(gensdk_without(["albumentations"], "augment", tmp_path / "chars", tmp_path / "out",
                                     "--method", "classic"),
                      "gensdk augment needs the 'images' extra", "pip install 'gensdk[images]'")


def test_ray_without_its_extra_is_one_line_and_only_with_ray(tmp_path):
    spec = tmp_path / "spec.yaml"
    spec.write_text("rows: [40, 60]\nfeatures: [2, 3]\nclasses: [2, 2]\ngroups: [general]\nsummary: [mean]\n")
    assert_user_error(gensdk_without(["ray"], "tabular", "family", "--n", "1", "--spec", spec, "--out",
                                     tmp_path / "a", "--quiet", "--ray"),
                      "gensdk tabular needs the 'ray' extra (ray is not installed)", "pip install 'gensdk[ray]'")
    local = gensdk_without(["ray"], "tabular", "family", "--n", "1", "--spec", spec, "--out", tmp_path / "b", "--quiet")
    assert local.returncode == 0 and "ray" not in local.stderr, local.stderr


def test_other_commands_say_nothing_about_missing_extras(tmp_path):
    result = gensdk_without(["pandas", "rdkit", "albumentations", "torch_geometric"], "toy", "--help")
    assert result.returncode == 0 and result.stderr == "", result.stderr
    assert_user_error(gensdk_without(["pandas", "rdkit"], "train", tmp_path / "missing.yaml"),
                      "missing.yaml: recipe file not found")
