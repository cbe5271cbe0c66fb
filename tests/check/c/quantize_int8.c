/* A small int8 quantizer: the kernel under test of tests/check/test_c_kernel.py.
 *
 *   quantize_int8 CASE.json CASE.bin OUT.bin
 *
 * reads one case of `refquant vectors quantize` (float32 x, float32 scale,
 * int32 zero_point, quant_min and quant_max, located through the JSON's byte
 * offsets; no JSON library: the keys are searched as text) and writes the
 * int8 codes q = clamp(R(x / s) + z, quant_min, quant_max) to OUT.bin, raw.
 * The rounding R is chosen when compiling, with -DRQ_ROUNDING=...:
 *
 *   RQ_EVEN (default)  nearbyintf: half to even in the default rounding mode (the spec)
 *   RQ_AWAY            roundf: half away from zero (a classic slip)
 *   RQ_FLOOR_HALF      floorf(y + 0.5f): half up, and y + 0.5f rounds up to 1 just below 0.5
 *
 * x / s is a float32 division, as refquant computes it for float32 inputs.
 * The code is clamped in floating point before the cast to int (casting an
 * out-of-range float to an integer is undefined behaviour in C).
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define RQ_EVEN 0
#define RQ_AWAY 1
#define RQ_FLOOR_HALF 2
#ifndef RQ_ROUNDING
#define RQ_ROUNDING RQ_EVEN
#endif

static void die(const char *what, const char *detail) {
    fprintf(stderr, "quantize_int8: %s %s\n", what, detail);
    exit(2);
}

static char *read_all(const char *path, long *size) {
    FILE *fh = fopen(path, "rb");
    if (!fh) die("cannot open", path);
    if (fseek(fh, 0, SEEK_END) != 0) die("cannot seek", path);
    long n = ftell(fh);
    if (n < 0 || fseek(fh, 0, SEEK_SET) != 0) die("cannot seek", path);
    char *buf = malloc((size_t)n + 1);
    if (!buf) die("out of memory reading", path);
    if (fread(buf, 1, (size_t)n, fh) != (size_t)n) die("cannot read", path);
    buf[n] = '\0';
    fclose(fh);
    *size = n;
    return buf;
}

/* The bytes of the array `name` (of NumPy dtype `dtype`) in the .bin, from the JSON's entry. */
static const char *array(const char *json, const char *bin, long bin_size, const char *name,
                         const char *dtype, long *nbytes) {
    char key[96];
    snprintf(key, sizeof key, "\"name\": \"%s\"", name);
    const char *entry = strstr(json, key);
    if (!entry) die("no array named", name);
    const char *end = strchr(entry, '}');
    snprintf(key, sizeof key, "\"dtype\": \"%s\"", dtype);
    const char *d = strstr(entry, key);
    if (!d || d > end) die("wrong dtype (expected the vectors of quantize) for", name);
    const char *o = strstr(entry, "\"offset\": ");
    const char *b = strstr(entry, "\"nbytes\": ");
    long offset = -1;
    if (!o || !b || o > end || b > end) die("no offset or nbytes for", name);
    if (sscanf(o + 10, "%ld", &offset) != 1 || sscanf(b + 10, "%ld", nbytes) != 1) die("bad entry", name);
    if (offset < 0 || *nbytes < 0 || offset + *nbytes > bin_size) die("bytes outside the .bin for", name);
    return bin + offset;
}

static int32_t scalar_i32(const char *json, const char *bin, long size, const char *name) {
    long nbytes;
    const char *p = array(json, bin, size, name, "int32", &nbytes);
    int32_t v;
    if (nbytes != 4) die("not one int32:", name);
    memcpy(&v, p, 4); /* little-endian in the file; this test runs on little-endian machines */
    return v;
}

static float round_code(float y) {
#if RQ_ROUNDING == RQ_AWAY
    return roundf(y);
#elif RQ_ROUNDING == RQ_FLOOR_HALF
    return floorf(y + 0.5f);
#else
    return nearbyintf(y);
#endif
}

int main(int argc, char **argv) {
    if (argc != 4) die("usage:", "quantize_int8 CASE.json CASE.bin OUT.bin");
    long json_size, bin_size, x_bytes, s_bytes;
    char *json = read_all(argv[1], &json_size);
    char *bin = read_all(argv[2], &bin_size);
    const char *xp = array(json, bin, bin_size, "x", "float32", &x_bytes);
    const char *sp = array(json, bin, bin_size, "scale", "float32", &s_bytes);
    if (s_bytes != 4) die("not one float32:", "scale");
    int32_t z = scalar_i32(json, bin, bin_size, "zero_point");
    int32_t qmin = scalar_i32(json, bin, bin_size, "quant_min");
    int32_t qmax = scalar_i32(json, bin, bin_size, "quant_max");
    if (qmin < -128 || qmax > 127 || qmin > qmax) die("not an int8 range:", "quant_min, quant_max");
    float s;
    memcpy(&s, sp, 4);
    long n = x_bytes / 4;
    int8_t *q = malloc((size_t)n + 1);
    if (!q) die("out of memory", "");
    const float lo = (float)(qmin - z), hi = (float)(qmax - z);
    for (long i = 0; i < n; ++i) {
        float x;
        memcpy(&x, xp + 4 * i, 4);
        float r = round_code(x / s);
        if (!(r >= lo)) r = lo; /* NaN too */
        if (r > hi) r = hi;
        q[i] = (int8_t)((int32_t)r + z);
    }
    FILE *out = fopen(argv[3], "wb");
    if (!out || fwrite(q, 1, (size_t)n, out) != (size_t)n || fclose(out) != 0) die("cannot write", argv[3]);
    free(q);
    free(bin);
    free(json);
    return 0;
}
