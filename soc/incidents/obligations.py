"""The reporting-obligations tracker: which external reports an incident owes, and by when.

Legal clocks count from ``aware_at`` (when the city learned of it), never from detection,
and do not pause for business hours. Until ``aware_at`` is set a deadline is unknown.

* Personal Information Protection Commission (APPI Art. 68; PPC rules Art. 43-44; for
  My Number data the My Number Act Art. 29-4): preliminary report promptly — about
  3 days, at most 5 — and the final report within 30 days, 60 when the leak may stem
  from a malicious act.
* Prefecture and the Ministry of Internal Affairs and Communications: without delay
  for declared serious incidents (MIC guideline; the city's own standards).
* J-LIS: immediately when the LGWAN or the resident registry network is affected.
* Police, vendors and the residents concerned: no fixed deadline; decided per case.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from soc.incidents.models import Incident, Obligation, ObligationStatus, Priority
from soc.playbooks.models import ObligationKind
from soc.vocab import Bilingual, Segment

__all__ = ["RULES", "Rule", "basis_text", "due_dates", "required_kinds", "with_obligations"]

K = ObligationKind


@dataclass(frozen=True)
class Rule:
    label: Bilingual
    basis: Bilingual  # the legal basis, named in full in each language
    rule: Bilingual
    within: timedelta | None  # from aware_at; None: no fixed deadline
    hard: timedelta | None = None
    within_malicious: timedelta | None = None


RULES: dict[ObligationKind, Rule] = {
    K.prefecture: Rule(
        Bilingual(en="Prefecture (information security department)", ja="県（情報セキュリティ担当部署）"),
        Bilingual(
            en="MIC local-government security guideline; city security standards",
            ja="総務省「地方公共団体における情報セキュリティポリシーに関するガイドライン」、市の情報セキュリティ対策基準",
        ),
        Bilingual(en="without delay: within 1 day of awareness", ja="遅滞なく：認知から1日以内"),
        timedelta(days=1),
    ),
    K.ministry: Rule(
        Bilingual(en="Ministry of Internal Affairs and Communications", ja="総務省"),
        Bilingual(
            en="MIC local-government security guideline",
            ja="総務省「地方公共団体における情報セキュリティポリシーに関するガイドライン」",
        ),
        Bilingual(en="without delay: within 1 day of awareness", ja="遅滞なく：認知から1日以内"),
        timedelta(days=1),
    ),
    K.ppc_preliminary: Rule(
        Bilingual(en="Personal Information Protection Commission: preliminary report", ja="個人情報保護委員会：速報"),
        Bilingual(
            en="APPI Art. 68; PPC rules Art. 43-44; My Number Act Art. 29-4",
            ja="個人情報の保護に関する法律 第68条、個人情報の保護に関する法律施行規則 第43条・第44条、"
            "行政手続における特定の個人を識別するための番号の利用等に関する法律 第29条の4",
        ),
        Bilingual(
            en="promptly: about 3 days of awareness, at most 5", ja="速やかに：認知からおおむね3日、遅くとも5日以内"
        ),
        timedelta(days=3),
        hard=timedelta(days=5),
    ),
    K.ppc_final: Rule(
        Bilingual(en="Personal Information Protection Commission: final report", ja="個人情報保護委員会：確報"),
        Bilingual(
            en="APPI Art. 68; PPC rules Art. 44",
            ja="個人情報の保護に関する法律 第68条、個人情報の保護に関する法律施行規則 第44条",
        ),
        Bilingual(
            en="within 30 days of awareness (60 for a malicious act)",
            ja="認知から30日以内（不正の目的によるものは60日以内）",
        ),
        timedelta(days=30),
        within_malicious=timedelta(days=60),
    ),
    K.police: Rule(
        Bilingual(en="Prefectural police (cybercrime unit)", ja="県警察（サイバー犯罪相談窓口）"),
        Bilingual(
            en="suspected crime (Unauthorized Computer Access Act, extortion)",
            ja="犯罪の疑い（不正アクセス行為の禁止等に関する法律、恐喝など）",
        ),
        Bilingual(en="when a crime is suspected, at the CISO's decision", ja="犯罪の疑いがある場合、CISOの判断により"),
        None,
    ),
    K.jlis: Rule(
        Bilingual(en="J-LIS (LGWAN / resident registry network)", ja="地方公共団体情報システム機構"),
        Bilingual(
            en="LGWAN and resident registry network emergency contact rules",
            ja="LGWAN・住民基本台帳ネットワークシステムの緊急連絡に関する定め",
        ),
        Bilingual(en="immediately: within 1 hour of awareness", ja="直ちに：認知から1時間以内"),
        timedelta(hours=1),
    ),
    K.vendors: Rule(
        Bilingual(en="Vendors of the affected systems", ja="影響を受けたシステムの委託事業者"),
        Bilingual(en="contracts", ja="委託契約"),
        Bilingual(en="as the contract requires", ja="契約の定めによる"),
        None,
    ),
    K.residents: Rule(
        Bilingual(en="Residents concerned (notice to the person)", ja="本人（住民）への通知"),
        Bilingual(en="APPI Art. 68(2)", ja="個人情報の保護に関する法律 第68条第2項"),
        Bilingual(en="as soon as practicable", ja="状況に応じて速やかに"),
        None,
    ),
}

_PERSONAL = (K.ppc_preliminary, K.ppc_final, K.residents)
_SERIOUS = (K.prefecture, K.ministry)


def required_kinds(incident: Incident, declared: Iterable[str] = ()) -> list[ObligationKind]:
    """The playbook's reporting track plus what the incident itself implies."""
    kinds = {K(k) for k in declared}
    if K.ppc_preliminary in kinds or K.ppc_final in kinds:
        kinds |= {K.ppc_preliminary, K.ppc_final}
    segments = set(incident.segments)
    if Segment.mynumber.value in segments or incident.personal_data_possible or incident.personal_data_confirmed:
        kinds |= set(_PERSONAL)
    if incident.priority in (Priority.P1, Priority.P2):
        kinds |= set(_SERIOUS)
    if Segment.mynumber.value in segments and incident.priority in (Priority.P1, Priority.P2):
        kinds.add(K.jlis)
    if incident.malicious_act:
        kinds.add(K.police)
    return [k for k in ObligationKind if k in kinds]


def basis_text(kind: str, stored: str, lang: str) -> str:
    """The legal basis of an obligation in *lang*: from ``RULES``, the stored text otherwise."""
    try:
        return RULES[K(kind)].basis(lang)
    except ValueError:
        return stored


def due_dates(kind: ObligationKind, aware_at: datetime | None, *, malicious: bool) -> tuple[datetime | None, ...]:
    rule = RULES[kind]
    if aware_at is None or rule.within is None:
        return None, None
    within = rule.within_malicious if malicious and rule.within_malicious else rule.within
    return aware_at + within, (aware_at + rule.hard if rule.hard else None)


def with_obligations(incident: Incident, declared: Iterable[str] = ()) -> list[Obligation]:
    """The tracker after a change: new rows added, deadlines of pending rows recomputed."""
    have = {o.kind: o for o in incident.obligations}
    out: list[Obligation] = []
    for kind in required_kinds(incident, declared) + [K(k) for k in have if K(k) not in required_kinds(incident)]:
        if any(o.kind == kind.value for o in out):
            continue
        due, hard = due_dates(kind, incident.aware_at, malicious=incident.malicious_act)
        current = have.get(kind.value)
        if current is None:
            rule = RULES[kind]
            out.append(
                Obligation(
                    kind=kind.value, label=rule.label, basis=rule.basis.en, rule=rule.rule, due_at=due, hard_due_at=hard
                )
            )
        elif current.status is ObligationStatus.pending:
            out.append(current.model_copy(update={"due_at": due, "hard_due_at": hard}))
        else:
            out.append(current)
    return out
