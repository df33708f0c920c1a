r"""L-BFGS with a zoom line search (``optax.lbfgs``), in one ``lax.while_loop``."""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import equinox as eqx
import jax
import jax.numpy as jnp
import optax
from jaxtyping import Array, PyTree


class LBFGSSolution(NamedTuple):
    """The outcome of :meth:`LBFGS.solve`.

    Attributes:
        x: the minimiser found (the structure of the first guess).
        value: the cost there.
        iterations: L-BFGS iterations run (accepted or not).
    """

    x: PyTree[Array]
    value: Array
    iterations: Array


def _sum_squares(tree) -> Array:
    return sum(jnp.sum(leaf**2) for leaf in jax.tree.leaves(tree))


def _norm(tree) -> Array:
    leaves = jax.tree.leaves(tree)
    if len(leaves) == 1:
        return jnp.linalg.norm(leaves[0])
    return jnp.sqrt(_sum_squares(tree))


class LBFGS(eqx.Module):
    r"""Limited-memory BFGS for a 4D-Var cost, or any smooth scalar cost of a pytree.

    ``optax.lbfgs`` (two-loop recursion with ``memory_size`` pairs, zoom line search for
    the strong Wolfe conditions) in one ``lax.while_loop``. It stops after
    ``max_iterations``, or when an iteration lowers the cost by less than ``ftol``
    (absolute: a 4D-Var cost is a sum of squared whitened residuals, so 1e-7 is far below
    its sampling noise), or when the gradient norm is below ``gtol`` (PyTorch's
    ``tolerance_change`` and ``tolerance_grad``, which Nonnenmacher & Greenberg 2021 use).
    A step to a non-finite point is refused and ends the loop, as does one that would
    raise the cost (possible when the line search fails along a direction from an
    inexact gradient). The gradient is whatever ``jax.grad`` of the cost gives: with a
    :class:`~assimilax.ml.SurrogateGradient` model, the surrogate's; the cost values are
    then exact and no accepted step raises them.

    Two entry points: :meth:`solve` minimises any cost ``fun(x)`` (e.g. the
    background-free :class:`NoBackgroundWindow`); :meth:`minimise` has the signature of
    :meth:`GaussNewton.minimise`, the incremental cost
    $J(z) = \tfrac12\|z\|^2 + \tfrac12\|r(z)\|^2$ of a whitened residual $r$, so that
    L-BFGS replaces Gauss-Newton as the solver of a windowed method.

    Under ``jax.vmap`` the ``lax.cond`` of optax's line search and of
    ``value_and_grad_from_state`` become selects that evaluate both branches (about 3x
    the work): map over independent problems with ``lax.map`` instead.

    Attributes:
        max_iterations: iterations at most (static).
        memory_size: stored correction pairs (static; PyTorch's ``history_size``).
        ftol: stop when an iteration lowers the cost by less than this.
        gtol: stop when the gradient norm falls below this.

    Refs: Liu & Nocedal (1989), Math. Program. 45, 503-528; Nocedal & Wright (2006),
    Numerical Optimization, Alg. 7.4 and 3.6.
    """

    max_iterations: int = eqx.field(static=True, default=100)
    memory_size: int = eqx.field(static=True, default=10)
    ftol: float = 1e-7
    gtol: float = 1e-8

    def __check_init__(self):
        if self.max_iterations < 1 or self.memory_size < 1:
            raise ValueError(f"LBFGS: max_iterations and memory_size must be >= 1, got "
                             f"{self.max_iterations} and {self.memory_size}.")

    def solve(self, fun: Callable[[PyTree[Array]], Array], x0: PyTree[Array]) -> LBFGSSolution:
        """Minimise ``fun`` from ``x0``.

        Args:
            fun: the scalar cost.
            x0: the first guess (an array or a pytree of arrays).

        Returns:
            :class:`LBFGSSolution` ``(x, fun(x), iterations)``.
        """
        opt = optax.lbfgs(memory_size=self.memory_size)
        vg = optax.value_and_grad_from_state(fun)
        max_iterations, ftol, gtol = self.max_iterations, self.ftol, self.gtol

        def cond(carry):
            _, _, i, change, gnorm, ok = carry
            return (i < max_iterations) & (change > ftol) & (gnorm > gtol) & ok

        def body(carry):
            x, state, i, _, _, _ = carry
            with jax.numpy_dtype_promotion("standard"):
                value, grad = vg(x, state=state)
                updates, new_state = opt.update(grad, state, x, value=value, grad=grad,
                                                value_fn=fun)
            new_x = jax.tree.map(lambda a, u: a + u.astype(a.dtype), x, updates)
            new_value = optax.tree.get(new_state, "value")
            finite = jnp.all(jnp.stack([jnp.all(jnp.isfinite(a))
                                        for a in jax.tree.leaves(new_x)]))
            ok = finite & jnp.isfinite(new_value) & (new_value <= value)
            x = jax.tree.map(lambda new, old: jnp.where(ok, new, old), new_x, x)
            state = jax.tree.map(lambda new, old: jnp.where(ok, new, old), new_state, state)
            return x, state, i + 1, value - new_value, _norm(grad), ok

        with jax.numpy_dtype_promotion("standard"):
            state0 = opt.init(x0)
        dtype = jax.tree.leaves(x0)[0].dtype
        inf = jnp.array(jnp.inf, dtype)
        x, _, n_iter, _, _, _ = jax.lax.while_loop(
            cond, body, (x0, state0, jnp.array(0), inf, inf, jnp.array(True)))
        return LBFGSSolution(x, fun(x), n_iter)

    def minimise(self, residual: Callable[[PyTree[Array]], PyTree[Array]],
                 z0: PyTree[Array]) -> PyTree[Array]:
        r"""The control minimising $\tfrac12\|z\|^2 + \tfrac12\|r(z)\|^2$ from ``z0``.

        The interface of :meth:`GaussNewton.minimise`: ``residual`` is the whitened
        observation residual of a window in control-variable space.
        """

        def cost(z):
            return 0.5 * _sum_squares(z) + 0.5 * _sum_squares(residual(z))

        return self.solve(cost, z0).x
