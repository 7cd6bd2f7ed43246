"""The Fréchet distance between generated features and cached real statistics, computed fast.

torch-fidelity's ``fid_statistics_to_metric`` takes the eigenvalues of the non-symmetric
``sigma1 @ sigma2`` (2048 x 2048): seconds of CPU per evaluation whatever the sample count
(``docs/benchmarks.md``, "Figures behind choices in the code").
The trace of its square root equals ``sum(sqrt(eig))`` of a *symmetric* matrix with the same
non-zero spectrum: ``A sigma2 A^T / (n-1)`` (n x n, A = centred generated features) when there are
fewer samples than dimensions, else ``sqrt(sigma2) sigma1 sqrt(sigma2)``. Symmetric eigenvalues
are several times cheaper and exact in the same sense; tests check equality with torch-fidelity.
"""
from __future__ import annotations

import numpy as np


def symmetric_sqrt(sigma: np.ndarray) -> np.ndarray:
    """Principal square root of a symmetric PSD matrix (tiny negative eigenvalues clipped to 0)."""
    w, v = np.linalg.eigh(sigma)
    return (v * np.sqrt(np.clip(w, 0, None))) @ v.T


def trace_sqrt_product(centred: np.ndarray, sigma_real: np.ndarray, sqrt_real: np.ndarray | None = None) -> float:
    """``tr(sqrt(sigma_fake @ sigma_real))`` with ``sigma_fake = centred.T @ centred / (n - 1)``."""
    n, dim = centred.shape
    if n - 1 < dim:
        small = centred @ sigma_real @ centred.T / (n - 1)
    else:
        root = symmetric_sqrt(sigma_real) if sqrt_real is None else sqrt_real
        sigma_fake = centred.T @ centred / (n - 1)
        small = root @ sigma_fake @ root
    eig = np.linalg.eigvalsh((small + small.T) / 2)
    return float(np.sqrt(np.clip(eig, 0, None)).sum())


def frechet_distance(features: np.ndarray, mu_real: np.ndarray, sigma_real: np.ndarray, sqrt_real: np.ndarray | None = None) -> float:
    """FID between generated ``features`` (n x d) and real statistics ``(mu, sigma)`` (as np.cov, ddof=1)."""
    feats = np.asarray(features, dtype=np.float64)
    if feats.ndim != 2 or feats.shape[0] < 2 or feats.shape[1] != mu_real.shape[0]:
        raise ValueError(f"features of shape {feats.shape} do not match statistics of dimension {mu_real.shape[0]}")
    mu_fake = feats.mean(axis=0)
    centred = feats - mu_fake
    diff = mu_fake - mu_real
    trace_fake = float((centred * centred).sum() / (feats.shape[0] - 1))
    tr_covmean = trace_sqrt_product(centred, sigma_real.astype(np.float64), sqrt_real)
    return float(diff @ diff + trace_fake + np.trace(sigma_real) - 2 * tr_covmean)
