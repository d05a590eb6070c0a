"""Prediction vs measurement for the cost model, and a least-squares refit of its constants.

usage: fit.py points.jsonl     (written by benches/costmodel/run.sh)
"""
import json
import sys



def lstsq(rows, rhs):
    """Least squares by the normal equations (no numpy needed)."""
    n = len(rows[0])
    a = [[sum(r[i] * r[j] for r in rows) for j in range(n)] + [sum(r[i] * y for r, y in zip(rows, rhs))] for i in range(n)]
    for c in range(n):
        piv = max(range(c, n), key=lambda i: abs(a[i][c]))
        a[c], a[piv] = a[piv], a[c]
        for i in range(n):
            if i != c and a[c][c]:
                f = a[i][c] / a[c][c]
                a[i] = [x - f * y for x, y in zip(a[i], a[c])]
    return [a[i][n] / a[i][i] for i in range(n)]


def median(v):
    v = sorted(v)
    return v[len(v) // 2] if len(v) % 2 else (v[len(v) // 2 - 1] + v[len(v) // 2]) / 2

pts = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]


EXT_WEIGHT = 0.44  # prover/src/cost.rs


def ext_log(d):
    x = max(d, 2) - 1
    return (x - 1).bit_length()


def work(p):
    c = p["cost"]
    k = p["k"]
    return c["msms"] * 16.0 / k + EXT_WEIGHT * c["ext_polys"] * 2 ** ext_log(c["counts"]["degree"]) / 4


def features(p):
    """prove_seconds = BASE_S + MSM_NS * 1e-9 * 2^k * work"""
    return [1.0, 1e-9 * 2.0 ** p["k"] * work(p)]


print("| model | shape | k | rows | MSMs | ext polys | predicted prove s | measured prove s | predicted verifier B | measured verifier B | predicted gas | measured gas |")
print("|---|---|---|---|---|---|---|---|---|---|---|---|")
for p in pts:
    c, sh = p["cost"], p["shape"]
    vb = p["verifier_bytes"]
    print(f"| {p['model']} | {sh['width']}/{sh['lookup_width']}{' hash' if sh.get('hash') else ''}{' tables' if sh.get('tables') else ''} | {p['k']} | {p['rows']:,} | {c['msms']} | {c['ext_polys']} | {c['prove_seconds']:.2f} | {p['prove_s']:.2f} | {c['verifier_bytes']:,} | {vb if vb is None else f'{vb:,}'} | {c.get('verify_gas', 0):,} | {p.get('gas') or '-'} |")

X = [features(p) for p in pts]
y = [p["prove_s"] for p in pts]
# relative least squares: each point weighted by 1/measured
coef = lstsq([[f / t for f in r] for r, t in zip(X, y)], [1.0] * len(y))
rel = [abs(sum(c * f for c, f in zip(coef, r)) - t) / t for r, t in zip(X, y)]
print(f"\nrefit prove time: BASE_S = {coef[0]:.3f}, MSM_NS = {coef[1]:.0f}; "
      f"median |error| {100 * median(rel):.1f}%, max {100 * max(rel):.1f}% over {len(y)} points")
crel = [abs(p["cost"]["prove_seconds"] - t) / t for p, t in zip(pts, y)]
print(f"built-in constants: median |error| {100 * median(crel):.1f}%, max {100 * max(crel):.1f}%")

def refit(what, measured, features, names, built_in):
    """Least-squares refit of a linear model over the points that have `measured`, printed
    with its worst relative error and that of the built-in constants (`built_in`)."""
    pts_m = [p for p in pts if p.get(measured)]
    if not pts_m:
        return
    y = [p[measured] for p in pts_m]
    coef = lstsq([features(p) for p in pts_m], y)
    err = [abs(sum(c * f for c, f in zip(coef, features(p))) - t) / t for p, t in zip(pts_m, y)]
    consts = ", ".join(f"{n} = {c:.0f}" for n, c in zip(names, coef))
    print(f"refit {what}: {consts}; max |error| {100 * max(err):.1f}% over {len(y)} points")
    old = [abs(p["cost"].get(built_in, 0) - t) / t for p, t in zip(pts_m, y)]
    print(f"built-in {what} constants: max |error| {100 * max(old):.1f}%")


def hashed(p):
    return 1.0 if p["shape"].get("hash") else 0.0


def vf(p):
    c = p["cost"]["counts"]
    return [1.0, p["instances"], c["advice"], c["lookups"], hashed(p)]


def gf(p):
    c = p["cost"]["counts"]
    return [1.0, c["advice"], c["fixed"], c["lookups"], p["instances"], hashed(p), (p.get("contracts") or 1) - 1]


refit("verifier bytes", "verifier_bytes", vf, ["BASE", "PER_INSTANCE", "PER_ADVICE", "PER_LOOKUP", "HASH"], "verifier_bytes")
refit("verify gas", "gas", gf, ["BASE", "PER_ADVICE", "PER_FIXED", "PER_LOOKUP", "PER_INSTANCE", "HASH", "PER_CONTRACT"], "verify_gas")
