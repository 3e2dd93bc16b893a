"""adkit.kernels.window: the one window geometry the NumPy backend, the OpenCL kernels and
the layers share, checked against counting window positions directly."""

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from adkit.kernels.window import (Window, check_fits, output_length, padding_mode, window,
                                  window_pair)

sizes = st.integers(1, 40)
windows = st.integers(1, 7)
strides = st.integers(1, 5)


@settings(max_examples=200, deadline=None)
@given(sizes, windows, strides)
def test_valid_windows_are_every_start_that_fits(n, k, s):
    if k > n:
        with pytest.raises(ValueError, match="does not fit"):
            window((1, n, n, 1), (k, k), (s, s), "valid")
        return
    starts = [p for p in range(0, n, s) if p + k <= n]
    geo = window((1, n, n, 1), (k, k), (s, s), "valid")
    assert geo.ho == geo.wo == len(starts) == output_length(n, k, s, "valid")
    assert not geo.padded


@settings(max_examples=200, deadline=None)
@given(sizes, windows, strides)
def test_same_windows_start_at_every_stride_and_pad_as_little_as_needed(n, k, s):
    geo = window((1, n, n + 1, 1), (k, k), (s, s), "same")
    assert geo.ho == len(range(0, n, s)) == output_length(n, k, s, "same")
    total = geo.top + geo.bottom
    # the last window ends inside the padded input, and one row less padding would not do
    assert (geo.ho - 1) * s + k <= n + total
    assert total == 0 or (geo.ho - 1) * s + k > n + total - 1
    assert geo.bottom - geo.top in (0, 1)   # the odd row at the bottom, as Keras (TensorFlow)


def test_keras_examples_and_window_positions():
    assert window((1, 5, 5, 1), (3, 3), (2, 2), "same") == Window(3, 3, 2, 2, 3, 3, 1, 1, 1, 1)
    assert window((2, 28, 28, 1), (3, 3), (1, 1), "valid")[4:6] == (26, 26)
    assert window((1, 4, 6, 1), (2, 3), (2, 3), "valid")[4:6] == (2, 2)
    assert list(window((1, 4, 4, 1), (2, 3), (1, 1), "valid").offsets()) == [
        (0, 0, 0), (1, 0, 1), (2, 0, 2), (3, 1, 0), (4, 1, 1), (5, 1, 2)]
    x = np.arange(25.0).reshape(1, 5, 5, 1)
    geo = window(x.shape, (2, 2), (2, 2), "valid")
    np.testing.assert_array_equal(geo.at(x, 1, 1)[0, :, :, 0], [[6.0, 8.0], [16.0, 18.0]])


def test_one_padding_check_for_every_caller():
    assert padding_mode("SAME") == "same" and padding_mode("Valid") == "valid"
    for bad in ("full", None, 1):
        with pytest.raises(ValueError, match=r"Conv2D 'c': padding must be 'valid' or 'same'"):
            padding_mode(bad, "Conv2D 'c'")
    with pytest.raises(ValueError, match="padding must be"):
        window((1, 4, 4, 1), (2, 2), (1, 1), "causal")


def test_fit_and_pair_checks_name_the_caller_and_the_fix():
    with pytest.raises(ValueError, match=r"pool2d: a 4x4 pool does not fit in x of shape "
                                         r"\(1, 3, 3, 2\).*padding='same' or a pool of at most 3x3"):
        check_fits((1, 3, 3, 2), (4, 4), "valid", "pool2d", "pool")
    check_fits((1, 3, 3, 2), (4, 4), "same", "pool2d", "pool")   # padded: always fits
    assert window_pair(3, "strides", "f") == (3, 3)
    assert window_pair((2, np.int64(1)), "strides", "f") == (2, 1)
    for bad in (0, (1, 2, 3), (True, 1), 1.5):
        with pytest.raises((ValueError, TypeError), match="f: strides must be a positive int"):
            window_pair(bad, "strides", "f")
