"""Every shipped detector loads and is sound; every broken fixture fails with its message."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from soc.cjk import CJK_SPACE
from soc.detection.loader import detector_files, load_detector_file, load_detectors
from soc.detection.models import DETECTOR_MODELS, ThresholdDetector, detector_json_schema
from soc.ecs import is_known_field
from soc.errors import DefinitionErrors
from soc.vocab import Bilingual, localized
from tests.definition_checks import assert_fixture_error
from tests.test_reports_japanese import _ID, _WORD, GLOSSARY

REPO = Path(__file__).resolve().parent.parent
SHIPPED = detector_files(REPO / "detectors")
SHIPPED_IDS = {p.stem for p in SHIPPED}
# Names, not words, that the Japanese notes write in Latin letters: products, tools, protocols
# and standards (what is a value, a field, a rule or a file the operator types goes in backticks).
NOTE_TERMS = {
    "A/AAAA", "CDN", "CIS", "CISA", "CVE-2024-6387", "Cobalt", "Strike", "CrowdSec", "DKIM", "DMARC", "SPF",
    "DNSExfiltrator", "ECS", "EQL", "ElastAlert", "Elastic", "Elasticsearch", "Filebeat", "Logstash", "FortiOS",
    "GeoIP", "JPCERT/CC", "LDAP", "MAC", "MAD", "NAT", "NLA", "NTP", "NetBIOS", "Okta", "PDC", "Protection",
    "QuasarRAT", "RAT", "RPC", "SCCM", "WSUS", "FTP", "SFTP", "SSL-VPN", "STUN/TURN", "SYN", "UDP", "Sigma",
    "Splunk", "Teams", "Wazuh", "WebSocket", "WinRM", "base32", "base64", "dnscat2", "iodine", "kerbrute", "nmap",
    "ping", "PAM", "sshd", "RHEL",
}  # fmt: skip
INVALID = sorted((REPO / "tests/fixtures/invalid/detectors").glob("*.yml"))


def test_there_are_shipped_detectors() -> None:
    ids = {load_detector_file(p).id for p in SHIPPED}
    assert {"failed-login-burst", "password-spray", "port-scan"} <= ids


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: str(p.relative_to(REPO)))
def test_shipped_detector_is_sound(path: Path) -> None:
    d = load_detector_file(path)
    assert path.stem == d.id, "file name must be the detector id"
    for field in [*d.filter, *d.exclude, *d.matched_fields()]:
        assert is_known_field(field)
    assert d.title.ja != d.title.en and d.description.ja
    assert d.rationale and d.false_positives and d.tuning
    assert d.schedule.window >= d.schedule.interval


def test_shipped_ids_are_unique() -> None:
    assert len(load_detectors(REPO / "detectors")) == len(SHIPPED)


@pytest.mark.parametrize("path", INVALID, ids=lambda p: p.name)
def test_invalid_detector_names_file_and_field(path: Path) -> None:
    assert_fixture_error(path, load_detector_file)


def test_all_invalid_files_reported_in_one_pass() -> None:
    with pytest.raises(DefinitionErrors) as info:
        load_detectors(REPO / "tests/fixtures/invalid/detectors")
    files = {e.file for e in info.value.errors}
    assert files == {str(p) for p in INVALID}


def test_json_schema_is_generated_from_the_model() -> None:
    schema = detector_json_schema()
    kinds = {ref["$ref"].rsplit("/", 1)[-1] for ref in schema["oneOf"]}
    assert kinds == {model.__name__ for model in DETECTOR_MODELS.values()}
    for name in kinds:
        variant = schema["$defs"][name]
        assert variant["additionalProperties"] is False, name
        assert {"id", "kind", "severity", "mitre", "schedule", "exceptions"} <= set(variant["properties"]), name
    threshold = schema["$defs"]["ThresholdDetector"]
    assert {"filter", "group_by", "condition"} <= set(threshold["properties"])


@pytest.mark.parametrize("path", detector_files(REPO / "detectors"), ids=lambda p: p.stem)
def test_every_attack_id_of_a_shipped_detector_has_a_name_and_tactic(path: Path) -> None:
    from soc.attack import TACTIC_IDS, TECHNIQUES

    detector = load_detector_file(path)
    unknown = [m for m in detector.mitre if m not in TECHNIQUES]
    assert unknown == [], f"add {unknown} to soc/attack.py so alerts and reports can name them"
    assert all(TECHNIQUES[m][2] in TACTIC_IDS for m in detector.mitre)


# Fields the parsers lower-case (soc.parsers.common.split_user for user.name; the workstation
# or rhost host name in source.domain; Zeek's query name): a term on them with an upper-case
# value never matches what `soc ingest` indexes, so an exclusion written so excludes nothing.
LOWER_CASED_FIELDS = frozenset({"user.name", "source.domain", "dns.question.name"})


def _values(value: object) -> list[object]:
    if isinstance(value, list):
        return value
    values = getattr(value, "values", None)  # a value-list file, read by the loader
    return list(values) if isinstance(values, list) else [value]


def test_the_parsers_lower_case_the_fields_this_check_relies_on() -> None:
    from soc.parsers.common import split_user

    assert split_user("CITY\\ANONYMOUS LOGON") == ("anonymous logon", "CITY")


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: str(p.relative_to(REPO)))
def test_exclusions_on_lower_cased_fields_are_lower_case(path: Path) -> None:
    d = load_detector_file(path)
    matches = [("exclude", d.exclude), *((f"exceptions[{i}]", e.match) for i, e in enumerate(d.exceptions))]
    for where, match in matches:
        for field, value in match.items():
            if field not in LOWER_CASED_FIELDS:
                continue
            upper = [v for v in _values(value) if isinstance(v, str) and v != v.lower()]
            assert upper == [], f"{path.name}: {where}.{field} has {upper}: the parsers index it lower-case"


def _stray_english(ja: str) -> list[str]:
    """Latin words in Japanese text that are neither a name nor an identifier in backticks."""
    text = re.sub(r"0x[0-9A-Fa-f]+", "", re.sub(r"`[^`]*`", "", ja))  # identifiers, Windows status codes
    names = GLOSSARY | NOTE_TERMS | SHIPPED_IDS
    return sorted({w for w in _WORD.findall(text) if w not in names and not _ID.match(w.rstrip("."))})


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: str(p.relative_to(REPO)))
def test_shipped_detector_notes_are_in_japanese_too(path: Path) -> None:
    """A Japanese operator reads why a detector fires, its false positives and its tuning
    in Japanese: every note is bilingual, with no stray English and no folding holes, and a
    YAML key the Japanese note tells the operator to change is one the detector has."""
    d = load_detector_file(path)
    raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    for note in [d.rationale, *d.false_positives, *d.tuning]:
        assert isinstance(note, Bilingual), f"{d.id}: {note!r} has no Japanese"
        assert re.search(r"[\u3040-\u30ff]", note.ja), note.ja
        assert _stray_english(note.ja) == [], note.ja
        assert not CJK_SPACE.search(note.ja), note.ja
        for key in re.findall(r"`((?:condition|first|then|prevalence|schedule)(?:\.[a-z_]+)+)`", note.ja):
            node = raw
            for part in key.split("."):
                assert isinstance(node, dict) and part in node, f"{d.id}: {key} is not a key of the detector"
                node = node[part]


def test_the_stray_english_check_finds_english() -> None:
    assert _stray_english("`exclude.source.ip` に追加してください。") == []
    assert _stray_english("Raise the threshold、しきい値を上げる") == ["Raise", "the", "threshold"]


def test_a_sites_own_detector_may_write_its_notes_in_one_language() -> None:
    """A plain string is shown as written in both languages; {en, ja} picks the viewer's."""
    base = yaml.safe_load((REPO / "detectors/auth/password-spray.yml").read_text(encoding="utf-8"))
    own = ThresholdDetector.model_validate(
        {
            **base,
            "rationale": "市独自の基準",
            "false_positives": ["Backup server"],
            "tuning": [{"en": "Raise it", "ja": "上げる"}],
        }
    )
    assert [localized(own.rationale, lang) for lang in ("ja", "en")] == ["市独自の基準", "市独自の基準"]
    assert localized(own.false_positives[0], "ja") == "Backup server"
    assert [localized(own.tuning[0], lang) for lang in ("ja", "en")] == ["上げる", "Raise it"]
    with pytest.raises(ValueError, match="rationale"):
        ThresholdDetector.model_validate({**base, "rationale": {"en": "only English"}})


# product, protocol and tool names a Japanese SOC writes in Latin letters, beyond the reports' glossary
DETECTOR_TERMS = {
    "WinRM", "PsExec", "CDN", "NLA", "PAM", "OpenSSH", "SSL-VPN", "Microsoft 365", "M365", "Teams", "STUN", "TURN",
    "CrowdSec", "NAT", "LDAP", "NTP", "ICMP", "TCP", "UDP", "RPC", "SYN", "Nmap", "nmap", "AD", "DC", "Slack", "Google",
    "Apple", "LINE", "Webex", "Okta", "Azure", "Exchange", "Outlook", "SMTP", "IMAP", "POP", "FTP", "Telnet", "VNC",
    "WMI", "SSH/PAM", "sshd", "masscan", "dnscat2", "iodine", "Cobalt", "Strike", "T1/-T0",
}  # fmt: skip
_CODE = re.compile(r"^(x[0-9A-F]+|x[0-9]+|CVE-\d{4}-\d+)$")  # status codes (0xC0000064) and CVE ids


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: str(p.relative_to(REPO)))
def test_japanese_title_and_description_have_no_stray_english(path: Path) -> None:
    """What an operator reads in Japanese (console, CLI, the report's 原因) names fields and
    log files in words, not as `source.domain` or `ssl.log`."""
    from tests.test_reports_japanese import latin_words

    detector = load_detector_file(path)
    names = DETECTOR_TERMS | {detector.id}
    for text in (detector.title.ja, detector.description.ja):
        assert [w for w in latin_words(text, names) if not _CODE.match(w)] == [], text
