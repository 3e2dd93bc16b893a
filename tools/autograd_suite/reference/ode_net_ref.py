"""autograd 1.9.1's examples/ode_net.py under the REAL autograd (sdist on PYTHONPATH, never
installed), plotting left out: the numbers examples/ode_net.py reproduces.

    PYTHONPATH=/tmp/ag/autograd-1.9.1 python ode_net_ref.py 100 > ode_net_ref.out
"""
import time
import autograd.numpy as np
import autograd.numpy.random as npr
from autograd import grad
from autograd.builtins import tuple
from autograd.misc.optimizers import adam
from autograd.scipy.integrate import odeint
N, D, max_T = 30, 2, 1.5
def func(y, t0, A): return np.dot(y**3, A)
def nn_predict(inputs, t, params):
    for W, b in params:
        outputs = np.dot(inputs, W) + b
        inputs = np.maximum(0, outputs)
    return outputs
def init_nn_params(scale, layer_sizes, rs=npr.RandomState(0)):
    return [(rs.randn(i, o) * scale, rs.randn(o) * scale) for i, o in zip(layer_sizes[:-1], layer_sizes[1:])]
def ode_pred(params, y0, t): return odeint(nn_predict, y0, t, tuple((params,)), rtol=0.01)
def L1_loss(pred, targets): return np.mean(np.abs(pred - targets))
true_y0 = np.array([2.0, 0.0]).T
t = np.linspace(0.0, max_T, N)
true_A = np.array([[-0.1, 2.0], [-2.0, -0.1]])
true_y = odeint(func, true_y0, t, args=(true_A,))
def train_loss(params, iter): return L1_loss(ode_pred(params, true_y0, t), true_y)
def callback(params, iter, g):
    if iter % 10 == 0:
        print(f"Iteration {iter:d} train loss {L1_loss(ode_pred(params, true_y0, t), true_y):.10f}", flush=True)
init = init_nn_params(0.1, layer_sizes=[D, 150, D])
g0 = grad(train_loss)(init, 0)
print("grad0", [float(np.sum(w)) for W in g0 for w in W])
t0 = time.time()
adam(grad(train_loss), init, num_iters=int(__import__("sys").argv[1]), callback=callback)
print("seconds", time.time() - t0)
