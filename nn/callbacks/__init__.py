"""Callbacks, Keras names: hooks the training loop calls at epoch and batch ends.

One module per callback; every name is importable from here, as in Keras
(`from adkit.nn.callbacks import EarlyStopping, TensorBoard`). `logs` dicts
hold plain floats: "loss", each metric, and "val_"-prefixed ones at epoch ends
when there is validation data.
"""

from .backup_and_restore import BackupAndRestore
from .base import Callback, CallbackList
from .csv_logger import CSVLogger
from .early_stopping import EarlyStopping
from .history import History
from .json_logger import JSONLogger
from .lambda_callback import LambdaCallback
from .learning_rate_scheduler import LearningRateScheduler
from .model_checkpoint import ModelCheckpoint
from .reduce_lr_on_plateau import ReduceLROnPlateau
from .tensorboard import TensorBoard
from .terminate_on_nan import TerminateOnNaN

__all__ = ["BackupAndRestore", "Callback", "CallbackList", "CSVLogger", "EarlyStopping",
           "History", "JSONLogger", "LambdaCallback", "LearningRateScheduler", "ModelCheckpoint",
           "ReduceLROnPlateau", "TensorBoard", "TerminateOnNaN"]
