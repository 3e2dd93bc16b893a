"""adkit.kernels.optim against adkit.nn.optimizers: a few steps of each fused update
on float32 copies (odd sizes, size 1, a 2-D tensor, an offset view), every variant
(SGD plain/momentum/Nesterov, Adam/AMSGrad, RMSprop plain/momentum/centered,
Adadelta), and the error messages."""

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from opencl_support import require_opencl

require_opencl()

from adkit.kernels import optim as kopt  # noqa: E402
from adkit.nn import optimizers as O  # noqa: E402


# (NumPy optimizer, slot count, the fused update given (dev, w, g, slots, step, opt))
CASES = {
    "sgd": (lambda: O.SGD(0.1), 0,
            lambda d, w, g, s, t, o: kopt.sgd(d, w, g, None, o.learning_rate)),
    "sgd_momentum": (lambda: O.SGD(0.1, momentum=0.9), 1,
                     lambda d, w, g, s, t, o: kopt.sgd(d, w, g, s[0], 0.1, 0.9)),
    "sgd_nesterov": (lambda: O.SGD(0.05, momentum=0.8, nesterov=True), 1,
                     lambda d, w, g, s, t, o: kopt.sgd(d, w, g, s[0], 0.05, 0.8, True)),
    "adam": (lambda: O.Adam(0.01), 2,
             lambda d, w, g, s, t, o: kopt.adam(d, w, g, s[0], s[1], 0.01, step=t)),
    "adam_custom": (lambda: O.Adam(0.02, beta_1=0.5, beta_2=0.9, epsilon=1e-3), 2,
                    lambda d, w, g, s, t, o: kopt.adam(d, w, g, s[0], s[1], 0.02, 0.5, 0.9,
                                                       1e-3, t)),
    "amsgrad": (lambda: O.Adam(0.01, amsgrad=True), 3,
                lambda d, w, g, s, t, o: kopt.adam(d, w, g, s[0], s[1], 0.01, step=t,
                                                   v_hat=s[2])),
    "rmsprop": (lambda: O.RMSprop(0.01), 1,
                lambda d, w, g, s, t, o: kopt.rmsprop(d, w, g, s[0], 0.01)),
    "rmsprop_momentum": (lambda: O.RMSprop(0.01, momentum=0.5), 2,
                         lambda d, w, g, s, t, o: kopt.rmsprop(d, w, g, s[0], 0.01,
                                                               momentum=0.5, m=s[1])),
    "rmsprop_centered": (lambda: O.RMSprop(0.01, rho=0.8, momentum=0.5, centered=True), 3,
                         lambda d, w, g, s, t, o: kopt.rmsprop(d, w, g, s[0], 0.01, 0.8,
                                                               momentum=0.5, m=s[1],
                                                               average_gradient=s[2])),
    "adadelta": (lambda: O.Adadelta(), 2,
                 lambda d, w, g, s, t, o: kopt.adadelta(d, w, g, s[0], s[1])),
    "adadelta_custom": (lambda: O.Adadelta(0.5, rho=0.9, epsilon=1e-4), 2,
                        lambda d, w, g, s, t, o: kopt.adadelta(d, w, g, s[0], s[1], 0.5, 0.9,
                                                               1e-4)),
}


@settings(max_examples=30, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(case=st.sampled_from(sorted(CASES)),
       shape=st.sampled_from([(1,), (7,), (257,), (3, 5), (1000,)]),
       seed=st.integers(0, 2**16))
def test_fused_update_matches_numpy_optimizer(dev, case, shape, seed):
    make, n_slots, fused = CASES[case]
    rng = np.random.default_rng(seed)
    opt = make()
    w = rng.standard_normal(shape).astype(np.float32)
    wd = dev.to_device(w)
    slots = [dev.zeros(shape) for _ in range(n_slots)]
    for t in range(1, 5):
        g = rng.standard_normal(shape).astype(np.float32)
        opt.apply_gradients([w], [g])
        gd = dev.to_device(g)
        assert fused(dev, wd, gd, slots, t, opt) is wd
        np.testing.assert_array_equal(dev.to_host(gd), g)   # the gradient is only read
        np.testing.assert_allclose(dev.to_host(wd), w, rtol=2e-6, atol=2e-6)
    for name, sd in zip(opt._slot_names, slots):
        np.testing.assert_allclose(dev.to_host(sd), opt.variables()[f"{name}/0"], rtol=1e-5,
                                   atol=1e-6, err_msg=name)


def test_update_of_an_offset_view(dev):
    """Parameters packed in one buffer: a view with an offset is updated in place."""
    flat = np.arange(10, dtype=np.float32)
    buf = dev.to_device(flat)
    view = buf[3:7]
    g = dev.to_device(np.ones(4, np.float32))
    kopt.sgd(dev, view, g, None, lr=0.5)
    want = flat.copy()
    want[3:7] -= 0.5
    np.testing.assert_array_equal(dev.to_host(buf), want)


def test_float64_is_refused(dev):
    w64 = dev.to_device(np.ones(3))
    g32 = dev.to_device(np.ones(3, np.float32))
    with pytest.raises(TypeError, match=r"adam: w has dtype float64.*float32.*astype"):
        kopt.adam(dev, w64, g32, dev.zeros(3), dev.zeros(3))
    with pytest.raises(TypeError, match=r"sgd: g has dtype float64"):
        kopt.sgd(dev, g32, w64, None)


def test_errors_say_what_is_missing(dev):
    w, g = dev.zeros(3), dev.zeros(3)
    with pytest.raises(ValueError, match=r"momentum=0.9 needs v"):
        kopt.sgd(dev, w, g, None, 0.1, 0.9)
    with pytest.raises(ValueError, match=r"momentum=0.5 needs m"):
        kopt.rmsprop(dev, w, g, dev.zeros(3), momentum=0.5)
    with pytest.raises(ValueError, match=r"v has 4 entries .* w has 3"):
        kopt.adam(dev, w, g, dev.zeros(3), dev.zeros(4))
    with pytest.raises(ValueError, match=r"1-based"):
        kopt.adam(dev, w, g, dev.zeros(3), dev.zeros(3), step=0)
