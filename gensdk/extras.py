"""Optional dependencies: each domain's heavy packages come with an extra (``pip install 'gensdk[molecules]'``).

Code that needs one imports it through ``require``; when it is missing the user gets one line naming the
extra to install (exit code 2 on the command line), not a ModuleNotFoundError traceback. A plugin whose
every command needs one (tabular: pandas) calls ``require_installed`` first in its ``__init__``: the CLI then
registers its command as a stub that prints that line when used, and every other command stays quiet.
"""

from __future__ import annotations

import importlib
import importlib.util
from types import ModuleType

from gensdk.errors import UserError


class MissingExtra(UserError):
    """An optional dependency is not installed; ``extra`` names the gensdk extra that installs it."""

    def __init__(self, module: str, extra: str):
        self.module, self.extra = module, extra
        super().__init__(self.line())

    def __reduce__(self):  # raised in a worker process, it crosses back to the parent by pickle
        return MissingExtra, (self.module, self.extra)

    def line(self, who: str = "this") -> str:
        """The message, with ``who`` (e.g. 'gensdk molecules') as the one that needs the extra."""
        return (f"{who} needs the '{self.extra}' extra ({self.module} is not installed): "
                f"pip install 'gensdk[{self.extra}]'")


def require(module: str, extra: str) -> ModuleType:
    """Import ``module`` (e.g. 'rdkit.Chem'), or raise MissingExtra naming ``extra`` when it is not installed."""
    try:
        return importlib.import_module(module)
    except ModuleNotFoundError as err:
        # only the module asked for (or a package above it) missing; a module that the installed
        # package itself fails to find is a broken install, and its own error says more
        if err.name is None or not (module == err.name or module.startswith(err.name + ".")):
            raise
        raise MissingExtra(module.split(".")[0], extra) from None


def require_installed(package: str, extra: str) -> None:
    """Raise MissingExtra naming ``extra`` when the top-level ``package`` is not installed, without importing
    it: a plugin's ``__init__`` checks its extra this way, so that building the CLI (``gensdk --help``) does
    not pay for importing pandas or RDKit."""
    if importlib.util.find_spec(package) is None:
        raise MissingExtra(package, extra)
