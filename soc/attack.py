"""Names of the ATT&CK techniques the shipped detectors and playbooks cite (Enterprise
matrix), in English and Japanese, with their tactic: shared by alert documents (ECS
``threat.*``) and reports. An id not listed is shown as is; a test keeps every shipped
detector's ids listed."""

from __future__ import annotations

__all__ = ["TACTIC_IDS", "TACTIC_NAMES", "TECHNIQUES", "technique_name", "technique_tactic"]

# tactic short name -> ATT&CK tactic id (for ECS threat.tactic.id)
TACTIC_IDS = {
    "initial-access": "TA0001",
    "persistence": "TA0003",
    "privilege-escalation": "TA0004",
    "defense-evasion": "TA0005",
    "credential-access": "TA0006",
    "discovery": "TA0007",
    "lateral-movement": "TA0008",
    "command-and-control": "TA0011",
    "exfiltration": "TA0010",
    "impact": "TA0040",
}

# tactic short name -> the tactic's name in ATT&CK (for ECS threat.tactic.name)
TACTIC_NAMES = {short: " ".join(w if w == "and" else w.capitalize() for w in short.split("-")) for short in TACTIC_IDS}

# id -> (English name, Japanese name, tactic id)
TECHNIQUES: dict[str, tuple[str, str, str]] = {
    "T1018": ("Remote System Discovery", "リモートシステムの探索", "discovery"),
    "T1021": ("Remote Services", "リモートサービス", "lateral-movement"),
    "T1021.001": ("Remote Services: Remote Desktop Protocol", "リモートサービス：RDP", "lateral-movement"),
    "T1021.002": ("Remote Services: SMB/Windows Admin Shares", "リモートサービス：SMB／管理共有", "lateral-movement"),
    "T1021.006": ("Remote Services: Windows Remote Management", "リモートサービス：WinRM", "lateral-movement"),
    "T1041": ("Exfiltration Over C2 Channel", "C2通信路を使った持ち出し", "exfiltration"),
    "T1046": ("Network Service Discovery", "ネットワークサービスの探索", "discovery"),
    "T1048": ("Exfiltration Over Alternative Protocol", "別プロトコルを使った持ち出し", "exfiltration"),
    "T1071": ("Application Layer Protocol", "アプリケーション層プロトコル", "command-and-control"),
    "T1071.001": (
        "Application Layer Protocol: Web Protocols",
        "アプリケーション層プロトコル：Web",
        "command-and-control",
    ),
    "T1071.004": ("Application Layer Protocol: DNS", "アプリケーション層プロトコル：DNS", "command-and-control"),
    "T1078": ("Valid Accounts", "正規アカウントの悪用", "initial-access"),
    "T1078.002": ("Valid Accounts: Domain Accounts", "正規アカウントの悪用：ドメインアカウント", "initial-access"),
    "T1078.004": ("Valid Accounts: Cloud Accounts", "正規アカウントの悪用：クラウドアカウント", "initial-access"),
    "T1110": ("Brute Force", "総当たり攻撃", "credential-access"),
    "T1110.001": ("Brute Force: Password Guessing", "総当たり攻撃：パスワード推測", "credential-access"),
    "T1110.003": ("Brute Force: Password Spraying", "総当たり攻撃：パスワードスプレー", "credential-access"),
    "T1110.004": ("Brute Force: Credential Stuffing", "総当たり攻撃：リスト型攻撃", "credential-access"),
    "T1133": ("External Remote Services", "外部リモートサービス", "initial-access"),
    "T1190": ("Exploit Public-Facing Application", "公開アプリケーションの悪用", "initial-access"),
    "T1531": ("Account Access Removal", "アカウントへのアクセス妨害", "impact"),
    "T1558": ("Steal or Forge Kerberos Tickets", "Kerberosチケットの窃取・偽造", "credential-access"),
    "T1562": ("Impair Defenses", "防御機能の妨害", "defense-evasion"),
    "T1562.006": ("Impair Defenses: Indicator Blocking", "防御機能の妨害：ログ送信の阻止", "defense-evasion"),
    "T1567": ("Exfiltration Over Web Service", "Webサービスを使った持ち出し", "exfiltration"),
    "T1567.002": (
        "Exfiltration Over Web Service: to Cloud Storage",
        "Webサービスを使った持ち出し：クラウドストレージ",
        "exfiltration",
    ),
    "T1570": ("Lateral Tool Transfer", "横展開のためのツール転送", "lateral-movement"),
    "T1572": ("Protocol Tunneling", "プロトコルトンネリング", "command-and-control"),
    "T1573": ("Encrypted Channel", "暗号化された通信路", "command-and-control"),
}


def technique_name(technique: str, lang: str) -> str:
    """The technique's name in *lang*; the id itself when it is not in the table."""
    found = TECHNIQUES.get(technique)
    if found is None:
        return technique
    return found[1] if lang == "ja" else found[0]


def technique_tactic(technique: str) -> str | None:
    found = TECHNIQUES.get(technique)
    return found[2] if found else None
