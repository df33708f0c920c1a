"""``assimilax reproduce``: run a preset named after a paper and check its claims."""

import dataclasses
from collections.abc import Sequence
from pathlib import Path
from typing import Annotated

import typer

from ..experiments import ConfigError, presets
from ..io import write_text_atomic
from ._app import EXIT_BAD_INPUT, SetOption, app, consoles, fail
from ._table import claims_table

EXIT_CLAIM_FAILED = 1


def _list_text() -> str:
    lines = ["Presets (assimilax reproduce NAME [--quick] [--out DIR]):", ""]
    for p in presets.PRESETS.values():
        lines += [f"{p.name}  ({len(p.claims)} claims)", f"  {p.description}",
                  f"  Source: {p.reference}", ""]
    return "\n".join(lines)


def _overridden(preset: "presets.Preset", quick: bool,
                overrides: Sequence[str]) -> "presets.Preset":
    """``preset`` whose members' configs carry the ``--set`` overrides (validated now).

    Raises:
        ConfigError: an override is malformed or makes a member's config invalid; the
            message names the preset and the member.
    """
    members = []
    for member in preset.build(quick):
        try:
            config = member.config.with_overrides(overrides)
        except ConfigError as err:
            raise ConfigError(err.issues, f"{err.source} (preset {preset.name}, member "
                                          f"{member.name})") from None
        members.append(dataclasses.replace(member, config=config))
    members = tuple(members)
    return dataclasses.replace(preset, members=lambda _quick: members)


@app.command("reproduce")
def reproduce_command(
    name: Annotated[
        str | None,
        typer.Argument(metavar="NAME", help="A preset (see --list), e.g. sakov2008."),
    ] = None,
    quick: Annotated[
        bool, typer.Option("--quick", help="Shorter runs (minutes); tolerances widen with "
                           "their wider intervals.")
    ] = False,
    out: Annotated[
        Path | None,
        typer.Option("--out", "-o", metavar="DIR",
                     help="Output directory; with --all, the directory of the presets' "
                          "directories.",
                     show_default="runs/reproduce/NAME, or NAME-quick with --quick"),
    ] = None,
    list_: Annotated[bool, typer.Option("--list", help="List the presets and exit.")] = False,
    all_: Annotated[bool, typer.Option("--all", help="Run every preset.")] = False,
    paper: Annotated[
        bool, typer.Option("--paper", help="With --all and not --quick: also the presets "
                           "whose full version runs for hours (their claims are listed "
                           "as not run otherwise).")
    ] = False,
    table: Annotated[
        Path | None,
        typer.Option("--table", metavar="FILE",
                     help="Also write one markdown table of every claim run "
                          "(e.g. docs/reproduction.md)."),
    ] = None,
    set_: SetOption = None,
    progress: Annotated[
        bool, typer.Option("--progress/--no-progress", help="Print a line per member.")
    ] = True,
) -> None:
    """Run a paper's set-up and check its published numbers.

    Writes summary.json (the claims, each {claim, ours, reference, kind, source,
    tolerance, holds, expected}; the members' configs, seeds and statistics; version and
    commit) and claims.md into DIR. Finished members in DIR are reused. ``--set``
    overrides a key of every member's config (e.g. ``--set experiment.cycles=200``).
    Exits with status 1 when a claim's outcome is not the expected one (a claim expected
    to fail, with its reason, does not).
    """
    stdout, stderr = consoles()
    if list_:
        stdout.print(_list_text(), markup=False, highlight=False)
        return
    if all_ and name is not None:
        raise fail(stderr, f"error: give a preset NAME or --all, not both (got {name!r}).",
                   EXIT_BAD_INPUT)
    if not all_ and name is None:
        raise fail(stderr, "error: give a preset NAME, --all or --list; presets: "
                   f"{', '.join(presets.preset_names())}.", EXIT_BAD_INPUT)
    try:
        chosen = list(presets.PRESETS.values()) if all_ else [presets.get_preset(name)]
        skipped = [p for p in chosen if all_ and p.paper and not quick and not paper]
        chosen = [p for p in chosen if p not in skipped]
    except presets.UnknownPresetError as exc:
        raise fail(stderr, f"error: {exc}", EXIT_BAD_INPUT) from None
    if skipped:
        stderr.print(f"not run: {', '.join(p.name for p in skipped)} (full versions that "
                     "train networks for hours; add --paper to run them)", markup=False)
    overrides = set_ or []
    if overrides:
        try:
            chosen = [_overridden(p, quick, overrides) for p in chosen]
        except ConfigError as exc:
            raise fail(stderr, f"error: {exc}\nNothing was run or written.",
                       EXIT_BAD_INPUT) from None

    def out_dir(preset) -> Path:
        if all_:
            return presets.default_out_dir(preset.name, quick, root=out or "runs/reproduce")
        return out if out is not None else presets.default_out_dir(preset.name, quick)

    def log(line: str) -> None:
        if progress:
            stderr.print(line, markup=False)

    results = []
    for preset in chosen:
        try:
            result = presets.reproduce(preset, out_dir(preset), quick=quick, log=log)
        except presets.ReproduceDirError as exc:
            raise fail(stderr, f"error: {exc}", EXIT_BAD_INPUT) from None
        stdout.print(claims_table(result))
        results.append(result)
    if table is not None:
        flags = (" --all" if all_ else f" {chosen[0].name}") + (" --quick" if quick else "")
        flags += " --paper" if paper else ""
        flags += f" --out {out}" if out is not None else ""
        flags += "".join(f" --set {o}" for o in overrides)
        command = f"assimilax reproduce{flags} --table {table}"
        table.parent.mkdir(parents=True, exist_ok=True)
        write_text_atomic(table, presets.reproduction_table(results, command=command,
                                                               not_run=skipped))
        stdout.print(f"wrote {table}", markup=False)
    unexpected = [(r, c) for r in results for c in r.unexpected]
    total = sum(len(r.claims) for r in results)
    held = sum(c.holds for r in results for c in r.claims)
    if unexpected:
        lines = "\n".join(
            f"  {r.preset}: {c.claim}: {c.outcome}, expected to {c.expected[:-1]}: "
            + (c.note or f"ours {c.ours:.4g} ± {c.ours_ci95 or 0:.2g}, reference "
               f"{c.reference:g} ± {c.tolerance or 0:.2g}")
            for r, c in unexpected
        )
        raise fail(stderr, f"error: {len(unexpected)} of {total} claims did not come out as "
                   f"expected:\n{lines}\nDetails in "
                   f"{', '.join(str(r.out_dir) for r in results)}.", EXIT_CLAIM_FAILED)
    failing = total - held
    stdout.print(f"{held} of {total} claims hold"
                 + (f"; the {failing} that fail are expected to (see their reasons)."
                    if failing else "."), markup=False)
