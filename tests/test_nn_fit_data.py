"""fit, evaluate and predict on generators, iterables and Sequences of batches
(nn/data_adapters.py), steps_per_epoch and validation_steps, the errors a Keras
user gets for a bad stream, and verbose="auto" in logs."""

import contextlib
import io

import numpy as np
import pytest

from adkit.nn import Sequential
from adkit.nn.layers import Dense
from adkit.nn.utils import PyDataset, Sequence


def regression(n=48, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 3)).astype(np.float32)
    y = (x @ np.array([1.0, -2.0, 0.5], np.float32))[:, None]
    return x, y


def model(seed=0, **compile_args):
    m = Sequential([Dense(4, activation="tanh", input_shape=(3,)), Dense(1)], seed=seed)
    m.compile(optimizer="adam", loss="mse", **compile_args)
    return m


class Batches(Sequence):
    """Batch i is rows [i*size, (i+1)*size); counts on_epoch_end calls."""

    def __init__(self, x, y, size, w=None):
        self.x, self.y, self.size, self.w, self.epochs_ended, self.asked = x, y, size, w, 0, []

    def __len__(self):
        return -(-len(self.x) // self.size)

    def __getitem__(self, i):
        self.asked.append(i)
        rows = slice(i * self.size, (i + 1) * self.size)
        if self.w is None:
            return self.x[rows], self.y[rows]
        return self.x[rows], self.y[rows], self.w[rows]

    def on_epoch_end(self):
        self.epochs_ended += 1


def looping(x, y, size):
    while True:
        for i in range(0, len(x), size):
            yield x[i:i + size], y[i:i + size]


def assert_same_weights(a, b):
    for p, q in zip(a.get_weights(), b.get_weights()):
        np.testing.assert_array_equal(p, q)


def test_a_sequence_trains_as_the_same_arrays_unshuffled():
    x, y = regression()
    seq = Batches(x, y, 16)
    a, b = model(), model()
    ha = a.fit(seq, epochs=3, shuffle=False, verbose=0)
    hb = b.fit(x, y, batch_size=16, epochs=3, shuffle=False, verbose=0)
    assert_same_weights(a, b)
    assert ha.history["loss"] == hb.history["loss"]
    assert seq.epochs_ended == 3
    assert seq.asked == [0, 1, 2] * 3


def test_a_shuffled_sequence_visits_every_batch_once_per_epoch_in_new_orders():
    x, y = regression(n=80)
    seq = Batches(x, y, 8)
    model().fit(seq, epochs=3, verbose=0)
    epochs = [seq.asked[i:i + 10] for i in range(0, 30, 10)]
    assert all(sorted(e) == list(range(10)) for e in epochs)
    assert len({tuple(e) for e in epochs}) > 1 and epochs[0] != list(range(10))


def test_a_generator_with_steps_per_epoch_equals_arrays():
    x, y = regression()
    a, b = model(), model()
    a.fit(looping(x, y, 12), steps_per_epoch=4, epochs=2, verbose=0)
    b.fit(x, y, batch_size=12, epochs=2, shuffle=False, verbose=0)
    assert_same_weights(a, b)


def test_a_reiterable_runs_a_full_pass_each_epoch():
    x, y = regression(n=30)

    class Pass:
        def __iter__(self):
            return ((x[i:i + 10], y[i:i + 10]) for i in range(0, 30, 10))

    a, b = model(), model()
    history = a.fit(Pass(), epochs=3, verbose=0)
    b.fit(x, y, batch_size=10, epochs=3, shuffle=False, verbose=0)
    assert len(history.history["loss"]) == 3
    assert_same_weights(a, b)


def test_validation_data_as_a_generator_with_validation_steps():
    x, y = regression()
    m = model()
    history = m.fit(looping(x, y, 16), steps_per_epoch=3, epochs=2, verbose=0,
                    validation_data=looping(x, y, 16), validation_steps=3)
    assert len(history.history["val_loss"]) == 2
    assert history.history["val_loss"][-1] == pytest.approx(m.evaluate(x, y), rel=1e-5)


def test_evaluate_and_predict_take_streams():
    x, y = regression()
    m = model(metrics=["mae"])
    assert m.evaluate(Batches(x, y, 10)) == pytest.approx(m.evaluate(x, y), rel=1e-6)
    assert m.evaluate(looping(x, y, 16), steps=3) == pytest.approx(m.evaluate(x, y), rel=1e-6)
    expected = m.predict(x)
    for stream, steps in ((Batches(x, y, 7), None), (iter([x[:20], x[20:]]), None),
                          (looping(x, y, 16), 3)):
        np.testing.assert_allclose(m.predict(stream, steps=steps), expected, rtol=1e-5,
                                   atol=1e-6)   # float32 sums differ with the batch size


def test_batches_may_carry_sample_weights():
    x, y = regression(n=32)
    w = np.linspace(0.0, 2.0, 32).astype(np.float32)
    a, b = model(), model()
    a.fit(Batches(x, y, 8, w), epochs=2, shuffle=False, verbose=0)
    b.fit(x, y, sample_weight=w, batch_size=8, epochs=2, shuffle=False, verbose=0)
    assert_same_weights(a, b)
    assert a.evaluate(Batches(x, y, 8, w)) == pytest.approx(
        a.evaluate(x, y, sample_weight=w), rel=1e-6)


def test_py_dataset_is_keras_3s_name_for_sequence():
    assert PyDataset is Sequence
    with pytest.raises(NotImplementedError, match="__len__"):
        len(Sequence())


# --- errors that name the fix --------------------------------------------------------------

def test_a_generator_that_runs_out_before_steps_per_epoch():
    x, y = regression(n=32)
    once = ((x[i:i + 8], y[i:i + 8]) for i in range(0, 32, 8))
    with pytest.raises(ValueError, match=r"ran out of data after 1 of the 3 batches of epoch 2"
                                         r".*while True"):
        model().fit(once, steps_per_epoch=3, epochs=2, verbose=0)


def test_a_one_shot_generator_without_steps_is_refused_at_the_second_epoch():
    x, y = regression(n=32)
    once = ((x[i:i + 8], y[i:i + 8]) for i in range(0, 32, 8))
    m = model()
    with pytest.raises(ValueError, match="no batches in epoch 2.*steps_per_epoch"):
        m.fit(once, epochs=2, verbose=0)
    assert len(m.history.history["loss"]) == 1   # the first epoch was trained and logged


def test_steps_beyond_a_sequence_are_refused():
    x, y = regression(n=32)
    with pytest.raises(ValueError, match="steps 5 is more than the 4 batches"):
        model().fit(Batches(x, y, 8), steps_per_epoch=5, verbose=0)


@pytest.mark.parametrize("batch, message", [
    (lambda x, y: (x, y, None, None), "tuple of 4 items"),
    (lambda x, y: x, "single ndarray, not a tuple"),
    (lambda x, y: (x,), "no targets"),
    (lambda x, y: (x, y[:3]), "x has 8 examples but y has 3"),
    (lambda x, y: (x, y, np.ones(5)), r"sample_weight has shape \(5,\) for 8 examples"),
])
def test_bad_batches_are_named_with_their_place(batch, message):
    x, y = regression(n=16)
    stream = (batch(x[i:i + 8], y[i:i + 8]) for i in range(0, 16, 8))
    with pytest.raises(ValueError, match="fit, batch 1 of epoch 1: .*" + message):
        model().fit(stream, verbose=0)


def test_y_and_sample_weight_are_refused_next_to_a_stream():
    x, y = regression(n=16)
    with pytest.raises(ValueError, match="y must not be given"):
        model().fit(Batches(x, y, 8), y, verbose=0)
    with pytest.raises(ValueError, match="validation_split needs arrays"):
        model().fit(Batches(x, y, 8), validation_split=0.2, verbose=0)


# --- verbose ------------------------------------------------------------------------------

class Terminal(io.StringIO):
    def isatty(self):
        return True


def fit_printing(verbose, stderr):
    x, y = regression(n=32)
    out = io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(stderr):
        model().fit(x, y, batch_size=8, epochs=2, verbose=verbose)
    return out.getvalue(), stderr.getvalue()


def test_verbose_auto_in_a_log_writes_one_line_per_epoch_and_no_carriage_returns():
    out, err = fit_printing("auto", io.StringIO())
    assert "\r" not in out + err
    assert [line.split(" - ")[0] for line in out.splitlines()] == ["Epoch 1/2", "Epoch 2/2"]


def test_verbose_auto_on_a_terminal_draws_the_progress_bar():
    out, err = fit_printing("auto", Terminal())
    assert out == "" and "\r" in err and "Epoch 2/2" in err


def test_bad_verbose_is_refused():
    x, y = regression(n=8)
    with pytest.raises(ValueError, match="verbose must be 0, 1, 2 or 'auto'"):
        model().fit(x, y, verbose=3)


def test_a_functional_model_with_two_inputs_trains_on_dict_batches():
    import adkit.nn as keras
    from adkit.nn.layers import Concatenate

    def two_inputs():
        a, b = keras.Input(shape=(2,), name="a"), keras.Input(shape=(3,), name="b")
        m = keras.Model([a, b], Dense(1, name="out")(Concatenate()([a, b])), seed=0)
        m.compile(optimizer="sgd", loss="mse")
        return m

    rng = np.random.default_rng(0)
    xa, xb = rng.normal(size=(32, 2)).astype("float32"), rng.normal(size=(32, 3)).astype("float32")
    y = rng.normal(size=(32, 1)).astype("float32")

    def batches():
        while True:
            for i in range(0, 32, 8):
                yield {"a": xa[i:i + 8], "b": xb[i:i + 8]}, y[i:i + 8]

    streamed, arrays = two_inputs(), two_inputs()
    streamed.fit(batches(), steps_per_epoch=4, epochs=2, verbose=0)
    arrays.fit({"a": xa, "b": xb}, y, batch_size=8, epochs=2, shuffle=False, verbose=0)
    assert_same_weights(streamed, arrays)
    assert streamed.evaluate(batches(), steps=4) == pytest.approx(
        streamed.evaluate({"a": xa, "b": xb}, y), rel=1e-6)
