"""Presets named after papers: claim arithmetic, the registry, `reproduce` files and reuse,
the `assimilax reproduce` command, and (slow) the quick and full presets themselves."""

import dataclasses
import json
import math
import tempfile

import numpy as np
import pytest
from scipy import stats
from typer.testing import CliRunner

from assimilax.cli import app
from assimilax.experiments import Config, run
from assimilax.experiments import presets as P
from assimilax.experiments._provenance import code_fingerprint
from assimilax.experiments.presets import (
    Claim,
    ClaimResult,
    Member,
    MemberRun,
    Preset,
    evaluate_claim,
    reproduce,
    seed_mean_ci,
)

runner = CliRunner()

CLAIM_KEYS = {"claim", "ours", "reference", "tolerance", "holds", "kind", "source",
              "expected"}

SRC = {"kind": "target", "source": "a test"}  # where a test claim's number comes from


def small_config(cycles: int = 200, burn_in: int = 50) -> Config:
    """L96 (n=40), all variables observed every step, ETKF N=20: tracks the truth at once.

    The experiment of tests/test_runner.py and tests/test_cli.py, so that the runner's
    compilation is shared in a whole-suite run.
    """
    return Config.from_dict({
        "model": {"name": "lorenz96", "n": 40},
        "observations": {"operator": "full", "noise_std": 1.0},
        "method": {"name": "etkf", "ensemble_size": 20, "inflation": 1.02},
        "experiment": {"cycles": cycles, "burn_in": burn_in, "seed": 0},
    })


def tiny_preset(name: str = "tiny", claims: tuple[Claim, ...] | None = None) -> Preset:
    """Four seeds of the small config; by default claims that hold (RMSE about 0.18)."""
    if claims is None:
        claims = (
            Claim("ETKF N=20 analysis RMSE ≈ 0.18", "etkf", 0.18, rel_tol=0.3, **SRC),
            Claim("ETKF N=20 analysis RMSE below 0.5", "etkf", 0.5, relation="below",
                  rel_tol=0.0, **SRC),
            Claim("truth climatology ≈ 3.6", "etkf", 3.6, statistic="climatology", **SRC),
        )
    return Preset(
        name=name,
        reference="a test",
        description="Lorenz-96, ETKF N=20, 200 cycles",
        members=lambda quick: (Member("etkf", small_config(), (1, 2, 3, 4)),),
        claims=claims,
    )


def failing_preset(expected: str = "holds") -> Preset:
    """A claim that holds and one that fails, expected to hold (or to fail, with a reason)."""
    reason = "wrong on purpose, see the test" if expected == "fails" else None
    return tiny_preset("tiny_fails", claims=(
        Claim("ETKF N=20 analysis RMSE ≈ 0.18", "etkf", 0.18, rel_tol=0.3, **SRC),
        Claim("ETKF N=20 analysis RMSE ≈ 1.0 (wrong on purpose)", "etkf", 1.0, **SRC,
              expected=expected, reason=reason),
    ))


def member_run(means, ci95=None, diverged=None, statistic="rmse_analysis") -> MemberRun:
    n = len(means)
    return MemberRun(
        name="m", config=small_config().to_dict(), seeds=list(range(n)), cycles=100,
        burn_in=10,
        statistics={statistic: {"mean": list(means),
                                "ci95": list(ci95) if ci95 is not None else [0.0] * n}},
        diverged_at_cycle=list(diverged) if diverged is not None else [None] * n,
        wall_time_s=1.0, version="0", git_commit="unknown",
    )


# ----------------------------------------------------------------------------- claim arithmetic


def test_seed_mean_ci_between_seeds():
    means = [0.50, 0.60, 0.55, 0.65]
    mean, half = seed_mean_ci(means, [0.001] * 4)
    s = np.std(means, ddof=1)
    assert mean == pytest.approx(0.575)
    assert half == pytest.approx(stats.t.ppf(0.975, 3) * s / 2)


def test_seed_mean_ci_within_runs_when_larger():
    mean, half = seed_mean_ci([0.5, 0.5, 0.5, 0.5], [0.04, 0.04, 0.04, 0.04])
    assert mean == 0.5
    assert half == pytest.approx(math.sqrt(4 * 0.04**2) / 4)


def test_seed_mean_ci_single_seed_and_unknown():
    assert seed_mean_ci([0.3], [0.02]) == (0.3, 0.02)
    mean, half = seed_mean_ci([0.3], [None])
    assert mean == 0.3 and math.isnan(half)
    with pytest.raises(ValueError, match="no seeds"):
        seed_mean_ci([], [])


def test_seed_mean_ci_covers_the_true_mean():
    """Nominal 95 %: of 400 sets of 5 Gaussian seeds, about 380 cover the mean."""
    rng = np.random.default_rng(0)
    covered = sum(
        abs(seed_mean_ci(x, [None] * 5)[0] - 1.0) <= seed_mean_ci(x, [None] * 5)[1]
        for x in rng.normal(1.0, 0.1, (400, 5))
    )
    assert 360 <= covered <= 396


@pytest.mark.parametrize(
    ("relation", "reference", "ours", "holds"),
    [  # band 0.2 ± 0.02; our interval ± 0.001 must lie inside it
        ("approx", 0.20, 0.2185, True),
        ("approx", 0.20, 0.1815, True),
        ("approx", 0.20, 0.2195, False),  # the interval crosses the band's edge
        ("approx", 0.20, 0.1805, False),
        ("below", 0.20, 0.2185, True),
        ("below", 0.20, 0.2195, False),
        ("below", 0.20, 0.01, True),
        ("above", 0.20, 0.1815, True),
        ("above", 0.20, 0.1805, False),
    ],
)
def test_claim_holds_when_the_whole_interval_is_inside_the_band(relation, reference, ours,
                                                                holds):
    run_ = member_run([ours], ci95=[0.001])
    claim = Claim("c", "m", reference, rel_tol=0.10, relation=relation, kind="published",
                  source="a table")
    result = evaluate_claim(claim, run_)
    assert result.holds is holds and result.outcome == ("holds" if holds else "fails")
    assert result.ours == pytest.approx(ours) and result.ours_ci95 == pytest.approx(0.001)
    assert result.tolerance == pytest.approx(0.10 * reference)
    assert (result.kind, result.source, result.expected) == ("published", "a table", "holds")
    assert CLAIM_KEYS <= set(result.to_dict())


def test_a_target_holds_when_the_interval_is_on_its_side():
    claim = Claim("below 0.5", "m", 0.5, relation="below", rel_tol=0.0, kind="target",
                  source="ours")
    assert evaluate_claim(claim, member_run([0.47], ci95=[0.02])).holds
    assert not evaluate_claim(claim, member_run([0.49], ci95=[0.02])).holds  # crosses 0.5


def test_expected_outcomes():
    fails = Claim("c", "m", 1.0, kind="published", source="a table", expected="fails",
                  reason="known gap, see docs")
    result = evaluate_claim(fails, member_run([0.2], ci95=[0.001]))
    assert not result.holds and result.as_expected and result.reason == "known gap, see docs"
    passing = evaluate_claim(fails, member_run([1.0], ci95=[0.001]))
    assert passing.holds and not passing.as_expected  # an unexpected pass is flagged too
    quick = dataclasses.replace(fails, expected="holds", expected_quick="fails")
    assert evaluate_claim(quick, member_run([0.2], [0.001]), quick=True).as_expected
    assert not evaluate_claim(quick, member_run([0.2], [0.001]), quick=False).as_expected


def test_claim_fails_when_a_seed_diverged():
    run_ = member_run([0.2, 0.2], diverged=[None, 340])
    result = evaluate_claim(Claim("c", "m", 0.2, **SRC), run_)
    assert not result.holds and result.ours is None
    assert "seed 1 at cycle 340" in result.note


def test_claim_fails_on_non_finite_seed():
    result = evaluate_claim(Claim("c", "m", 0.2, **SRC), member_run([0.2, None]))
    assert not result.holds and result.ours is None


def test_claim_about_wrong_member_or_statistic():
    with pytest.raises(ValueError, match="is about 'other'"):
        evaluate_claim(Claim("c", "other", 0.2, **SRC), member_run([0.2]))
    with pytest.raises(ValueError, match="has no 'rmse_smoothed'"):
        evaluate_claim(Claim("c", "m", 0.2, statistic="rmse_smoothed", **SRC),
                       member_run([0.2]))


def test_a_comparison_tests_the_paired_per_seed_differences():
    mine = member_run([0.24, 0.25, 0.23], ci95=[0.001] * 3)
    other = dataclasses.replace(member_run([0.30, 0.29, 0.28], ci95=[0.001] * 3), name="o")
    claim = Claim("m below 0.9 x o", "m", 0.9, relation="below", rel_tol=0.0, versus="o",
                  **SRC)
    result = evaluate_claim(claim, mine, other)
    ratios = [0.24 / 0.30, 0.25 / 0.29, 0.23 / 0.28]
    assert result.per_seed == pytest.approx(ratios) and result.versus == "o"
    assert result.ours == pytest.approx(np.mean(ratios))  # shown: the mean ratio
    d = np.array([0.24, 0.25, 0.23]) - 0.9 * np.array([0.30, 0.29, 0.28])
    half = stats.t.ppf(0.975, 2) * np.std(d, ddof=1) / math.sqrt(3)
    assert result.difference == pytest.approx(d.mean())
    assert result.difference_ci95 == pytest.approx(half)
    assert result.holds is bool(d.mean() + half < 0)
    assert not evaluate_claim(dataclasses.replace(claim, reference=0.7), mine, other).holds
    # a shared shift of both members (the same twin per seed) cancels in the pairs: the
    # scatter of the per-seed values alone would not decide this comparison
    shifts = np.array([0.0, 0.3, -0.1])
    a = dataclasses.replace(member_run(list(0.2 + shifts)), name="m")
    b = dataclasses.replace(member_run(list(0.21 + shifts)), name="o")
    tight = Claim("m below o", "m", 1.0, relation="below", rel_tol=0.0, versus="o", **SRC)
    assert evaluate_claim(tight, a, b).holds
    single = evaluate_claim(tight, member_run([0.2]), dataclasses.replace(
        member_run([0.3]), name="o"))
    assert not single.holds and "at least 2 seeds" in single.note
    with pytest.raises(ValueError, match="compares with 'o'"):
        evaluate_claim(claim, mine)
    diverged = dataclasses.replace(other, diverged_at_cycle=[None, 50, None])
    assert "o seed 1 at cycle 50" in evaluate_claim(claim, mine, diverged).note


def test_claim_result_round_trips():
    result = evaluate_claim(Claim("c", "m", 0.2, **SRC),
                            member_run([0.21, 0.19], [0.01, 0.01]))
    assert ClaimResult.from_dict(json.loads(json.dumps(result.to_dict()))) == result
    old = {k: v for k, v in result.to_dict().items() if k != "reference"}
    old["paper"] = 0.2  # summaries written before `paper` became `reference`
    assert ClaimResult.from_dict(old).reference == 0.2


# ----------------------------------------------------------------------------- definitions


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"statistic": "rmse"}, "statistic 'rmse' is not one of"),
        ({"relation": "equal"}, "relation 'equal' is not one of"),
        ({"rel_tol": -0.1}, "rel_tol must be >= 0"),
        ({"kind": "paper"}, "kind 'paper' is not one of published, figure, reference-output"),
        ({"source": " "}, "no source: name the table, figure, file or command"),
        ({"expected": "fails"}, "expected to fail without a reason"),
        ({"expected": "maybe"}, "expected 'maybe' is not one of holds, fails"),
        ({"relation": "below", "rel_tol": 0.1}, "a target threshold has no band"),
        ({"versus": "o"}, "a comparison with another member is below or above"),
    ],
)
def test_bad_claims_are_refused(kwargs, match):
    with pytest.raises(ValueError, match=match):
        Claim("c", "m", 0.2, **{**SRC, **kwargs})
    with pytest.raises(ValueError, match="kind None is not one of"):
        Claim("c", "m", 0.2, source="a table")  # every claim says where its number is from


def test_bad_members_and_presets_are_refused():
    cfg = small_config()
    with pytest.raises(ValueError, match="Member name 'ETKF'"):
        Member("ETKF", cfg, (0,))
    with pytest.raises(ValueError, match="distinct"):
        Member("etkf", cfg, (0, 0))
    with pytest.raises(ValueError, match="distinct"):
        Member("etkf", cfg, ())
    with pytest.raises(ValueError, match=">= 0"):
        Member("etkf", cfg, (-1,))
    bad = tiny_preset(claims=(Claim("c", "letkf", 0.2, **SRC),))
    with pytest.raises(ValueError, match="member 'letkf', which is not one of etkf"):
        bad.build(True)


def test_member_config_for_sets_the_seed():
    member = Member("etkf", small_config(), (3, 4))
    assert member.config_for(4).experiment.seed == 4
    assert member.config_for(4).method == member.config.method


@pytest.mark.parametrize("name", P.preset_names())
@pytest.mark.parametrize("quick", [True, False])
def test_registered_presets_build(name, quick):
    preset = P.get_preset(name)
    members = preset.build(quick)
    assert members and preset.claims and preset.reference and preset.description
    for m in members:
        exp = m.config.experiment
        assert exp.cycles > exp.burn_in
        if not quick and m.config.hybrid is None:  # >= 5,000 averaged cycles after burn-in
            assert exp.cycles - exp.burn_in >= 5000 and exp.burn_in >= 1000
        if not quick:  # the seed rule of the claims
            assert len(m.seeds) >= 3, m.name
    for claim in preset.claims:  # the constructor refuses a claim without kind and source
        assert claim.kind in P.KINDS and claim.source.strip()
        assert claim.expectation(quick) == "holds" or claim.reason
        assert Config.from_dict(m.config_for(m.seeds[0]).to_dict()) == m.config_for(m.seeds[0])


def test_the_hybrid_presets_are_the_papers_setups():
    (full,) = P.get_preset("brajard2020").build(False)
    (quick,) = P.get_preset("brajard2020").build(True)
    assert full.config.experiment.cycles == 40_000 and quick.config.experiment.cycles == 4000
    assert quick.config.hybrid.iterations <= 15
    cfg = quick.config
    assert (cfg.method.name, cfg.method.ensemble_size, cfg.observations.fraction,
            cfg.observations.noise_std, cfg.model.dt) == ("enkf_n", 30, 0.5, 1.0, 0.05)
    claims = {c.text for c in P.get_preset("brajard2020").claims}
    assert "final analysis RMSE < 1.5" in claims
    windows = [m.config.hybrid.window for m in P.get_preset("nonnenmacher2021").build(True)]
    assert windows == [8, 32]
    full = P.get_preset("nonnenmacher2021").build(False)
    assert [m.config.hybrid.window for m in full] == [8, 16, 32, 48, 72]
    assert all(m.config.model.dt == 0.0125 and m.config.observations.stride == 4
               for m in full)


def test_the_classical_presets_are_there():
    assert {"sakov2008", "sakov2012", "wilks2005"} <= set(P.preset_names())
    claims = {c.member: c.reference for c in P.get_preset("sakov2008").claims}
    assert claims["etkf_28"] == 0.18 and claims["enkf_40"] == 0.22
    assert claims["enkf_n_24"] == 0.21 and claims["letkf_7"] == 0.22
    assert {c.reference for c in P.get_preset("sakov2012").claims
            if c.member == "etkf_10"} == {0.6}


def test_unknown_preset_lists_the_presets():
    with pytest.raises(P.UnknownPresetError) as err:
        P.get_preset("sakov2009")
    message = str(err.value)
    assert "sakov2009" in message and "did you mean sakov2008" in message
    for name in P.preset_names():
        assert name in message


# ----------------------------------------------------------------------------- reproduce


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    out = tmp_path_factory.mktemp("tiny")
    lines = []
    return out, reproduce(tiny_preset(), out, quick=True, log=lines.append), lines


def test_reproduce_writes_summary_and_table(tiny):
    out, result, lines = tiny
    assert result.all_hold and result.as_expected, result.claims
    summary = json.loads((out / "summary.json").read_text())
    assert summary["preset"] == "tiny" and summary["quick"] is True
    assert {"version", "git_commit", "wall_time_s", "created", "reference"} <= set(summary)
    assert len(summary["claims"]) == 3
    for claim in summary["claims"]:
        assert CLAIM_KEYS <= set(claim) and claim["holds"] is True
    (member,) = summary["members"]
    assert member["seeds"] == [1, 2, 3, 4] and member["config"]["method"]["name"] == "etkf"
    assert set(member["statistics"]) >= {"rmse_analysis", "spread_analysis", "climatology"}
    assert (out / "members" / "etkf.json").is_file()
    assert Config.from_dict(json.loads((out / "members" / "etkf.json").read_text())["config"])
    table = (out / "claims.md").read_text()
    assert ("| claim | ours (95 %) | reference | kind | source | band | outcome | expected |"
            in table)
    assert "ETKF N=20 analysis RMSE ≈ 0.18" in table and "3 of 3 claims hold" in table
    assert "| target | a test |" in table
    assert any("analysis RMSE per seed" in line for line in lines)


def test_member_seed_is_the_run_of_its_config(tiny):
    """A member's seed is the twin experiment `assimilax run` makes of its config: the same
    set-up, randomness and statistics (here to the last bit; elsewhere at least within the
    statistical intervals)."""
    _, result, _ = tiny
    stats_ = result.members[0].statistics
    member = tiny_preset().build(True)[0]
    with tempfile.TemporaryDirectory() as d:
        summary = run(member.config_for(1), d, progress=False)
    ours, ci = stats_["rmse_analysis"]["mean"][0], stats_["rmse_analysis"]["ci95"][0]
    assert abs(ours - summary.rmse_analysis) <= math.hypot(ci, summary.rmse_analysis_ci95)
    assert stats_["spread_analysis"]["mean"][0] == pytest.approx(summary.spread_analysis,
                                                                  rel=0.1)


def test_reproduce_reuses_finished_members(tiny):
    out, first, _ = tiny
    lines = []
    again = reproduce(tiny_preset(), out, quick=True, log=lines.append)
    assert again.members[0].reused and "finished earlier under this code, reused" in lines[0]
    assert again.claims == first.claims


def test_a_member_computed_by_other_code_is_recomputed(tiny, monkeypatch):
    out, first, _ = tiny
    stored = json.loads((out / "members" / "etkf.json").read_text())["fingerprint"]
    assert stored == code_fingerprint()  # what computed it: this code, here
    assert {"version", "git_commit", "source", "backend", "jax", "jaxlib", "numpy",
            "equinox", "optax"} <= set(stored)
    other = {**stored, "git_commit": "0" * 40, "backend": "gpu (NVIDIA H200)"}
    monkeypatch.setattr(P._reproduce, "code_fingerprint", lambda: other)
    monkeypatch.setattr(P._batch, "code_fingerprint", lambda: other)
    lines = []
    again = reproduce(tiny_preset(), out, quick=True, log=lines.append)
    assert not again.members[0].reused
    assert any("computed by other code" in line and "backend cpu" in line
               and "-> gpu (NVIDIA H200)" in line for line in lines), lines
    assert again.members[0].fingerprint == other
    # the same numbers (same code in fact), now stamped with the new fingerprint
    assert again.members[0].statistics == first.members[0].statistics
    monkeypatch.undo()
    lines = []
    third = reproduce(tiny_preset(), out, quick=True, log=lines.append)  # and back
    assert not third.members[0].reused and third.members[0].fingerprint == stored


def test_the_reproduction_table_names_what_computed_each_member(tiny):
    _, result, _ = tiny
    text = P.reproduction_table([result], command="assimilax reproduce tiny")
    fp = result.members[0].fingerprint
    assert f"computed under assimilax {fp['version']} commit {fp['git_commit'][:12]}" in text
    assert f"{fp['backend']}, jax {fp['jax']}" in text


def test_a_paper_preset_not_run_is_listed_as_not_run(tiny):
    _, result, _ = tiny
    skipped = P.get_preset("brajard2020")
    assert skipped.paper and not P.get_preset("sakov2008").paper
    text = P.reproduction_table([result], command="assimilax reproduce --all",
                                not_run=[skipped])
    rows = [line for line in text.splitlines() if line.startswith("| `brajard2020` |")]
    assert len(rows) == len(skipped.claims)
    assert all("| not run |" in row and "| holds |" not in row.split("not run")[0]
               for row in rows)
    assert "**3 of 3 claims hold" in text  # the claims not run are not counted as holding
    assert "`assimilax reproduce --all --paper` runs them): `brajard2020`." in text


def test_reproduce_refuses_other_directories(tiny, tmp_path):
    out, _, _ = tiny
    with pytest.raises(P.ReproduceDirError, match=r"tiny \(quick\), not tiny \(full\)"):
        reproduce(tiny_preset(), out, quick=False)
    with pytest.raises(P.ReproduceDirError, match="not other"):
        reproduce(tiny_preset("other"), out, quick=True)
    (tmp_path / "notes.txt").write_text("mine")
    with pytest.raises(P.ReproduceDirError, match="holds no reproduction"):
        reproduce(tiny_preset(), tmp_path, quick=True)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notes.txt"]


def test_reproduction_table_lists_every_claim(tiny):
    _, result, _ = tiny
    text = P.reproduction_table([result, result], command="assimilax reproduce --all")
    assert text.startswith("# Reproduction of published results")
    assert "Generated by `assimilax reproduce --all` from the quick runs" in text
    assert "**6 of 6 claims hold; 0 outcomes not as expected.**" in text
    assert text.count("| `tiny` | ETKF N=20 analysis RMSE ≈ 0.18 |") == 2
    loaded = P.load_reproduction(result.out_dir)
    assert loaded.claims == result.claims and loaded.preset == "tiny"


# ----------------------------------------------------------------------------- command


def invoke(*args):
    return runner.invoke(app, ["reproduce", *map(str, args)])


def test_cli_list():
    res = invoke("--list")
    assert res.exit_code == 0
    for name in P.preset_names():
        assert name in res.stdout
    assert "Sakov & Oke (2008)" in res.stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["sakov2009"], "unknown preset 'sakov2009' (did you mean sakov2008?); presets: "
                        "sakov2008, sakov2012, wilks2005"),
        ([], "give a preset NAME, --all or --list; presets: sakov2008, sakov2012, wilks2005"),
        (["sakov2008", "--all"], "give a preset NAME or --all, not both"),
    ],
)
def test_cli_bad_input(args, message, tmp_path):
    res = invoke(*args, "--out", tmp_path / "out")
    assert res.exit_code == 2
    assert message in res.stderr
    assert not (tmp_path / "out").exists()


def test_cli_runs_a_preset_and_writes_the_table(monkeypatch, tmp_path):
    monkeypatch.setitem(P.PRESETS, "tiny", tiny_preset())
    table = tmp_path / "docs" / "reproduction.md"
    res = invoke("tiny", "--quick", "--out", tmp_path / "run", "--table", table,
                 "--no-progress")
    assert res.exit_code == 0, res.output
    assert "3 of 3 claims hold." in res.stdout
    assert json.loads((tmp_path / "run" / "summary.json").read_text())["all_hold"] is True
    text = table.read_text()
    assert f"`assimilax reproduce tiny --quick --out {tmp_path / 'run'} --table {table}`" in text
    assert f"`{(tmp_path / 'run' / 'summary.json').as_posix()}`" in text
    assert "| holds | holds | quick |" in text
    shown = runner.invoke(app, ["show", str(tmp_path / "run")])  # show knows a reproduction
    assert shown.exit_code == 0, shown.output
    assert "tiny (quick)" in shown.stdout and "holds" in shown.stdout
    plotted = runner.invoke(app, ["plot", str(tmp_path / "run")])
    assert plotted.exit_code == 2 and "holds a reproduction" in plotted.output


def test_cli_exits_1_when_a_claim_fails_unexpectedly(monkeypatch, tmp_path):
    monkeypatch.setitem(P.PRESETS, "tiny_fails", failing_preset())
    res = invoke("tiny_fails", "--out", tmp_path / "run", "--no-progress")
    assert res.exit_code == 1
    assert "1 of 2 claims did not come out as expected" in res.stderr
    assert "(wrong on purpose): fails, expected to hold" in res.stderr
    assert "reference 1 ± 0.1" in res.stderr
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert [c["holds"] for c in summary["claims"]] == [True, False]
    assert summary["as_expected"] is False


def test_cli_exits_0_when_a_claim_fails_as_expected(monkeypatch, tmp_path):
    monkeypatch.setitem(P.PRESETS, "tiny_fails", failing_preset(expected="fails"))
    table = tmp_path / "reproduction.md"
    res = invoke("tiny_fails", "--out", tmp_path / "run", "--no-progress", "--table", table)
    assert res.exit_code == 0, res.output
    assert "1 of 2 claims hold; the 1 that fail are expected to" in res.stdout
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert summary["as_expected"] is True and summary["all_hold"] is False
    text = table.read_text()
    assert "| fails | fails¹ | full |" in text
    assert "(wrong on purpose): wrong on purpose, see the test" in text


def test_cli_refuses_a_foreign_directory(monkeypatch, tmp_path):
    monkeypatch.setitem(P.PRESETS, "tiny", tiny_preset())
    (tmp_path / "x.txt").write_text("mine")
    res = invoke("tiny", "--out", tmp_path)
    assert res.exit_code == 2 and "holds no reproduction" in res.stderr


# ----------------------------------------------------------------------------- the presets


def _check(result):
    """Every claim's outcome is its expectation (a claim may be expected to fail)."""
    unexpected = [f"{c.claim}: {c.outcome}, expected {c.expected}; ours {c.ours} ± "
                  f"{c.ours_ci95}, reference {c.reference} ± {c.tolerance}, {c.note}"
                  for c in result.unexpected]
    assert result.as_expected, "\n".join(unexpected)


@pytest.mark.slow
@pytest.mark.parametrize("name", ["sakov2008", "sakov2012", "wilks2005", "tremolet2006",
                                  "brajard2020", "nonnenmacher2021", "farchi2021"])
def test_quick_preset_comes_out_as_expected(name, tmp_path):
    _check(reproduce(name, tmp_path, quick=True))


_PAPER = pytest.mark.paper  # the full hybrid presets train for half an hour or more


@pytest.mark.slow
@pytest.mark.parametrize("name", ["sakov2008", "sakov2012", "wilks2005", "tremolet2006",
                                  pytest.param("brajard2020", marks=_PAPER),
                                  pytest.param("nonnenmacher2021", marks=_PAPER),
                                  pytest.param("farchi2021", marks=_PAPER)])
def test_full_preset_comes_out_as_expected(name, tmp_path):
    _check(reproduce(name, tmp_path, quick=False))


def test_a_lost_and_found_track_is_counted_when_the_claim_says_so():
    """A particle filter may lose the truth for a while and find it again: with
    count_lost_track the seed's (finite) time mean is counted and noted; without, the
    claim fails as for any divergence."""
    run_ = member_run([0.37, 0.38, 0.57], ci95=[0.01] * 3, diverged=[None, None, 2803])
    claim = Claim("pf", "m", 0.40, rel_tol=1.0, **SRC)
    assert not evaluate_claim(claim, run_).holds
    counted = evaluate_claim(dataclasses.replace(claim, count_lost_track=True), run_)
    assert counted.holds and counted.ours == pytest.approx(np.mean([0.37, 0.38, 0.57]))
    assert "seed 2 from cycle 2803" in counted.note
    nan = member_run([0.37, None, 0.4], diverged=[None, 10, None])
    assert not evaluate_claim(dataclasses.replace(claim, count_lost_track=True), nan).holds
