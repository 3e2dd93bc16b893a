import adkit


def fixed_point(f, a, x0, distance, tol):
    return adkit.fixed_point(f, a, x0, distance, tol)
