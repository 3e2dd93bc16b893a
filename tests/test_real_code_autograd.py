"""Code written for autograd, run through adkit with only its imports changed.

Each SCRIPT below is written the way public autograd users write it (the comment names
the repository or file whose pattern it follows; names and data are ours, cut down to
run in well under a second). `port_autograd` makes the change a user makes
(`import autograd.numpy as np` -> `import numpy as np`, `from autograd import grad` ->
`from adkit import grad`, autograd.misc/extend -> adkit.misc/extend, autograd.scipy ->
scipy). Each test checks the script's results against an independent referee:
finite differences (adkit.numeric), a closed form, or NumPy's least squares. Where
autograd is installed, `test_same_numbers_as_autograd` runs every script unchanged under
autograd and compares the results.
"""

import os

import numpy as np
import pytest

from adkit import numeric
from adkit.nn.datasets import fashion_mnist
from data_support import needs_data
from real_code import port_autograd, run_script

FASHION = fashion_mnist.DEBIAN_DIR + "/"

# --- the scripts ---------------------------------------------------------------------------

# pattern: a robust-regression "robustifier" class (elementwise_grad of a bound method,
# boolean-mask assignment of the derivative)
ROBUSTIFIER = """
from autograd import elementwise_grad
from autograd import numpy as np

class Robustifier:
    def rho(self, r):
        raise NotImplementedError
    def derivative(self, r):
        return elementwise_grad(self.rho)(r)
    def irls_weights(self, r):
        nonzero = r != 0
        out = np.zeros(r.shape)
        out[nonzero] = self.derivative(r[nonzero]) / r[nonzero]
        return out

class Squared(Robustifier):
    def rho(self, r):
        return np.power(r, 2)

class GemanMcClure(Robustifier):
    def __init__(self, sigma):
        self.s2 = np.power(sigma, 2)
    def rho(self, r):
        q = np.power(r, 2)
        return q / (q + self.s2)

residuals = np.array([-1.0, -0.3, 0.0, 0.2, 2.0])
squared_w = Squared().irls_weights(residuals)
gm_w = GemanMcClure(0.5).irls_weights(residuals)
result = np.concatenate([squared_w, gm_w])
"""

# pattern: a delay-coordinate-embedding MLP fitted with autograd.misc.optimizers.adam,
# its loss kept in a module global from inside the objective, printed by the callback
DELAY_NET = """
import autograd.numpy as anp
from autograd.misc.optimizers import adam
from autograd import grad

last_loss = None

def offsets(dim, delay):
    return anp.array(range((1 - dim) * delay, 1, delay), dtype=int)

def forward(params, window, t):
    h = anp.hstack((anp.atleast_2d(window), anp.atleast_2d(t).T))
    for W, b in zip(params[0::2], params[1::2]):
        z = anp.dot(h, W) + b
        h = anp.tanh(z)
    return z

rng = anp.random.RandomState(0)
series = anp.sin(0.3 * anp.arange(120.0))
series = (series - anp.mean(series)) / anp.sqrt(anp.var(series))
dim, delay, dt = 3, 2, 0.1
sizes = [dim + 1, 8, 8, 1]
init = []
for m, n in zip(sizes[:-1], sizes[1:]):
    init += [rng.randn(m, n), rng.randn(n)]
lo, hi = delay * (1 - dim) - delay, delay
rows = anp.array([i + offsets(dim, delay) for i in range(-lo, len(series) - hi)])

def objective(params, step):
    global last_loss
    shift = rng.randint(lo, hi, len(rows))
    pred = forward(params, series[rows], dt * shift)[:, 0]
    err = pred - series[rows[:, -1] + shift]
    last_loss = anp.mean(err * err)
    return last_loss

printed = []
def callback(params, step, g):
    if step % 20 == 0:
        printed.append("loss at %d = %s" % (step, last_loss))

first = objective(init, 0)
trained = adam(grad(objective), init, callback=callback, num_iters=60, step_size=0.01)
fixed = anp.zeros(len(rows))
result = anp.mean((forward(trained, series[rows], fixed)[:, 0] - series[rows[:, -1]]) ** 2)
"""

# pattern: a custom ReLU primitive (autograd.extend) in an MLP trained by SciPy's L-BFGS
# through a flatten/unflatten wrapper (autograd.misc.flatten)
PRIMITIVE_LBFGS = """
import autograd.numpy as np
import autograd.numpy.random as npr
from autograd.extend import primitive, defvjp
from autograd.misc import flatten
from autograd import grad
from scipy.optimize import minimize

@primitive
def relu(x):
    return x * (x > 0)

defvjp(relu, lambda ans, x: lambda g: g * (x > 0).astype(float))

def init_params(scale, sizes, rs):
    return [[scale * rs.randn(m, n), scale * rs.randn(n)] for m, n in zip(sizes[:-1], sizes[1:])]

def predict(params, x):
    for W, b in params:
        z = np.dot(x, W) + b
        x = relu(z)
    return z

def lbfgs_on_trees(fun, gradient, x0, iters):
    flat0, unflatten = flatten(x0)
    res = minimize(lambda v: fun(unflatten(v)), flat0, method="L-BFGS-B",
                   jac=lambda v: flatten(gradient(unflatten(v)))[0], options={"maxiter": iters})
    return unflatten(res.x), res.fun

xs = np.linspace(-2, 2, 40).reshape(40, 1)
ys = np.sin(2 * xs)
def mse(params):
    return np.mean((predict(params, xs) - ys) ** 2)

start = init_params(0.5, [1, 10, 10, 1], npr.RandomState(0))
start_loss = mse(start)
fitted, final_loss = lbfgs_on_trees(mse, grad(mse), start, 30)
flat_start, unflatten_start = flatten(start)
result = np.concatenate([[start_loss, final_loss], flatten(grad(mse)(start))[0]])
"""

# pattern: phi^4 lattice field theory with HMC, the force from elementwise_grad of the
# action (np.roll over every axis) beside the hand-derived drift
LATTICE = """
import autograd.numpy as np
import copy
from autograd import elementwise_grad

class Phi4Lattice:
    def __init__(self, n, d, kappa, lam):
        self.n, self.d, self.kappa, self.lam = n, d, kappa, lam
        self.phi = np.random.randn(*[n] * d)
        self.S = self.action(self.phi)
        self.force = elementwise_grad(self.minus_action)
    def action(self, phi):
        s = (1 - 2 * self.lam) * phi**2 + self.lam * phi**4
        for mu in range(self.d):
            s += -self.kappa * phi * np.roll(phi, 1, mu)
        return s.sum()
    def minus_action(self, phi):
        s = (1 - 2 * self.lam) * phi**2 + self.lam * phi**4
        for mu in range(self.d):
            s += -self.kappa * phi * np.roll(phi, 1, mu)
        return -s
    def drift(self):
        out = 2 * self.phi * (2 * self.lam * (1 - self.phi**2) - 1)
        for mu in range(self.d):
            out += self.kappa * (np.roll(self.phi, 1, mu) + np.roll(self.phi, -1, mu))
        return out
    def hmc(self, steps):
        dt = 1 / steps
        old = copy.deepcopy(self.phi)
        p = np.random.randn(*self.phi.shape)
        H0 = 0.5 * np.sum(p**2) + self.S
        p += 0.5 * dt * self.force(self.phi)
        for i in range(steps):
            self.phi += dt * p
            p += (0.5 if i == steps - 1 else 1.0) * dt * self.force(self.phi)
        S = self.action(self.phi)
        dH = 0.5 * np.sum(p**2) + S - H0
        if dH > 0 and np.random.rand() >= np.exp(-dH):
            self.phi = old
            return False
        self.S = S
        return True

np.random.seed(0)
lattice = Phi4Lattice(6, 2, 0.3, 0.02)
force_minus_drift = lattice.force(lattice.phi) - lattice.drift()
accepted = [lattice.hmc(10) for _ in range(5)]
result = np.concatenate([lattice.phi.ravel(), [lattice.S]])
"""

# pattern: Newton's method on a log-barrier with hessian and grad taking extra arguments
BARRIER_NEWTON = """
from numpy import linalg as la
from autograd import hessian
import autograd.numpy as np
from autograd import grad

def barrier(x, A, b):
    return -np.sum(np.log(b - A @ x))

def newton(f, x, A, b, iters):
    H, g = hessian(f), grad(f)
    path = []
    for _ in range(iters):
        gx = g(x, A, b)
        if np.linalg.norm(gx) < 1e-10:
            break
        x = x - la.solve(H(x, A, b), gx)
        path.append(x.copy())
    return x, path

A = np.array([[1.0, 0.0], [0.0, 1.0], [-1.0, -1.0], [1.0, -2.0]])
b = np.array([1.0, 1.0, 1.0, 1.5])
center, path = newton(barrier, np.array([0.1, 0.2]), A, b, 30)
result = np.concatenate([center, barrier(center, A, b)[None]])
"""

# pattern: machine-learning-refined's minibatch gradient descent: flatten_func, then
# value_and_grad of the flat function, then `grad_eval.shape = np.shape(w)`
MINIBATCH_GD = """
import autograd.numpy as np
from autograd import value_and_grad
from autograd.misc.flatten import flatten_func

def minibatch_descent(cost, w, x, alpha, epochs, batch):
    flat_cost, unflatten, w = flatten_func(cost, w)
    both = value_and_grad(flat_cost)
    n = x.shape[1]
    history = [flat_cost(w, x, np.arange(n))]
    for _ in range(epochs):
        for start in range(0, n, batch):
            idx = np.arange(start, min(start + batch, n))
            value, g = both(w, x, idx)
            g.shape = np.shape(w)
            w = w - alpha * g
        history.append(flat_cost(w, x, np.arange(n)))
    return unflatten(w), history

np.random.seed(1)
x = np.random.randn(2, 60)
y = 1.5 * x[0:1] - 0.5 * x[1:2] + 0.3 + 0.01 * np.random.randn(1, 60)
def model(xp, w):
    return w[0] + np.dot(xp.T, w[1:]).T
def least_squares(params, xp, idx):
    w = params[0]
    return np.sum((model(xp[:, idx], w) - y[:, idx]) ** 2, axis=1) / float(np.size(idx))

weights, costs = minibatch_descent(least_squares, [0.1 * np.ones((3, 1))], x, 0.1, 20, 16)
result = np.concatenate([weights[0].ravel(), np.ravel(costs)])
"""

# pattern: machine-learning-refined's multilayer perceptron (weights as nested lists of
# matrices with the bias in row 0), multiclass softmax with fancy indexing of the scores
MLP_SOFTMAX = """
import autograd.numpy as np
from autograd import value_and_grad
from autograd.misc.flatten import flatten_func

def init_weights(sizes, scale):
    mats = [scale * np.random.randn(a + 1, b) for a, b in zip(sizes[:-1], sizes[1:])]
    return [mats[:-1], mats[-1]]

def features(a, hidden):
    for W in hidden:
        a = np.tanh(W[0] + np.dot(a.T, W[1:])).T
    return a

def model(x, w):
    return (w[1][0] + np.dot(features(x, w[0]).T, w[1][1:])).T

def softmax_cost(w, x, y):
    scores = model(x, w)
    log_norm = np.log(np.sum(np.exp(scores), axis=0))
    picked = scores[y.astype(int).flatten(), np.arange(np.size(y))]
    return np.sum(log_norm - picked) / np.size(y)

np.random.seed(0)
x = np.random.randn(2, 90)
y = (np.arctan2(x[1], x[0]) // (2 * np.pi / 3) % 3).reshape(1, -1)
w0 = init_weights([2, 6, 6, 3], 0.5)
flat_cost, unflatten, flat_w = flatten_func(softmax_cost, w0)
both = value_and_grad(flat_cost)
costs = [flat_cost(flat_w, x, y)]
for _ in range(40):
    value, g = both(flat_w, x, y)
    flat_w = flat_w - 0.5 * g
    costs.append(flat_cost(flat_w, x, y))
accuracy = np.mean(np.argmax(model(x, unflatten(flat_w)), axis=0) == y)
gradient_at_start = both(flatten_func(softmax_cost, w0)[2], x, y)[1]
result = np.concatenate([np.ravel(costs), gradient_at_start])
"""

# pattern: Newton's method for Moore's law (least squares on log counts), the Hessian
# reshaped in place with `hess.shape = (n, n)`
MOORE_NEWTON = """
import autograd.numpy as np
from autograd import hessian, grad

years = np.array([0.0, 0.2, 0.4, 0.6, 0.8, 1.0])
counts = 2300 * np.exp(17.0 * years) * np.array([1.1, 0.9, 1.05, 0.95, 1.0, 1.02])
xs = years.copy(); xs.shape = (1, len(xs))
logs = np.log(counts); logs.shape = (1, len(logs))

def line(x, w):
    return (w[0] + np.dot(x.T, w[1:])).T

def cost(w):
    return np.sum((line(xs, w) - logs) ** 2) / float(np.size(logs))

def newtons_method(g, w, iters, eps=1e-10):
    gradient, hess = grad(g), hessian(g)
    costs = [g(w)]
    for _ in range(iters):
        H = hess(w)
        H.shape = (int(np.size(H) ** 0.5), int(np.size(H) ** 0.5))
        A = H + eps * np.eye(w.size)
        w = np.linalg.solve(A, np.dot(A, w) - gradient(w))
        costs.append(g(w))
    return w, costs

np.random.seed(0)
w_fit, costs = newtons_method(cost, np.random.randn(2, 1), 3)
result = np.concatenate([w_fit.ravel(), np.ravel(costs)])
"""

# pattern: a geometry library's autograd backend: custom_gradient built from primitive
# and defvjp with `lambda ans, *args`, and thin wrappers of elementwise_grad / jacobian /
# value_and_grad
CUSTOM_GRADIENT = """
import autograd.numpy as np
from autograd import elementwise_grad as _egrad
from autograd import jacobian as _jacobian
from autograd import value_and_grad as _value_and_grad
from autograd.extend import defvjp, primitive

def custom_gradient(*grad_funcs):
    def decorate(function):
        wrapped = primitive(function)
        if len(grad_funcs) == 1:
            defvjp(wrapped, lambda ans, *args: lambda g: g * grad_funcs[0](ans, *args))
        return wrapped
    return decorate

@custom_gradient(lambda ans, x: 1.0 / np.sqrt(1.0 - x ** 2))
def clipped_arcsin(x):
    return np.arcsin(np.clip(x, -1.0, 1.0))

points = np.array([-0.5, 0.0, 0.3, 0.9])
slopes = _egrad(clipped_arcsin)(points)
jac = _jacobian(lambda v: np.outer(v, v).sum(axis=0))(points)
value, gradient = _value_and_grad(lambda v: np.sum(clipped_arcsin(v) ** 2))(points)
result = np.concatenate([slopes, jac.ravel(), [value], gradient])
"""

# pattern: a hand-written forward/backward layer library on autograd.numpy (back_relu
# copies the incoming gradient with np.array(copy=True) and zeroes it by a mask), checked
# against grad and elementwise_grad
HAND_BACKPROP = """
from autograd import grad, elementwise_grad
import autograd.numpy as np

def sigmoid(Z):
    return 1 / (1 + np.exp(-Z)), Z
def relu(Z):
    return np.maximum(0, Z), Z
def back_relu(upstream, Z):
    dZ = np.array(upstream, copy=True)
    dZ[Z <= 0] = 0
    return dZ
def back_sigmoid(upstream, Z):
    s = 1 / (1 + np.exp(-Z))
    return upstream * s * (1 - s)
def forward(A, W, b, kind):
    Z = np.dot(A, W) + b
    out, cache = sigmoid(Z) if kind == "sigmoid" else relu(Z)
    return out, ((A, W, b), cache)
def backward(upstream, cache, kind):
    (A, W, b), Z = cache
    dZ = back_relu(upstream, Z) if kind == "relu" else back_sigmoid(upstream, Z)
    n = A.shape[1]
    return np.dot(dZ, W.T), (1 / n) * np.dot(A.T, dZ), (1 / n) * np.sum(dZ, axis=0, keepdims=True)

np.random.seed(0)
A0, W0, b0 = np.random.randn(5, 4), np.random.randn(4, 4), np.random.randn(1, 4)
gaps, pieces = [], []
for kind in ["relu", "sigmoid"]:
    out, cache = forward(A0, W0, b0, kind)
    dA, dW, db = backward(np.ones_like(out), cache, kind)
    auto_dW = grad(lambda W: np.sum(forward(A0, W, b0, kind)[0]) / 4)(W0)
    auto_dA = elementwise_grad(lambda A: forward(A, W0, b0, kind)[0])(A0)
    gaps += [np.max(np.abs(dW - auto_dW)), np.max(np.abs(dA - auto_dA))]
    pieces += [auto_dW.ravel(), auto_dA.ravel()]
result = np.concatenate(pieces)
"""

# pattern: lindermanlab/ssm's stats module (diagonal Gaussian log density with a mask,
# flatten_to_dim with X[None, ...]) under autograd.scipy.special.logsumexp
SSM_STATS = """
import autograd.numpy as np
from autograd.scipy.special import logsumexp
from autograd import grad

def flatten_to_dim(X, d):
    assert X.ndim >= d > 0
    return np.reshape(X[None, ...], (-1,) + X.shape[-d:])

def diag_gaussian_logpdf(data, mus, sigmasqs, mask=None):
    D = data.shape[-1]
    assert mus.shape[-1] == D and sigmasqs.shape[-1] == D
    mask = mask if mask is not None else np.ones_like(data, dtype=bool)
    norm = -0.5 * np.log(2 * np.pi * sigmasqs)
    return np.sum((norm - 0.5 * (data - mus) ** 2 / sigmasqs) * mask, axis=-1)

np.random.seed(0)
data = np.random.randn(6, 3)
mus0 = np.random.randn(2, 1, 3)
log_s2 = np.random.randn(2, 1, 3)
mask = np.random.rand(6, 3) > 0.3
def mixture_loglik(params):
    mus, log_sigmasq = params
    return np.sum(logsumexp(diag_gaussian_logpdf(data, mus, np.exp(log_sigmasq), mask), axis=0))
flat_shape = flatten_to_dim(np.zeros((4, 5, 2, 2)), 2).shape
g_mus, g_logs = grad(mixture_loglik)((mus0, log_s2))
result = np.concatenate([[mixture_loglik((mus0, log_s2))], g_mus.ravel(), g_logs.ravel()])
"""

# pattern: a variational fit of a skew-normal with autograd.scipy.stats.norm (logpdf and
# logcdf), adam with a callback, and np.apply_along_axis over a grid of the objective
SKEW_NORMAL_VI = """
import autograd.numpy as np
import autograd.numpy.random as npr
import autograd.scipy.stats.norm as norm
from autograd import grad
from autograd.misc.optimizers import adam

def log_target(x, loc=0.0, log_scale=1.0, skew=0.0):
    return (norm.logpdf(x, loc, np.exp(log_scale)) + norm.logcdf(skew * x, loc, np.exp(log_scale))
            + np.log(2))

def entropy(log_std):
    return 0.5 * (1.0 + np.log(2 * np.pi)) + np.sum(log_std)

draws = npr.RandomState(0)
def negative_elbo(params, t):
    mean, log_std = params[0], params[1]
    z = draws.randn(100, 1) * np.exp(log_std) + mean
    return -(entropy(log_std) + np.mean(log_target(z)))

grid = np.stack(np.meshgrid(np.linspace(-5, 5, 4), np.linspace(-10, 3, 4)), -1).reshape(-1, 2)
surface = np.apply_along_axis(lambda p: negative_elbo(p, 0), 1, grid)
seen = []
params = adam(grad(negative_elbo), np.array([-3.0, -5.0]), step_size=0.1, num_iters=100,
              callback=lambda p, t, g: seen.append(t))
result = params
"""

# pattern: an MNIST multilayer perceptron whose weights live in one flat vector sliced by
# a VectorParser (OrderedDict of slices), its own logsumexp, trained with adam
VECTOR_PARSER_MLP = """
import autograd.numpy as np
from autograd import grad
from autograd.misc.optimizers import adam
import numpy.random as npr
from collections import OrderedDict

def logsumexp(X, axis):
    top = np.max(X)
    return top + np.log(np.sum(np.exp(X - top), axis=axis, keepdims=True))

class VectorParser:
    def __init__(self):
        self.slots = OrderedDict()
        self.vect = np.zeros((0,))
    def add_shape(self, name, shape):
        start, size = len(self.vect), int(np.prod(shape))
        self.slots[name] = (slice(start, start + size), shape)
        self.vect = np.concatenate((self.vect, np.zeros(size)), axis=0)
    def with_vect(self, vect):
        other = VectorParser()
        other.slots, other.vect = self.slots, vect
        return other
    def __getitem__(self, name):
        where, shape = self.slots[name]
        return np.reshape(self.vect[where], shape)

def make_net(sizes):
    parser = VectorParser()
    for i, shape in enumerate(zip(sizes[:-1], sizes[1:])):
        parser.add_shape(("W", i), shape)
        parser.add_shape(("b", i), (1, shape[1]))
    def log_probs(vect, X):
        P = parser.with_vect(vect)
        h = X
        for i in range(len(sizes) - 1):
            h = np.dot(h, P[("W", i)]) + P[("b", i)]
            h = h - logsumexp(h, axis=1) if i == len(sizes) - 2 else np.tanh(h)
        return h
    def loss(vect, X, T, l2=0.0):
        return np.dot(vect * l2, vect) - np.sum(log_probs(vect, X) * T) / X.shape[0]
    return parser, log_probs, loss

import gzip
with gzip.open(FASHION + "train-images-idx3-ubyte.gz") as f:
    images = np.frombuffer(f.read(16 + 300 * 784), np.uint8, offset=16).reshape(300, 784) / 255.0
with gzip.open(FASHION + "train-labels-idx1-ubyte.gz") as f:
    labels = np.frombuffer(f.read(8 + 300), np.uint8, offset=8)
targets = np.eye(10)[labels]
parser, log_probs, loss = make_net([784, 16, 10])
w0 = 0.1 * npr.RandomState(0).randn(parser.vect.size)
objective = lambda w, i: loss(w, images, targets, l2=1e-4)
w = adam(grad(objective), w0, step_size=0.01, num_iters=20)
accuracy = np.mean(np.argmax(log_probs(w, images), axis=1) == labels)
result = np.array([objective(w0, 0), objective(w, 0), accuracy])
"""

# pattern: a Gaussian-mixture cost written for pymanopt's @pymanopt.function.autograd
# (np.append, expand_dims, batched np.linalg.solve and slogdet, logsumexp)
MIXTURE_COST = """
import autograd.numpy as np
from autograd.scipy.special import logsumexp
from autograd import grad

np.random.seed(0)
N, D, K = 50, 2, 3
samples = np.concatenate([np.random.randn(N // 2, D) + 2, np.random.randn(N - N // 2, D) - 2])
def cost(S, v):
    alpha = np.exp(np.append(v, 0))
    alpha /= np.sum(alpha)
    y = np.expand_dims(np.concatenate([samples.T, np.ones((1, N))], axis=0), 0)
    maha = np.sum(y * np.linalg.solve(S, y), axis=1)
    _, logdet = np.linalg.slogdet(S)
    log_q = -0.5 * (maha + np.expand_dims(logdet, 1))
    return -np.sum(logsumexp(np.log(np.expand_dims(alpha, 1)) + log_q, axis=0))
S0 = np.stack([np.eye(D + 1) * (1.0 + k) + 0.1 for k in range(K)])
v0 = np.array([0.2, -0.1])
gS, gv = grad(cost, argnum=0)(S0, v0), grad(cost, argnum=1)(S0, v0)
result = np.concatenate([[cost(S0, v0)], gS.ravel(), gv])
"""

SCRIPTS = {
    "robustifier": ROBUSTIFIER, "delay_net": DELAY_NET, "primitive_lbfgs": PRIMITIVE_LBFGS,
    "lattice": LATTICE, "barrier_newton": BARRIER_NEWTON, "minibatch_gd": MINIBATCH_GD,
    "mlp_softmax": MLP_SOFTMAX, "moore_newton": MOORE_NEWTON,
    "custom_gradient": CUSTOM_GRADIENT, "hand_backprop": HAND_BACKPROP,
    "ssm_stats": SSM_STATS, "skew_normal_vi": SKEW_NORMAL_VI,
    "vector_parser_mlp": VECTOR_PARSER_MLP, "mixture_cost": MIXTURE_COST,
}


def run(name):
    return run_script(port_autograd(SCRIPTS[name]), env={"FASHION": FASHION})


# --- each script through adkit, against an independent referee --------------------------------


def test_robustifier_weights_are_the_closed_form():
    ns = run("robustifier")
    r = ns["residuals"]
    nonzero = r != 0
    np.testing.assert_allclose(ns["squared_w"], np.where(nonzero, 2.0, 0.0))
    s2 = 0.25   # d/dr r^2/(r^2+s2) = 2 r s2 / (r^2+s2)^2, divided by r
    np.testing.assert_allclose(ns["gm_w"], np.where(nonzero, 2 * s2 / (r**2 + s2) ** 2, 0.0),
                               rtol=1e-12)


def test_delay_net_trains_with_adam_and_its_callback():
    ns = run("delay_net")
    assert ns["result"] < 0.5 * ns["first"]
    assert [line.split(" = ")[0] for line in ns["printed"]] == \
        ["loss at 0", "loss at 20", "loss at 40"]
    # the gradient adam used, against finite differences (at a fixed shift draw)
    fwd, rows, series = ns["forward"], ns["rows"], ns["series"]
    shift = np.full(len(rows), 1)

    def fixed_loss(params):
        return np.mean((fwd(params, series[rows], 0.1 * shift)[:, 0]
                        - series[rows[:, -1] + shift]) ** 2)
    from adkit import grad
    for mine, ref in zip(grad(fixed_loss)(ns["init"]), numeric.gradient(fixed_loss, ns["init"])):
        np.testing.assert_allclose(mine, ref, rtol=1e-5, atol=1e-7)


def test_custom_primitive_gradient_and_lbfgs_fit():
    ns = run("primitive_lbfgs")
    assert ns["final_loss"] < 0.05 * ns["start_loss"]
    flat0, unflatten = ns["flat_start"], ns["unflatten_start"]
    ref = numeric.gradient(lambda v: ns["mse"](unflatten(v)), flat0)
    np.testing.assert_allclose(ns["result"][2:], ref, rtol=1e-5, atol=1e-8)


def test_lattice_force_is_the_hand_derived_drift():
    ns = run("lattice")
    assert np.max(np.abs(ns["force_minus_drift"])) < 1e-12
    assert all(isinstance(a, (bool, np.bool_)) for a in ns["accepted"])
    lattice = ns["lattice"]
    assert ns["result"][-1] == pytest.approx(lattice.action(lattice.phi))


def test_barrier_newton_finds_the_analytic_center():
    ns = run("barrier_newton")
    A, b, x = ns["A"], ns["b"], ns["center"]
    # at the analytic center the barrier's gradient A^T (1 / (b - A x)) vanishes
    np.testing.assert_allclose(A.T @ (1 / (b - A @ x)), 0.0, atol=1e-9)
    assert 2 <= len(ns["path"]) < 30


def test_minibatch_descent_recovers_the_line():
    ns = run("minibatch_gd")
    x, y = ns["x"], ns["y"]
    design = np.vstack([np.ones(x.shape[1]), x]).T
    best = np.linalg.lstsq(design, y.ravel(), rcond=None)[0]
    np.testing.assert_allclose(ns["weights"][0].ravel(), best, atol=0.002)
    assert ns["costs"][-1][0] < 0.01 * ns["costs"][0][0]


def test_mlp_softmax_gradient_and_training():
    ns = run("mlp_softmax")
    assert ns["costs"][-1] < 0.5 * ns["costs"][0]
    assert ns["accuracy"] > 0.8
    flat_cost, w0 = ns["flat_cost"], ns["flatten_func"](ns["softmax_cost"], ns["w0"])[2]
    ref = numeric.gradient(lambda w: float(np.ravel(flat_cost(w, ns["x"], ns["y"]))[0]), w0)
    np.testing.assert_allclose(ns["gradient_at_start"], ref, rtol=1e-5, atol=1e-8)


def test_newton_reaches_least_squares_in_one_step():
    ns = run("moore_newton")
    design = np.vstack([np.ones(6), ns["years"]]).T
    best = np.linalg.lstsq(design, np.log(ns["counts"]), rcond=None)[0]
    np.testing.assert_allclose(ns["w_fit"].ravel(), best, rtol=1e-8)
    assert ns["costs"][1] == pytest.approx(ns["costs"][-1], rel=1e-8)


def test_custom_gradient_backend_wrappers():
    ns = run("custom_gradient")
    p = ns["points"]
    np.testing.assert_allclose(ns["slopes"], 1 / np.sqrt(1 - p**2), rtol=1e-12)
    # d/dv_k of sum_i v_i v_j = delta_jk sum(v) + v_j
    np.testing.assert_allclose(ns["jac"], np.eye(4) * p.sum() + p[:, None], atol=1e-12)
    np.testing.assert_allclose(ns["gradient"], 2 * np.arcsin(p) / np.sqrt(1 - p**2), rtol=1e-12)


def test_hand_written_backprop_equals_grad():
    ns = run("hand_backprop")
    assert max(ns["gaps"]) < 1e-12


def test_ssm_stats_gradient_matches_finite_differences():
    ns = run("ssm_stats")
    assert ns["flat_shape"] == (20, 2, 2)
    params = (ns["mus0"], ns["log_s2"])
    ref = numeric.gradient(ns["mixture_loglik"], params)
    np.testing.assert_allclose(ns["g_mus"], ref[0], rtol=1e-6, atol=1e-9)
    np.testing.assert_allclose(ns["g_logs"], ref[1], rtol=1e-6, atol=1e-9)


def test_skew_normal_vi_finds_the_target():
    ns = run("skew_normal_vi")
    mean, log_std = ns["result"]
    # with skew 0 the target is N(0, e^1): q's mean near 0 and log std near 1
    assert abs(mean) < 0.1 and abs(log_std - 1.0) < 0.1
    assert ns["surface"].shape == (16,) and ns["seen"] == list(range(100))


@needs_data
def test_vector_parser_mlp_learns_fashion_mnist():
    ns = run("vector_parser_mlp")
    start, end, accuracy = ns["result"]
    assert end < 0.4 * start and accuracy > 0.75


def test_mixture_cost_gradient_matches_finite_differences():
    ns = run("mixture_cost")
    ref_S = numeric.gradient(lambda S: ns["cost"](S, ns["v0"]), ns["S0"])
    ref_v = numeric.gradient(lambda v: ns["cost"](ns["S0"], v), ns["v0"])
    np.testing.assert_allclose(ns["gS"], ref_S, rtol=1e-6, atol=1e-8)
    np.testing.assert_allclose(ns["gv"], ref_v, rtol=1e-6, atol=1e-8)


# --- beside autograd itself --------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(SCRIPTS))
def test_same_numbers_as_autograd(name):
    if name == "vector_parser_mlp" and not os.path.isdir(FASHION):
        pytest.skip("Fashion-MNIST is not installed")
    pytest.importorskip("autograd", reason="the cross-check runs the scripts unchanged under "
                        "autograd: pip install autograd")
    theirs = run_script(SCRIPTS[name], env={"FASHION": FASHION})["result"]
    mine = run(name)["result"]
    np.testing.assert_allclose(np.asarray(mine, dtype=float), np.asarray(theirs, dtype=float),
                               rtol=1e-9, atol=1e-12)
