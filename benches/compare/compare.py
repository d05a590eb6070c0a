"""Side-by-side comparison of EZKL and zkinfer on the same ONNX models, in one process.

For every model folder (model.onnx or network.onnx, plus input.json in EZKL's format) this
runs, one after the other:

  1. zkinfer: compile, then setup / prove / verify against an SRS *file* for its k (made with
     ezkl.gen_srs, i.e. halo2's ParamsKZG::setup, the same routine as zkinfer's dev SRS), so
     that SRS generation is timed apart from setup/prove/verify, exactly as EZKL reports it.
     One extra `zkinfer verify` with the built-in dev SRS measures the dev SRS cost
     (its wall time minus the file-SRS verify's). `--zk-dev-srs` runs the plain CLI instead.
  2. EZKL: ../shared/bench/run_ezkl.py with default settings (and with `--calibrate
     resources` when asked), in a subprocess with a timeout.
  3. onnxruntime (ORT_DISABLE_ALL, one thread) on input.json, and the max |error| of both
     tools' decoded outputs against it.

Every child's wall time is measured here and its peak RSS read with os.wait4. Prints a
Markdown table; `--json FILE` writes the raw results. Run it through run.sh (venv).
"""
import argparse
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
DEFAULT_MODELS = ["models/digits_mlp_int8", "models/digits_mlp", "models/digits_cnn_int8", "models/digits_cnn"]
PEER_DIR = "../shared/peer-models"
RUN_EZKL = "../shared/bench/run_ezkl.py"


# ---------------------------------------------------------------- child processes

# Linux keeps a process's peak RSS across fork and exec, so wait4 on a child forked straight
# from this Python process (tens of MB once onnxruntime is loaded) reports at least that much.
# GNU time forks the real command from a ~2 MB process and reports that grandchild's own peak.
GNU_TIME = "/usr/bin/time" if os.access("/usr/bin/time", os.X_OK) else None


def run_child(cmd, log, timeout):
    """Runs `cmd` with stdout+stderr to `log`. Returns dict(rc, wall_s, rss_mb, timed_out)."""
    cmd = [str(c) for c in cmd]
    rss_file = Path(str(log) + ".rss")
    if GNU_TIME:
        cmd = [GNU_TIME, "-f", "%M", "-o", str(rss_file)] + cmd
    with open(log, "w") as f:
        start = time.perf_counter()
        p = subprocess.Popen(cmd, stdout=f, stderr=subprocess.STDOUT, cwd=REPO, start_new_session=True)
        killed = []

        def kill():
            killed.append(True)
            try:
                os.killpg(p.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass

        timer = threading.Timer(timeout, kill)
        timer.start()
        try:
            _, status, ru = os.wait4(p.pid, 0)
        finally:
            timer.cancel()
        wall = time.perf_counter() - start
        p.returncode = os.waitstatus_to_exitcode(status)  # keep Popen from waiting again
    rss_kb = ru.ru_maxrss  # without GNU time: an upper bound (includes this process's RSS at fork)
    if GNU_TIME:
        nums = re.findall(r"^(\d+)$", rss_file.read_text() if rss_file.exists() else "", re.M)
        rss_kb = int(nums[-1]) if nums else None
        rss_file.unlink(missing_ok=True)
    return {"rc": p.returncode, "wall_s": round(wall, 3), "rss_mb": round(rss_kb / 1024, 1) if rss_kb else None,
            "timed_out": bool(killed)}


def tail(log, n=3):
    try:
        lines = [l.strip() for l in Path(log).read_text(errors="replace").splitlines() if l.strip()]
    except OSError:
        return ""
    lines = [l for l in lines if not l.startswith("WARNING: UNSAFE dev SRS")]
    return " | ".join(lines[-n:])


def failure(step, r, log):
    why = "timed out" if r["timed_out"] else f"exit {r['rc']}"
    return f"{step} {why}: {tail(log)}"


# ---------------------------------------------------------------- models and reference

def model_file(d):
    for n in ("model.onnx", "network.onnx"):
        if (d / n).exists():
            return d / n
    return None


def ort_outputs(model, input_json):
    """onnxruntime outputs (flattened float lists) for EZKL-style input.json."""
    import numpy as np
    import onnxruntime as ort

    dtypes = {"tensor(float)": np.float32, "tensor(double)": np.float64, "tensor(int64)": np.int64,
              "tensor(int32)": np.int32, "tensor(bool)": np.bool_, "tensor(float16)": np.float16}
    so = ort.SessionOptions()
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    so.intra_op_num_threads = so.inter_op_num_threads = 1
    sess = ort.InferenceSession(str(model), so, providers=["CPUExecutionProvider"])
    data = json.load(open(input_json))["input_data"]
    feeds = {}
    for spec, flat in zip(sess.get_inputs(), data):
        flat = np.asarray(flat, dtype=np.float64).reshape(-1)
        shape = [d if isinstance(d, int) and d > 0 else -1 for d in spec.shape]
        if shape.count(-1) > 1:  # several dynamic dims: batch 1, the rest from the data
            shape = [1 if d == -1 else d for d in shape]
            shape[-1] = -1
        feeds[spec.name] = flat.reshape(shape).astype(dtypes.get(spec.type, np.float32))
    return [np.asarray(o, dtype=np.float64).reshape(-1).tolist() for o in sess.run(None, feeds)]


def max_err(ref, got):
    """Max |ref - got| over all outputs, or None when the outputs do not line up."""
    if ref is None or got is None or len(ref) != len(got):
        return None
    worst = 0.0
    for r, g in zip(ref, got):
        if len(r) != len(g):
            return None
        worst = max([worst] + [abs(float(a) - float(b)) for a, b in zip(r, g)])
    return worst


# ---------------------------------------------------------------- zkinfer

def zk_compile(zk, model, work, timeout, calibrate_input=None, atol=None):
    """Returns (k, None, run) or (None, error message, run). With `calibrate_input`,
    `zkinfer calibrate --target resources` on that sample (onnxruntime from this venv), with
    the absolute error tolerance `atol` (and no relative one) when given."""
    work.mkdir(parents=True, exist_ok=True)
    log = work / "compile.log"
    # (prove time is what is compared: the shape of the fastest proof, not the cheapest verifier)
    cmd = [zk, "compile", model, "-o", work, "--optimize", "prove"]
    if calibrate_input is not None:
        cmd = [zk, "calibrate", model, "--input", calibrate_input, "--target", "resources", "--optimize", "prove", "--python", sys.executable, "-o", work]
        if atol is not None:
            cmd += ["--atol", f"{max(atol, 1e-6):.6g}", "--rtol", "0"]
    r = run_child(cmd, log, timeout)
    if r["rc"] != 0:
        return None, tail(log, 1).removeprefix("error: "), r
    m = re.search(r"\bk = (\d+)", log.read_text())
    return (int(m.group(1)) if m else None), None, r


def gen_srs_file(path, k, timeout):
    """ezkl.gen_srs (halo2 ParamsKZG::setup) into `path`; returns the seconds it took or None."""
    code = ("import ezkl, sys, time; t = time.perf_counter(); ezkl.gen_srs(sys.argv[1], int(sys.argv[2]));"
            " print('srs_s', time.perf_counter() - t)")
    log = path.with_suffix(".log")
    r = run_child([sys.executable, "-c", code, path, k], log, timeout)
    m = re.search(r"srs_s ([\d.]+)", log.read_text())
    return round(float(m.group(1)), 3) if r["rc"] == 0 and m else None


def run_zkinfer(zk, d, model, work, timeout, dev_srs, calibrate=False, atol=None):
    res = {"steps": {}, "calibrated": calibrate, "calibrate_atol": atol}
    k, err, r = zk_compile(zk, model, work, timeout, d / "input.json" if calibrate else None, atol)
    res["steps"]["compile"] = r
    if err is not None:
        res["error"] = f"unsupported: {err}" if "unsupported" in err else f"compile: {err}"
        return res
    res["k"] = k
    srs = []
    if not dev_srs:
        srs_path = work / f"kzg_{k}.srs"
        res["srs_file_gen_s"] = gen_srs_file(srs_path, k, timeout)
        if res["srs_file_gen_s"] is not None:
            srs = ["--srs", srs_path]
        else:
            res["note"] = "ezkl.gen_srs failed: fell back to the dev SRS"
    res["srs_mode"] = "file" if srs else "dev"
    steps = [("setup", [zk, "setup", work, *srs]),
             ("prove", [zk, "prove", work, "--input", d / "input.json", *srs]),
             ("verify", [zk, "verify", work, work / "proof.json", *srs])]
    if srs:  # the dev SRS's cost: verify itself takes ms, so this is dev SRS generation
        steps.append(("verify_dev_srs", [zk, "verify", work, work / "proof.json"]))
    for name, cmd in steps:
        log = work / f"{name}.log"
        r = res["steps"][name] = run_child(cmd, log, timeout)
        if name == "verify_dev_srs":
            # the keys were made with the file SRS, so this verification is expected to fail;
            # only its time counts, and only if the dev SRS was made (its warning is printed first)
            r["srs_made"] = "UNSAFE dev SRS" in log.read_text(errors="replace") and not r["timed_out"]
        elif r["rc"] != 0:
            res["error"] = failure(name, r, log)
            break
    st = res["steps"]
    res["verified"] = "verify" in st and st["verify"]["rc"] == 0
    if res["verified"] and st.get("verify_dev_srs", {}).get("srs_made"):
        res["dev_srs_s"] = round(max(0.0, st["verify_dev_srs"]["wall_s"] - st["verify"]["wall_s"]), 3)
    rss = [st[s]["rss_mb"] for s in ("setup", "prove", "verify") if s in st and st[s]["rss_mb"] is not None]
    res["peak_rss_mb"] = max(rss) if rss else None
    proof_path = work / "proof.json"
    if "prove" in st and st["prove"]["rc"] == 0 and proof_path.exists():
        p = json.load(open(proof_path))
        res["proof_bytes"] = len(p["proof"].removeprefix("0x")) // 2
        res["prove_internal_s"] = round(p.get("prove_seconds", 0.0), 3)
        res["outputs"] = [o["values"] for o in p["outputs"]]
    for f in ("pk.bin",):
        if (work / f).exists():
            res["pk_mb"] = round((work / f).stat().st_size / 2**20, 1)
    return res


# ---------------------------------------------------------------- EZKL

def run_ezkl(d, work, timeout, calibrate):
    if work.exists():
        shutil.rmtree(work)
    work.mkdir(parents=True)
    cmd = [sys.executable, REPO / RUN_EZKL, d, work] + (["--calibrate", "resources"] if calibrate else [])
    log = work / "run_ezkl.log"
    r = run_child(cmd, log, timeout)
    res = {"wall_s": r["wall_s"], "child_rss_mb": r["rss_mb"], "calibrated": calibrate}
    line = next((l for l in reversed(log.read_text(errors="replace").splitlines()) if l.startswith("{")), None)
    if r["rc"] != 0 or line is None:
        res["error"] = ezkl_failure(r, log)
        return res
    res.update(json.loads(line))
    w = work / "witness.json"
    if w.exists():
        outs = json.load(open(w)).get("pretty_elements", {}).get("rescaled_outputs")
        if outs is not None:
            res["outputs"] = [[float(v) for v in o] for o in outs]
    return res


def ezkl_failure(r, log):
    """The exception line of a failed run_ezkl.py, with EZKL's own messages printed before it."""
    if r["timed_out"]:
        return f"run_ezkl.py timed out after {r['wall_s']:.0f} s"
    lines = [l.strip() for l in Path(log).read_text(errors="replace").splitlines() if l.strip()]
    exc = [i for i, l in enumerate(lines) if re.match(r"^[A-Za-z_.]*(Error|Exception)\b", l)]
    if not exc:
        return failure("run_ezkl.py", r, log)
    tb = next((i for i, l in enumerate(lines) if l.startswith("Traceback")), exc[-1])
    said = [l for l in lines[:tb] if "low scale values" not in l][-2:]
    return " | ".join(dict.fromkeys(said + [lines[exc[-1]]]))


def drop_big_files(*dirs):
    for d in dirs:
        for f in ("pk.key", "pk.bin", "kzg.srs"):
            (d / f).unlink(missing_ok=True)
        for f in d.glob("kzg_*.srs"):
            f.unlink()


# ---------------------------------------------------------------- report

def fmt(x, nd=2):
    if x is None:
        return "-"
    if isinstance(x, float):
        if x != 0 and abs(x) < 10 ** -nd:
            return f"{x:.1e}"
        return f"{x:.{nd}f}"
    return str(x)


def ratio(zk, ez):
    return f"{ez / zk:.0f}×" if zk and ez and ez / zk >= 10 else (f"{ez / zk:.1f}×" if zk and ez else "-")


def triple(zk, ez):
    return f"{fmt(zk)} / {fmt(ez)} / {ratio(zk, ez)}"


def table(results):
    head = ("| model | zkinfer k | EZKL logrows | SRS gen s (zk dev / ezkl) | setup s (zk / ezkl / ezkl÷zk) "
            "| prove s (zk / ezkl / ezkl÷zk) | verify s (zk / ezkl) | peak RSS MB (zk / ezkl) "
            "| proof bytes (zk / ezkl) | max \\|err\\| vs ORT (zk / ezkl) |")
    rows = [head, "|" + "---|" * 10]
    notes = []
    for r in results:
        for e in r.get("ezkl", []):
            # calibrated EZKL is compared with calibrated zkinfer when that ran
            cal = e.get("calibrated") and "zkinfer_cal" in r
            z = r["zkinfer_cal"] if cal else r.get("zkinfer", {})
            zs = z.get("steps", {})
            zt = lambda s: zs[s]["wall_s"] if s in zs and zs[s]["rc"] == 0 else None
            et = e.get("t", {})
            name = r["model"] + ((" (both calibrated)" if cal else " (EZKL calibrated)") if e.get("calibrated") else "")
            rows.append("| " + " | ".join([
                name, fmt(z.get("k")), fmt(e.get("logrows")),
                f"{fmt(z.get('dev_srs_s'))} / {fmt(et.get('gen_srs'))}",
                triple(zt("setup"), et.get("setup")),
                triple(zt("prove"), et.get("prove")),
                f"{fmt(zt('verify'), 3)} / {fmt(et.get('verify'), 3)}",
                f"{fmt(z.get('peak_rss_mb'), 0)} / {fmt(e.get('peak_rss_mb'), 0)}",
                f"{fmt(z.get('proof_bytes'))} / {fmt(e.get('proof_bytes'))}",
                f"{fmt(r.get('err_zk_cal' if cal else 'err_zk'), 4)} / {fmt(r.get(('err_ezkl_cal' if e.get('calibrated') else 'err_ezkl')), 4)}",
            ]) + " |")
            if "error" in e:
                notes.append(f"- {name}: EZKL failed: {e['error']}")
            if cal and "error" in z:
                notes.append(f"- {name}: zkinfer calibrated: {z['error']}")
        z = r.get("zkinfer", {})
        if "error" in z:
            notes.append(f"- {r['model']}: zkinfer: {z['error']}")
        if z.get("srs_mode") == "dev":
            notes.append(f"- {r['model']}: zkinfer ran with its dev SRS: its setup/prove/verify times include SRS generation")
        if r.get("ort_error"):
            notes.append(f"- {r['model']}: onnxruntime reference failed: {r['ort_error']}")
    return "\n".join(rows + ([""] + notes if notes else []))


def summary(results):
    """Median and minimum EZKL÷zkinfer ratios of setup and prove over the models both proved."""
    out = []
    for label, cal in (("default settings", False), ("EZKL calibrated", True)):
        ratios = {"setup": [], "prove": []}
        for r in results:
            for e in r.get("ezkl", []):
                if bool(e.get("calibrated")) != cal or "error" in e:
                    continue
                z = r["zkinfer_cal"] if cal and "zkinfer_cal" in r else r.get("zkinfer", {})
                zs = z.get("steps", {})
                for step in ratios:
                    zt, et = zs.get(step, {}), e.get("t", {}).get(step)
                    if zt.get("rc") == 0 and zt.get("wall_s") and et and z.get("verified"):
                        ratios[step].append(et / zt["wall_s"])
        if ratios["prove"]:
            med = lambda v: sorted(v)[len(v) // 2] if len(v) % 2 else (sorted(v)[len(v) // 2 - 1] + sorted(v)[len(v) // 2]) / 2
            out.append(f"- {label}, {len(ratios['prove'])} models both proved: prove EZKL÷zkinfer median {med(ratios['prove']):.1f}× "
                       f"(min {min(ratios['prove']):.1f}×), setup median {med(ratios['setup']):.1f}× (min {min(ratios['setup']):.1f}×)")
    return "\n".join(out)


def curve(results):
    """The sweep as curves: per architecture, smallest first, k and the EZKL÷zkinfer prove and
    peak-memory ratios (both calibrated when --calibrate ran)."""
    rows = ["| model | k (zk / ezkl) | prove s (zk / ezkl) | prove ratio | peak RSS MB (zk / ezkl) | RSS ratio |", "|---|---|---|---|---|---|"]
    for r in results:
        if not r["dir"].split("/")[-2:-1] == ["sweep-models"]:
            continue
        e = next((x for x in reversed(r.get("ezkl", [])) if "error" not in x), None)
        cal = e is not None and e.get("calibrated") and "zkinfer_cal" in r
        z = r["zkinfer_cal"] if cal else r.get("zkinfer", {})
        zp = z.get("steps", {}).get("prove", {})
        zt = zp.get("wall_s") if zp.get("rc") == 0 else None
        et = (e or {}).get("t", {}).get("prove")
        zr, er = z.get("peak_rss_mb"), (e or {}).get("peak_rss_mb")
        rows.append(f"| {r['model']}{' (calibrated)' if cal else ''} | {fmt(z.get('k'))} / {fmt((e or {}).get('logrows'))} | {fmt(zt)} / {fmt(et)} | "
                    f"{ratio(zt, et)} | {fmt(zr, 0)} / {fmt(er, 0)} | {ratio(zr, er)} |")
    return "\n".join(rows)


# ---------------------------------------------------------------- main

def binary_info(zk):
    """Which zkinfer ran: path, mtime, sha256 prefix and the repo's HEAD when the run started
    (the binary may have been built from another tree: compare the mtime with the commit's)."""
    import hashlib
    h = hashlib.sha256()
    with open(zk, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    head = subprocess.run(["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip()
    if subprocess.run(["git", "-C", str(REPO), "status", "--porcelain", "--untracked-files=no"], capture_output=True, text=True).stdout.strip():
        head += "+dirty"
    mtime = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(zk.stat().st_mtime))
    return {"path": str(zk), "mtime": mtime, "sha256": h.hexdigest()[:16], "git_head": head}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--models", nargs="+", help="model folders (relative to the repo root); default: the bundled digits models")
    ap.add_argument("--peer", action="store_true", help=f"every folder of {PEER_DIR} that zkinfer can compile (after --models, else instead of the default list)")
    ap.add_argument("--calibrate", action="store_true", help="also run EZKL with --calibrate resources, against `zkinfer calibrate --target resources` with calibrated EZKL's error as its tolerance")
    ap.add_argument("--ezkl-calibrated-only", action="store_true", help="with --calibrate, skip EZKL's default-settings run (halves a long peer-model run)")
    ap.add_argument("--timeout", type=float, default=900, help="seconds per child process (default 900)")
    ap.add_argument("--work", default="out/compare", help="work folder (relative to the repo root)")
    ap.add_argument("--json", help="write the raw results here")
    ap.add_argument("--zk-dev-srs", action="store_true", help="run zkinfer with its built-in dev SRS (times then include SRS generation)")
    ap.add_argument("--keep-keys", action="store_true", help="keep proving keys and SRS files (EZKL's pk is ~0.5 GB at logrows 17)")
    ap.add_argument("--sweep", help="comma-separated architectures (mlp,cnn,attention) generated at growing size (sweep.py) and compared; "
                    "prints the ratios as a curve over k")
    ap.add_argument("--sweep-points", type=int, help="only the first N sizes of each architecture")
    a = ap.parse_args()

    zk = Path(os.environ.get("ZKINFER", "target/release/zkinfer"))
    zk = zk if zk.is_absolute() else REPO / zk
    if not zk.exists():
        sys.exit(f"zkinfer binary not found at {zk} (set ZKINFER or build it)")
    work_root = REPO / a.work
    # run a snapshot, so that a rebuild of target/release during the run cannot mix binaries
    work_root.mkdir(parents=True, exist_ok=True)
    info = binary_info(zk)
    snap = work_root / "zkinfer.bin"
    shutil.copy2(zk, snap)
    zk = snap
    entries = [(m, False) for m in (a.models or ([] if (a.peer or a.sweep) else DEFAULT_MODELS))]
    if a.sweep:
        import sweep
        for d in sweep.generate(work_root / "sweep-models", a.sweep.split(","), a.sweep_points):
            entries.append((str(d.relative_to(REPO)), False))
    if a.peer:
        entries += [(f"{PEER_DIR}/{p.name}", True) for p in sorted((REPO / PEER_DIR).iterdir()) if p.is_dir()]

    results, started, load0 = [], time.perf_counter(), os.getloadavg()
    for i, (m, from_peer) in enumerate(entries):
        d = (REPO / m).resolve()
        name = d.name
        r = {"model": name, "dir": m}
        results.append(r)
        model = model_file(d)
        if model is None or not (d / "input.json").exists():
            r["zkinfer"] = {"error": "no model.onnx/network.onnx + input.json"}
            continue
        print(f"[{i + 1}/{len(entries)}] {name}", file=sys.stderr, flush=True)
        zk_work = work_root / name / "zk"
        if zk_work.exists():
            shutil.rmtree(zk_work)
        r["zkinfer"] = run_zkinfer(zk, d, model, zk_work, a.timeout, a.zk_dev_srs)
        if from_peer and "unsupported" in r["zkinfer"].get("error", ""):
            print(f"  zkinfer: {r['zkinfer']['error']} (skipped)", file=sys.stderr, flush=True)
            r["ezkl"] = []
            continue
        skip_default = a.calibrate and a.ezkl_calibrated_only
        r["ezkl"] = [] if skip_default else [run_ezkl(d, work_root / name / "ezkl", a.timeout, False)]
        try:
            ref = ort_outputs(model, d / "input.json")
        except Exception as e:  # a reference failure is reported, not fatal
            ref, r["ort_error"] = None, str(e).splitlines()[0][:200]
        if a.calibrate:
            r["ezkl"].append(run_ezkl(d, work_root / name / "ezkl_cal", a.timeout, True))
            # zkinfer calibrates for the fastest circuit at least as accurate as calibrated
            # EZKL on this input (or for its own default tolerance when EZKL failed)
            target = max_err(ref, r["ezkl"][-1].get("outputs"))
            zk_cal_work = work_root / name / "zk_cal"
            if zk_cal_work.exists():
                shutil.rmtree(zk_cal_work)
            r["zkinfer_cal"] = run_zkinfer(zk, d, model, zk_cal_work, a.timeout, a.zk_dev_srs, calibrate=True, atol=target)
        r["err_zk"] = max_err(ref, r["zkinfer"].get("outputs"))
        for e in r["ezkl"]:
            r["err_ezkl_cal" if e["calibrated"] else "err_ezkl"] = max_err(ref, e.get("outputs"))
        if a.calibrate:
            r["err_zk_cal"] = max_err(ref, r["zkinfer_cal"].get("outputs"))
        if not a.keep_keys:
            drop_big_files(zk_work, *(work_root / name / s for s in ("zk_cal", "ezkl", "ezkl_cal")))
        zks = [("zkinfer", r["zkinfer"])] + ([("zkinfer_cal", r["zkinfer_cal"])] if "zkinfer_cal" in r else [])
        for tool, rr in zks + [("ezkl" + ("_cal" if e["calibrated"] else ""), e) for e in r["ezkl"]]:
            print(f"  {tool}: {rr.get('error', 'ok')}", file=sys.stderr, flush=True)

    total = round(time.perf_counter() - started, 1)
    snap.unlink(missing_ok=True)
    out = {"zkinfer": info, "cores": os.cpu_count(), "total_s": total, "argv": sys.argv[1:],
           "loadavg_start": load0, "loadavg_end": os.getloadavg(), "models": results}
    if a.json:
        Path(a.json).write_text(json.dumps(out, indent=1) + "\n")
    print(table([r for r in results if r.get("ezkl")]))
    print("\n" + summary(results))
    if a.sweep:
        print("\n" + curve(results))
    unsupported = [f"- {r['model']}: {r['zkinfer']['error']}" for r in results
                   if "unsupported" in r.get("zkinfer", {}).get("error", "") and not r.get("ezkl")]
    if unsupported:
        print("\nSkipped (zkinfer cannot compile them, EZKL not run):\n" + "\n".join(unsupported))
    b = out["zkinfer"]
    print(f"\nzkinfer binary built {b['mtime']} (sha256 {b['sha256']}, repo HEAD {b['git_head']}).")
    print(f"Total {total} s on {os.cpu_count()} cores (load average {load0[0]:.1f} at start, {os.getloadavg()[0]:.1f} at end).")


if __name__ == "__main__":
    main()
