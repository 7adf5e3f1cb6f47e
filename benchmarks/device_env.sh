# Sourced by the GPU scripts. The device runs this tree uninstalled: the core imports from $PWD, the
# plugins' import name gensdk_plugins (pyproject's package-dir for plugins/) gets a symlink, and a
# minimal dist-info carries pyproject's entry points, through which `gensdk` finds its plugins.
mkdir -p /tmp/gensdk-path && ln -sfn "$PWD/plugins" /tmp/gensdk-path/gensdk_plugins
python3 - <<'PY'
import pathlib, tomllib
project = tomllib.loads(pathlib.Path("pyproject.toml").read_text())["project"]
info = pathlib.Path("/tmp/gensdk-path/gensdk-0.0.0.dist-info")
info.mkdir(exist_ok=True)
(info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {project['name']}\nVersion: 0.0.0\n")
(info / "entry_points.txt").write_text("".join(
    f"[{group}]\n" + "".join(f"{name} = {target}\n" for name, target in points.items())
    for group, points in {**project.get("entry-points", {}),
                          "console_scripts": project.get("scripts", {})}.items()))
PY
export PYTHONPATH="$PWD:/tmp/gensdk-path${PYTHONPATH:+:$PYTHONPATH}"
