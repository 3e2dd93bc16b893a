import sys
sys.path.insert(0, "/tmp/ag/autograd-1.9.1/examples")
import autograd
assert "/tmp/ag/autograd-1.9.1" in autograd.__file__
import autograd.numpy as np
from autograd import grad, hessian_vector_product
from autograd.misc.flatten import flatten_func
from scipy.optimize import minimize
import gmm
from data import make_pinwheel
init_params = gmm.init_gmm_params(num_components=10, D=2, scale=0.1)
data = make_pinwheel(radial_std=0.3, tangential_std=0.05, num_classes=3, num_per_class=100, rate=0.4)
objective = lambda p: -gmm.gmm_log_likelihood(p, data)
f, unflatten, x0 = flatten_func(objective, init_params)
print("initial", -f(x0))
hist = []
r = minimize(f, x0, jac=grad(f), hessp=hessian_vector_product(f), method="Newton-CG", callback=lambda x: hist.append(-f(x)))
print("final", -r.fun, "nit", r.nit, r.message); print("hist", [round(float(h[0]),5) for h in hist])
print("data0", data[0].tolist(), data.shape)
