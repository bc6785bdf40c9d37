"""Kalman smoothing of a noisy track before map matching.

WHY: at 10–20 m phone noise, a single fix cannot say which of two ways 5–15 m apart (a road and
its separately mapped sidewalk or cycle track, two carriageways) the walker was on, and the HMM,
which scores fixes one at a time, hops between them. Consecutive fixes of a walker are 1–13 m
apart, so a short time window holds many independent looks at the same place. A
constant-velocity Rauch–Tung–Striebel smoother averages them while following turns, and the
matcher then sees points a few metres from the path instead of 20.

Written here rather than taken from a library: filterpy/pykalman run 4×4 matrix algebra per fix
(~50 µs); the two axes of a constant-velocity model with equal noise share one covariance, so
the recursion below runs on a handful of Python floats per fix (~2 µs), which keeps the matcher
above 20,000 fixes/s.
"""

from __future__ import annotations

import numpy as np

# White noise σ per axis on steady walking leaves second differences of variance 6σ² per axis,
# whose length has median 1.1774·√6·σ (Rayleigh): σ = median length × this.
SIGMA_PER_MEDIAN_D2 = 1.0 / (1.1774 * np.sqrt(6.0))


def second_differences(xy: np.ndarray) -> np.ndarray:
    """Lengths of xy[i+1] − 2·xy[i] + xy[i−1]: steady motion cancels, noise stays (see
    :data:`SIGMA_PER_MEDIAN_D2`)."""
    if len(xy) < 3:
        return np.empty(0)
    return np.hypot(*(xy[2:] - 2 * xy[1:-1] + xy[:-2]).T)


def rts_smooth(
    xy: np.ndarray,
    t_s: np.ndarray,
    noise_m: float,
    accel_psd: float,
    kicks: np.ndarray | None = None,
    kick_var: float = 8.0,
) -> np.ndarray:
    """Smoothed positions (n, 2) of metric fixes ``xy`` at times ``t_s`` (seconds).

    noise_m: GPS noise σ per axis (the measurement noise); accel_psd: white-acceleration spectral
    density (m²/s³) of the motion model: small values give long, straight averaging windows,
    large ones follow every wiggle. Velocity starts unknown (σ 2 m/s).
    kicks: indices of fixes where the walker turned back (:func:`reversal_fixes`); there the
    velocity gets ``kick_var`` (m²/s²) of extra uncertainty, a manoeuvre the constant-velocity
    model cannot otherwise explain, so the smoothed track reaches the turning point instead of
    rounding the U-turn off several metres short of it.
    """
    n = len(xy)
    if n < 3 or noise_m <= 0:
        return np.array(xy, dtype=float, copy=True)
    # plain floats: a numpy scalar here would make every step below numpy scalar arithmetic,
    # 2–3× slower than Python floats
    r = float(noise_m) ** 2
    q = float(accel_psd)
    zx, zy = xy[:, 0].tolist(), xy[:, 1].tolist()
    tl = np.asarray(t_s, dtype=float).tolist()
    # forward Kalman filter; state (position, velocity) per axis, shared covariance (p00 p01 p11)
    # (plain lists of floats, one per quantity: tuples per fix cost a third of the run time)
    fx, fy, fvx, fvy = [0.0] * n, [0.0] * n, [0.0] * n, [0.0] * n
    f00, f01, f11 = [r] * n, [0.0] * n, [4.0] * n
    a00s, a01s, a11s = [0.0] * n, [0.0] * n, [0.0] * n
    x, y, vx, vy = zx[0], zy[0], 0.0, 0.0
    p00, p01, p11 = r, 0.0, 4.0
    fx[0], fy[0] = x, y
    q3, q2 = q / 3.0, q / 2.0
    kick_at = set() if kicks is None else set(np.asarray(kicks).tolist())
    for i in range(1, n):
        dt = tl[i] - tl[i - 1]
        if kick_at and i - 1 in kick_at:
            # extra process noise F·diag(0, kick_var)·Fᵀ on this interval only; the backward
            # pass below uses the stored predicted covariance, so it stays consistent
            p11 += kick_var
        x += vx * dt
        y += vy * dt
        a00 = p00 + dt * (2.0 * p01 + dt * p11) + q3 * dt * dt * dt
        a01 = p01 + dt * p11 + q2 * dt * dt
        a11 = p11 + q * dt
        a00s[i], a01s[i], a11s[i] = a00, a01, a11
        s = a00 + r
        k0, k1 = a00 / s, a01 / s
        ix, iy = zx[i] - x, zy[i] - y
        x += k0 * ix
        y += k0 * iy
        vx += k1 * ix
        vy += k1 * iy
        p00, p01, p11 = (1.0 - k0) * a00, (1.0 - k0) * a01, a11 - k1 * a01
        fx[i], fy[i], fvx[i], fvy[i] = x, y, vx, vy
        f00[i], f01[i], f11[i] = p00, p01, p11
    # backward Rauch–Tung–Striebel pass
    ox, oy = [0.0] * n, [0.0] * n
    sx, sy, svx, svy = fx[-1], fy[-1], fvx[-1], fvy[-1]
    ox[-1], oy[-1] = sx, sy
    for i in range(n - 2, -1, -1):
        dt = tl[i + 1] - tl[i]
        g00, g01, g11 = f00[i], f01[i], f11[i]
        a00, a01, a11 = a00s[i + 1], a01s[i + 1], a11s[i + 1]
        det = a00 * a11 - a01 * a01
        if det <= 0.0:  # two fixes at the same instant: nothing to smooth across
            sx, sy, svx, svy = fx[i], fy[i], fvx[i], fvy[i]
            ox[i], oy[i] = sx, sy
            continue
        # gain C = P_f Fᵀ P_pred⁻¹ with F = [[1, dt], [0, 1]]
        b00, b10 = g00 + dt * g01, g01 + dt * g11
        c00 = (b00 * a11 - g01 * a01) / det
        c01 = (g01 * a00 - b00 * a01) / det
        c10 = (b10 * a11 - g11 * a01) / det
        c11 = (g11 * a00 - b10 * a01) / det
        px, py, pvx, pvy = fx[i], fy[i], fvx[i], fvy[i]
        dx, dy = sx - (px + pvx * dt), sy - (py + pvy * dt)
        dvx, dvy = svx - pvx, svy - pvy
        sx, svx = px + c00 * dx + c01 * dvx, pvx + c10 * dx + c11 * dvx
        sy, svy = py + c00 * dy + c01 * dvy, pvy + c10 * dy + c11 * dvy
        ox[i], oy[i] = sx, sy
    return np.column_stack([ox, oy])


def reversal_fixes(
    xy_s: np.ndarray, t_s: np.ndarray, window_s: float, min_disp_m: float, max_cos: float
) -> np.ndarray:
    """Indices of the fixes where a smoothed track turns back on itself (a U-turn, a dead end
    walked in and out): its displacements over the ``window_s`` before and after the fix point
    in opposite directions (cosine below ``max_cos``), each at least ``min_disp_m`` long (so
    noise wobbling around a standing walker does not count). One fix per turn: the apex, where
    the out-and-back excess (|before| + |after| − |before + after|) is largest."""
    n = len(xy_s)
    if n < 5:
        return np.empty(0, dtype=np.int64)
    t = np.asarray(t_s, dtype=float)
    j0 = np.clip(np.searchsorted(t, t - window_s, side="right") - 1, 0, n - 1)
    j1 = np.clip(np.searchsorted(t, t + window_s, side="left"), 0, n - 1)
    d1 = xy_s - xy_s[j0]
    d2 = xy_s[j1] - xy_s
    l1, l2 = np.hypot(*d1.T), np.hypot(*d2.T)
    cos = (d1 * d2).sum(axis=1) / np.maximum(l1 * l2, 1e-9)
    cand = np.flatnonzero((cos < max_cos) & (l1 >= min_disp_m) & (l2 >= min_disp_m))
    if len(cand) == 0:
        return cand
    excess = l1 + l2 - np.hypot(*(d1 + d2).T)
    runs = np.split(cand, np.flatnonzero(np.diff(cand) > 1) + 1)
    return np.asarray([r[np.argmax(excess[r])] for r in runs], dtype=np.int64)
