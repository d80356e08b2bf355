"""How exact hc()'s interval is: the Henmi-Copas equation evaluated exactly (mpmath, 30
digits) at metaparity's root, at metafor's as hc(res, control = list(tol = 1e-15)) gives it
(its integrate() at the default rel.tol, eps^(1/4), which hc() does not expose), and at
metafor's with the integral at rel.tol 1e-13 (what the live comparison uses).

    .venv/bin/python scripts/hc_exact_check.py      (needs R with metafor)

The smaller |equation| at a root, the closer it is to the exact interval.
"""

from __future__ import annotations

import sys
import warnings
from pathlib import Path

import mpmath as mm

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT / "src"))

from metaparity.analysis.hc import hc  # noqa: E402
from metaparity.parity.hc_uni import metafor_hc_uni  # noqa: E402
from metareg_cases import HC, quiet  # noqa: E402

mm.mp.dps = 30


def exact_tail(y, v, alpha, x):
    """The equation's value at ``x`` (and sd(R)), in mpmath."""
    k = len(y)
    w = [1 / mm.mpf(float(vi)) for vi in v]
    y = [mm.mpf(float(t)) for t in y]
    W1 = sum(w)
    W2, W3, W4 = (sum(wi**j for wi in w) / W1 for j in (2, 3, 4))
    b = sum(wi * yi for wi, yi in zip(w, y, strict=True)) / W1
    Q = sum(wi * (yi - b) ** 2 for wi, yi in zip(w, y, strict=True))
    tau2 = max(mm.mpf(0), (Q - (k - 1)) / (W1 - W2))
    VR = 1 + tau2 * W2
    sdr = mm.sqrt(VR)
    d3 = W3 - W2**2

    def f(r):
        rr = sdr * r
        a = rr * rr / VR**2 - 1 / VR
        eq = (k - 1) + tau2 * (W1 - W2) + tau2**2 * a * d3
        vq = (2 * (k - 1) + 4 * tau2 * (W1 - W2) + 2 * tau2**2 * (W1 * W2 - 2 * W3 + W2**2)
              + 4 * tau2**2 * a * d3 + 4 * tau2**3 * a * (W4 - 2 * W2 * W3 + W2**3)
              + 2 * tau2**4 * (1 / VR**2 - 2 * rr * rr / VR**3) * d3**2)  # fmt: skip
        shape, scale = eq * eq / vq, vq / eq
        z = (W1 / W2 - 1) * ((r / x) ** 2 - 1) + (k - 1)
        if z <= 0:
            return mm.mpf(0)
        u = z / scale
        g = (1 - mm.gammainc(shape, u, mm.inf, regularized=True) if u > shape
             else mm.gammainc(shape, 0, u, regularized=True))  # fmt: skip
        return g * mm.npdf(r)

    # the normal density is below 1e-40 beyond x + 14
    return mm.quad(f, [x, x + 1, x + 3, x + 6, x + 14]) - mm.mpf(alpha) / 2, sdr


def main() -> None:
    warnings.simplefilter("ignore")
    for name, (fit, kw) in HC.items():
        if kw.get("transf"):
            continue
        res = quiet(fit)
        h = hc(res)
        ref = metafor_hc_uni(res, tol=1e-15)
        alpha = 1 - res.level / 100
        eo, sdr = exact_tail(res.yi, res.vi, alpha, mm.mpf(h.t0))
        t_p = (ref["plain"]["beta"] - ref["plain"]["ci.lb"]) / (ref["se"] * float(sdr))
        t_t = (ref["beta"] - ref["ci.lb"]) / (ref["se"] * float(sdr))
        ep, _ = exact_tail(res.yi, res.vi, alpha, mm.mpf(t_p))
        et, _ = exact_tail(res.yi, res.vi, alpha, mm.mpf(t_t))
        print(f"{name:32s} |equation| at the root: ours {float(abs(eo)):.1e}, metafor "
              f"{float(abs(ep)):.1e}, metafor with integrate(rel.tol = 1e-13) "
              f"{float(abs(et)):.1e}")  # fmt: skip


if __name__ == "__main__":
    main()
