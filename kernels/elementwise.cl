// Reductions, fused softmax-cross-entropy and the dropout generator: the kernels
// of elementwise.py whose performance is in the kernel itself. The one-line maps
// (activations, bias add, the softmax-xent backward) are pyopencl
// ElementwiseKernels built in elementwise.py.
//
// Compile-time parameters:
//   -D OP_MAX=1     reduce_* take the maximum (NaN-propagating, like np.max)
//                   instead of the sum;
//   -D LABEL_T=int  the integer type of softmax_xent's labels (int or long).
//
// Indices and sizes are `long`: a float32 array of 2^31 elements is only 8 GB.

#ifndef OP_MAX
#define OP_MAX 0
#endif
#ifndef LABEL_T
#define LABEL_T int
#endif

// fmax drops NaN; np.max propagates it, and a NaN hidden by a reduction is a bug
// that surfaces much later. A NaN `a` wins; otherwise a NaN `b` wins (a > b is false).
#define MAXNAN(a, b) (((a) != (a) || (a) > (b)) ? (a) : (b))

#if OP_MAX
#define IDENTITY (-INFINITY)
#define COMBINE(a, b) MAXNAN(a, b)
#else
#define IDENTITY 0.0f
#define COMBINE(a, b) ((a) + (b))
#endif

// Tree reduction of scratch[l * stride + col] over l in [0, n) (n a power of two),
// leaving the result in scratch[col]. Every work-item of the group must call it.
#define TREE(scratch, l, n, stride, col, OP)                                        \
    for (int s_ = (n) / 2; s_ > 0; s_ >>= 1) {                                      \
        if ((l) < s_)                                                               \
            scratch[(l) * (stride) + (col)] =                                       \
                OP(scratch[(l) * (stride) + (col)], scratch[((l) + s_) * (stride) + (col)]); \
        barrier(CLK_LOCAL_MEM_FENCE);                                               \
    }

#define ADD(a, b) ((a) + (b))

// x viewed as (pre, k, post), reduced along k. A work-group is tx columns by ty
// row-strides of one chunk of `chunk` rows; adjacent work-items read adjacent
// columns (coalesced on a GPU). out is (pre, number of chunks, post): with more
// than one chunk the host runs this again over the partial results, so a tall
// thin array (a bias gradient over a big batch) still fills the device.
// Local size (tx, ty, 1), ty a power of two; scratch holds tx * ty floats.
__kernel void reduce_mid(__global const float *x, const long k, const long post,
                         const long chunk, __global float *out, __local float *scratch)
{
    const int lx = get_local_id(0), ly = get_local_id(1);
    const int tx = get_local_size(0), ty = get_local_size(1);
    const long c = get_global_id(0);
    const long q = get_group_id(1);
    const long p = get_global_id(2);
    const long nchunks = get_num_groups(1);
    float acc = IDENTITY;
    if (c < post) {
        const long r1 = min(k, (q + 1) * chunk);
        __global const float *base = x + p * k * post + c;
        for (long r = q * chunk + ly; r < r1; r += ty)
            acc = COMBINE(acc, base[r * post]);
    }
    scratch[ly * tx + lx] = acc;
    barrier(CLK_LOCAL_MEM_FENCE);
    TREE(scratch, ly, ty, tx, lx, COMBINE)
    if (ly == 0 && c < post)
        out[(p * nchunks + q) * post + c] = scratch[lx];
}

// x viewed as (rows, k), reduced along k: one work-group per row, each work-item
// striding over the row, then a tree in local memory. Local size a power of two.
__kernel void reduce_last(__global const float *x, const long k, __global float *out,
                          __local float *scratch)
{
    const long row = get_group_id(0);
    const int l = get_local_id(0), wg = get_local_size(0);
    __global const float *xr = x + row * k;
    float acc = IDENTITY;
    for (long j = l; j < k; j += wg)
        acc = COMBINE(acc, xr[j]);
    scratch[l] = acc;
    barrier(CLK_LOCAL_MEM_FENCE);
    TREE(scratch, l, wg, 1, 0, COMBINE)
    if (l == 0)
        out[row] = scratch[0];
}

// Per row of z (rows x c): probs = softmax(z), loss = -log_softmax(z)[label], in
// the form of numpy_backend.log_softmax: shift by the row maximum, then
// log-sum-exp, so logits of +-1e4 neither overflow nor cancel. One work-group
// per row (three passes over the row, which stays in cache). A label outside
// [0, c) gives loss NaN rather than reading out of bounds.
__kernel void softmax_xent(__global const float *z, __global const LABEL_T *labels,
                           const int c, __global float *loss, __global float *probs,
                           __local float *scratch)
{
    const long row = get_group_id(0);
    const int l = get_local_id(0), wg = get_local_size(0);
    __global const float *zr = z + row * c;
    __global float *pr = probs + row * c;

    float m = -INFINITY;
    for (int j = l; j < c; j += wg)
        m = MAXNAN(m, zr[j]);
    scratch[l] = m;
    barrier(CLK_LOCAL_MEM_FENCE);
    TREE(scratch, l, wg, 1, 0, MAXNAN)
    m = scratch[0];
    barrier(CLK_LOCAL_MEM_FENCE);   // everyone has read scratch[0] before it is reused

    float s = 0.0f;
    for (int j = l; j < c; j += wg)
        s += exp(zr[j] - m);
    scratch[l] = s;
    barrier(CLK_LOCAL_MEM_FENCE);
    TREE(scratch, l, wg, 1, 0, ADD)
    s = scratch[0];

    for (int j = l; j < c; j += wg)
        pr[j] = exp(zr[j] - m) / s;
    if (l == 0) {
        const LABEL_T t = labels[row];
        loss[row] = (t >= 0 && t < c) ? log(s) - (zr[t] - m) : NAN;
    }
}

// Philox-4x32-10 (Salmon et al., "Parallel random numbers: as easy as 1, 2, 3",
// SC 2011; the constants of Random123). Counter = (block lo, block hi, step lo,
// step hi), key = (seed lo, seed hi); block b gives the 4 words of elements
// 4b .. 4b+3. An element is kept when its top 24 bits >= threshold
// (= ceil(rate * 2^24)): an integer test, so every device and the NumPy
// reference in elementwise.py agree bit for bit.
#define PHILOX_M0 0xD2511F53u
#define PHILOX_M1 0xCD9E8D57u
#define PHILOX_W0 0x9E3779B9u
#define PHILOX_W1 0xBB67AE85u

__kernel void dropout_philox(__global float *mask, const ulong n, const uint k0,
                             const uint k1, const uint s0, const uint s1,
                             const uint threshold, const float scale)
{
    const ulong b = get_global_id(0);
    const ulong i0 = b * 4;
    if (i0 >= n)
        return;
    uint c0 = (uint)b, c1 = (uint)(b >> 32), c2 = s0, c3 = s1;
    uint key0 = k0, key1 = k1;
    for (int r = 0; r < 10; ++r) {
        const uint hi0 = mul_hi(PHILOX_M0, c0), lo0 = PHILOX_M0 * c0;
        const uint hi1 = mul_hi(PHILOX_M1, c2), lo1 = PHILOX_M1 * c2;
        c0 = hi1 ^ c1 ^ key0;
        c1 = lo1;
        c2 = hi0 ^ c3 ^ key1;
        c3 = lo0;
        key0 += PHILOX_W0;
        key1 += PHILOX_W1;
    }
    const uint words[4] = {c0, c1, c2, c3};
    for (int t = 0; t < 4; ++t)
        if (i0 + t < n)
            mask[i0 + t] = (words[t] >> 8) >= threshold ? scale : 0.0f;
}
