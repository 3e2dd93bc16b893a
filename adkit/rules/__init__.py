"""The primitive table's entries, one module per family of operations.

Importing this package fills adkit.table; SciPy's special functions are added
on first use (adkit/rules/special.py) so that `import adkit` does not import SciPy.
"""

from . import (creation, elementwise, fft, functional, indexing, linalg, products,  # noqa: F401
               reductions, shapes)
