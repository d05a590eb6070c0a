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

V = [p for p in pts if p["verifier_bytes"]]


def vf(p):
    c = p["cost"]["counts"]
    return [1.0, p["instances"], c["advice"], c["lookups"], 1.0 if p["shape"].get("hash") else 0.0]


if V:
    b = [p["verifier_bytes"] for p in V]
    vc = lstsq([vf(p) for p in V], b)
    vr = [abs(sum(c * f for c, f in zip(vc, vf(p))) - t) / t for p, t in zip(V, b)]
    print(f"refit verifier bytes: BASE = {vc[0]:.0f}, PER_INSTANCE = {vc[1]:.0f}, PER_ADVICE = {vc[2]:.0f}, PER_LOOKUP = {vc[3]:.0f}, HASH = {vc[4]:.0f}; "
          f"max |error| {100 * max(vr):.1f}% over {len(b)} points")
    cv = [abs(p["cost"]["verifier_bytes"] - t) / t for p, t in zip(V, b)]
    print(f"built-in verifier constants: max |error| {100 * max(cv):.1f}%")

G = [p for p in pts if p.get("gas")]


def gf(p):
    c = p["cost"]["counts"]
    return [1.0, c["advice"], c["fixed"], c["lookups"], p["instances"], 1.0 if p["shape"].get("hash") else 0.0, (p.get("contracts") or 1) - 1]


if G:
    g = [p["gas"] for p in G]
    gc = lstsq([gf(p) for p in G], g)
    gr = [abs(sum(c * f for c, f in zip(gc, gf(p))) - t) / t for p, t in zip(G, g)]
    print(f"refit verify gas: BASE = {gc[0]:.0f}, PER_ADVICE = {gc[1]:.0f}, PER_FIXED = {gc[2]:.0f}, PER_LOOKUP = {gc[3]:.0f}, PER_INSTANCE = {gc[4]:.0f}, HASH = {gc[5]:.0f}, PER_CONTRACT = {gc[6]:.0f}; "
          f"max |error| {100 * max(gr):.1f}% over {len(g)} points")
    cr = [abs(p["cost"].get("verify_gas", 0) - t) / t for p, t in zip(G, g)]
    print(f"built-in gas constants: max |error| {100 * max(cr):.1f}%")
