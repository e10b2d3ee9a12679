#!/usr/bin/env python3
"""Statistics oracle for Ripcord's judge, computed independently with scipy.

Writes testdata/stats/oracle.json: distribution-function cases (binomial log-pmf, normal cdf/ppf,
lognormal cdf, log-gamma, log-beta, Bernoulli KL) and end-to-end log e-values of the fail test
(two-cell share e-process), of the K-cell ordinal fail test, and of the pass test (one-cell e-process) with its confidence sequence,
for seeded tick sequences; and of the one-sample test against an absolute limit (fail and pass
e-values, confidence sequence; sidecar/src/stats/limit.rs). The grids and weights are defined by the formulas documented in
sidecar/src/stats/{share,ratio}.rs; the constants are exported so the Rust test checks they agree.

  python3 scripts/scipy_oracle.py          # regenerate the file
  python3 scripts/scipy_oracle.py --check  # regenerate in memory, compare with the committed file

Needs: pip install scipy
"""
import json
import math
import random
import sys
from pathlib import Path

import numpy as np
from scipy import optimize, special, stats

OUT = Path(__file__).resolve().parent.parent / "testdata" / "stats" / "oracle.json"

PRIOR = {
    "low_fraction": 1.0,
    "psi_hi": 3.5,
    "points": 32,
    "gamma": 0.0,
    "psi_floor": 0.05,
    "refresh_logit": 0.01,
    "grid_points": 161,
    "grid_range": 64.0,
    "pass_span": 2.0,
}

LIMIT = {"grid_points": 32, "psi_lo": 0.02, "psi_hi": 4.0}


def distribution_cases():
    binomial = [(k, n, p) for n, p in [(10, 0.3), (200, 0.01), (1000, 0.5), (57, 0.97)]
                for k in sorted({0, 1, n // 3, n - 1, n})]
    return {
        "binomial_ln_pmf": [[k, n, p, float(stats.binom.logpmf(k, n, p))] for k, n, p in binomial],
        "normal_cdf": [[x, float(stats.norm.cdf(x))] for x in [-8.0, -3.0, -1.96, -0.5, 0.0, 0.7, 2.326, 5.0]],
        "normal_ppf": [[p, float(stats.norm.ppf(p))] for p in [1e-10, 1e-4, 0.01, 0.025, 0.3, 0.5, 0.9, 0.99, 0.999999]],
        "lognormal_cdf": [[x, mu, s, float(stats.lognorm.cdf(x, s, scale=math.exp(mu)))]
                          for x, mu, s in [(0.1, math.log(0.1), 0.5), (0.25, math.log(0.1), 0.5),
                                           (0.5, math.log(0.11), 0.5), (2.5, math.log(0.3), 1.0),
                                           (0.005, math.log(0.1), 1.0)]],
        "ln_gamma": [[x, float(special.gammaln(x))] for x in [0.1, 0.5, 1.0, 2.5, 10.0, 171.3, 1e5]],
        "ln_beta": [[a, b, float(special.betaln(a, b))] for a, b in [(0.5, 0.5), (1, 1), (2.5, 7), (100, 3), (1e4, 0.1)]],
        "bernoulli_kl": [[p, q, float(special.rel_entr(p, q) + special.rel_entr(1 - p, 1 - q))]
                         for p, q in [(0.05, 0.01), (0.02, 0.01), (0.01, 0.001), (0.0, 0.3), (1.0, 0.5), (0.09, 0.1)]],
    }


def expit(x):
    return 1.0 / (1.0 + math.exp(-x)) if x >= 0 else math.exp(x) / (1.0 + math.exp(x))


def share_grid(tolerance, higher_is_worse):
    tol_psi = math.log1p(tolerance) if higher_is_worse else -math.log1p(-tolerance)
    return log_odds_grid(PRIOR["low_fraction"] * tol_psi)


def log_odds_grid(tol_psi):
    lo = min(max(tol_psi, PRIOR["psi_floor"]), PRIOR["psi_hi"] / 2)
    k = PRIOR["points"]
    psi = [lo * (PRIOR["psi_hi"] / lo) ** (i / (k - 1)) for i in range(k)]
    raw = [PRIOR["gamma"] * math.log(p) for p in psi]
    norm = special.logsumexp(raw)
    return psi, [w - norm for w in raw]


def theta(rho, n_a, n_b):
    return rho * n_a / (rho * n_a + n_b)


def cell_log_factor(x_a, x, rho, n_a, n_b):
    """log of the cell's likelihood ratio, alternative rho vs. the split theta0, via binom.logpmf."""
    if x == 0:
        return 0.0
    return float(stats.binom.logpmf(x_a, x, theta(rho, n_a, n_b)) - stats.binom.logpmf(x_a, x, theta(1.0, n_a, n_b)))


def fail_log_e(case):
    psi, ln_w = share_grid(case["tolerance"], case["higher_is_worse"])
    log_l = [0.0] * len(psi)
    bad_hist, total_hist = case["history"]
    refreshed = None
    for x_a, n_a, x_b, n_b in case["ticks"]:
        if case["higher_is_worse"]:
            bad_a, bad_b = x_a, x_b
        else:
            bad_a, bad_b = n_a - x_a, n_b - x_b
        if n_a > 0 and n_b > 0:
            q_hat = (bad_hist + 0.5) / (total_hist + 1.0)
            current = math.log(q_hat / (1 - q_hat))
            if refreshed is None or abs(current - refreshed) > PRIOR["refresh_logit"]:
                refreshed = current
            q = expit(refreshed)
            for k, p in enumerate(psi):
                q_alt = expit(refreshed + p)
                rho_bad, rho_good = q_alt / q, (1 - q_alt) / (1 - q)
                log_l[k] += cell_log_factor(bad_a, bad_a + bad_b, rho_bad, n_a, n_b)
                log_l[k] += cell_log_factor(n_a - bad_a, n_a + n_b - bad_a - bad_b, rho_good, n_a, n_b)
        bad_hist += bad_b
        total_hist += n_b
    return float(special.logsumexp([w + l for w, l in zip(ln_w, log_l)]))


def grid_ratio(j):
    half = (PRIOR["grid_points"] - 1) // 2
    return PRIOR["grid_range"] ** ((j - half) / half)


def pass_and_interval(case):
    higher = case["higher_is_worse"]
    null = 1 + case["tolerance"] if higher else 1 - case["tolerance"]
    rho = [grid_ratio(j) for j in range(PRIOR["grid_points"])]
    ll = [0.0] * len(rho)
    ll_null = 0.0
    for x_a, n_a, x_b, n_b in case["ticks"]:
        x = x_a + x_b
        if x == 0 or n_a == 0 or n_b == 0:
            continue
        for j, r in enumerate(rho):
            ll[j] += float(stats.binom.logpmf(x_a, x, theta(r, n_a, n_b)))
        ll_null += float(stats.binom.logpmf(x_a, x, theta(null, n_a, n_b)))

    def good(r):
        d = math.log(null) - math.log(r) if higher else math.log(r) - math.log(null)
        return 0 < d <= PRIOR["pass_span"]

    chosen = [l for r, l in zip(rho, ll) if good(r)]
    pass_log_e = float(special.logsumexp(chosen) - math.log(len(chosen)) - ll_null)
    cut = float(special.logsumexp(ll) - math.log(len(ll))) + math.log(case["alpha"])
    inside = [j for j, l in enumerate(ll) if l > cut]
    lower = 0.0 if inside[0] == 0 else rho[inside[0] - 1]
    upper = None if inside[-1] == len(rho) - 1 else rho[inside[-1] + 1]
    return pass_log_e, lower, upper


def tick_cases():
    cases = []
    scenarios = [
        ("errors 1%->5%", 0.5, True, 0.01, 0.05, 50, 40),
        ("errors A/A", 0.5, True, 0.01, 0.01, 50, 60),
        ("errors 0.1%->1% thin", 0.5, True, 0.001, 0.01, 20, 80),
        ("conversion 10%->6%", 0.05, False, 0.10, 0.06, 30, 50),
        ("conversion A/A", 0.2, False, 0.3, 0.3, 40, 30),
        ("errors canary better", 0.2, True, 0.05, 0.02, 60, 40),
    ]
    for seed, (name, tol, higher, base, bad, rps, ticks) in enumerate(scenarios):
        rng = random.Random(seed)
        rows = []
        for t in range(ticks):
            n_a = 0 if t % 17 == 5 else rng.randint(0, 2 * rps)
            n_b = rng.randint(0, 2 * rps)
            x_a = sum(rng.random() < bad for _ in range(n_a))
            x_b = sum(rng.random() < base for _ in range(n_b))
            rows.append([x_a, n_a, x_b, n_b])
        bad_hist = round(base * 600) if higher else round((1 - base) * 600)
        case = {"name": name, "tolerance": tol, "higher_is_worse": higher, "alpha": 0.01,
                "history": [bad_hist, 600], "ticks": rows}
        case["fail_log_e"] = fail_log_e(case)
        case["pass_log_e"], case["lower"], case["upper"] = pass_and_interval(case)
        cases.append(case)
    return cases


def ordinal_log_e(case):
    """K-cell fail test: proportional-odds alternatives, per-cell conditional binomial factors."""
    psi, ln_w = log_odds_grid(case["psi_tolerance"])
    log_l = np.zeros(len(psi))
    history = np.array(case["history"], dtype=float)
    k = len(history)
    refreshed = None
    for canary, baseline in case["ticks"]:
        canary, baseline = np.array(canary, dtype=float), np.array(baseline, dtype=float)
        n_a, n_b = canary.sum(), baseline.sum()
        if n_a > 0 and n_b > 0:
            f_hat = np.cumsum(history + 0.5)[:-1] / (history.sum() + 0.5 * k)
            current = special.logit(f_hat)
            if refreshed is None or np.any(np.abs(current - refreshed) > PRIOR["refresh_logit"]):
                refreshed = current
            q = np.diff(np.concatenate(([0.0], special.expit(refreshed), [1.0])))
            for j, p in enumerate(psi):
                p_alt = np.diff(np.concatenate(([0.0], special.expit(refreshed - p), [1.0])))
                rho = np.maximum.accumulate(p_alt / q)
                log_l[j] += sum(cell_log_factor(x_a, x_a + x_b, r, n_a, n_b)
                                for x_a, x_b, r in zip(canary, baseline, rho))
        history = history + baseline
    return float(special.logsumexp(np.array(ln_w) + log_l))


def ordinal_cases():
    """Seeded latency-like ticks on K ordered cells (fastest first), canary shifted or not."""
    cases = []
    scenarios = [
        ("4 cells slower canary", [0.22, 0.43, 0.32, 0.03], [0.15, 0.42, 0.38, 0.05], 0.12, 50, 40),
        ("4 cells A/A", [0.22, 0.43, 0.32, 0.03], [0.22, 0.43, 0.32, 0.03], 0.12, 50, 40),
        ("3 cells faster canary", [0.5, 0.4, 0.1], [0.6, 0.35, 0.05], 0.0, 30, 50),
        ("5 cells tail only", [0.2, 0.3, 0.3, 0.15, 0.05], [0.2, 0.3, 0.3, 0.1, 0.1], 0.5, 20, 60),
    ]
    for seed, (name, base, canary, psi_tol, rps, ticks) in enumerate(scenarios):
        rng = np.random.default_rng(100 + seed)
        rows = []
        for t in range(ticks):
            n_a = 0 if t % 13 == 4 else int(rng.integers(0, 2 * rps + 1))
            n_b = int(rng.integers(0, 2 * rps + 1))
            rows.append([rng.multinomial(n_a, canary).tolist(), rng.multinomial(n_b, base).tolist()])
        history = [int(round(p * 2000)) for p in base]
        case = {"name": name, "psi_tolerance": psi_tol, "history": history, "ticks": rows}
        case["log_e"] = ordinal_log_e(case)
        cases.append(case)
    return cases


def limit_results(case):
    """One-sample test: per-tick binomial log-likelihood ratios summed, mixed uniformly."""
    k = LIMIT["grid_points"]
    psi = [LIMIT["psi_lo"] * (LIMIT["psi_hi"] / LIMIT["psi_lo"]) ** (i / (k - 1)) for i in range(k)]
    limit, worse = case["limit"], (1.0 if case["higher_is_worse"] else -1.0)
    bad = [float(special.expit(special.logit(limit) + worse * p)) for p in psi]
    good = [float(special.expit(special.logit(limit) - worse * p)) for p in psi]

    def ll(p):
        return sum(float(stats.binom.logpmf(x, n, p)) for x, n in case["ticks"])

    ll_limit = ll(limit)
    fail = float(special.logsumexp([ll(q) for q in bad]) - math.log(k)) - ll_limit
    pass_ = float(special.logsumexp([ll(q) for q in good]) - math.log(k)) - ll_limit
    cut = float(special.logsumexp([ll(q) for q in bad + good]) - math.log(2 * k)) + math.log(case["alpha"])
    x = sum(t[0] for t in case["ticks"])
    n = sum(t[1] for t in case["ticks"])
    centre = x / n

    def end(bound):
        if ll(bound) > cut:
            return float(bound)
        return float(optimize.brentq(lambda p: ll(p) - cut, min(centre, bound), max(centre, bound), xtol=1e-15))

    return fail, pass_, end(0.0), end(1.0)


def limit_cases():
    cases = []
    scenarios = [
        ("errors limit 2%, erring 4%", 0.02, True, 0.04, 50, 40),
        ("errors at the limit 2%", 0.02, True, 0.02, 50, 60),
        ("conversion at least 3%, converting 1.5%", 0.03, False, 0.015, 40, 50),
        ("p99 limit: 1% above the edge, 0.3% seen", 0.01, True, 0.003, 80, 40),
        ("no events", 0.05, True, 0.0, 30, 20),
    ]
    for seed, (name, limit, higher, rate, rps, ticks) in enumerate(scenarios):
        rng = np.random.default_rng(200 + seed)
        rows = []
        for _ in range(ticks):
            n = int(rng.integers(1, 2 * rps + 1))
            rows.append([int(rng.binomial(n, rate)), n])
        case = {"name": name, "limit": limit, "higher_is_worse": higher, "alpha": 0.01, "ticks": rows}
        case["fail_log_e"], case["pass_log_e"], case["lower"], case["upper"] = limit_results(case)
        cases.append(case)
    return cases


def build():
    return {"generator": "scripts/scipy_oracle.py", "prior": PRIOR, "limit": LIMIT,
            "distributions": distribution_cases(), "e_values": tick_cases(),
            "ordinal_e_values": ordinal_cases(), "limit_e_values": limit_cases()}


def close(a, b, path="$"):
    if isinstance(a, float) or isinstance(b, float):
        if a is None or b is None:
            return [f"{path}: {a} vs {b}"]
        ok = abs(a - b) <= 1e-12 * max(1.0, abs(a), abs(b))
        return [] if ok else [f"{path}: {a} vs {b}"]
    if isinstance(a, dict) and isinstance(b, dict):
        if a.keys() != b.keys():
            return [f"{path}: keys differ"]
        return [m for k in a for m in close(a[k], b[k], f"{path}.{k}")]
    if isinstance(a, list) and isinstance(b, list):
        if len(a) != len(b):
            return [f"{path}: lengths differ"]
        return [m for i, (x, y) in enumerate(zip(a, b)) for m in close(x, y, f"{path}[{i}]")]
    return [] if a == b else [f"{path}: {a!r} vs {b!r}"]


def main():
    oracle = build()
    if "--check" in sys.argv[1:]:
        committed = json.loads(OUT.read_text())
        problems = close(oracle, committed)
        for p in problems[:20]:
            print(p, file=sys.stderr)
        if problems:
            print(f"{OUT} is stale: {len(problems)} differences; rerun scripts/scipy_oracle.py", file=sys.stderr)
            return 1
        print(f"{OUT} matches the scipy oracle")
        return 0
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(oracle, indent=1) + "\n")
    print(f"wrote {OUT}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
