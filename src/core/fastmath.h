/*
 * fastmath.h
 *		Branch-free float exp, log and half-angle sine and cosine for the
 *		element-wise loops of training, inline so that the loops calling them
 *		vectorise (libm's calls would keep them scalar).
 *
 * Accuracy (measured against double libm over their ranges): exp within
 * 1e-7 relative (the double aigc_exp within 3e-16), tanh within 1.3e-7
 * relative, log within 1.2e-7 (absolute below 1, relative above; the double
 * aigc_log within 5e-16 relative), the sine and cosine within 2e-7 absolute.
 *
 * AIGC_VECTOR_CLONES compiles a function once per vector extension and
 * picks the CPU's at load time (GCC's target_clones), so the hot loops use
 * AVX-512 or AVX2 where the machine has them while the build stays generic.
 */
#ifndef AIGC_FASTMATH_H
#define AIGC_FASTMATH_H

#include "postgres.h"

#include <string.h>

/* gcc only: clang 14 leaves the clones' dispatcher out of other files' links */
#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__) && defined(__has_attribute)
#if __has_attribute(target_clones)
#define AIGC_VECTOR_CLONES __attribute__((target_clones("avx512f", "avx2", "default")))
#endif
#endif
#ifndef AIGC_VECTOR_CLONES
#define AIGC_VECTOR_CLONES
#endif

/*
 * A function whose float results must not depend on which elements its
 * vector loop takes and which its scalar one: no multiply-add is fused
 * (GCC fuses by default, and not always alike in the two loops; clang fuses
 * only within a statement, alike in both)
 */
#if defined(__GNUC__) && !defined(__clang__)
#define AIGC_NO_FP_CONTRACT __attribute__((optimize("fp-contract=off")))
#else
#define AIGC_NO_FP_CONTRACT
#endif

/*
 * Before an element-wise loop that may run in place (output == input):
 * no iteration reads another's output, so GCC need not guard the vector
 * loop with an overlap check that in-place calls would fail.
 */
#if defined(__GNUC__) && !defined(__clang__)
#define AIGC_IVDEP _Pragma("GCC ivdep")
#else
#define AIGC_IVDEP
#endif

static inline float
aigc_bits_float(int32 bits)
{
	float		f;

	memcpy(&f, &bits, sizeof(f));
	return f;
}

static inline int32
aigc_float_bits(float f)
{
	int32		bits;

	memcpy(&bits, &f, sizeof(bits));
	return bits;
}

/*
 * e^x as 2^k e^r, k = round(x / ln 2), |r| <= ln 2 / 2, with Cephes' expf
 * polynomial for e^r; x is clamped so that 2^k stays a normal float (the
 * results below e^-87 are 0 for every use here anyway).
 */
static inline float
aigc_expf(float x)
{
	const float magic = 12582912.0f;	/* 1.5 x 2^23: adding it rounds */
	float		t,
				k,
				r,
				p;

	x = x < -87.0f ? -87.0f : x;
	x = x > 88.0f ? 88.0f : x;
	t = x * 1.44269504088896341f + magic;
	k = t - magic;
	r = x - k * 0.693359375f;
	r = r - k * -2.12194440e-4f;
	p = 1.9875691500E-4f;
	p = p * r + 1.3981999507E-3f;
	p = p * r + 8.3334519073E-3f;
	p = p * r + 4.1665795894E-2f;
	p = p * r + 1.6666665459E-1f;
	p = p * r + 5.0000001201E-1f;
	p = p * r * r + r + 1.0f;
	return p * aigc_bits_float((aigc_float_bits(t) - aigc_float_bits(magic) + 127) << 23);
}

static inline double
aigc_bits_double(int64 bits)
{
	double		d;

	memcpy(&d, &bits, sizeof(d));
	return d;
}

static inline int64
aigc_double_bits(double d)
{
	int64		bits;

	memcpy(&bits, &d, sizeof(bits));
	return bits;
}

/*
 * e^x in double as 2^k e^r, k = round(x / ln 2), |r| <= ln 2 / 2, e^r by its
 * Taylor series to r^13 (the rest is below 4e-18 relative); within a few
 * units in the last place.  x is clamped so that 2^k stays a normal double
 * (results below e^-708 come out as about 3e-308 instead of smaller).
 */
static inline double
aigc_exp(double x)
{
	const double magic = 6755399441055744.0;	/* 1.5 x 2^52: adding it rounds */
	double		t,
				k,
				r,
				p;

	x = x < -708.0 ? -708.0 : x;
	x = x > 709.0 ? 709.0 : x;
	t = x * 1.4426950408889634 + magic;
	k = t - magic;
	/* ln 2 in two parts: k times the first is exact */
	r = x - k * 6.93147180369123816490e-01;
	r = r - k * 1.90821492927058770002e-10;
	p = 1.0 / 6227020800.0;
	p = p * r + 1.0 / 479001600.0;
	p = p * r + 1.0 / 39916800.0;
	p = p * r + 1.0 / 3628800.0;
	p = p * r + 1.0 / 362880.0;
	p = p * r + 1.0 / 40320.0;
	p = p * r + 1.0 / 5040.0;
	p = p * r + 1.0 / 720.0;
	p = p * r + 1.0 / 120.0;
	p = p * r + 1.0 / 24.0;
	p = p * r + 1.0 / 6.0;
	p = p * r + 0.5;
	p = p * r + 1.0;
	p = p * r + 1.0;
	return p * aigc_bits_double((aigc_double_bits(t) - aigc_double_bits(magic) + 1023) << 52);
}

/*
 * tanh as Cephes' tanhf: an odd polynomial below |x| = 0.625, 1 - 2 /
 * (e^2|x| + 1) with the sign of x above; both computed and one selected, so
 * that loops over it vectorise.
 */
static inline float
aigc_tanhf(float x)
{
	float		a = x < 0.0f ? -x : x;
	float		z = x * x;
	float		p,
				big;

	p = -5.70498872745E-3f;
	p = p * z + 2.06390887954E-2f;
	p = p * z - 5.37397155531E-2f;
	p = p * z + 1.33314422036E-1f;
	p = p * z - 3.33332819422E-1f;
	p = p * z * x + x;
	big = 1.0f - 2.0f / (aigc_expf(2.0f * a) + 1.0f);
	big = x < 0.0f ? -big : big;
	return a < 0.625f ? p : big;
}

/*
 * Natural logarithm of a positive normal float: x = m 2^e with m in
 * [sqrt(1/2), sqrt(2)), log m = 2 atanh(s), s = (m - 1) / (m + 1) at most
 * 0.172, whose odd series to s^9 is exact to 1e-9.
 */
static inline float
aigc_logf(float x)
{
	int32		bits = aigc_float_bits(x);
	int32		e = ((bits >> 23) & 0xff) - 127;
	float		m = aigc_bits_float((bits & 0x007fffff) | 0x3f800000);
	int32		big = m > 1.41421356f;
	float		s,
				s2,
				p;

	m = big ? m * 0.5f : m;
	e += big;
	s = (m - 1.0f) / (m + 1.0f);
	s2 = s * s;
	p = 1.0f / 9.0f;
	p = p * s2 + 1.0f / 7.0f;
	p = p * s2 + 1.0f / 5.0f;
	p = p * s2 + 1.0f / 3.0f;
	p = p * s2 + 1.0f;
	return 2.0f * s * p + (float) e * 0.693147180559945f;
}

/*
 * The same in double: the odd series of atanh(s) to s^23, whose first term
 * left out is below 2e-19 relative.
 */
static inline double
aigc_log(double x)
{
	int64		bits = aigc_double_bits(x);
	int64		e = ((bits >> 52) & 0x7ff) - 1023;
	double		m = aigc_bits_double((bits & INT64CONST(0x000fffffffffffff)) |
									 INT64CONST(0x3ff0000000000000));
	int64		big = m > 1.4142135623730951;
	double		s,
				s2,
				p;

	m = big ? m * 0.5 : m;
	e += big;
	s = (m - 1.0) / (m + 1.0);
	s2 = s * s;
	p = 1.0 / 23.0;
	p = p * s2 + 1.0 / 21.0;
	p = p * s2 + 1.0 / 19.0;
	p = p * s2 + 1.0 / 17.0;
	p = p * s2 + 1.0 / 15.0;
	p = p * s2 + 1.0 / 13.0;
	p = p * s2 + 1.0 / 11.0;
	p = p * s2 + 1.0 / 9.0;
	p = p * s2 + 1.0 / 7.0;
	p = p * s2 + 1.0 / 5.0;
	p = p * s2 + 1.0 / 3.0;
	p = p * s2 + 1.0;
	/* ln 2 in two parts: e times the first is exact */
	return (double) e * 6.93147180369123816490e-01 +
		(2.0 * s * p + (double) e * 1.90821492927058770002e-10);
}

/*
 * sin and cos of h in [-pi/2, pi/2] by their Taylor series to h^11 and
 * h^12 (the first terms left out are below 6e-8 there).
 */
static inline void
aigc_sincos_half(float h, float *s, float *c)
{
	float		h2 = h * h;
	float		ps,
				pc;

	ps = -1.0f / 39916800.0f;
	ps = ps * h2 + 1.0f / 362880.0f;
	ps = ps * h2 - 1.0f / 5040.0f;
	ps = ps * h2 + 1.0f / 120.0f;
	ps = ps * h2 - 1.0f / 6.0f;
	ps = ps * h2 + 1.0f;
	pc = 1.0f / 479001600.0f;
	pc = pc * h2 - 1.0f / 3628800.0f;
	pc = pc * h2 + 1.0f / 40320.0f;
	pc = pc * h2 - 1.0f / 720.0f;
	pc = pc * h2 + 1.0f / 24.0f;
	pc = pc * h2 - 0.5f;
	pc = pc * h2 + 1.0f;
	*s = h * ps;
	*c = pc;
}

#endif
