"""Console wording in Japanese and English, and natural dates in the configured timezone."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

__all__ = ["LANGS", "duration", "event_time", "label", "natural", "stamp", "text"]

LANGS = ("ja", "en")

_TEXT: dict[str, tuple[str, str]] = {
    # key: (ja, en)
    "app": ("SOC コンソール", "SOC console"),
    "sign_in": ("サインイン", "Sign in"),
    "sign_out": ("サインアウト", "Sign out"),
    "name": ("アカウント名", "Account"),
    "password": ("パスワード", "Password"),
    "oidc_refused": (
        "組織アカウントでのサインインを受け付けませんでした。",
        "The sign-in with the organisation's account was refused.",
    ),
    "sign_in_with": ("サインイン:", "Sign in with"),
    "or": ("または", "or"),
    "continue": ("続ける", "Continue"),
    "bad_login": ("アカウント名またはパスワードが違います。", "Wrong account name or password."),
    "rate_limited": (
        "サインインの失敗が続いたため、しばらく受け付けません。5分後にお試しください。",
        "Too many failed sign-ins; try again in 5 minutes.",
    ),
    "queue": ("アラート", "Alerts"),
    "incidents": ("インシデント", "Incidents"),
    "ciso": ("CISO 判断", "CISO decisions"),
    "overview": ("概況", "Overview"),
    "language": ("English", "日本語"),
    "status": ("状態", "Status"),
    "severity": ("重大度", "Severity"),
    "detector": ("検知ルール", "Detector"),
    "segment": ("セグメント", "Segment"),
    "user": ("ユーザー", "User"),
    "address": ("アドレス", "Address"),
    "host": ("ホスト", "Host"),
    "from": ("開始", "From"),
    "to": ("終了", "To"),
    "filter": ("絞り込み", "Filter"),
    "entity": ("対象", "Entity"),
    "count": ("件数", "Count"),
    "first_seen": ("初回", "First seen"),
    "last_seen": ("最終", "Last seen"),
    "incident": ("インシデント", "Incident"),
    "copy": ("コピー", "Copy"),
    "ack": ("確認", "Acknowledge"),
    "close": ("クローズ", "Close"),
    "verdict": ("判定", "Verdict"),
    "reason": ("理由", "Reason"),
    "new_alerts": ("件の新しいアラート（再読み込み）", "new alerts (reload)"),
    "page": ("ページ", "Page"),
    "first": ("最初", "First"),
    "prev": ("前へ", "Previous"),
    "next": ("次へ", "Next"),
    "total": ("件", "total"),
    "none": ("該当なし", "None"),
    "attack": ("ATT&CK", "ATT&CK"),
    "rationale": ("検知の根拠", "Rationale"),
    "false_positives": ("想定される誤検知", "Known false positives"),
    "tuning": ("チューニング", "Tuning notes"),
    "events": ("元のイベント", "Events behind it"),
    "all_fields": ("全フィールド", "All fields"),
    "related": ("関連アラート", "Related alerts"),
    "triage": ("トリアージ", "Triage"),
    "note": ("メモ", "Note"),
    "priority": ("優先度", "Priority"),
    "deadline": ("期限", "Deadline"),
    "title": ("件名", "Title"),
    "opened": ("起票", "Opened"),
    "steps": ("対応手順", "Playbook steps"),
    "owner": ("担当", "Owner"),
    "due": ("期限", "Due"),
    "sla": ("SLA", "SLA"),
    "evidence_required": ("必要な証跡", "Evidence required"),
    "options": ("選択肢", "Options"),
    "effect": ("効果", "Effect"),
    "risk": ("リスク", "Risk"),
    "cost": ("コスト", "Cost"),
    "resident_impact": ("住民への影響", "Resident impact"),
    "recommended": ("推奨", "Recommended"),
    "decide": ("決定", "Decide"),
    "assign": ("割り当て", "Assign"),
    "assignee": ("担当者", "Assignee"),
    "complete": ("完了", "Complete"),
    "evidence": ("証跡（URI）", "Evidence (URI)"),
    "transition": ("状態を変更", "Change status"),
    "audit": ("監査証跡", "Audit trail"),
    "obligations": ("報告義務", "Reporting obligations"),
    "reports": ("報告書", "Reports"),
    "pdf": ("PDF", "PDF"),
    "awaiting": ("判断待ち", "Awaiting decision"),
    "no_decisions": ("判断待ちの案件はありません。", "No decisions are waiting."),
    "question": ("判断事項", "Question"),
    "if_no_decision": ("判断がない場合", "If no decision"),
    "period": ("期間", "Period"),
    "show": ("表示", "Show"),
    "forbidden": ("この操作の権限がありません。", "You may not do this."),
    "csrf": ("フォームの有効期限が切れました。ページを再読み込みしてください。", "The form expired; reload the page."),
    "done": ("記録", "Record"),
    "who": ("実施者", "Who"),
    "when": ("日時", "When"),
    "action": ("操作", "Action"),
    "detail": ("内容", "Detail"),
    "kind": ("種別", "Kind"),
    "sent": ("送付", "Sent"),
    "reference": ("受付番号", "Reference"),
    "edition": ("版", "Edition"),
    "select": ("選択", "Select"),
    "signed_in_as": ("サインイン中", "Signed in as"),
    "role": ("ロール", "Role"),
    "instructions": ("手順", "Instructions"),
    "days": ("日間", " days"),
    "waiting": ("未開始（前の手順の完了後）", "not started (earlier steps first)"),
    "final": ("確定版", "final"),
    "all_editions": ("全版", "All editions"),
    "overdue": ("期限超過", "overdue"),
    "all_fp": (
        "このインシデントのアラートはすべて誤検知としてクローズされています。インシデントを誤検知としてクローズできます。",
        "Every alert of this incident was closed as a false positive: close the incident as a false positive.",
    ),
    "close_as_fp": ("誤検知としてクローズ", "Close as false positive"),
    "by_segment": ("セグメント別のアラート", "Alerts by segment"),
    "by_detector": ("検知ルール別のアラート", "Alerts by detector"),
    "detector_health": ("検知ルールの稼働状況と遅延", "Detector health and lag"),
    "health": ("状態", "Health"),
    "last_run": ("最終実行", "Last run"),
    "lag": ("遅延", "Lag"),
    "error": ("エラー", "Error"),
}


# values of statuses, severities and verdicts shown in Japanese (English shows the value itself)
_LABELS_JA = {
    "open": "未対応", "acknowledged": "確認済み", "closed": "クローズ",
    "critical": "緊急", "high": "高", "medium": "中", "low": "低",
    "true_positive": "攻撃（真陽性）", "false_positive": "誤検知", "benign": "正当な活動", "duplicate": "重複",
    "new": "新規", "triage": "トリアージ中", "declared": "インシデント宣言", "contained": "封じ込め済み",
    "eradicated": "根絶済み", "recovered": "復旧済み", "post-incident": "事後対応", "false-positive": "誤検知",
    "pending": "未着手", "in-progress": "対応中", "done": "完了", "skipped": "省略",
    "on_track": "期限内", "at_risk": "期限間近", "breached": "期限超過",
    "sent": "送付済み", "not-required": "不要",
    "task": "作業", "decision": "判断", "approval": "承認", "notification": "連絡", "report": "報告",
    "wait": "待機", "parallel": "並行", "end": "終了",
    "ok": "正常", "lagging": "遅延", "failing": "失敗", "never run": "未実行", "truncated": "打ち切り",
    "disabled": "無効",
    "mynumber": "マイナンバー利用事務系", "lgwan": "LGWAN接続系", "internet": "インターネット接続系",
    "dmz": "DMZ", "telework": "テレワーク", "cloud": "クラウド", "external": "外部",
    "operator": "SOC担当者", "csirt": "CSIRT", "admin": "管理者",
}  # fmt: skip


def label(value: str, lang: str) -> str:
    """How a status, severity, verdict or step kind reads in *lang*."""
    return _LABELS_JA.get(value, value) if lang == "ja" else value


def text(key: str, lang: str) -> str:
    ja, en = _TEXT[key]
    return ja if lang == "ja" else en


def duration(seconds: float, lang: str) -> str:
    """``45秒`` / ``12 min`` / ``3時間5分`` / ``2 d 4 h``: a lag or a wait, to the unit that matters."""
    s = max(0, int(seconds))
    d, h, m = s // 86400, s % 86400 // 3600, s % 3600 // 60
    ja = lang == "ja"
    if s < 60:
        return f"{s}秒" if ja else f"{s} s"
    if s < 3600:
        return f"{m}分" if ja else f"{m} min"
    if s < 86400:
        return (f"{h}時間{m}分" if ja else f"{h} h {m} min") if m else (f"{h}時間" if ja else f"{h} h")
    return (f"{d}日{h}時間" if ja else f"{d} d {h} h") if h else (f"{d}日" if ja else f"{d} d")


def event_time(value: str, tz: ZoneInfo) -> str:
    """An event's ``@timestamp`` (ISO 8601 text) in the configured timezone to the second;
    text that is not a time is shown as it is."""
    try:
        t = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        return value
    return t.astimezone(tz).strftime("%Y-%m-%d %H:%M:%S") if t.tzinfo else value


def stamp(t: datetime | None, tz: ZoneInfo) -> str:
    """``2026-11-29 14:05`` in the configured timezone (the exact time, for tooltips and tables)."""
    return t.astimezone(tz).strftime("%Y-%m-%d %H:%M") if t else ""


def natural(t: datetime | None, now: datetime, tz: ZoneInfo, lang: str) -> str:
    """``3分前`` / ``in 2 h`` / ``昨日 14:05`` / ``11月3日 09:00``: how people say when."""
    if t is None:
        return ""
    delta = (now - t).total_seconds()
    ahead = delta < 0
    secs = abs(delta)
    if secs < 60:
        return "たった今" if lang == "ja" else "just now"
    if secs < 3600:
        n, ja_u, en_u = int(secs // 60), "分", "min"
    elif secs < 86400:
        n, ja_u, en_u = int(secs // 3600), "時間", "h"
    else:
        local, today = t.astimezone(tz), now.astimezone(tz).date()
        days = (local.date() - today).days
        hm = local.strftime("%H:%M")
        if days == -1:
            return f"昨日 {hm}" if lang == "ja" else f"yesterday {hm}"
        if days == 1:
            return f"明日 {hm}" if lang == "ja" else f"tomorrow {hm}"
        if local.year == now.astimezone(tz).year:
            return f"{local.month}月{local.day}日 {hm}" if lang == "ja" else local.strftime("%b %-d %H:%M")
        return f"{local.year}年{local.month}月{local.day}日" if lang == "ja" else local.strftime("%b %-d %Y")
    if lang == "ja":
        return f"{n}{ja_u}後" if ahead else f"{n}{ja_u}前"
    return f"in {n} {en_u}" if ahead else f"{n} {en_u} ago"
