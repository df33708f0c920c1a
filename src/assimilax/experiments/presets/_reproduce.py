"""Run a preset into a directory, check its claims, write ``summary.json`` and ``claims.md``.

Directory layout (``runs/reproduce/<name>``, or ``<name>-quick`` for ``--quick``)::

    preset.json          which preset and version (quick/full) the directory holds
    members/<m>.toml     each member's config, as ``assimilax run`` takes it (first seed)
    members/<m>.json     each member's per-seed time means (reused when run again)
    summary.json         claims, members (config, seeds, statistics), provenance
    claims.md            the claims as a markdown table
"""

from __future__ import annotations

import datetime
import shutil
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import jax

from ... import __version__
from ... import io as rio
from .._provenance import code_fingerprint, git_commit
from .._rundir import RunDirError, check_writable
from .._runtime import configure_runtime
from ._batch import MemberRun, run_member
from ._claims import evaluate_claim
from ._markdown import claims_markdown
from ._preset import Preset
from ._registry import get_preset
from ._reproduction import Reproduction

PRESET_FILE = rio.names.PRESET_FILE
SUMMARY_FILE = rio.names.SUMMARY_FILE
CLAIMS_FILE = "claims.md"
MEMBERS_DIR = "members"


class ReproduceDirError(RuntimeError):
    """The output directory holds something other than this preset's runs."""


def default_out_dir(name: str, quick: bool = False, root: str | Path = "runs/reproduce") -> Path:
    """``runs/reproduce/<name>``, or ``runs/reproduce/<name>-quick`` for the quick version."""
    return Path(root) / (f"{name}-quick" if quick else name)


def load_reproduction(out_dir: str | Path) -> Reproduction:
    """The summary of a finished preset in ``out_dir``.

    Raises:
        FileNotFoundError: no ``summary.json`` there.
    """
    out_dir = Path(out_dir)
    path = out_dir / SUMMARY_FILE
    if not path.is_file():
        raise FileNotFoundError(f"{out_dir} holds no finished reproduction (no {SUMMARY_FILE}).")
    return Reproduction.from_dict(rio.read_json(path), out_dir=out_dir)


def reproduce(
    preset: Preset | str,
    out_dir: str | Path | None = None,
    *,
    quick: bool = False,
    log: Callable[[str], None] | None = None,
) -> Reproduction:
    """Run a preset's members, check its claims, write ``summary.json`` and ``claims.md``.

    Members already finished in ``out_dir`` with the same config and seeds, computed
    under the same code fingerprint (version, commit, uncommitted changes, backend and the
    numerical packages' versions: :func:`~assimilax.experiments._provenance.
    code_fingerprint`), are read back, not recomputed, so an interrupted run resumes
    member by member; a member computed by other code is recomputed. Float64 is switched on
    for the process.

    Args:
        preset: a :class:`Preset` or its name.
        out_dir: the directory (default :func:`default_out_dir`).
        quick: the shorter ``--quick`` version.
        log: called with one line per member (progress); ``None``: silent.

    Returns:
        The :class:`Reproduction`; a claim that fails does not raise (see ``all_hold``
        and ``as_expected``).

    Raises:
        UnknownPresetError: no preset of that name.
        ReproduceDirError: ``out_dir`` holds something else; nothing is written.
    """
    t0 = time.perf_counter()
    if isinstance(preset, str):
        preset = get_preset(preset)
    out_dir = Path(out_dir) if out_dir is not None else default_out_dir(preset.name, quick)
    members = preset.build(quick)
    identity = {"preset": preset.name, "quick": quick}
    _claim_dir(out_dir, identity)
    try:
        check_writable(out_dir, "reproduction")
    except RunDirError as err:
        raise ReproduceDirError(str(err)) from None
    configure_runtime()
    say = log or (lambda line: None)
    member_dir = out_dir / MEMBERS_DIR
    member_dir.mkdir(parents=True, exist_ok=True)
    rio.write_json(out_dir / PRESET_FILE, identity)
    runs: dict[str, MemberRun] = {}
    version = "quick" if quick else "full"
    fingerprint = code_fingerprint()
    for i, member in enumerate(members, 1):
        cfg = member.config_for(member.seeds[0])
        exp = cfg.experiment
        size = (f"{len(member.seeds)} seed(s)" if cfg.hybrid is not None
                else f"{len(member.seeds)} seeds x {exp.cycles} cycles")
        head = (f"{preset.name} ({version}) [{i}/{len(members)}] {member.name}: "
                f"{cfg.describe()}, {size}")
        path = member_dir / f"{member.name}.json"
        previous, why = _previous_member(path, member, fingerprint)
        if previous is not None:
            runs[member.name] = previous
            say(f"{head}: finished earlier under this code, reused")
            continue
        if why:
            say(f"{head}: {why}: recomputed")
        rio.write_text_atomic(member_dir / f"{member.name}.toml", cfg.to_toml())
        say(f"{head} ...")
        partial = member_dir / f"{member.name}.partial"
        run = run_member(member, log=say, checkpoint=partial)
        # Members share no programs: release this one's, so that `reproduce --all` keeps
        # few compiled programs (each holds memory mappings; a process has 65,530).
        jax.clear_caches()
        rio.write_json(path, run.to_dict())
        if partial.is_dir():
            shutil.rmtree(partial)
        runs[member.name] = run
        if run.notes:
            say(f"{head}: done ({run.wall_time_s:.1f} s)")
            for line in run.notes:
                say(f"  {line}")
            continue
        rmse = run.statistics["rmse_analysis"]["mean"]
        shown = ", ".join("diverged" if v is None else f"{v:.3f}" for v in rmse)
        say(f"{head}: analysis RMSE per seed {shown} ({run.wall_time_s:.1f} s)")
    claims = [evaluate_claim(c, runs[c.member], runs.get(c.versus), quick=quick)
              for c in preset.claims]
    result = Reproduction(
        preset=preset.name,
        reference=preset.reference,
        description=preset.description,
        quick=quick,
        claims=claims,
        members=[runs[m.name] for m in members],
        all_hold=all(c.holds for c in claims),
        as_expected=all(c.as_expected for c in claims),
        wall_time_s=time.perf_counter() - t0,
        version=__version__,
        git_commit=git_commit(),
        created=datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        out_dir=out_dir,
    )
    rio.write_json(out_dir / SUMMARY_FILE, result.to_dict())
    rio.write_text_atomic(out_dir / CLAIMS_FILE, claims_markdown(result))
    return result


def _claim_dir(out_dir: Path, identity: dict[str, Any]) -> None:
    """Check that ``out_dir`` is free or holds this preset's version.

    Raises:
        ReproduceDirError: it holds another preset or version, or is not a preset directory.
    """
    if not out_dir.exists():
        return
    if not out_dir.is_dir():
        raise ReproduceDirError(f"{out_dir} exists and is not a directory.")
    marker = out_dir / PRESET_FILE
    if marker.is_file():
        there = rio.read_json(marker)
        if there != identity:
            def show(d):
                return f"{d.get('preset')} ({'quick' if d.get('quick') else 'full'})"
            raise ReproduceDirError(
                f"{out_dir} holds the runs of {show(there)}, not {show(identity)}; nothing was "
                "changed. Choose another --out, or delete that directory to replace it."
            )
        return
    if any(out_dir.iterdir()):
        raise ReproduceDirError(
            f"{out_dir} is not empty and holds no reproduction; choose another --out."
        )


def _previous_member(path: Path, member, fingerprint: dict[str, str]
                     ) -> tuple[MemberRun | None, str | None]:
    """The stored run of ``member`` at ``path`` if it has the same config and seeds and
    was computed under ``fingerprint``; else ``None`` and why it is not reused."""
    if not path.is_file():
        return None, None
    try:
        run = MemberRun.from_dict(rio.read_json(path), reused=True)
    except (ValueError, TypeError, OSError) as err:
        return None, f"its stored run {path} is unreadable ({err})"
    if not run.matches(member):
        return None, "its stored run has another config or other seeds"
    if run.fingerprint != fingerprint:
        changed = [k for k in dict.fromkeys([*fingerprint, *run.fingerprint])
                   if run.fingerprint.get(k) != fingerprint.get(k)]
        shown = ", ".join(f"{k} {run.fingerprint.get(k, '?')} -> {fingerprint.get(k)}"
                          for k in changed)
        return None, f"its stored run was computed by other code ({shown})"
    return run, None
