"""Reference numbers from the REAL autograd 1.9.1 (sdist on PYTHONPATH, not installed)."""
import sys
sys.path.insert(0, "/tmp/ag/autograd-1.9.1/examples")
import autograd
assert "/tmp/ag/autograd-1.9.1" in autograd.__file__, autograd.__file__
import autograd.numpy as np
import autograd.numpy.random as npr
from autograd import value_and_grad
from scipy.optimize import minimize
import gaussian_process as gp
import ica

D = 1
num_params, predict, lml = gp.make_gp_funs(gp.rbf_covariance, num_cov_params=D + 1)
X, y = gp.build_toy_dataset(D=D)
objective = lambda p: -lml(p, X, y)
init = 0.1 * npr.RandomState(0).randn(num_params)
print("GP initial lml", -objective(init))
res = minimize(value_and_grad(objective), init, jac=True, method="CG")
print("GP final lml", -res.fun, "params", res.x.tolist(), "nit", res.nit)

for maxiter in (20, 100):
    observed_dimension, latent_dimension, n_samples = 100, 2, 200
    num_weights, sample, logprob, unpack_weights = ica.make_ica_funs(observed_dimension, latent_dimension)
    num_latent = latent_dimension * n_samples
    total = num_weights + num_latent + 1
    def unpack(params):
        return (unpack_weights(params[:num_weights]),
                np.reshape(params[num_weights:num_weights + num_latent], (latent_dimension, n_samples)),
                np.exp(params[-1]))
    rs = npr.RandomState(0)
    tw = np.zeros((observed_dimension, latent_dimension))
    for i in range(latent_dimension):
        tw[:, i] = np.sin(np.linspace(0, 4 + i * 3.2, observed_dimension))
    tl, data = sample(tw, n_samples, 1.0, rs)
    def obj(params):
        w, l, s = unpack(params)
        return -logprob(w, l, s, data) / n_samples
    init = npr.RandomState(0).randn(total)
    print("ICA initial", -obj(init))
    r = minimize(value_and_grad(obj), init, jac=True, method="CG", options={"maxiter": maxiter})
    print("ICA maxiter", maxiter, "final loglik", -r.fun, "noise_std", float(np.exp(r.x[-1])), "nit", r.nit)
