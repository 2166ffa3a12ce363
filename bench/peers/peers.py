#!/usr/bin/python3
"""bench/peers/peers.py - the SGD and SAM steps of the sam.h benchmarks, timed
in NumPy and PyTorch (CPU, one thread) on the same configurations, with
sam.h's ratio to each when given our Google Benchmark JSON output.

    make bench-peers
    /usr/bin/python3 bench/peers/peers.py [--ours build/bench/steps.json] [--reps 5]

Configurations (the ones bench/bench_optim.cc registers):
  cnn_b20_P2_d1000_m10  Chen et al.'s two-layer CNN, batch 20, P = 2 patches of
                        d = 1000, m = 10 filters per class (2m x d weights),
                        ReLU, logistic loss, on Chen's signal/noise data.
  mlp_b1_d30_w500       Wen et al.'s two-layer ReLU MLP with bias
                        (f = W2 relu(W1 x + b1)), d = 30, width 500, MSE,
                        batch 1 (a 1-SAM step), on 2-parity data.
Steps: SGD  w -= lr g(w);  SAM  e = rho g/||g||, w -= lr g(w + e)
(Foret et al. eq. 2-3), two gradients per step.

PyTorch is optional: if `import torch` fails the PyTorch column says so and
the script still exits 0. Times are CPU time per step (time.process_time, as
Google Benchmark's default), the median of --reps repetitions, each repetition
running for at least --min-time seconds.
"""
import argparse
import json
import os
import statistics
import sys
import time

# One thread everywhere, before NumPy loads its BLAS.
for _v in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_v, "1")

import numpy as np  # noqa: E402

try:
    import torch  # noqa: E402
    torch.set_num_threads(1)
    TORCH = "PyTorch %s" % torch.__version__
except Exception as exc:  # pragma: no cover - depends on the machine
    torch = None
    TORCH = "PyTorch not installed (%s: %s); apt-get install python3-torch" % (type(exc).__name__, exc)

LR, RHO = 0.1, 0.3


# ---------------------------------------------------------------- data ----

def chen_batch(rng, n, P, d, mu_norm=2.0, sigma_p=1.0, p_flip=0.1):
    """n samples of Chen et al.'s data: one patch y_clean*mu, P-1 patches the same xi."""
    y_clean = rng.choice([-1.0, 1.0], size=n)
    y = np.where(rng.random(n) < p_flip, -y_clean, y_clean)
    mu = np.zeros(d); mu[0] = mu_norm
    xi = rng.normal(0.0, sigma_p, size=(n, d)); xi[:, 0] = 0.0  # orthogonal to mu
    x = np.repeat(xi[:, None, :], P, axis=1)
    pos = rng.integers(0, P, size=n)
    x[np.arange(n), pos] = y_clean[:, None] * mu
    return x.astype(np.float32), y.astype(np.float32)


def parity_batch(rng, n, d):
    x = rng.choice([-1.0, 1.0], size=(n, d))
    return x.astype(np.float32), (x[:, 0] * x[:, 1]).astype(np.float32)


# --------------------------------------------------------------- NumPy ----

def np_cnn_loss_grad(W, x, y, m):
    """W: 2m x d, x: B x P x d. f = F+ - F-, F_j = (1/m) sum_r sum_p relu(<w_jr, x_p>)."""
    B, P, d = x.shape
    X = x.reshape(B * P, d)
    pre = X @ W.T                                     # B*P x 2m
    act = np.maximum(pre, 0.0)
    sign = np.concatenate([np.ones(m, np.float32), -np.ones(m, np.float32)]) / m
    f = (act @ sign).reshape(B, P).sum(axis=1)        # B
    z = -y * f
    loss = np.mean(np.logaddexp(0.0, z))
    dldf = (-y / (1.0 + np.exp(-z))) / B              # d loss / d f
    dpre = (np.repeat(dldf, P)[:, None] * sign[None, :]) * (pre > 0)
    return loss, (dpre.T @ X).astype(np.float32)      # 2m x d


def np_mlp_loss_grad(w, x, y, d, width):
    """w = [W1 (width x d), b1 (width), W2 (width)]; f = W2 relu(W1 x + b1); MSE."""
    W1 = w[:width * d].reshape(width, d)
    b1 = w[width * d:width * d + width]
    W2 = w[width * d + width:]
    pre = x @ W1.T + b1                               # B x width
    h = np.maximum(pre, 0.0)
    f = h @ W2
    r = f - y
    loss = np.mean(r * r)
    df = 2.0 * r / x.shape[0]
    dh = np.outer(df, W2) * (pre > 0)
    g = np.empty_like(w)
    g[:width * d] = (dh.T @ x).ravel()
    g[width * d:width * d + width] = dh.sum(axis=0)
    g[width * d + width:] = h.T @ df
    return loss, g


def np_sgd(w, lg):
    _, g = lg(w)
    w -= LR * g


def np_sam(w, lg):
    _, g = lg(w)
    nrm = float(np.sqrt(np.dot(g.ravel(), g.ravel())))
    e = (RHO / nrm) * g if nrm > 0 else np.zeros_like(g)
    _, g2 = lg(w + e)
    w -= LR * g2


# ------------------------------------------------------------- PyTorch ----

def th_cnn_loss(W, x, y, sign):
    B, P, d = x.shape
    pre = x.reshape(B * P, d) @ W.T
    f = (torch.relu(pre) @ sign).reshape(B, P).sum(dim=1)
    return torch.nn.functional.softplus(-y * f).mean()


def th_mlp_loss(w, x, y, d, width):
    W1 = w[:width * d].reshape(width, d)
    b1 = w[width * d:width * d + width]
    W2 = w[width * d + width:]
    f = torch.relu(x @ W1.T + b1) @ W2
    return ((f - y) ** 2).mean()


def th_grad(w, loss_fn):
    w.grad = None
    loss = loss_fn(w)
    loss.backward()
    return w.grad


def th_sgd(w, loss_fn):
    g = th_grad(w, loss_fn)
    with torch.no_grad():
        w -= LR * g


def th_sam(w, loss_fn):
    g = th_grad(w, loss_fn).clone()
    with torch.no_grad():
        nrm = torch.linalg.vector_norm(g)
        e = (RHO / nrm) * g if nrm > 0 else torch.zeros_like(g)
        w += e                       # climb to w + e (Foret et al. eq. 2)
    g2 = th_grad(w, loss_fn)
    with torch.no_grad():
        w -= e                       # back to w, then the base step with g(w + e)
        w -= LR * g2


# -------------------------------------------------------------- timing ----

def timeit(step, reps, min_time):
    step()  # warm up (allocations, first-call dispatch)
    meds = []
    for _ in range(reps):
        n, t0 = 0, time.process_time()
        while True:
            step()
            n += 1
            t = time.process_time() - t0
            if t >= min_time:
                break
        meds.append(t / n)
    return statistics.median(meds)


def ours_from_json(path):
    """{(op, config): seconds} from Google Benchmark JSON (median aggregate, best ISA)."""
    with open(path) as f:
        data = json.load(f)
    scale = {"ns": 1e-9, "us": 1e-6, "ms": 1e-3, "s": 1.0}
    best = {}
    rank = {"avx2": 0, "neon": 0, "scalar": 1}
    for b in data.get("benchmarks", []):
        if b.get("error_occurred"):
            continue
        if b.get("run_type") == "aggregate" and b.get("aggregate_name") != "median":
            continue
        name = b.get("run_name", b["name"])
        parts = name.split("/")
        if len(parts) < 3 or not parts[0].startswith("BM_"):
            continue
        op, isa, cfg = parts[0][3:], parts[1], "/".join(parts[2:])
        sec = b["cpu_time"] * scale[b.get("time_unit", "ns")]
        key = (op, cfg)
        r = rank.get(isa, 2)
        if key not in best or r < best[key][0] or (b.get("run_type") == "aggregate" and r == best[key][0]):
            best[key] = (r, sec, isa)
    return {k: (v[1], v[2]) for k, v in best.items()}


def fmt(sec):
    if sec is None:
        return "-"
    if sec < 1e-3:
        return "%.1f us" % (sec * 1e6)
    return "%.3f ms" % (sec * 1e3)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--ours", help="JSON written by sam_bench --benchmark_out=FILE --benchmark_out_format=json")
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--min-time", type=float, default=0.2)
    args = ap.parse_args()

    rng = np.random.default_rng(0)
    B, P, d, m = 20, 2, 1000, 10
    cx, cy = chen_batch(rng, B, P, d)
    cW = (0.01 * rng.standard_normal((2 * m, d))).astype(np.float32)
    md, width = 30, 500
    mx, my = parity_batch(rng, 1, md)
    mw = np.concatenate([rng.uniform(-1, 1, width * md) / np.sqrt(md), rng.uniform(-1, 1, width) / np.sqrt(md),
                         rng.uniform(-1, 1, width) / np.sqrt(width)]).astype(np.float32)

    cfgs = []  # (config, op, numpy step, torch step or None)
    c_lg = lambda w: np_cnn_loss_grad(w, cx, cy, m)  # noqa: E731
    m_lg = lambda w: np_mlp_loss_grad(w, mx, my, md, width)  # noqa: E731
    cw_np, mw_np = cW.copy(), mw.copy()
    if torch is not None:
        tcx, tcy = torch.from_numpy(cx), torch.from_numpy(cy)
        sign = torch.cat([torch.ones(m), -torch.ones(m)]) / m
        tmx, tmy = torch.from_numpy(mx), torch.from_numpy(my)
        cw_t = torch.from_numpy(cW.copy()).requires_grad_(True)
        mw_t = torch.from_numpy(mw.copy()).requires_grad_(True)
        c_loss = lambda w: th_cnn_loss(w, tcx, tcy, sign)  # noqa: E731
        m_loss = lambda w: th_mlp_loss(w, tmx, tmy, md, width)  # noqa: E731
        # Same gradients as NumPy (a check that both compute the same step).
        for (lg, lf, w0) in ((c_lg, c_loss, cW), (m_lg, m_loss, mw)):
            _, gn = lg(w0.copy())
            wt = torch.from_numpy(w0.copy()).requires_grad_(True)
            gt = th_grad(wt, lf).numpy()
            err = np.max(np.abs(gt - gn)) / max(1e-12, np.max(np.abs(gn)))
            if err > 1e-4:
                print("peers: NumPy and PyTorch gradients differ (rel %.2g)" % err, file=sys.stderr)
                return 1
    for cfg, wn, lg in (("cnn_b20_P2_d1000_m10", cw_np, c_lg), ("mlp_b1_d30_w500", mw_np, m_lg)):
        for op, fn_np, fn_th in (("step_sgd", np_sgd, th_sgd), ("step_sam", np_sam, th_sam)):
            th = None
            if torch is not None:
                wt, lf = (cw_t, c_loss) if cfg.startswith("cnn") else (mw_t, m_loss)
                th = (lambda f=fn_th, w=wt, l=lf: f(w, l))
            cfgs.append((cfg, op, (lambda f=fn_np, w=wn, l=lg: f(w, l)), th))

    ours = ours_from_json(args.ours) if args.ours else {}
    print("sam.h peers: CPU time per step, median of %d repetitions, one thread" % args.reps)
    print("NumPy %s; %s" % (np.__version__, TORCH))
    hdr = "%-22s %-9s %16s %11s %11s %11s %11s" % ("config", "step", "sam.h", "NumPy", "PyTorch", "NumPy/ours",
                                                   "Torch/ours")
    print(hdr)
    print("-" * len(hdr))
    rows = []
    for cfg, op, fnp, fth in cfgs:
        t_np = timeit(fnp, args.reps, args.min_time)
        t_th = timeit(fth, args.reps, args.min_time) if fth else None
        o = ours.get((op, cfg))
        t_o = o[0] if o else None
        r_np = "%.1fx" % (t_np / t_o) if t_o else "-"
        r_th = "%.1fx" % (t_th / t_o) if (t_o and t_th) else "-"
        print("%-22s %-9s %16s %11s %11s %11s %11s" % (cfg, op, fmt(t_o) + ("" if not o else " " + o[1][:4]),
                                                       fmt(t_np), fmt(t_th), r_np, r_th))
        rows.append({"config": cfg, "step": op, "sam_h_s": t_o, "numpy_s": t_np, "torch_s": t_th})
        g = ours.get((op, cfg + "_generic"))
        if g:  # our CNN without the Chen-data fast path, against the same peer times
            print("%-22s %-9s %16s %11s %11s %11s %11s" % ("  (generic path)", op, fmt(g[0]) + " " + g[1][:4],
                                                           "", "", "%.1fx" % (t_np / g[0]),
                                                           "%.1fx" % (t_th / g[0]) if t_th else "-"))
        sys.stdout.flush()
    if args.ours and not ours:
        print("(no step benchmarks found in %s: is the optimizer part built?)" % args.ours)
    for cfg in ("cnn_b20_P2_d1000_m10", "mlp_b1_d30_w500"):
        t = {r["step"]: r for r in rows if r["config"] == cfg}
        if "step_sgd" in t and "step_sam" in t:
            parts = ["NumPy %.2fx" % (t["step_sam"]["numpy_s"] / t["step_sgd"]["numpy_s"])]
            if t["step_sam"]["torch_s"]:
                parts.append("PyTorch %.2fx" % (t["step_sam"]["torch_s"] / t["step_sgd"]["torch_s"]))
            if t["step_sam"]["sam_h_s"] and t["step_sgd"]["sam_h_s"]:
                parts.append("sam.h %.2fx" % (t["step_sam"]["sam_h_s"] / t["step_sgd"]["sam_h_s"]))
            print("SAM/SGD step-time ratio, %s: %s" % (cfg, ", ".join(parts)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
