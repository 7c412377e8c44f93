"""Our lint rules, one module per family. Importing this package registers them.

Every module here is imported by discovery, not by a list: a new family cannot
be left out and vanish with every test still green.
"""

import importlib
import pkgutil

for _module in pkgutil.iter_modules(__path__):
    if not _module.name.startswith("_"):
        importlib.import_module(f"{__name__}.{_module.name}")
