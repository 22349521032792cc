"""Losses, the elastic-net penalty and the duality-gap certificate.

Primal, in scikit-learn's scaling:
    P(w) = (1/n) sum_i f(y_i, x_i.w + b) + alpha sum_j v_j (rho |w_j| + (1 - rho)/2 w_j^2)
with f the squared loss (y - z)^2 / 2 or the logistic loss log(1 + exp(-y z)), y in {-1, 1}.

The certificate treats the ridge part as a smooth loss on an augmented design
[X; sqrt(Q)], Q = alpha (1 - rho) diag(v), and the L1 part as the penalty. The dual
point is the loss gradient u0 = -f'(z) / n rescaled by s <= 1 so that
|x_j.u - (Q w)_j| <= alpha rho v_j for every j:
    D(s) = -(1/n) sum_i f*(y_i, -n s u0_i) - s^2 (1/2) w.Q w.
For the squared loss this is exactly scikit-learn's enet gap, and for rho = 1 the
Lasso gap of Fercoq, Gramfort, Salmon (2015). One function computes it for every
solver, so comparisons in bench/ are on the same certificate.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

LOSSES = ("squared", "logistic")


@dataclass(frozen=True)
class Penalty:
    alpha: float
    l1_ratio: float
    weights: np.ndarray  # v_j > 0

    @property
    def l1(self) -> np.ndarray:
        return self.alpha * self.l1_ratio * self.weights

    @property
    def l2(self) -> np.ndarray:
        return self.alpha * (1.0 - self.l1_ratio) * self.weights

    def value(self, w: np.ndarray) -> float:
        return float(self.l1 @ np.abs(w) + 0.5 * (self.l2 @ (w * w)))


def log1pexp(t: np.ndarray) -> np.ndarray:
    """log(1 + exp(t)) without overflow."""
    return np.logaddexp(0.0, t)


def sigmoid(t: np.ndarray) -> np.ndarray:
    out = np.empty_like(t)
    pos = t >= 0
    out[pos] = 1.0 / (1.0 + np.exp(-t[pos]))
    e = np.exp(t[~pos])
    out[~pos] = e / (1.0 + e)
    return out


def loss_value(loss: str, y: np.ndarray, z: np.ndarray) -> float:
    if loss == "squared":
        r = y - z
        return float(r @ r) / (2 * y.size)
    return float(np.sum(log1pexp(-y * z))) / y.size


def loss_residual(loss: str, y: np.ndarray, z: np.ndarray) -> np.ndarray:
    """-n times the loss gradient in z: y - z (squared) or y sigmoid(-y z) (logistic), so
    that X^T residual / n is minus the gradient in w."""
    if loss == "squared":
        return y - z
    return y * sigmoid(-y * z)


def loss_curvature(y: np.ndarray, z: np.ndarray) -> np.ndarray:
    """Second derivative of the logistic loss in z: sigma (1 - sigma)."""
    s = sigmoid(y * z)
    return s * (1.0 - s)


def _dual_loss(loss: str, y: np.ndarray, resid: np.ndarray, scale: float) -> float:
    """-(1/n) sum f*(y_i, -scale * resid_i): the loss part of D at u = scale resid / n."""
    n = y.size
    if loss == "squared":
        t = y - scale * resid
        return float(y @ y - t @ t) / (2 * n)
    # logistic: f*(y, -m) = q log q + (1 - q) log(1 - q) with q = y m in [0, 1]; a
    # point outside (beyond rounding) is no dual point: no bound.
    q = scale * y * resid
    if q.size and (q.min() < -1e-12 or q.max() > 1.0 + 1e-12):
        return float("-inf")
    q = np.clip(q, 0.0, 1.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        ent = np.where(q > 0, q * np.log(q), 0.0) + np.where(q < 1, (1 - q) * np.log1p(-q), 0.0)
    return float(-np.sum(ent)) / n


def strong_concavity(loss: str, n: int) -> float:
    """Modulus of D in u (u = resid / n scaled): n for the squared loss, 4n for logistic
    (f'' <= 1/4). Gap Safe radius: sqrt(2 gap / modulus)."""
    return float(n) if loss == "squared" else 4.0 * n


@dataclass(frozen=True)
class Certificate:
    primal: float
    dual: float
    gap: float
    relative_gap: float  # gap / (||y||^2 / n)
    kkt: float  # max_j distance of -grad_j to the subdifferential alpha rho v_j d|w_j|
    scale: float  # s: the dual point is u = s resid / n


def certificate(loss: str, y: np.ndarray, z: np.ndarray, resid: np.ndarray, Xt_resid: np.ndarray,
                w: np.ndarray, penalty: Penalty,
                intercept_colsum: np.ndarray | None = None) -> Certificate:
    """The gap at w, with z = Xw + b, resid = loss_residual(z) and Xt_resid = X^T resid.
    For the squared loss with an intercept, X and y are the centred ones.

    `intercept_colsum` = X^T 1 when the model has an unpenalised intercept b that is
    not handled by centring (the logistic loss): the dual point must then also sum to
    zero (the dual of a free b). The residual is shifted by its mean c to meet that, and
    x_j . (r - c 1) is bounded by |x_j . r| + |c| |x_j . 1|. Without this the dual value
    exceeded the primal (a negative gap, clipped to 0, certified an unconverged fit)."""
    n = y.size
    primal = loss_value(loss, y, z) + penalty.value(w)
    corr = Xt_resid / n - penalty.l2 * w  # x~_j . u~ before scaling
    lam = penalty.l1
    magnitude = np.abs(corr)
    dual_resid = resid
    if intercept_colsum is not None:
        shift = float(np.mean(resid))
        dual_resid = resid - shift
        magnitude = magnitude + abs(shift) * np.abs(intercept_colsum) / n
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.max(magnitude / lam) if corr.size else 0.0
    scale = 1.0 / ratio if ratio > 1.0 else 1.0
    dual = _dual_loss(loss, y, dual_resid, scale) - scale**2 * 0.5 * float(penalty.l2 @ (w * w))
    gap = _gap(primal, dual)
    norm = float(y @ y) / n
    grad = -corr  # gradient of the smooth part at w
    kkt = violations(grad, w, lam)
    return Certificate(primal, dual, gap, gap / norm if norm > 0 else gap,
                       float(kkt.max()) if kkt.size else 0.0, scale)


def _gap(primal: float, dual: float) -> float:
    """primal - dual, which weak duality makes >= 0. Below 0 by rounding only (a few
    ulps of the values) it is 0; further below, the dual point was not feasible, the
    bound is void, and the gap is reported as infinite rather than clipped."""
    gap = primal - dual
    if gap >= 0.0:
        return gap
    if -gap <= 64 * np.finfo(np.float64).eps * (abs(primal) + abs(dual)):
        return 0.0
    return float("inf")


def violations(grad: np.ndarray, w: np.ndarray, lam: np.ndarray) -> np.ndarray:
    """Per-coordinate KKT violation of min smooth(w) + sum lam_j |w_j|: the distance of
    -grad_j to lam_j d|w_j|."""
    at_zero = np.maximum(np.abs(grad) - lam, 0.0)
    off_zero = np.abs(grad + lam * np.sign(w))
    return np.where(w != 0, off_zero, at_zero)
