"""Turns the profile runs (benches/profile/run.sh) into the per-phase table.

Each run directory holds compile.json (zkinfer compile --json), prove.log (halo2's
`profile` timers: "Start:"/"End:" lines, nested with "·"), time.log (/usr/bin/time -v) and
c/proof.json (prove_seconds). Top-level halo2 timers are the prover phases; those nested in
"Phase 4: Evaluate h(X)" split the quotient. zkinfer's own witness work (executor, layout,
advice columns) and the advice commitments (untimed in halo2's create_proof_from_advice) are
the proof's prove_seconds minus the timed halo2 phases.
"""
import json
import re
import sys

ANSI = re.compile(r"\x1b\[[0-9;]*m")
END = re.compile(r"^((?:·)*)\s*End:\s+(.+?)\s*\.*\s*([0-9.]+)(ns|µs|ms|s)\s*$")
UNIT = {"ns": 1e-9, "µs": 1e-6, "ms": 1e-3, "s": 1.0}

# (column, label) in the order of the prover
COLUMNS = [
    ("witness", "witness + advice commit"),
    ("lookup_permuted", "lookup permuted"),
    ("permutation", "permutation z"),
    ("lookup_product", "lookup z"),
    ("vanishing", "vanishing rand"),
    ("advice_fft", "advice iFFT"),
    ("quotient", "quotient h(X)"),
    ("h_commit", "h commit"),
    ("evaluations", "evals"),
    ("openings", "multiopen"),
]


def phase_of(msg, seen_h):
    if msg.startswith("Phase 1:") or ("inversion and MSM commitment" in msg):
        return "witness"
    if msg.startswith("Phase 2:"):
        return "lookup_permuted"
    if msg.startswith("Phase 3a:"):
        return "permutation"
    if msg.startswith("Phase 3b:"):
        return "lookup_product"
    if msg.startswith("Commit to vanishing argument's random poly"):
        return "vanishing"
    if msg.startswith("Calculate advice polys"):
        return "advice_fft"
    if msg.startswith("Phase 4:"):
        return "quotient"
    if msg.startswith("Commit to vanishing argument's h(X) commitments"):
        # halo2-axiom labels the evaluation step with the same message: the second is it
        return "evaluations" if seen_h else "h_commit"
    if msg.startswith("Phase 5:"):
        return "openings"
    return None


def parse(log):
    phases, quotient_parts = {}, {}
    seen_h = False
    for raw in open(log, encoding="utf-8", errors="replace"):
        line = ANSI.sub("", raw.rstrip("\n"))
        m = END.match(line)
        if not m:
            continue
        depth = len(m.group(1))
        msg, secs = m.group(2).strip(), float(m.group(3)) * UNIT[m.group(4)]
        if depth == 0:
            p = phase_of(msg, seen_h)
            if p == "h_commit":
                seen_h = True
            if p:
                phases[p] = phases.get(p, 0.0) + secs
        elif depth == 2 and msg.split(" ")[0] in ("Custom", "Permutations", "Lookups", "Fixed", "Advice", "Instance"):
            quotient_parts[msg] = quotient_parts.get(msg, 0.0) + secs
    return phases, quotient_parts


def peak_rss_mb(path):
    for line in open(path):
        if "Maximum resident set size" in line:
            return int(line.split(":")[1]) / 1024
    return None


def main(runs, out_json):
    rows = []
    for line in open(runs):
        name, d = line.split()
        c = json.load(open(f"{d}/compile.json"))
        proof = json.load(open(f"{d}/c/proof.json"))
        phases, qparts = parse(f"{d}/prove.log")
        total = proof["prove_seconds"]
        phases["witness"] = phases.get("witness", 0.0) + max(0.0, total - sum(phases.values()))
        rows.append({"model": name, "k": c["k"], "rows": c["rows"], "columns": f'{c["width"]}/{c["lookup_width"]}', "macs": c.get("macs"),
                     "prove_s": total, "predicted_s": c["predicted_prove_seconds"], "peak_rss_mb": peak_rss_mb(f"{d}/time.log"),
                     "phases": phases, "quotient_parts": qparts})
    json.dump(rows, open(out_json, "w"), indent=1)
    head = "| model | k | rows | cols | MACs | prove s | predicted s | peak RSS MB | " + " | ".join(l for _, l in COLUMNS) + " |"
    print(head)
    print("|" + "---|" * (8 + len(COLUMNS)))
    for r in rows:
        t = r["prove_s"]
        cells = [f'{r["phases"].get(c, 0.0):.2f} ({100 * r["phases"].get(c, 0.0) / t:.0f}%)' for c, _ in COLUMNS]
        rss = f'{r["peak_rss_mb"]:.0f}' if r["peak_rss_mb"] else "-"
        print(f'| {r["model"]} | {r["k"]} | {r["rows"]} | {r["columns"]} | {r["macs"]} | {t:.2f} | {r["predicted_s"]:.2f} | {rss} | ' + " | ".join(cells) + " |")
    print()
    print("Quotient h(X) split (seconds; extended-domain coset FFTs of fixed/advice/instance columns, then gates, permutation and lookup terms):")
    for r in rows:
        parts = ", ".join(f"{k} {v:.2f}" for k, v in sorted(r["quotient_parts"].items(), key=lambda kv: -kv[1]))
        print(f'- {r["model"]}: {parts}')


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
