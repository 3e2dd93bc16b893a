"""adkit and adkit.nn import and train without SciPy (pyproject does not require it); the
few functions that use it say what to install."""

import subprocess
import sys
import textwrap

import numpy as np

BLOCK_SCIPY = """
import sys
class _NoSciPy:
    def find_spec(self, name, path=None, target=None):
        if name == "scipy" or name.startswith("scipy."):
            raise ImportError("SciPy is hidden for this test")
sys.meta_path.insert(0, _NoSciPy())
"""


def run_without_scipy(code: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", BLOCK_SCIPY + textwrap.dedent(code)],
                          capture_output=True, text=True, timeout=300)


def test_a_keras_model_trains_and_predicts_without_scipy():
    result = run_without_scipy("""
        import numpy as np
        import adkit, adkit.nn as keras
        print(adkit.grad(lambda x: np.sin(x) * x)(1.0))
        rng = np.random.default_rng(0)
        x = rng.normal(size=(64, 4)).astype("float32"); y = (x[:, 0] > 0).astype("int32")
        model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(8, activation="relu"),
                                  keras.layers.Dense(2, activation="softmax")])
        model.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])
        history = model.fit(x, y, epochs=3, verbose=0)
        print(history.history["loss"][-1] < history.history["loss"][0],
              model.predict(x, verbose=0).shape, "scipy" in sys.modules)
    """)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert abs(float(lines[0]) - (np.cos(1.0) + np.sin(1.0))) < 1e-12
    assert lines[1] == "True (64, 2) False"


def test_a_function_that_needs_scipy_names_the_install_command():
    result = run_without_scipy("""
        import numpy as np
        from adkit.nn import activations
        activations.gelu(np.ones(3), approximate=False)
    """)
    assert result.returncode != 0
    assert "uses scipy.special, and SciPy is not installed: pip install scipy" in result.stderr

