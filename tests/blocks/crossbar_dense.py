"""An independent IR-drop solve for the crossbar tests: dense nodal analysis in plain numpy, written from the
circuit's description (not from the package's sparse stamping), by block elimination: each sense line's
nodes row by row, then the drive nodes as a block-tridiagonal system in the row index."""

import numpy as np


def dense_array(g, u, v_sense, r_row, r_col, r_sense, r_driver):
    """One array: device [i, j] between drive line j (source ``u[j]`` through ``r_driver``, then one
    ``r_col`` segment per cell) and sense line i (one ``r_row`` segment per cell, then ``r_sense`` to the
    sense node at ``v_sense[:, k]`` for each column k of the right-hand side; segments > 0 Ω). Returns the
    current into each sense node, shape (rows, k). Dense nodal analysis: each sense line's nodes are
    eliminated row by row, then the drive nodes, a block-tridiagonal system in the row index, by block
    Gaussian elimination."""
    rows, cols = g.shape
    g_row, g_col = 1.0 / r_row, 1.0 / r_col
    # an end resistance in series with the first segment (no device sits between them)
    end_s, end_d = 1.0 / (r_sense + r_row), 1.0 / (r_driver + r_col)
    chain = np.diag(np.r_[g_row + end_s, np.full(cols - 2, 2 * g_row), g_row]) \
        - g_row * (np.eye(cols, k=1) + np.eye(cols, k=-1))
    # sense line i: (chain + diag g_i) s_i = diag(g_i) d_i + end_s·e0·v_i  →  s_i = X_i d_i + w_i v_i
    inv = np.linalg.inv(chain[None] + np.einsum("ij,jk->ijk", g, np.eye(cols)))
    x_blocks = inv * g[:, None, :]
    w = end_s * inv[:, :, 0]
    degree = np.r_[g_col + end_d, np.full(rows - 2, 2 * g_col), g_col]
    # block row i: (diag(degree_i + g_i) − diag(g_i) X_i) d_i − g_col (d_{i−1} + d_{i+1}) = b_i
    diag_blocks = np.einsum("ij,jk->ijk", degree[:, None] + g, np.eye(cols)) - g[:, :, None] * x_blocks
    rhs = (g * w)[:, :, None] * v_sense[:, None, :]  # (rows, cols, k)
    rhs[0] += end_d * u[:, None]
    # forward sweep, then back substitution (off-diagonal blocks are −g_col·I)
    c_prime, y = [], []
    for i in range(rows):
        s = diag_blocks[i] + (g_col * c_prime[-1] if i else 0)
        b = rhs[i] + (g_col * y[-1] if i else 0)
        c_prime.append(np.linalg.solve(s, g_col * np.eye(cols)) * -1)
        y.append(np.linalg.solve(s, b))
    d = [None] * rows
    d[-1] = y[-1]
    for i in range(rows - 2, -1, -1):
        d[i] = y[i] - c_prime[i] @ d[i + 1]
    d = np.stack(d)
    s = np.einsum("ijk,ikl->ijl", x_blocks, d) + w[:, :, None] * v_sense[:, None, :]
    return end_s * (s[:, 0, :] - v_sense)


def dense_sense_currents(m, drive, r):
    """Both arrays (G⁺ driven by ``drive``, G⁻ by ``−drive``), sense nodes at 0 V (A)."""
    zero = np.zeros((m.shape[0], 1))
    return (dense_array(m.g_pos, drive, zero, *r) + dense_array(m.g_neg, -drive, zero, *r))[:, 0]


def dense_mvm(m, x, r, gain):
    """The MVM circuit's outputs (V): each row's sense node held by a TIA of DC gain ``gain`` with feedback
    g_unit, so v_s = −y/gain and the arrays' current into it equals (1 + gain)·g_unit·v_s."""
    rows = m.shape[0]
    basis = np.concatenate([np.zeros((rows, 1)), np.eye(rows)], axis=1)  # v_s = 0, then each unit v_s
    currents = dense_array(m.g_pos, -x, basis, *r) + dense_array(m.g_neg, x, basis, *r)
    i0, admittance = currents[:, 0], currents[:, 1:] - currents[:, :1]
    v_s = np.linalg.solve((1 + gain) * m.g_unit_s * np.eye(rows) - admittance, i0)
    return -gain * v_s
