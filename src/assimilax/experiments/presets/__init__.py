"""Presets named after papers: run a published set-up and check its numbers.

A :class:`Preset` is a set of :class:`Member` configs, each run over several seeds as
one vmapped program, and a set of :class:`Claim` s on their time means. ``assimilax
reproduce NAME [--quick]`` (:func:`reproduce`) writes ``summary.json`` with the checked
claims and ``claims.md``; :func:`reproduction_table` makes ``docs/reproduction.md``.

Presets: ``sakov2008`` (Lorenz-96, the ensemble Kalman filters), ``sakov2012``
(Lorenz-63), ``wilks2005`` (two-scale Lorenz-96), ``tremolet2006`` (weak-constraint
4D-Var on a biased Lorenz-96), ``brajard2020`` (a surrogate learned by iterating DA and
training), ``nonnenmacher2021`` (4D-Var with emulator gradients).
"""

from ._batch import MemberRun as MemberRun
from ._batch import run_member as run_member
from ._claims import ClaimResult as ClaimResult
from ._claims import evaluate_claim as evaluate_claim
from ._claims import paired_ci as paired_ci
from ._claims import seed_mean_ci as seed_mean_ci
from ._markdown import claims_markdown as claims_markdown
from ._markdown import reproduction_table as reproduction_table
from ._preset import KINDS as KINDS
from ._preset import STATISTICS as STATISTICS
from ._preset import Claim as Claim
from ._preset import Member as Member
from ._preset import Preset as Preset
from ._registry import PRESETS as PRESETS
from ._registry import UnknownPresetError as UnknownPresetError
from ._registry import get_preset as get_preset
from ._registry import preset_names as preset_names
from ._reproduce import ReproduceDirError as ReproduceDirError
from ._reproduce import default_out_dir as default_out_dir
from ._reproduce import load_reproduction as load_reproduction
from ._reproduce import reproduce as reproduce
from ._reproduction import Reproduction as Reproduction
