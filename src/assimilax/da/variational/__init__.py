"""Variational DA: 3D-Var, strong- and weak-constraint 4D-Var, covariance operators.

Every method minimises an incremental cost in control-variable space
($\\delta x = B^{1/2}v$) by Gauss-Newton outer loops and conjugate-gradient inner loops,
with the tangent-linear and adjoint models from ``jax.linearize``; the cycle over
windows is the one driver's ``lax.scan`` (:func:`assimilax.da.assimilate`).
"""

from ._base import AbstractVariationalMethod as AbstractVariationalMethod
from ._climatology import climatology as climatology
from ._covariance import AbstractCovariance as AbstractCovariance
from ._covariance import DenseCovariance as DenseCovariance
from ._covariance import DiagonalCovariance as DiagonalCovariance
from ._covariance import RecursiveFilterCovariance as RecursiveFilterCovariance
from ._lbfgs import LBFGS as LBFGS
from ._lbfgs import LBFGSSolution as LBFGSSolution
from ._no_background import NoBackgroundWindow as NoBackgroundWindow
from ._problems import StrongWindow as StrongWindow
from ._problems import WeakWindow as WeakWindow
from ._problems import WindowObservations as WindowObservations
from ._recursive_filter import AbstractRecursiveFilter as AbstractRecursiveFilter
from ._recursive_filter import FirstOrderFilter as FirstOrderFilter
from ._recursive_filter import YoungVanVlietFilter as YoungVanVlietFilter
from ._recursive_filter import impulse_response_error as impulse_response_error
from ._recursive_filter import linear_recurrence as linear_recurrence
from ._solver import AbstractInnerSolver as AbstractInnerSolver
from ._solver import ConjugateGradient as ConjugateGradient
from ._solver import DenseCholesky as DenseCholesky
from ._solver import GaussNewton as GaussNewton
from ._var3d import Var3D as Var3D
from ._var4d import SlidingVar4D as SlidingVar4D
from ._var4d import Var4D as Var4D
from ._weak_var4d import WeakVar4D as WeakVar4D
from ._window import forced_step as forced_step
from ._window import propagate as propagate
