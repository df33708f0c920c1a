"""A finished preset: the claims checked and the member runs behind them."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

from ._batch import MemberRun
from ._claims import ClaimResult


@dataclasses.dataclass
class Reproduction:
    """A finished preset: what ``summary.json`` holds.

    Attributes:
        preset, reference, description: the preset's name, source and set-up.
        quick: ``True`` for the ``--quick`` version.
        claims: the checked claims.
        members: the member runs (config, seeds, per-seed statistics).
        all_hold: whether every claim holds.
        as_expected: whether every claim's outcome is the expected one (what
            ``assimilax reproduce`` exits on).
        wall_time_s: seconds for the whole preset (reused members count their own time
            of this call only: reading them).
        version, git_commit: provenance of this call.
        created: ISO 8601 time of writing (UTC).
        out_dir: where it was written (not stored).
    """

    preset: str
    reference: str
    description: str
    quick: bool
    claims: list[ClaimResult]
    members: list[MemberRun]
    all_hold: bool
    as_expected: bool
    wall_time_s: float
    version: str
    git_commit: str
    created: str
    out_dir: Path | None = dataclasses.field(default=None, compare=False)

    @property
    def failed(self) -> list[ClaimResult]:
        """The claims that do not hold."""
        return [c for c in self.claims if not c.holds]

    @property
    def unexpected(self) -> list[ClaimResult]:
        """The claims whose outcome is not the expected one."""
        return [c for c in self.claims if not c.as_expected]

    def to_dict(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        del data["out_dir"]
        data["claims"] = [c.to_dict() for c in self.claims]
        data["members"] = [m.to_dict() for m in self.members]
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any], *, out_dir: Path | None = None) -> Reproduction:
        fields = {f.name for f in dataclasses.fields(cls)} - {"out_dir"}
        claims = [ClaimResult.from_dict(c) for c in data.get("claims", [])]
        if "as_expected" not in data:  # written before claims had expectations
            data = {**data, "as_expected": all(c.as_expected for c in claims)}
        missing = fields - set(data)
        if missing:
            raise ValueError(f"reproduction summary is missing {sorted(missing)}")
        values = {k: data[k] for k in fields}
        values["claims"] = claims
        values["members"] = [MemberRun.from_dict(m) for m in data["members"]]
        return cls(**values, out_dir=out_dir)
