// Max- and average-pooling of NHWC images, forward and backward, without atomics.
//
// Geometry as in conv.cl (Keras's: nn/numpy_backend.window), passed at run time.
// Max-pooling treats padding as -inf and records, per output, the window position
// k = i * KW + j of the FIRST maximum in row-major order (NumpyBackend's tie rule);
// the backward pass sends each output's cotangent to that position only. Average
// pooling divides by the number of real (unpadded) entries in the window, as Keras.
// The backward kernels run one work-item per input entry and gather from the
// windows that cover it, so overlapping windows need no atomics.

// the outputs ho_lo..ho_hi whose windows cover padded row hp (likewise columns)
#define COVER(lo, hi, p, K, S, O)                                   \
    const int lo = (p) >= (K) ? ((p) - (K)) / (S) + 1 : 0;           \
    const int hi = min((p) / (S), (O) - 1)

#define DECODE_OUT                                                  \
    const int idx = get_global_id(0);                               \
    if (idx >= total)                                               \
        return;                                                     \
    const int c = idx % C;                                          \
    int t = idx / C;                                                \
    const int wo = t % WO; t /= WO;                                 \
    const int ho = t % HO;                                          \
    const int n = t / HO

#define DECODE_IN                                                   \
    const int idx = get_global_id(0);                               \
    if (idx >= total)                                               \
        return;                                                     \
    const int c = idx % C;                                          \
    int t = idx / C;                                                \
    const int w = t % W; t /= W;                                    \
    const int h = t % H;                                            \
    const int n = t / H;                                            \
    const int hp = h + TOP, wp = w + LEFT

#define GEOMETRY const int total, const int H, const int W, const int C,          \
                 const int KH, const int KW, const int SH, const int SW,          \
                 const int HO, const int WO, const int TOP, const int LEFT

__kernel void max_pool_forward(GEOMETRY, __global const float* x, const int x_off,
                               __global float* y, const int y_off,
                               __global int* arg, const int arg_off)
{
    DECODE_OUT;
    float best = -INFINITY;
    int best_k = 0;
    for (int i = 0; i < KH; i++) {
        const int h = ho * SH + i - TOP;
        for (int j = 0; j < KW; j++) {
            const int w = wo * SW + j - LEFT;
            const float v = (h >= 0 && h < H && w >= 0 && w < W)
                ? x[x_off + ((n * H + h) * W + w) * C + c] : -INFINITY;
            if (v > best) {   // strict: the first maximum stays
                best = v;
                best_k = i * KW + j;
            }
        }
    }
    y[y_off + idx] = best;
    arg[arg_off + idx] = best_k;
}

__kernel void max_pool_backward(GEOMETRY, __global const float* g, const int g_off,
                                __global const int* arg, const int arg_off,
                                __global float* dx, const int dx_off)
{
    DECODE_IN;
    COVER(ho_lo, ho_hi, hp, KH, SH, HO);
    COVER(wo_lo, wo_hi, wp, KW, SW, WO);
    float acc = 0.0f;
    for (int ho = ho_lo; ho <= ho_hi; ho++)
        for (int wo = wo_lo; wo <= wo_hi; wo++) {
            const int o = ((n * HO + ho) * WO + wo) * C + c;
            if (arg[arg_off + o] == (hp - ho * SH) * KW + (wp - wo * SW))
                acc += g[g_off + o];
        }
    dx[dx_off + idx] = acc;
}

// The same for windows that do not overlap (strides >= pool size, the usual 2x2 with
// stride 2): one work-item per output writes its window, the cotangent at the argmax
// and 0 elsewhere, into a dx that starts at 0 where windows leave gaps. A quarter of
// the work-items and of their integer divisions: 6 ms against 50 for max_pool_backward
// on 128 x 24 x 24 x 32 inputs (PoCL, 2 cores).
__kernel void max_pool_backward_disjoint(GEOMETRY, __global const float* g, const int g_off,
                                         __global const int* arg, const int arg_off,
                                         __global float* dx, const int dx_off)
{
    DECODE_OUT;
    const int k = arg[arg_off + idx];
    const float v = g[g_off + idx];
    for (int i = 0; i < KH; i++) {
        const int h = ho * SH + i - TOP;
        if (h < 0 || h >= H)
            continue;
        for (int j = 0; j < KW; j++) {
            const int w = wo * SW + j - LEFT;
            if (w >= 0 && w < W)
                dx[dx_off + ((n * H + h) * W + w) * C + c] = i * KW + j == k ? v : 0.0f;
        }
    }
}

// real entries in the window of output (ho, wo): the window clipped to the image
inline int window_count(int ho, int wo, int H, int W, int KH, int KW, int SH, int SW,
                        int TOP, int LEFT)
{
    const int h0 = ho * SH - TOP, w0 = wo * SW - LEFT;
    return (min(h0 + KH, H) - max(h0, 0)) * (min(w0 + KW, W) - max(w0, 0));
}

__kernel void avg_pool_forward(GEOMETRY, __global const float* x, const int x_off,
                               __global float* y, const int y_off)
{
    DECODE_OUT;
    float acc = 0.0f;
    for (int i = 0; i < KH; i++) {
        const int h = ho * SH + i - TOP;
        if (h < 0 || h >= H)
            continue;
        for (int j = 0; j < KW; j++) {
            const int w = wo * SW + j - LEFT;
            if (w >= 0 && w < W)
                acc += x[x_off + ((n * H + h) * W + w) * C + c];
        }
    }
    y[y_off + idx] = acc / (float)window_count(ho, wo, H, W, KH, KW, SH, SW, TOP, LEFT);
}

__kernel void avg_pool_backward(GEOMETRY, __global const float* g, const int g_off,
                                __global float* dx, const int dx_off)
{
    DECODE_IN;
    COVER(ho_lo, ho_hi, hp, KH, SH, HO);
    COVER(wo_lo, wo_hi, wp, KW, SW, WO);
    float acc = 0.0f;
    for (int ho = ho_lo; ho <= ho_hi; ho++)
        for (int wo = wo_lo; wo <= wo_hi; wo++)
            acc += g[g_off + ((n * HO + ho) * WO + wo) * C + c]
                   / (float)window_count(ho, wo, H, W, KH, KW, SH, SW, TOP, LEFT);
    dx[dx_off + idx] = acc;
}
