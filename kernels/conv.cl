// Patches of NHWC images and their adjoint, for convolution by im2col + GEMM.
//
// The geometry is Keras's (nn/numpy_backend.window): output (HO, WO), padding
// TOP/LEFT rows/columns before the image (the rest after it), strides SH/SW,
// a KH x KW window. Patch rows are ordered (n, ho, wo), patch columns (i, j, c),
// so cols (N*HO*WO, KH*KW*C) @ kernel.reshape(KH*KW*C, F) is the convolution.
//
// The geometry is passed at run time, not as -D options: PoCL takes a second or
// more to compile a program, and a network has a different shape per layer.
// Offsets are in elements, so device arrays that are views (a chunk of a batch)
// need no copy. Indices are int: conv.py refuses arrays of 2**31 entries or more.
// These kernels are shaped for a CPU device (PoCL): each work-item copies or sums a
// contiguous run; on a GPU one work-item per entry would coalesce better.

// One work-item per patch row piece (n, ho, wo, i): the KW * C entries of row i of
// a window are contiguous in both x and cols, so a work-item decodes its indices
// once and copies a run. One work-item per entry measured 20x slower on PoCL's
// CPU device (168 ms against 7 for 128 images of 26x26x32, 3x3): the five integer
// divisions per entry, not the memory traffic, were the cost.
__kernel void im2col(const int total, const int H, const int W, const int C,
                     const int KH, const int KW, const int SH, const int SW,
                     const int HO, const int WO, const int TOP, const int LEFT,
                     __global const float* x, const int x_off,
                     __global float* cols, const int cols_off)
{
    const int row = get_global_id(0);
    if (row >= total)
        return;
    const int run = KW * C;
    const int i = row % KH;
    int t = row / KH;
    const int wo = t % WO; t /= WO;
    const int ho = t % HO;
    const int n = t / HO;
    const int h = ho * SH + i - TOP, w0 = wo * SW - LEFT;
    __global float* dst = cols + cols_off + row * run;
    if (h < 0 || h >= H) {
        for (int r = 0; r < run; r++)
            dst[r] = 0.0f;
        return;
    }
    __global const float* src = x + x_off + (n * H + h) * W * C;
    for (int j = 0; j < KW; j++) {
        const int w = w0 + j;
        const bool inside = w >= 0 && w < W;
        for (int c = 0; c < C; c++)
            dst[j * C + c] = inside ? src[w * C + c] : 0.0f;
    }
}

// The adjoint of im2col without atomics: one work-item per pixel (n, h, w) of x,
// summing, channel by channel, the patch entries that were copied from it (at most
// ceil(KH/SH) * ceil(KW/SW) of them). Per pixel rather than per entry for the
// reason given above.
__kernel void col2im(const int total, const int H, const int W, const int C,
                     const int KH, const int KW, const int SH, const int SW,
                     const int HO, const int WO, const int TOP, const int LEFT,
                     __global const float* cols, const int cols_off,
                     __global float* x, const int x_off)
{
    const int pixel = get_global_id(0);
    if (pixel >= total)
        return;
    const int w = pixel % W;
    const int t = pixel / W;
    const int h = t % H;
    const int n = t / H;
    const int hp = h + TOP, wp = w + LEFT;   // in padded coordinates
    // window ho covers hp at i = hp - ho * SH when 0 <= i < KH
    const int ho_lo = hp >= KH ? (hp - KH) / SH + 1 : 0, ho_hi = min(hp / SH, HO - 1);
    const int wo_lo = wp >= KW ? (wp - KW) / SW + 1 : 0, wo_hi = min(wp / SW, WO - 1);
    __global float* restrict dst = x + x_off + pixel * C;
    for (int c = 0; c < C; c++)
        dst[c] = 0.0f;
    // windows outside, channels inside: each window adds a contiguous run of C, a
    // loop the compiler vectorises (channels outside measured 36 ms against 19 for
    // 128 images of 26x26x32 under 3x3 on PoCL's CPU device)
    for (int ho = ho_lo; ho <= ho_hi; ho++) {
        const int i = hp - ho * SH;
        for (int wo = wo_lo; wo <= wo_hi; wo++) {
            const int j = wp - wo * SW;
            __global const float* restrict src =
                cols + cols_off + ((((n * HO + ho) * WO + wo) * KH + i) * KW + j) * C;
            for (int c = 0; c < C; c++)
                dst[c] += src[c];
        }
    }
}
