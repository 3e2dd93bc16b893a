// Single-precision matrix products, row-major: C = alpha * op(A) @ op(B) + beta * C.
//
// op(A) is M x K, op(B) is K x N, C is M x N. A is stored M x K, or K x M with
// -D TRANS_A=1; B is stored K x N, or N x K with -D TRANS_B=1. Offsets are in
// elements, so a device array that is a view with an offset needs no copy.
//
// gemm_naive is the textbook kernel (one work-item per element of C, every
// operand read from global memory), kept as the baseline the tiled one is
// measured against.
//
// gemm_tiled follows the structure of Nugteren's "OpenCL SGEMM tuning"
// (kernel 6, 2D register blocking): a work-group computes a TSM x TSN block of C,
// walking K in steps of TSK; each step stages a slice of op(A) and op(B) in local
// memory, and each work-item accumulates a WPTM x WPTN block of C in registers,
// as WPTM rows of WPTN / VW float vectors (a CPU-style micro-kernel: one
// broadcast of A times a vector of B per fused multiply-add). The local size is
// (TSN / WPTN, TSM / WPTM).
//
// The tiles are double-buffered: step k0 fills buffer (k0 / TSK) & 1, so one
// barrier per step suffices (a work-item cannot refill a buffer before everyone
// has passed the next step's barrier, hence finished reading it).
//
// What PoCL's CPU driver needs (each found in its generated assembly):
// - the k loop fully unrolled: otherwise PoCL puts an implicit barrier in the
//   uniform loop, runs the work-item loop inside it, and every k step stores and
//   reloads the accumulators (2-3x slower);
// - every loop that indexes acc unrolled, so acc lives in registers;
// - no vloadN/vstoreN: PoCL calls them as functions, spilling every
//   accumulator around each call (another 3x);
// - local addresses that change from step to step (the double buffer): with one
//   buffer the compiler hoists every address of the unrolled k loop out of the
//   K loop, PoCL saves each in a per-work-item array across the barrier, and
//   every load of a tile first loads its address (1.8x slower than now).
//
// Tile choice, measured on PoCL 'pthread' (AMD EPYC, 2 compute units, AVX2),
// GFLOP/s of C = A @ B, square float32; another process used ~0.8 core
// meanwhile, so repeats vary by +-20% (naive kernel ~1, OpenBLAS 2 threads
// 100-180):
//   TSM x TSN x TSK  WPTM x WPTN  local    n=1024     n=2048
//     96 x  96 x 64    4 x 24      4 x 24   72, 94     73, 79   <- default
//     96 x  96 x 128   4 x 24      4 x 24   77         78
//     96 x  96 x 32    4 x 24      4 x 24   70
//    192 x  96 x 64    4 x 24      4 x 48   77         68
//     48 x  96 x 64    4 x 24      4 x 12   51
//     96 x  48 x 64    4 x 24      2 x 24   57
//     48 x  48 x 64    4 x 24      2 x 12   58
//     64 x  64 x 64    4 x 16      4 x 16   73         61, 75
//     64 x  64 x 32    4 x 16      4 x 16   58
//     32 x  64 x 64    4 x 16      4 x 8    74         51
//     96 x  64 x 64    6 x 16      4 x 16   66
//     48 x  64 x 64    6 x 16      4 x 8    68
// Before the double buffer (same kernel otherwise), n=1024: 64x64x64 4x16 42,
// 64x64x32 4x16 36, 128x128x32 4x16 16; with 8 x 16 blocks (16 accumulators,
// more than AVX2's 16 registers leave room for) 31 at n=512.
// gemm.py passes the tile explicitly and falls back to a smaller one where the
// device's work-group or local-memory limits demand it (a GPU's 48 KB, say).

#ifndef TRANS_A
#define TRANS_A 0
#endif
#ifndef TRANS_B
#define TRANS_B 0
#endif
#ifndef TSM
#define TSM 96
#endif
#ifndef TSN
#define TSN 96
#endif
#ifndef TSK
#define TSK 64
#endif
#ifndef WPTM
#define WPTM 4
#endif
#ifndef WPTN
#define WPTN 24
#endif

#define RTSM (TSM / WPTM)      // work-items along M
#define RTSN (TSN / WPTN)      // work-items along N
#define NWI (RTSM * RTSN)      // work-items per group
#define CAT_(a, b) a##b
#define CAT(a, b) CAT_(a, b)
#ifndef VW
#define VW 8                   // vector width: a work-item's row is WPTN / VW vectors
#endif
#define NV (WPTN / VW)
#define floatW CAT(float, VW)   // VW is 2, 4 or 8
#if (TSM % WPTM) || (TSN % WPTN) || (WPTN % VW) || (TSM % VW) || (TSN % VW) || (TSK % VW)
#error "gemm.cl: TSM must be a multiple of WPTM, TSN of WPTN, and WPTN, TSM, TSN, TSK of VW"
#endif

__kernel void gemm_naive(const int M, const int N, const int K,
                         __global const float* A, __global const float* B,
                         __global float* C)
{
    const int col = get_global_id(0);
    const int row = get_global_id(1);
    if (row >= M || col >= N)
        return;
    float acc = 0.0f;
    for (int k = 0; k < K; k++)
        acc += A[row * K + k] * B[k * N + col];
    C[row * N + col] = acc;
}

// Copies the R x CC block at (r0, c0) of a rows x cols row-major matrix into the
// local array at dst, row-major R x CC (or CC x R when transpose), zero outside
// the matrix. Work-items take VW-wide chunks of a row in turn; the unrolled
// element loop of a chunk wholly inside the matrix compiles to one vector load.
// (No vloadN/vstoreN anywhere: PoCL 'pthread' calls them as functions, and a
// call in the inner loop spills every accumulator around it: 5x slower.)
#define LOAD_TILE(dst, src, R, CC, r0, c0, rows, cols, transpose)                    \
    for (int idx = lid; idx < (R) * ((CC) / VW); idx += NWI) {                       \
        const int r = idx / ((CC) / VW), c = (idx % ((CC) / VW)) * VW;              \
        const int gr = (r0) + r, gc = (c0) + c;                                     \
        float t[VW];                                                                \
        if (gr < (rows) && gc + VW <= (cols)) {                                     \
            _Pragma("unroll")                                                       \
            for (int j = 0; j < VW; j++)                                            \
                t[j] = (src)[gr * (cols) + gc + j];                                 \
        } else {                                                                    \
            for (int j = 0; j < VW; j++)                                            \
                t[j] = (gr < (rows) && gc + j < (cols)) ? (src)[gr * (cols) + gc + j] : 0.0f; \
        }                                                                           \
        _Pragma("unroll")                                                           \
        for (int j = 0; j < VW; j++) {                                              \
            if (transpose)                                                          \
                (dst)[(c + j) * (R) + r] = t[j];                                    \
            else                                                                    \
                (dst)[r * (CC) + c + j] = t[j];                                     \
        }                                                                           \
    }

__kernel __attribute__((reqd_work_group_size(RTSN, RTSM, 1)))
void gemm_tiled(const int M, const int N, const int K,
                const float alpha, const float beta,
                __global const float* A, const int offA,
                __global const float* B, const int offB,
                __global float* C, const int offC)
{
#if TRANS_A
    __local float Asub[2][TSK][TSM];   // as stored: K x M
#define AS(k, m) Asub[p][k][m]
#else
    __local float Asub[2][TSM][TSK];   // as stored: M x K
#define AS(k, m) Asub[p][m][k]
#endif
    // k-major whichever way B is stored, and of vectors, so a row of a work-item's
    // block is an aligned vector load
    __local floatW Bsub[2][TSK][TSN / VW];

    const int tn = get_local_id(0);
    const int tm = get_local_id(1);
    const int lid = tm * RTSN + tn;
    const int m0 = get_group_id(1) * TSM;
    const int n0 = get_group_id(0) * TSN;
    A += offA;
    B += offB;
    C += offC;

    floatW acc[WPTM][NV];
    #pragma unroll
    for (int i = 0; i < WPTM; i++)
        #pragma unroll
        for (int v = 0; v < NV; v++)
            acc[i][v] = (floatW)(0.0f);

    for (int k0 = 0; k0 < K; k0 += TSK) {
        const int p = (k0 / TSK) & 1;
        // Out-of-range elements are zero, so the inner loop needs no bounds checks.
#if TRANS_A
        LOAD_TILE(&Asub[p][0][0], A, TSK, TSM, k0, m0, K, M, 0);
#else
        LOAD_TILE(&Asub[p][0][0], A, TSM, TSK, m0, k0, M, K, 0);
#endif
#if TRANS_B
        LOAD_TILE((__local float*)Bsub[p], B, TSN, TSK, n0, k0, N, K, 1);
#else
        LOAD_TILE((__local float*)Bsub[p], B, TSK, TSN, k0, n0, K, N, 0);
#endif
        barrier(CLK_LOCAL_MEM_FENCE);

        #pragma unroll
        for (int k = 0; k < TSK; k++) {
            floatW b[NV];
            #pragma unroll
            for (int v = 0; v < NV; v++)
                b[v] = Bsub[p][k][tn * NV + v];
            #pragma unroll
            for (int i = 0; i < WPTM; i++) {
                const float a = AS(k, tm * WPTM + i);
                #pragma unroll
                for (int v = 0; v < NV; v++)
                    acc[i][v] += a * b[v];
            }
        }
    }

    // Fully unrolled, like every loop that indexes acc: a runtime index would keep
    // acc in memory instead of registers (in PoCL, a per-work-item array in memory
    // that the barriers force it to keep), which made the kernel three times slower.
    #pragma unroll
    for (int i = 0; i < WPTM; i++) {
        const int gm = m0 + tm * WPTM + i;
        #pragma unroll
        for (int v = 0; v < NV; v++) {
            const floatW cv = acc[i][v];
            const float* c = (const float*)&cv;
            for (int j = 0; j < VW; j++) {
                const int gn = n0 + tn * WPTN + v * VW + j;
                if (gm < M && gn < N) {
                    // beta == 0 must not read C: it may hold NaN or garbage (BLAS semantics)
                    const float x = alpha * c[j];
                    C[gm * N + gn] = (beta == 0.0f) ? x : x + beta * C[gm * N + gn];
                }
            }
        }
    }
}
