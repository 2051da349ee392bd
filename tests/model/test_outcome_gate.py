"""The closed-loop check of a promotion (evaluation/promotion.py): the champion pair changes only
when the candidate pair does no worse in the closed loop, one veto keeps both champions, and no
loop runs when the pair would not change. On a copy of the suite's tiny registry; the challengers
are new registry versions of the champions' own models (so the metric gate passes them)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from evaluation.promotion import OutcomeGate, outcome_check
from features.settings import Settings
from training import registry
from training.train import promote

SMALL = {"patients": 40, "weeks": 3}


@pytest.fixture()
def settings(tmp_path: Path, template_registry: Path) -> Settings:
    shutil.copytree(template_registry, tmp_path / "mlruns")
    return Settings(root=tmp_path)


def register_challengers(settings: Settings, names: tuple[str, ...]) -> dict[str, str]:
    """A new version of each named model from its champion's run, tags and all, as challenger."""
    client = registry.configure(settings)
    out = {}
    for name in names:
        champ = client.get_model_version_by_alias(name, settings.champion_alias)
        mv = client.create_model_version(name, champ.source, champ.run_id, tags=champ.tags)
        client.set_registered_model_alias(name, settings.challenger_alias, mv.version)
        out[name] = str(mv.version)
    return out


def champions(settings: Settings) -> tuple[str | None, ...]:
    client = registry.configure(settings)
    return tuple(
        registry.alias_version(client, n, settings.champion_alias)
        for n in (settings.tolerance_model_name, settings.adherence_model_name)
    )


def test_an_equal_pair_passes_the_closed_loop_and_is_promoted(settings: Settings) -> None:
    new = register_challengers(settings, (settings.tolerance_model_name,))
    before = champions(settings)
    decisions = promote(settings, outcome_check(settings, OutcomeGate(**SMALL)))
    tol, adh = decisions
    assert tol.promoted and not adh.promoted  # adherence had no new challenger
    assert "closed loop: base VO2peak +0.000 (+0.000 to +0.000), strength +0.00" in tol.reason
    assert "AEs per 100 +0.0 (+0.0 to +0.0; 40 patients x 3 weeks)" in tol.reason
    assert "long-sessions-harder VO2peak +0.000" in tol.reason
    assert champions(settings) == (new[settings.tolerance_model_name], before[1])


def test_a_pair_worse_in_the_closed_loop_keeps_both_champions(settings: Settings) -> None:
    """The margins turned against the candidate (it must gain 0.5 mL/kg/min and 5 points of
    strength): the same models then fail, both champions stay and the reason names the loss."""
    register_challengers(settings, (settings.tolerance_model_name, settings.adherence_model_name))
    before = champions(settings)
    strict = OutcomeGate(**SMALL, scenarios=("base",), vo2_margin=-0.5, strength_margin=-5.0)
    decisions = promote(settings, outcome_check(settings, strict))
    assert not any(d.promoted for d in decisions)
    for d in decisions:
        assert "closed loop: kept: base: VO2peak change +0.000 vs the champion pair" in d.reason
        assert "base: strength change +0.00 points" in d.reason
    assert champions(settings) == before


def test_no_loop_when_the_pair_does_not_change(settings: Settings) -> None:
    calls: list[tuple] = []

    def check(champion: tuple[str, str], candidate: tuple[str, str]) -> tuple[bool, str]:
        calls.append((champion, candidate))
        return False, "vetoed"

    before = champions(settings)
    decisions = promote(settings, check)  # the challengers are the champions
    assert calls == [] and not any(d.promoted for d in decisions)
    new = register_challengers(settings, (settings.adherence_model_name,))
    decisions = promote(settings, check)
    assert calls == [(before, (before[0], new[settings.adherence_model_name]))]
    assert not decisions[1].promoted and decisions[1].reason.endswith("; closed loop: vetoed")
    assert champions(settings) == before
