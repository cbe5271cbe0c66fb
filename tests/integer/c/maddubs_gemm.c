/* A u8 x s8 -> s32 GEMM built on _mm256_maddubs_epi16 (vpmaddubsw), as x86 kernels without VNNI do.
 * The kernel under test of tests/integer/test_pairs_kernel.py.
 *
 *   maddubs_gemm < IN.bin > OUT.bin
 *
 * IN.bin, little-endian: int32 M, K, N, a_zero_point; N int32 b zero points (one per column);
 * M*K uint8 A (row-major); K*N int8 B (row-major). OUT.bin: M*N int32 C (row-major).
 *
 * The structure follows ONNX Runtime's MLAS U8S8 AVX2 kernel (written from its description, not its
 * code): K is padded with zeros to a multiple of 4; B is packed per block of 8 columns as, for each
 * group of 4 depth indices, 8 columns x 4 consecutive bytes; the kernel broadcasts 4 bytes of a row
 * of A (_mm256_set1_epi32) and runs
 *     _mm256_maddubs_epi16  u8 x s8 products of adjacent bytes, pairs summed with int16 saturation
 *     _mm256_madd_epi16     with words of 1: the two int16 of each 32-bit lane summed into int32
 *     _mm256_add_epi32      into the accumulator (wraps modulo 2**32)
 * The accumulators start from the zero-point terms, as MLAS's ProduceOutputBlock does: the row sum of
 * A less K z_a, times -z_b[n], plus the column sum of B times -z_a, all in wrapping 32-bit arithmetic
 * (unsigned here, to keep C's signed overflow out).
 */
#include <immintrin.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void die(const char *what) {
    fprintf(stderr, "maddubs_gemm: %s\n", what);
    exit(2);
}

static void read_exact(void *dst, size_t size, size_t count) {
    if (count && fread(dst, size, count, stdin) != count) die("short input");
}

int main(void) {
    int32_t head[4];
    read_exact(head, sizeof(int32_t), 4);
    const int32_t M = head[0], K = head[1], N = head[2], za = head[3];
    if (M < 0 || K < 0 || N < 0) die("negative dimension");
    int32_t *zb = malloc(sizeof(int32_t) * (size_t)(N ? N : 1));
    uint8_t *A = malloc((size_t)M * (size_t)K + 1);
    int8_t *B = malloc((size_t)K * (size_t)N + 1);
    if (!zb || !A || !B) die("out of memory");
    read_exact(zb, sizeof(int32_t), (size_t)N);
    read_exact(A, 1, (size_t)M * (size_t)K);
    read_exact(B, 1, (size_t)K * (size_t)N);

    const size_t KP = ((size_t)K + 3) & ~(size_t)3;         /* K rounded up to quads */
    const size_t NB = ((size_t)N + 7) / 8;                   /* blocks of 8 columns */
    uint8_t *PA = calloc((size_t)M * KP + 4, 1);             /* rows of A, zero padded */
    int8_t *PB = calloc(NB * KP * 8 + 32, 1);                /* [block][quad][column][4 bytes] */
    int32_t *C = malloc(sizeof(int32_t) * ((size_t)M * (size_t)N + 1));
    uint32_t *rowsum = calloc((size_t)M + 1, sizeof(uint32_t));
    uint32_t *colsum = calloc(NB * 8 + 1, sizeof(uint32_t));
    if (!PA || !PB || !C || !rowsum || !colsum) die("out of memory");

    for (int32_t m = 0; m < M; m++) {
        memcpy(PA + (size_t)m * KP, A + (size_t)m * (size_t)K, (size_t)K);
        uint32_t s = 0;
        for (int32_t k = 0; k < K; k++) s += A[(size_t)m * (size_t)K + (size_t)k];
        rowsum[m] = s - (uint32_t)K * (uint32_t)za;
    }
    for (size_t nb = 0; nb < NB; nb++)
        for (size_t q = 0; q < KP / 4; q++)
            for (size_t j = 0; j < 8; j++)
                for (size_t t = 0; t < 4; t++) {
                    size_t n = nb * 8 + j, k = q * 4 + t;
                    if (n < (size_t)N && k < (size_t)K)
                        PB[((nb * (KP / 4) + q) * 8 + j) * 4 + t] = B[k * (size_t)N + n];
                }
    for (int32_t n = 0; n < N; n++) {
        uint32_t s = 0;
        for (int32_t k = 0; k < K; k++) s += (uint32_t)(int32_t)B[(size_t)k * (size_t)N + (size_t)n];
        colsum[n] = s;
    }

    const __m256i ones = _mm256_set1_epi16(1);
    for (int32_t m = 0; m < M; m++) {
        for (size_t nb = 0; nb < NB; nb++) {
            uint32_t init[8] = {0};
            for (size_t j = 0; j < 8; j++) {
                size_t n = nb * 8 + j;
                if (n < (size_t)N)
                    init[j] = rowsum[m] * (uint32_t)(-zb[n]) + colsum[n] * (uint32_t)(-za);
            }
            __m256i acc = _mm256_loadu_si256((const __m256i *)init);
            for (size_t q = 0; q < KP / 4; q++) {
                int32_t quad;
                memcpy(&quad, PA + (size_t)m * KP + q * 4, 4);
                __m256i va = _mm256_set1_epi32(quad);
                __m256i vb = _mm256_loadu_si256((const __m256i *)(PB + (nb * (KP / 4) + q) * 32));
                __m256i pairs = _mm256_maddubs_epi16(va, vb);
                acc = _mm256_add_epi32(acc, _mm256_madd_epi16(pairs, ones));
            }
            int32_t out[8];
            _mm256_storeu_si256((__m256i *)out, acc);
            for (size_t j = 0; j < 8; j++) {
                size_t n = nb * 8 + j;
                if (n < (size_t)N) C[(size_t)m * (size_t)N + n] = out[j];
            }
        }
    }
    const size_t count = (size_t)M * (size_t)N;
    if (count > 0 && fwrite(C, sizeof(int32_t), count, stdout) != count) die("short write");
    free(zb); free(A); free(B); free(PA); free(PB); free(C); free(rowsum); free(colsum);
    return 0;
}
