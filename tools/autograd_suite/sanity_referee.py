"""The shim's check_grads must fail on a wrong rule (else every pass means nothing)."""
import numpy as np
from autograd.extend import primitive, defvjp
from autograd.test_util import check_grads

@primitive
def f(x):
    return np.sin(x)

defvjp(f, lambda ans, x: lambda g: g * np.cos(x) * 1.001)
for modes in (["rev"], ["fwd"]):
    try:
        check_grads(f, modes=modes, order=1)(np.array([0.3, 0.4]))
    except AssertionError as e:
        print(modes, "caught:", str(e).splitlines()[0])
    else:
        raise SystemExit(f"referee missed a wrong derivative in {modes}")
check_grads(lambda x: np.sin(x) * x, order=2)(np.array([0.3, 0.4]))
check_grads(lambda z: z * np.conj(z) * z, order=2)(0.3 + 0.2j)
print("referee ok")
