"""autograd.misc.flatten: adkit's own (adkit/misc/flatten.py)."""
from adkit.misc.flatten import flatten, flatten_func  # noqa: F401
