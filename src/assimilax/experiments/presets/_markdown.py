"""Markdown tables of claims: ``claims.md`` of one preset, ``docs/reproduction.md`` of all."""

from __future__ import annotations

from collections.abc import Sequence

from ..config import Config, ConfigError
from ._claims import ClaimResult
from ._preset import Claim
from ._reproduction import Reproduction


def _num(value: float | None, digits: int = 3) -> str:
    return "–" if value is None else f"{value:.{digits}g}"


def _ours(c: ClaimResult) -> str:
    if c.ours is None:
        return c.note or "–"
    text = f"{c.ours:.4g}"
    if c.ours_ci95:
        text += f" ± {c.ours_ci95:.2g}"
    n = len(c.per_seed)
    text += f" ({n} seed{'s' if n > 1 else ''})"
    return text + (f"; {c.note}" if c.note else "")


def _reference(c: ClaimResult | Claim) -> str:
    text = f"{c.symbol} {c.reference:g}" if c.relation != "approx" else f"{c.reference:g}"
    return text + (f" × `{c.versus}`" if c.versus else "")


def _tolerance(band: float | None, reference: float) -> str:
    if not band:
        return "–"
    text = f"±{band:.2g}"
    if reference:
        text += f" ({100 * band / abs(reference):.0f} %)"
    return text


def _outcome(c: ClaimResult) -> str:
    return c.outcome if c.as_expected else f"**{c.outcome}**"


def _expected(c: ClaimResult | Claim) -> str:
    return c.expected if c.expected == "holds" else "fails¹"


def _expected_failures(results, not_run=()) -> list[str]:
    """Footnote lines: the reason of every claim expected to fail (of the presets run and
    of those ``not_run``)."""
    claims = [(r.preset, c.claim, c) for r in results for c in r.claims]
    claims += [(p.name, c.text, c) for p in not_run for c in p.claims]
    lines = [f"- `{preset}`, {_cell(text)}: {_cell(c.reason or '')}"
             for preset, text, c in claims if c.expected == "fails"]
    return ["", "¹ Expected to fail, and why:", "", *lines] if lines else []


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _fingerprint(run) -> str:
    """The code a member ran under, in words: commit (and changes), backend, jax."""
    fp = run.fingerprint
    if not fp:
        return f"commit {run.git_commit[:12]} (no fingerprint recorded)"
    source = fp.get("source", "?")
    code = f"commit {fp.get('git_commit', '?')[:12]}" + ("" if source == "clean" else
                                                          f" + {source}")
    return (f"assimilax {fp.get('version')} {code}, {fp.get('backend')}, jax "
            f"{fp.get('jax')}, numpy {fp.get('numpy')}")


def _member_line(run) -> str:
    try:
        title = Config.from_dict(run.config).describe()
    except ConfigError:  # written by another version of the schema
        title = run.name
    seeds = f"{len(run.seeds)} seed{'s' if len(run.seeds) > 1 else ''}"
    if run.config.get("hybrid"):
        line = f"- `{run.name}`: {title}; {seeds}"
        if run.config["hybrid"].get("name") == "iterative_emulation":
            line += f" × {run.cycles:,} steps"
    else:
        line = f"- `{run.name}`: {title}; {seeds} × {run.cycles:,} cycles, burn-in {run.burn_in:,}"
    line += f"; {run.wall_time_s:.1f} s, computed under {_fingerprint(run)}"
    return "\n".join([line, *(f"    - {_cell(note)}" for note in run.notes)])


def _summary_path(result: Reproduction) -> str:
    if result.out_dir is None:
        return f"{result.preset}/summary.json"
    return (result.out_dir / "summary.json").as_posix()


def claims_markdown(result: Reproduction) -> str:
    """``claims.md``: the claims of one preset as a table, then its members."""
    version = "quick" if result.quick else "full"
    lines = [
        f"# `{result.preset}` ({version})",
        "",
        result.description,
        "",
        f"Source: {result.reference}",
        "",
        "| claim | ours (95 %) | reference | kind | source | band | outcome | expected |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for c in result.claims:
        lines.append(f"| {_cell(c.claim)} | {_cell(_ours(c))} | {_reference(c)} | {c.kind} | "
                     f"{_cell(c.source)} | {_tolerance(c.tolerance, c.reference)} | "
                     f"{_outcome(c)} | {_expected(c)} |")
    held = sum(c.holds for c in result.claims)
    unexpected = sum(not c.as_expected for c in result.claims)
    lines += _expected_failures([result])
    lines += [
        "",
        f"{held} of {len(result.claims)} claims hold; {unexpected} outcome"
        f"{'s' if unexpected != 1 else ''} not as expected. A claim holds when the whole "
        "95 % interval of ours lies inside the band around the reference (on its side of "
        "a threshold).",
        "",
        "Members:",
        "",
        *(_member_line(m) for m in result.members),
        "",
        f"assimilax {result.version} (commit {result.git_commit[:12]}), {result.created}, "
        f"{result.wall_time_s:.0f} s.",
        "",
    ]
    return "\n".join(lines)


def reproduction_table(results: Sequence[Reproduction], *, command: str,
                       not_run: Sequence = ()) -> str:
    """``docs/reproduction.md``: one table of every claim of the given presets.

    Args:
        results: finished presets, in the order of the table.
        command: the command that generated the file, quoted in its first lines.
        not_run: presets (:class:`~._preset.Preset`) left out of this run (``paper``
            presets without ``--paper``): their claims are listed as ``not run``.
    """
    versions = sorted({"quick" if r.quick else "full" for r in results})
    commits = sorted({r.git_commit[:12] for r in results})
    total = sum(len(r.claims) for r in results)
    held = sum(c.holds for r in results for c in r.claims)
    hybrids = [r.preset for r in results if any(m.config.get("hybrid") for m in r.members)]
    hybrid_note = "" if not hybrids else (
        f" The hybrid presets ({', '.join(f'`{h}`' for h in hybrids)}) report one value per "
        "seed of the whole run instead (the last iteration's analysis RMSE, the surrogate's "
        "valid time, a ratio of analysis RMSEs); the lines of their members below give the "
        "numbers behind them, iteration by iteration.")
    unexpected = sum(not c.as_expected for r in results for c in r.claims)
    lines = [
        "# Reproduction of published results",
        "",
        f"Generated by `{command}` from the {' and '.join(versions)} runs of the presets "
        f"({', '.join(f'`{_summary_path(r)}`' for r in results)}), assimilax "
        f"{results[0].version if results else ''} (commit {', '.join(commits)}). Do not "
        "edit by hand.",
        "",
        f"**{held} of {total} claims hold; {unexpected} outcome"
        f"{'s' if unexpected != 1 else ''} not as expected.** Our value is the mean over "
        "seeds of the time-mean statistic after burn-in, with its 95 % interval (the larger "
        "of the between-seed Student-t interval and the autocorrelation-corrected within-run "
        "intervals). A claim holds when that whole interval lies inside the band around the "
        "reference value (±10 % unless the claim states the reference's own uncertainty), "
        "or, for a threshold, on its side; a comparison with another member holds when the "
        "95 % interval of the paired per-seed differences (same seeds: same truths and "
        "observations) lies on the claimed side of zero. *Kind* says where the reference "
        "comes from: `published` (a paper's table or text, or DAPPER's `mods/` files), "
        "`figure` (read off a published figure), `reference-output` (a reference "
        "repository's stored output), `reference-run` (the reference code run here) or "
        "`target` (a threshold of ours, its reason in *source*)." + hybrid_note,
        "",
        "| preset | claim | ours (95 %) | reference | kind | source | band | outcome | expected "
        "| run |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in results:
        version = "quick" if r.quick else "full"
        for c in r.claims:
            lines.append(f"| `{r.preset}` | {_cell(c.claim)} | {_cell(_ours(c))} | "
                         f"{_reference(c)} | {c.kind} | {_cell(c.source)} | "
                         f"{_tolerance(c.tolerance, c.reference)} | {_outcome(c)} | "
                         f"{_expected(c)} | {version} |")
    for preset in not_run:
        for c in preset.claims:
            lines.append(f"| `{preset.name}` | {_cell(c.text)} | – | {_reference(c)} | "
                         f"{c.kind} | {_cell(c.source)} | {_tolerance(c.band, c.reference)} | "
                         f"not run | {_expected(c)} | full |")
    lines += _expected_failures(results, not_run)
    loose = [(r, c) for r in results if not r.quick for c in r.claims
             if c.interval_share is not None and c.interval_share > 0.5]
    if loose:
        lines += ["", "The seed rule (our interval at most half the band) is not met by:", "",
                  *(f"- `{r.preset}`, {_cell(c.claim)}: the interval is "
                    f"{100 * c.interval_share:.0f} % of the band" for r, c in loose)]
    if not_run:
        lines += ["", "Not run here (their full versions train networks for hours; "
                  "`assimilax reproduce --all --paper` runs them): "
                  + ", ".join(f"`{p.name}`" for p in not_run) + "."]
    lines += ["", "## Presets", ""]
    for r in results:
        version = "quick" if r.quick else "full"
        lines += [
            f"### `{r.preset}`",
            "",
            r.description,
            "",
            f"Source: {r.reference}",
            "",
            f"Run: `assimilax reproduce {r.preset}{' --quick' if r.quick else ''}` ({version}; "
            f"members computed in {sum(m.wall_time_s for m in r.members):.0f} s; claims "
            f"checked {r.created}).",
            "",
            *(_member_line(m) for m in r.members),
            "",
        ]
    return "\n".join(lines)
