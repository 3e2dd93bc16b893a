"""Support for tests/test_real_code_*.py: code written for autograd or Keras, run through
adkit after the mechanical import change a user makes (`port_autograd`, `port_keras`),
executed in a fresh namespace (`run_script`) whose variables the tests then check."""

import os
import re
import textwrap

# (pattern, replacement) applied line by line, in order: autograd's imports -> adkit's
_AUTOGRAD_IMPORTS = [
    (r"^import autograd\.numpy\.random as", "import numpy.random as"),
    (r"^import autograd\.numpy as", "import numpy as"),
    (r"^from autograd import numpy as", "import numpy as"),
    (r"^import autograd\.scipy\.(\w+)\.(\w+) as", r"from scipy.\1 import \2 as"),
    (r"^from autograd\.scipy", "from scipy"),
    (r"^from autograd\.numpy", "from numpy"),
    (r"^from autograd\.", "from adkit."),
    (r"^from autograd import", "from adkit import"),
]

_KERAS_IMPORTS = [
    (r"^import keras$", "import adkit.nn as keras"),
    (r"^from tensorflow import keras$", "import adkit.nn as keras"),
    (r"^from (?:tensorflow\.)?keras import ", "from adkit.nn import "),
    (r"^from (?:tensorflow\.)?keras\.(\S+) import ", r"from adkit.nn.\1 import "),
]


def _rewrite(source: str, rules: list) -> str:
    lines = textwrap.dedent(source).splitlines()
    for pattern, replacement in rules:
        lines = [re.sub(pattern, replacement, line) for line in lines]
    return "\n".join(lines) + "\n"


def port_autograd(source: str) -> str:
    """The script with autograd's imports swapped for NumPy's, SciPy's and adkit's."""
    ported = _rewrite(source, _AUTOGRAD_IMPORTS)
    assert "autograd" not in ported.replace("# ", ""), ported
    return ported


def port_keras(source: str) -> str:
    """The script with `import keras` / tensorflow.keras swapped for adkit.nn."""
    return _rewrite(source, _KERAS_IMPORTS)


def as_written_for_keras(source: str) -> str:
    """The script for Keras 3 itself (tensorflow.keras spelled as keras)."""
    return _rewrite(source, [(r"^from tensorflow import keras$", "import keras"),
                             (r"^from tensorflow\.keras", "from keras")])


def run_script(source: str, workdir=None, env=None) -> dict:
    """Execute source as a script (in workdir, if given; with the names in env defined)
    and return its variables."""
    namespace = {"__name__": "__real_code__", **(env or {})}
    here = os.getcwd()
    if workdir is not None:
        os.chdir(workdir)
    try:
        exec(compile(source, "<real code>", "exec"), namespace)
    finally:
        os.chdir(here)
    return namespace
