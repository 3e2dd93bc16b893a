"""autograd 1.9.1's second derivative of real functions of complex arguments (Q-complex).

autograd's hessian(f)(z) = jacobian(jacobian(f))(z) raises for a complex z: its jacobian
pulls back both basis vectors 1 and 1j of each complex output element and then cannot
reshape 2n rows into n. The rows it pulls back for the basis vector 1 are the Hessian
entries adkit returns: row i = autograd's VJP of grad(f) with the real cotangent e_i,
i.e. dRe g_i/dx - i dRe g_i/dy. This prints both (the error, and those rows).

    PYTHONPATH=/tmp/ag/autograd-1.9.1 python complex_hessian_ref.py
"""
import autograd
assert "/tmp/ag/autograd-1.9.1" in autograd.__file__
import autograd.numpy as np
from autograd import grad, hessian, make_vjp

np.set_printoptions(precision=17)
Z = np.array([1 + 0.5j, -0.3 + 0.7j, 0.4 - 1.1j])


def f(z):
    return np.sum(np.abs(z) ** 4 + np.real(z ** 3) * np.imag(z) + np.real(np.exp(z) * np.conj(z)))


def g(z):  # a real function of a complex scalar
    return np.real(np.sin(z) * z) + np.abs(z) ** 3


try:
    hessian(f)(Z)
    print("hessian: no error")
except ValueError as e:
    print("hessian raises ValueError:", e)

for fun, z in ((f, Z), (g, 0.7 - 0.4j)):
    vjp, _ = make_vjp(grad(fun))(z)
    n = np.size(z)
    rows = [vjp(np.eye(n)[i].reshape(np.shape(z))) for i in range(n)]
    print(fun.__name__, repr(np.array(rows).reshape(np.shape(z) * 2)))
