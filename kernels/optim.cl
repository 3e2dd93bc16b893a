// Fused optimizer updates: one work-item per parameter entry, every slot updated in
// place in the same launch. The formulas are nn/optimizers.py's, operation for
// operation and in the same order, so float32 results agree with the NumPy
// optimizers to rounding; FP_CONTRACT is off for the same reason (a fused
// multiply-add rounds once where NumPy rounds twice). Per-step scalars (Adam's
// bias-corrected rate) are computed on the host in double precision, as NumPy does.

#pragma OPENCL FP_CONTRACT OFF

#define ENTRY                                   \
    const int i = get_global_id(0);             \
    if (i >= n)                                 \
        return;                                 \
    w += w_off; g += g_off

// Keras SGD: m = mu m - lr g; w += m, or w += mu m - lr g (Nesterov); no momentum: w -= lr g
__kernel void sgd(const int n, __global float* w, const int w_off,
                  __global const float* g, const int g_off, __global float* m, const int m_off,
                  const float lr, const float mu, const int use_momentum, const int nesterov)
{
    ENTRY;
    const float step = g[i] * lr;
    if (!use_momentum) {
        w[i] = w[i] - step;
        return;
    }
    const float mi = m[m_off + i] * mu - step;
    m[m_off + i] = mi;
    w[i] = nesterov ? (w[i] - step) + mi * mu : w[i] + mi;
}

// Keras Adam: m = b1 m + (1 - b1) g; v = b2 v + (1 - b2) g^2; (amsgrad: vh = max(vh, v));
// w -= alpha m / (sqrt(v) + eps), alpha = lr sqrt(1 - b2^t) / (1 - b1^t)
__kernel void adam(const int n, __global float* w, const int w_off,
                   __global const float* g, const int g_off,
                   __global float* m, const int m_off, __global float* v, const int v_off,
                   __global float* vh, const int vh_off, const float alpha,
                   const float b1, const float b2, const float eps, const int amsgrad)
{
    ENTRY;
    const float gi = g[i];
    const float mi = m[m_off + i] * b1 + gi * (1.0f - b1);
    float vi = v[v_off + i] * b2 + (gi * gi) * (1.0f - b2);
    m[m_off + i] = mi;
    v[v_off + i] = vi;
    if (amsgrad) {
        vi = fmax(vh[vh_off + i], vi);
        vh[vh_off + i] = vi;
    }
    w[i] = w[i] - (mi / (sqrt(vi) + eps)) * alpha;
}

// Keras RMSprop: v = rho v + (1 - rho) g^2; (centered: a = rho a + (1 - rho) g,
// denominator v - a^2 + eps, else v + eps); step = lr g / sqrt(denominator);
// momentum: m = mu m + step, w -= m; else w -= step
__kernel void rmsprop(const int n, __global float* w, const int w_off,
                      __global const float* g, const int g_off,
                      __global float* v, const int v_off, __global float* m, const int m_off,
                      __global float* a, const int a_off, const float lr, const float rho,
                      const float eps, const float mu, const int use_momentum,
                      const int centered)
{
    ENTRY;
    const float gi = g[i];
    const float vi = v[v_off + i] * rho + (gi * gi) * (1.0f - rho);
    v[v_off + i] = vi;
    float den;
    if (centered) {
        const float ai = a[a_off + i] * rho + gi * (1.0f - rho);
        a[a_off + i] = ai;
        den = (vi - ai * ai) + eps;
    } else {
        den = vi + eps;
    }
    const float step = (gi / sqrt(den)) * lr;
    if (use_momentum) {
        const float mi = m[m_off + i] * mu + step;
        m[m_off + i] = mi;
        w[i] = w[i] - mi;
    } else {
        w[i] = w[i] - step;
    }
}

// Keras Adadelta: Eg2 = rho Eg2 + (1 - rho) g^2; d = sqrt((Edx2 + eps) / (Eg2 + eps)) g;
// Edx2 = rho Edx2 + (1 - rho) d^2; w -= lr d
__kernel void adadelta(const int n, __global float* w, const int w_off,
                       __global const float* g, const int g_off,
                       __global float* eg2, const int eg2_off,
                       __global float* edx2, const int edx2_off,
                       const float lr, const float rho, const float eps)
{
    ENTRY;
    const float gi = g[i];
    const float e = eg2[eg2_off + i] * rho + (gi * gi) * (1.0f - rho);
    eg2[eg2_off + i] = e;
    const float d = sqrt((edx2[edx2_off + i] + eps) / (e + eps)) * gi;
    edx2[edx2_off + i] = edx2[edx2_off + i] * rho + (d * d) * (1.0f - rho);
    w[i] = w[i] - d * lr;
}
