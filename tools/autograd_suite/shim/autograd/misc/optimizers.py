"""autograd.misc.optimizers: adkit's own (adkit/misc/optimizers.py), same names and updates."""
from adkit.misc.optimizers import adam, rmsprop, sgd, unflatten_optimizer  # noqa: F401
