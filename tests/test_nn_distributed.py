"""Data-parallel training over MPI (adkit.nn.distributed), run with mpiexec -n 2.

The referee for "same answer" is the same training in one process: N ranks with
global batch B must reach its weights to float rounding, for every optimizer.
"""

import json
import os
import subprocess
import sys

import numpy as np
import pytest

from adkit.nn import load_model
from mpi_support import mpirun as _mpirun
from mpi_support import needs_mpi

SCRIPT = os.path.join(os.path.dirname(__file__), "mpi", "data_parallel.py")


def mpirun(mode, out, n=2, timeout=180):
    return _mpirun(n, SCRIPT, mode, out, timeout=timeout)


@needs_mpi
def test_two_ranks_reach_the_single_process_weights_for_every_optimizer(tmp_path):
    proc, _ = mpirun("same-answer", tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    result = json.loads((tmp_path / "result.json").read_text())
    for name in ["sgd", "nag", "adagrad", "rmsprop", "adadelta", "adam", "adamax", "nadam",
                 "rprop", "esgd"]:
        r = result[name]
        assert r["max_weight_change"] > 1e-3, name          # training moved the weights
        assert r["max_weight_difference"] < 1e-5, (name, r["max_weight_difference"])
        for key in ("loss", "accuracy", "val_loss", "val_accuracy"):
            np.testing.assert_allclose(r["parallel_logs"][key], r["single_logs"][key],
                                       rtol=1e-5, err_msg=f"{name} {key}")
    np.testing.assert_allclose(result["evaluate"]["parallel"], result["evaluate"]["single"],
                               rtol=1e-6)
    assert result["predict_shape"] == [101, 3]


@needs_mpi
def test_ranks_with_different_models_are_told_which_setting_differs(tmp_path):
    proc, _ = mpirun("mismatch", tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    for rank in (0, 1):
        text = (tmp_path / f"error-{rank}.txt").read_text()
        assert "different training set-ups" in text
        assert "parameter shapes" in text and "model config" in text
        assert "rank 1 has" in text


@needs_mpi
def test_a_rank_that_dies_ends_the_job_and_leaves_the_checkpoint_loadable(tmp_path):
    proc, seconds = mpirun("dies", tmp_path, timeout=120)
    assert proc.returncode != 0
    assert seconds < 60
    model = load_model(tmp_path / "ckpt.adkit")
    assert model.predict(np.zeros((2, 4), np.float32)).shape == (2, 3)


@needs_mpi
def test_a_stalled_rank_makes_the_others_abort_with_a_clear_message(tmp_path):
    proc, seconds = mpirun("stalls", tmp_path, timeout=120)
    assert proc.returncode != 0
    assert seconds < 60
    assert "rank 0 of 2: waited 4 s for rank 1 in collective #" in proc.stderr
    assert "while training epoch 2, batch" in proc.stderr
    load_model(tmp_path / "ckpt.adkit")


def test_without_mpi4py_the_error_says_how_to_install_it(monkeypatch):
    monkeypatch.setitem(sys.modules, "mpi4py", None)
    from adkit.nn import Sequential
    from adkit.nn.layers import Dense
    model = Sequential([Dense(1, input_shape=(2,))])
    with pytest.raises(Exception, match=r"pip install"):
        model.compile(optimizer="sgd", loss="mse", distribute="mpi")
    model.compile(optimizer="sgd", loss="mse")          # single-process training still works
    model.fit(np.zeros((4, 2), np.float32), np.zeros((4, 1), np.float32), verbose=0)


@needs_mpi
def test_cli_workers_relaunches_under_mpiexec_and_only_rank_0_reports(tmp_path):
    from adkit.nn.datasets import fashion_mnist
    try:
        fashion_mnist.load_data()
    except FileNotFoundError as e:
        pytest.skip(str(e))
    proc = subprocess.run([sys.executable, "-m", "adkit", "train", "fashion-mnist", "--model",
                           "mlp", "--limit", "2000", "--workers", "2", "--out", str(tmp_path),
                           "--quiet"], capture_output=True, text=True, timeout=180)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.count("test accuracy") == 1
    assert load_model(tmp_path / "mlp.adkit").count_params() == 669_706


TUNING_PROBE = """
import os
from adkit.nn import mpi
mpi.require_mpi()
print([os.environ.get(k) for k in mpi.NONBLOCKING_TUNING])
"""


@needs_mpi
@pytest.mark.parametrize("preset", [None, "binomial"])
def test_mpi_start_up_leaves_the_environment_as_it_was(preset):
    from adkit.nn.mpi import NONBLOCKING_TUNING
    env = {k: v for k, v in os.environ.items() if k not in NONBLOCKING_TUNING}
    if preset is not None:
        env.update({k: preset for k in NONBLOCKING_TUNING})
    proc = subprocess.run([sys.executable, "-c", TUNING_PROBE], capture_output=True, text=True,
                          timeout=120, env=env)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.strip() == repr([preset] * len(NONBLOCKING_TUNING))
