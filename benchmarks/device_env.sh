# Sourced by the GPU scripts. The device runs this tree uninstalled: the core imports from $PWD, and the
# plugins' import name gensdk_plugins (pyproject's package-dir for plugins/) gets a symlink.
mkdir -p /tmp/gensdk-path && ln -sfn "$PWD/plugins" /tmp/gensdk-path/gensdk_plugins
export PYTHONPATH="$PWD:/tmp/gensdk-path${PYTHONPATH:+:$PYTHONPATH}"
