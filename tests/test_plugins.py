"""A third-party package registers a plugin through the entry point group alone."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).parent


def install_fake_distribution(site: Path, entry: str) -> None:
    """Write the metadata pip would write for an installed package with one gensdk entry point."""
    info = site / "gensdk_example_plugin-0.1.0.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: gensdk-example-plugin\nVersion: 0.1.0\n")
    (info / "entry_points.txt").write_text(f"[gensdk.plugins]\n{entry}\n")


def gensdk(args, site: Path):
    env_path = f"{site}:{HERE / 'example_plugin'}"
    return subprocess.run([sys.executable, "-m", "gensdk", *args], capture_output=True, text=True,
                          env={**os.environ, "PYTHONPATH": env_path, "COLUMNS": "200"})


def test_a_third_party_plugin_built_and_installed_by_pip_is_listed_and_its_sub_app_runs(tmp_path):
    """A real distribution: its own pyproject, built and installed by pip into a folder of its own."""
    source = tmp_path / "source"
    source.mkdir()
    shutil.copy(HERE / "example_plugin" / "gensdk_example_plugin.py", source)
    (source / "pyproject.toml").write_text(
        '[build-system]\nrequires = ["setuptools>=61"]\nbuild-backend = "setuptools.build_meta"\n\n'
        '[project]\nname = "gensdk-example-plugin"\nversion = "0.1.0"\n\n'
        '[project.entry-points."gensdk.plugins"]\nexample = "gensdk_example_plugin:plugin"\n\n'
        '[tool.setuptools]\npy-modules = ["gensdk_example_plugin"]\n')
    site = tmp_path / "site"
    built = subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation",
                            "--no-index", "--target", str(site), str(source)], capture_output=True, text=True)
    assert built.returncode == 0, built.stderr
    assert (site / "gensdk_example_plugin.py").is_file()
    run = lambda args: subprocess.run([sys.executable, "-m", "gensdk", *args], capture_output=True, text=True,
                                      env={**os.environ, "PYTHONPATH": str(site), "COLUMNS": "200"})
    listed = run(["plugins"])
    assert listed.returncode == 0, listed.stderr
    assert "example" in listed.stdout and "0.1.0" in listed.stdout and "example-gaussian" in listed.stdout
    hello = run(["example", "hello", "--name", "tests"])
    assert hello.returncode == 0, hello.stderr
    assert "hello tests from the example plugin" in hello.stdout


def test_plugin_model_trains_through_the_core_recipe_path(tmp_path):
    install_fake_distribution(tmp_path / "site", "example = gensdk_example_plugin:plugin")
    recipe = tmp_path / "r.yaml"
    recipe.write_text("data: {name: example-line}\nmodel: {name: example-gaussian}\n"
                      "train: {steps: 200, batch_size: 64, log_every: 50}\n")
    run = gensdk(["train", str(recipe), "--out", str(tmp_path / "run"), "--quiet"], tmp_path / "site")
    assert run.returncode == 0, run.stderr
    assert (tmp_path / "run" / "model" / "model.safetensors").exists()


def test_broken_plugin_is_reported_and_the_cli_still_works(tmp_path):
    install_fake_distribution(tmp_path, "broken = no_such_module_xyz:plugin")
    listed = gensdk(["plugins"], tmp_path)
    assert listed.returncode == 0
    assert "plugin 'broken' failed to load" in listed.stderr
