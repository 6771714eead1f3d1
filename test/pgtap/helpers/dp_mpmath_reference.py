#!/usr/bin/env python3
"""Reference RDP values for test/pgtap/21_dp_accountant.sql.

RDP of one step of the Poisson-subsampled Gaussian mechanism at order alpha is
log(A_alpha) / (alpha - 1) with A_alpha = E_{z~N(0,s^2)}[((1-q) + q exp((2z-1)/(2s^2)))^alpha].
Here A_alpha is integrated numerically at 40 digits (mpmath), the way TensorFlow
Privacy's rdp_privacy_accountant_test.py (test_compute_log_a_equals_mp) checks
its series; the parameter sets are that test's, plus three of our own.
Run: python3 test/pgtap/helpers/dp_mpmath_reference.py
"""
from mpmath import mp, mpf, quad, npdf, exp, log, inf

mp.dps = 40

PARAMS = [  # (q, sigma, alpha)
    (1e-7, .1, 1.01), (1e-6, .1, 256), (1e-5, .1, 256.1), (1e-6, 1, 27),
    (1e-4, 1., 1.5), (1e-3, 1., 2), (.01, 10, 20), (.1, 100, 20.5),
    (.99, .1, 256), (.999, 100, 256.1),
    (0.04, 1.5, 3.9), (0.5, 2, 10.5), (0.3, 0.7, 7.3),
]


def rdp_mp(q, s, a):
    q, s, a = mpf(q), mpf(s), mpf(a)
    f = lambda z: npdf(z, 0, s) * ((1 - q) + q * exp((2 * z - 1) / (2 * s * s))) ** a
    # break points around the mass of the integrand (it peaks near a / s^2 for small s)
    hi = 20 * s + (a / (s * s) if s < 1 else a)
    pts = sorted({-inf, -20 * s, -5 * s, mpf(0), mpf(0.5), mpf(1), 5 * s + 1, hi, inf})
    return log(quad(f, pts, maxdegree=10)) / (a - 1)


for q, s, a in PARAMS:
    print("(%r, %r, %r, %.12e)," % (q, s, a, float(rdp_mp(q, s, a))))
