r"""Symbolic curvature with sympy, in the engine's conventions, for independent checks.

Unlike the engine's lowered formula, this follows the textbook route literally:
$\Gamma^k_{ij}=\tfrac12g^{kl}(\partial_ig_{jl}+\partial_jg_{il}-\partial_lg_{ij})$,
$R^i{}_{jkl}=\partial_k\Gamma^i_{lj}-\partial_l\Gamma^i_{kj}+\Gamma^i_{kp}\Gamma^p_{lj}-\Gamma^i_{lp}\Gamma^p_{kj}$,
$R_{ijkl}=g_{ip}R^p{}_{jkl}$, $K=R_{1212}/\det g$.
"""

from __future__ import annotations

from collections.abc import Sequence

import sympy as sp

__all__ = ["sym_pullback_metric", "sym_riemann", "sym_gaussian_curvature", "sym_graph_curvature"]


def sym_pullback_metric(mu: Sequence[sp.Expr], coords: Sequence[sp.Symbol], sigma: sp.Matrix | None = None) -> sp.Matrix:
    r"""$g=J^\top\Sigma^{-1}J$ for a symbolic mean vector ``mu``."""
    j = sp.Matrix(mu).jacobian(sp.Matrix(coords))
    sinv = sp.eye(len(mu)) if sigma is None else sigma.inv()
    return sp.simplify(j.T * sinv * j)


def sym_riemann(g: sp.Matrix, coords: Sequence[sp.Symbol]) -> list:
    """Lowered Riemann tensor ``R[i][j][k][l]`` as nested lists of sympy expressions."""
    m = len(coords)
    gi = g.inv()
    gam = [[[sum(gi[k, l] * (sp.diff(g[j, l], coords[i]) + sp.diff(g[i, l], coords[j]) - sp.diff(g[i, j], coords[l])) for l in range(m)) / 2
             for j in range(m)] for i in range(m)] for k in range(m)]  # gam[k][i][j]
    rup = [[[[sp.diff(gam[i][l][j], coords[k]) - sp.diff(gam[i][k][j], coords[l])
              + sum(gam[i][k][p] * gam[p][l][j] - gam[i][l][p] * gam[p][k][j] for p in range(m))
              for l in range(m)] for k in range(m)] for j in range(m)] for i in range(m)]
    return [[[[sum(g[i, p] * rup[p][j][k][l] for p in range(m)) for l in range(m)] for k in range(m)] for j in range(m)] for i in range(m)]


def sym_gaussian_curvature(g: sp.Matrix, coords: Sequence[sp.Symbol], simplify: bool = True) -> sp.Expr:
    r"""$K=R_{1212}/\det g$ of a 2-D metric."""
    k = sym_riemann(g, coords)[0][1][0][1] / g.det()
    return sp.simplify(k) if simplify else k


def sym_graph_curvature(f: sp.Expr, x: sp.Symbol, y: sp.Symbol) -> sp.Expr:
    r"""$K=\det\nabla^2f/(1+\|\nabla f\|^2)^2$ of the graph $(x,y,f(x,y))$ with $\Sigma=I$ (spec C7)."""
    fx, fy = sp.diff(f, x), sp.diff(f, y)
    return (sp.diff(f, x, 2) * sp.diff(f, y, 2) - sp.diff(f, x, y) ** 2) / (1 + fx**2 + fy**2) ** 2
