r"""Two-layer quasi-geostrophic channel model of the OOPS framework (Fandry & Leslie 1984).

Potential vorticity of the upper (1) and lower (2) layers, on a $\beta$-plane channel
periodic in $x$ and walled in $y$:

$$q_1 = \nabla^2\psi_1 - F_1(\psi_1 - \psi_2) + \beta y,\qquad
  q_2 = \nabla^2\psi_2 - F_2(\psi_2 - \psi_1) + \beta y + R_s,$$

advected by each layer's geostrophic wind, $\partial_t q_i + J(\psi_i, q_i) = D_i$,
$u = -\partial_y\psi$, $v = \partial_x\psi$, with an optional Ekman drag on the lower
layer, $D_2 \mathrel{+}= -r\nabla^2\psi_2$ (0 in OOPS), and a biharmonic PV diffusion
$D_i \mathrel{+}= -\nu\nabla^4 q_i$ (see the numerics below).

Parameters: OOPS's ``qg_constants.f90`` and ``c_qg_model.F90`` (ECMWF 2009-2016, in
``JCSDA/oops`` up to its 2019 refactor, commit ``96401c67``'s parent), non-dimensional
with length $L = 10^6$ m and velocity $U = 10$ m/s (time $L/U = 10^5$ s): domain
$12\,000 \times 6\,300$ km, $f_0 = 10^{-4}$ s⁻¹, $\beta_0 = 1.5\times10^{-11}$ m⁻¹s⁻¹,
$g = 10$ m s⁻², $\Delta\ln\theta = 0.1$; layer depths $H_1 = 6$ km, $H_2 = 4$ km (OOPS's
truth run; its perturbed forecast model uses 5.5 and 4.5 km), so that
$F_i = f_0^2L^2/(g\,\Delta\ln\theta\,H_i)$ ($F_1 = 5/3$, $F_2 = 5/2$),
$\beta = \beta_0L^2/U = 1.5$; mean zonal winds 40 m/s (upper) and 10 m/s (lower), set
by the streamfunction on the walls (constant in $x$ and time, so $v = 0$ there); a
Gaussian orography of height $h_0 = 2$ km and e-folding width 1000 km in the lower
layer, $R_s = h/(\mathrm{Ro}\,H_2)$ with $\mathrm{Ro} = U/(f_0L) = 0.1$ (peak 5), centred
at OOPS's grid point $(n_x/4, 3n_y/4)$ (1-based). Grid: $n_x \times n_y$ points, spacing
$\Delta x = L_x/n_x$, $\Delta y = L_y/(n_y + 1)$ (the walls are one spacing beyond the
first and last rows); OOPS's test geometry $40 \times 20$ gives square 300 km cells.
Time step: OOPS's default 1 hour ($dt = 0.036$).

Numerics, where this model differs from OOPS. PV inversion as OOPS does it: vertical
decoupling of $\nabla^2\psi + \mathbf F\psi = q - \beta y - R$ into a barotropic mode
(eigenvalue 0) and a baroclinic mode (eigenvalue $-(F_1 + F_2)$), then per mode the
5-point Helmholtz problem with the wall values on the right-hand side, diagonalised
here by a real FFT in $x$ and a type-I sine transform in $y$ (OOPS: FFT in $x$ and a
tridiagonal solve in $y$; both invert the same discrete operator exactly). Advection:
OOPS steps the PV by one semi-Lagrangian step with bicubic interpolation; here the
Arakawa (1966) Jacobian and RK4, because their tangent-linear and adjoint by autodiff
are smooth (a semi-Lagrangian step differentiates through its stencil switches) and
because the Jacobian's conservation gives an independent test. With $\psi$ constant on
each wall, the Jacobian summed over the interior conserves $\sum\psi J(\psi, q)$ (energy,
exactly when the walls are at $\psi = 0$) and $\sum q J(\psi, q)$ (enstrophy, exactly when
the walls' PV is 0). A centred scheme has no implicit diffusion, so a weak biharmonic
PV diffusion ($\nu = 2\times10^{-5}$, an e-folding time of about 7 days at the grid
scale) stands in for the semi-Lagrangian scheme's; without it the eddies fill the grid
scale. The walls' PV has zero relative vorticity (free slip) and is fixed in time (OOPS
extrapolates it linearly from the initial state and also keeps it fixed). OOPS's
$\beta y$ is measured from row $\lfloor(n_y + 1)/2\rfloor$, here from the channel
centre: a constant PV offset, which changes nothing.

State: the streamfunction of both layers (OOPS's analysis variable), flat
``(2 * ny * nx,)``, fields ``psi1``, ``psi2`` of shape ``(ny, nx)`` (row = $y$ from south,
column = $x$), in units of $UL = 10^7$ m²/s. ``dt`` is in units of $L/U = 10^5$ s
(0.036 = 1 hour). The grid's coordinates are in units of $\Delta x$ (both layers at the
same points), so a localisation radius counts grid spacings.

Refs: Fandry & Leslie (1984), J. Atmos. Sci. 41, 807-817; Pedlosky (1979), Geophysical
Fluid Dynamics, pp. 386-393; Arakawa (1966), J. Comput. Phys. 1, 119-143; Farchi,
Laloyaux, Bonavita & Bocquet (2021), Q. J. R. Meteorol. Soc. 147, 3067-3084.
"""

from __future__ import annotations

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from ..observations._grid import Grid
from ._base import AbstractModel

#: OOPS's units: length L (m), velocity U (m/s); time L/U (s).
LENGTH_UNIT_M = 1.0e6
VELOCITY_UNIT_MS = 10.0
TIME_UNIT_S = LENGTH_UNIT_M / VELOCITY_UNIT_MS


def arakawa_jacobian(a: jnp.ndarray, b: jnp.ndarray, dx: float, dy: float) -> jnp.ndarray:
    r"""Arakawa (1966) Jacobian $J(a, b) = a_x b_y - a_y b_x$ at the interior rows.

    Args:
        a, b: ``(..., ny + 2, nx)`` fields including one wall row south (row 0) and north
            (row ``ny + 1``); periodic in the last axis (one periodic pad, then slices).
        dx, dy: grid spacings.

    Returns:
        ``(..., ny, nx)``: the average of the three second-order Jacobians
        $J^{++}, J^{+\times}, J^{\times+}$, which conserves $\sum a\,J$ and $\sum b\,J$.
    """
    ap = jnp.concatenate([a[..., -1:], a, a[..., :1]], axis=-1)
    bp = jnp.concatenate([b[..., -1:], b, b[..., :1]], axis=-1)
    nx = a.shape[-1]
    ny = a.shape[-2] - 2

    def s(f, dj, di):  # f shifted: north dj, east di, at the interior points
        return f[..., 1 + dj : 1 + dj + ny, 1 + di : 1 + di + nx]

    aE, aW, aN, aS = s(ap, 0, 1), s(ap, 0, -1), s(ap, 1, 0), s(ap, -1, 0)
    bE, bW, bN, bS = s(bp, 0, 1), s(bp, 0, -1), s(bp, 1, 0), s(bp, -1, 0)
    aNE, aNW, aSE, aSW = s(ap, 1, 1), s(ap, 1, -1), s(ap, -1, 1), s(ap, -1, -1)
    bNE, bNW, bSE, bSW = s(bp, 1, 1), s(bp, 1, -1), s(bp, -1, 1), s(bp, -1, -1)
    j1 = (aE - aW) * (bN - bS) - (aN - aS) * (bE - bW)
    j2 = aE * (bNE - bSE) - aW * (bNW - bSW) - aN * (bNE - bNW) + aS * (bSE - bSW)
    j3 = bN * (aNE - aNW) - bS * (aSE - aSW) - bE * (aNE - aSE) + bW * (aNW - aSW)
    return (j1 + j2 + j3) / (12.0 * dx * dy)


class QG(AbstractModel):
    r"""Two-layer QG channel (OOPS's test model); state = streamfunction of both layers.

    See the module docstring for the equations, the parameters and their source. All
    quantities are non-dimensional in OOPS's units (length $10^6$ m, velocity 10 m/s,
    time $10^5$ s, streamfunction $10^7$ m²/s, PV $10^{-5}$ s⁻¹). State ``(2*ny*nx,)``:
    ``psi1`` then ``psi2``, each ``(ny, nx)`` in C order.

    Attributes:
        nx, ny: grid points in $x$ (periodic; even) and $y$ (between the walls);
            OOPS's test geometry 40 x 20.
        length_x, length_y: domain size (units of $10^6$ m); OOPS: 12 and 6.3.
        depth1, depth2: layer depths (m); OOPS's truth: 6000 and 4000.
        u1, u2: mean zonal wind of each layer (units of 10 m/s), set by the walls'
            streamfunction; OOPS: 4 and 1.
        beta: $\beta_0L^2/U$ (1.5 for $\beta_0 = 1.5\times10^{-11}$ m⁻¹s⁻¹).
        orography: height (m) of the lower layer's Gaussian orography; OOPS: 2000.
        orography_width: its e-folding width (units of $10^6$ m); OOPS: 1.
        ekman: Ekman drag rate $r$ on the lower layer (per time unit; 0 in OOPS).
        diffusion: biharmonic PV diffusion $\nu$ (units of $L^4 U/L$), in place of the
            semi-Lagrangian scheme's implicit diffusion.
        dt: time step (units of $10^5$ s); 0.036 is OOPS's one hour.
        noise_std: additive model noise (see :class:`AbstractModel`).

    Refs: Fandry & Leslie (1984), J. Atmos. Sci. 41; Farchi et al. (2021), QJRMS 147.
    """

    nx: int = eqx.field(static=True, default=40)
    ny: int = eqx.field(static=True, default=20)
    length_x: float = eqx.field(static=True, default=12.0)
    length_y: float = eqx.field(static=True, default=6.3)
    depth1: float = 6000.0
    depth2: float = 4000.0
    u1: float = 4.0
    u2: float = 1.0
    beta: float = 1.5
    orography: float = 2000.0
    orography_width: float = 1.0
    ekman: float = 0.0
    diffusion: float = 2.0e-5
    dt: float = 0.036
    noise_std: float = 0.0

    def __check_init__(self):
        if self.nx < 4 or self.nx % 2:
            raise ValueError(f"QG: nx must be even and at least 4, got {self.nx}.")
        if self.ny < 2:
            raise ValueError(f"QG: ny must be at least 2, got {self.ny}.")

    # ----- geometry -------------------------------------------------------------------
    @property
    def state_size(self) -> int:
        return 2 * self.ny * self.nx

    @property
    def dx(self) -> float:
        """Zonal grid spacing $L_x/n_x$ (units of $10^6$ m)."""
        return self.length_x / self.nx

    @property
    def dy(self) -> float:
        """Meridional grid spacing $L_y/(n_y + 1)$ (units of $10^6$ m)."""
        return self.length_y / (self.ny + 1)

    @property
    def F(self) -> tuple:
        """$(F_1, F_2) = f_0^2L^2/(g\\,\\Delta\\ln\\theta\\,H_i)$, OOPS's constants."""
        c = (1.0e-4 * LENGTH_UNIT_M) ** 2 / (10.0 * 0.1)
        return c / self.depth1, c / self.depth2

    def y_walls(self) -> np.ndarray:
        """$y$ of rows ``0 .. ny + 1`` (walls included), measured from the channel centre."""
        return (np.arange(self.ny + 2) - (self.ny + 1) / 2) * self.dy

    @property
    def grid(self) -> Grid:
        """Fields ``psi1``, ``psi2`` ``(ny, nx)`` at the same points, in units of $\\Delta x$.

        Axis 0 ($y$) is open with spacing $\\Delta y/\\Delta x$ (1 on OOPS's grid), axis 1
        ($x$) periodic with spacing 1; the layers are at distance 0 from each other, so a
        local analysis uses both layers' observations at a point (horizontal localisation).
        """
        return Grid.regular({"psi1": (self.ny, self.nx), "psi2": (self.ny, self.nx)},
                            spacing=(self.dy / self.dx, 1.0), periodic=(False, True))

    def wall_values(self) -> jnp.ndarray:
        """Streamfunction on the south and north walls, ``(2 layers, 2)``: $u = -\\psi_y$."""
        half = 0.5 * (self.ny + 1) * self.dy
        u = jnp.stack([jnp.asarray(self.u1), jnp.asarray(self.u2)])
        return jnp.stack([u * half, -u * half], axis=-1)

    def orography_pv(self) -> jnp.ndarray:
        """$R_s = h(x, y)/(\\mathrm{Ro}\\,H_2)$ in PV units, ``(ny, nx)``: the lower layer's term.

        Centred at OOPS's 1-based grid point ``(nx/4, 3*ny/4)``; periodic distance in $x$
        (OOPS's unwrapped distance differs by at most $5e^{-9}$ at 40 x 20).
        """
        x = np.arange(self.nx) * self.dx
        y = self.y_walls()[1:-1]
        xc, yc = x[self.nx // 4 - 1], y[(3 * self.ny) // 4 - 1]
        distx = np.abs(x - xc)
        distx = np.minimum(distx, self.length_x - distx)
        d2 = distx[None, :] ** 2 + (y[:, None] - yc) ** 2
        shape = jnp.exp(-jnp.asarray(d2) / self.orography_width**2)
        inverse_rossby = 1.0e-4 * LENGTH_UNIT_M / VELOCITY_UNIT_MS
        return inverse_rossby * self.orography / self.depth2 * shape

    def background(self) -> jnp.ndarray:
        """PV source terms $\\beta y + R$ at the interior points, ``(2, ny, nx)``."""
        by = self.beta * jnp.asarray(self.y_walls()[1:-1])[:, None] * jnp.ones((1, self.nx))
        return jnp.stack([by, by + self.orography_pv()])

    def split(self, x: jnp.ndarray) -> jnp.ndarray:
        """Flat state ``(..., 2*ny*nx)`` -> ``(..., 2, ny, nx)``."""
        return x.reshape(*x.shape[:-1], 2, self.ny, self.nx)

    def with_walls(self, psi: jnp.ndarray) -> jnp.ndarray:
        """``(2, ny, nx)`` -> ``(2, ny + 2, nx)`` with the wall rows."""
        w = self.wall_values().astype(psi.dtype)
        s = jnp.broadcast_to(w[:, 0, None, None], (2, 1, self.nx))
        n = jnp.broadcast_to(w[:, 1, None, None], (2, 1, self.nx))
        return jnp.concatenate([s, psi, n], axis=1)

    # ----- operators ------------------------------------------------------------------
    def laplacian(self, f_w: jnp.ndarray) -> jnp.ndarray:
        """5-point Laplacian at the interior points of ``(..., ny + 2, nx)`` fields."""
        p = jnp.concatenate([f_w[..., -1:], f_w, f_w[..., :1]], axis=-1)
        c = p[..., 1:-1, 1:-1]
        return ((p[..., 1:-1, 2:] - 2 * c + p[..., 1:-1, :-2]) / self.dx**2
                + (p[..., 2:, 1:-1] - 2 * c + p[..., :-2, 1:-1]) / self.dy**2)

    def pv(self, psi: jnp.ndarray) -> jnp.ndarray:
        """PV ``(2, ny, nx)`` of the streamfunction ``(2, ny, nx)`` (walls from ``u1, u2``)."""
        F1, F2 = self.F
        lap = self.laplacian(self.with_walls(psi))
        d = psi[0] - psi[1]
        return lap + jnp.stack([-F1 * d, F2 * d]) + self.background()

    def _spectrum(self, dtype):
        ny, nx = self.ny, self.nx
        k = np.arange(nx // 2 + 1)
        m = np.arange(1, ny + 1)
        lx = -4.0 / self.dx**2 * np.sin(np.pi * k / nx) ** 2
        ly = -4.0 / self.dy**2 * np.sin(np.pi * m / (2 * (ny + 1))) ** 2
        S = np.sqrt(2.0 / (ny + 1)) * np.sin(np.pi * np.outer(m, m) / (ny + 1))
        return jnp.asarray(lx, dtype), jnp.asarray(ly, dtype), jnp.asarray(S, dtype)

    def invert(self, q: jnp.ndarray) -> jnp.ndarray:
        r"""Streamfunction ``(2, ny, nx)`` whose PV (:meth:`pv`) is ``q`` ``(2, ny, nx)``.

        $\nabla^2\psi + \mathbf F\psi = q - \beta y - R$ with
        $\mathbf F = [[-F_1, F_1], [F_2, -F_2]] = P D P^{-1}$, $P = [[1, F_1], [1, -F_2]]$,
        $D = \mathrm{diag}(0, -(F_1 + F_2))$; per mode the Helmholtz problem
        $(\nabla^2 + D_{kk})\phi = r$ with zero walls (the walls' values moved to the
        right-hand side: $-\psi_{\rm wall}/\Delta y^2$ on the first and last rows), solved by
        a real FFT in $x$ and the orthogonal type-I sine transform
        $S_{jm} = \sqrt{2/(n_y+1)}\sin(\pi jm/(n_y+1))$ in $y$, whose eigenvalues are
        $-4\sin^2(\pi k/n_x)/\Delta x^2 - 4\sin^2(\pi m/(2n_y + 2))/\Delta y^2$;
        then $\psi = P\phi$. Cost $O(n_x n_y(\log n_x + n_y))$ per layer.
        """
        dtype = q.dtype
        w = self.wall_values().astype(dtype)
        r = q - self.background().astype(dtype)
        r = r.at[:, 0, :].add(-w[:, 0, None] / self.dy**2)
        r = r.at[:, -1, :].add(-w[:, 1, None] / self.dy**2)
        return self._solve(r)

    def _solve(self, r: jnp.ndarray) -> jnp.ndarray:
        r"""$(\nabla^2 + \mathbf F)^{-1} r$ with zero walls, ``(2, ny, nx)``."""
        F1, F2 = self.F
        dtype = r.dtype
        # P^{-1} = [[F2, F1], [1, -1]] / (F1 + F2)
        s = F1 + F2
        rm = jnp.stack([(F2 * r[0] + F1 * r[1]) / s, (r[0] - r[1]) / s])
        lx, ly, S = self._spectrum(dtype)
        # sine transform in y (real), FFT in x, divide by the eigenvalues, and back
        rh = jnp.fft.rfft(jnp.einsum("jm,amx->ajx", S, rm), axis=-1)
        D = jnp.stack([jnp.zeros((), dtype), jnp.asarray(-s, dtype)])
        denom = lx[None, None, :] + ly[None, :, None] + D[:, None, None]
        ph = jnp.fft.irfft(rh / denom.astype(rh.dtype), n=self.nx, axis=-1).astype(dtype)
        phi = jnp.einsum("jm,amx->ajx", S, ph)
        return jnp.stack([phi[0] + F1 * phi[1], phi[0] - F2 * phi[1]])

    def _wall_pv(self, dtype) -> jnp.ndarray:
        """PV on the wall rows, ``(2, 2)`` (layer, south/north): no relative vorticity."""
        F1, F2 = self.F
        w = self.wall_values().astype(dtype)
        yw = jnp.asarray(self.y_walls()[[0, -1]], dtype)
        d = w[0] - w[1]
        return jnp.stack([-F1 * d, F2 * d]) + self.beta * yw[None, :]

    def _pad_walls(self, f: jnp.ndarray, walls: jnp.ndarray) -> jnp.ndarray:
        """``(2, ny, nx)`` and wall values ``(2, 2)`` -> ``(2, ny + 2, nx)``."""
        s = jnp.broadcast_to(walls[:, 0, None, None], (2, 1, self.nx)).astype(f.dtype)
        n = jnp.broadcast_to(walls[:, 1, None, None], (2, 1, self.nx)).astype(f.dtype)
        return jnp.concatenate([s, f, n], axis=1)

    def pv_tendency(self, q: jnp.ndarray) -> jnp.ndarray:
        r"""$\partial_t q_i = -J(\psi_i, q_i) - r\,\nabla^2\psi_2\,\delta_{i2} - \nu\nabla^4 q_i$.

        ``q``: ``(2, ny, nx)``; the Jacobian is Arakawa's with the walls' $\psi$ and PV;
        the biharmonic acts on the PV minus $\beta y + R$, with the walls' values of that
        anomaly and zero Laplacian on the walls (so a state of uniform winds is steady).
        """
        psi = self.invert(q)
        psi_w = self.with_walls(psi)
        qw = self._wall_pv(q.dtype)
        dq = -arakawa_jacobian(psi_w, self._pad_walls(q, qw), self.dx, self.dy)
        zeta2 = self.laplacian(psi_w[1])
        dq = dq.at[1].add(-self.ekman * zeta2)
        yw = jnp.asarray(self.y_walls()[[0, -1]], q.dtype)
        anom = q - self.background().astype(q.dtype)
        lap = self.laplacian(self._pad_walls(anom, qw - self.beta * yw[None, :]))
        lap2 = self.laplacian(self._pad_walls(lap, jnp.zeros((2, 2), q.dtype)))
        return dq - self.diffusion * lap2

    def tendency(self, x):
        """$\\partial_t\\psi$ ``(2*ny*nx,)``: the PV tendency inverted with zero walls."""
        dq = self.pv_tendency(self.pv(self.split(x)))
        return self._solve(dq).reshape(x.shape)

    def step(self, x, *, key=None):
        r"""One RK4 step of the PV equation; in and out: the flat streamfunction.

        $k_s = f(q + a_s\,dt\,k_{s-1})$ with $a = (0, \tfrac12, \tfrac12, 1)$ and
        $q \leftarrow q + dt\sum_s b_s k_s$, $b = (1, 2, 2, 1)/6$: the classical RK4, its four
        stages one ``lax.scan`` (one tendency in the compiled program instead of four, so
        the step and its derivatives compile about four times faster).
        """
        del key
        q = self.pv(self.split(x))
        h = self.dt
        a = jnp.asarray([0.0, 0.5, 0.5, 1.0], q.dtype)
        b = jnp.asarray([1.0, 2.0, 2.0, 1.0], q.dtype) / 6.0

        def stage(carry, ab):
            k, acc = carry
            k = self.pv_tendency(q + ab[0] * h * k)
            return (k, acc + ab[1] * k), None

        zero = jnp.zeros_like(q)
        (_, acc), _ = jax.lax.scan(stage, (zero, zero), jnp.stack([a, b], axis=1))
        return self.invert(q + h * acc).reshape(x.shape)

    def initial_condition(self, key):
        """The walls' linear profile (uniform winds ``u1, u2``) plus noise of std 0.1."""
        yw = jnp.asarray(self.y_walls()[1:-1])
        u = jnp.stack([jnp.asarray(self.u1), jnp.asarray(self.u2)])
        mean = -u[:, None, None] * yw[None, :, None] * jnp.ones((1, 1, self.nx))
        noise = 0.1 * jax.random.normal(key, (2, self.ny, self.nx))
        return (mean + noise).reshape(-1)

    # ----- diagnostics ----------------------------------------------------------------
    def winds(self, x: jnp.ndarray) -> jnp.ndarray:
        """Geostrophic winds $(u, v) = (-\\psi_y, \\psi_x)$ by centred differences,
        ``(2 components, 2 layers, ny, nx)`` in units of 10 m/s."""
        p = self.with_walls(self.split(x))
        u = -(p[:, 2:] - p[:, :-2]) / (2 * self.dy)
        pi = p[:, 1:-1]
        v = (jnp.roll(pi, -1, axis=-1) - jnp.roll(pi, 1, axis=-1)) / (2 * self.dx)
        return jnp.stack([u, v])

    def mean_zonal_wind(self, x: jnp.ndarray) -> jnp.ndarray:
        """Channel mean of $u = -\\psi_y$ over the $n_y + 1$ cell edges, ``(2,)``; equals
        $(\\psi_S - \\psi_N)/L_y$ = ``(u1, u2)`` for every state (the walls set it)."""
        p = self.with_walls(self.split(x))
        return -jnp.mean(p[:, 1:] - p[:, :-1], axis=(1, 2)) / self.dy

    def energy(self, x: jnp.ndarray) -> jnp.ndarray:
        r"""Total energy per unit area (units of $U^2$, depth-weighted):
        $\tfrac12\sum_{\rm edges}[h_1|\delta\psi_1|^2 + h_2|\delta\psi_2|^2]
        + \tfrac12 h_1F_1\sum(\psi_1-\psi_2)^2$ over the area, $h_i = H_i/(H_1 + H_2)$, with
        one-sided differences across every cell edge (the walls' included); conserved by
        the unforced, undamped semi-discrete model when the walls are at $\psi = 0$.
        """
        F1, _ = self.F
        psi_w = self.with_walls(self.split(x))
        gx = (jnp.roll(psi_w, -1, axis=-1) - psi_w)[:, 1:-1] / self.dx
        gy = (psi_w[:, 1:] - psi_w[:, :-1]) / self.dy
        H = jnp.stack([jnp.asarray(self.depth1), jnp.asarray(self.depth2)])
        H = H / (self.depth1 + self.depth2)
        kin = jnp.sum(H[:, None, None] * gx**2) + jnp.sum(H[:, None, None] * gy**2)
        pot = H[0] * F1 * jnp.sum((psi_w[0, 1:-1] - psi_w[1, 1:-1]) ** 2)
        return 0.5 * (kin + pot) / (self.nx * (self.ny + 1))

    def enstrophy(self, x: jnp.ndarray) -> jnp.ndarray:
        r"""Depth-weighted potential enstrophy $\tfrac12\sum_i h_i\,\overline{q_i^2}$ (mean
        over the interior points); conserved by the unforced, undamped semi-discrete model
        when the walls' PV is 0 (no mean wind, $\beta = 0$)."""
        q = self.pv(self.split(x))
        H = jnp.stack([jnp.asarray(self.depth1), jnp.asarray(self.depth2)])
        H = H / (self.depth1 + self.depth2)
        return 0.5 * jnp.sum(H[:, None, None] * q**2) / (self.nx * self.ny)
