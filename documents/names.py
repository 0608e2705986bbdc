"""The Chinese names people read for custody's codes: kinds, tiers, states, roles, ways of
access, the four properties (四性) and their results, verification problems and findings.

One mapping module for every document (and, later, every face): a code without a name here
is shown as itself, so a missing name is visible rather than silently blank.
The names every face shares (kinds, tiers, states, roles) are archive.domain.names'; this
module adds what only documents print (verification problems and what restores them, the
four properties, verdicts) and gathers them by category for the templates' ``zh`` filter.
"""

from __future__ import annotations

from archive.domain.names import (
    ARCHIVED_WITH_CODE_ZH,
    CHECK_PROBLEM_ZH,
    CONFIDENTIAL_ZH,
    KIND_ZH,
    ROLE_ZH,
    STATUS_ZH,
    TIER_ZH,
)

KIND = KIND_ZH
TIER = TIER_ZH
STATUS = STATUS_ZH | {"filed": ARCHIVED_WITH_CODE_ZH}  # "archived" is 已入库, not 已归档
ROLE = ROLE_ZH
PURPOSE = {"view": "查看", "extract": "提取"}
HOW = {"player": "播放器", "browser": "浏览器播放", "link": "本机链接", "export": "提取拷贝",
       "view": "查看",
       "extract": "提取", "approve": "批准", "deny": "驳回", "inspect": "回放检查记录"}
OUTCOME = {"completed": "已调阅", "started": "调阅中", "stopped": "中止",
           "digest-mismatch": "校验不符", "exported": "已提取",
           "redelivered": "重新交付（不另计次）", "refused": "拒绝"}
PROPERTY = {"authenticity": "真实性", "integrity": "完整性", "usability": "可用性",
            "security": "安全性"}
RESULT = {"pass": "通过", "fail": "不通过", "not-applicable": "不适用",
          "not-checkable": "无法检测", "warn": "提示"}
CONFIDENTIAL = CONFIDENTIAL_ZH
# sampled verification: what each problem is, in the words of the 检查台帐
# the verification's problems by the one table every face uses, with the handover check's own
PROBLEM = CHECK_PROBLEM_ZH | {
    "not-replicated": "尚未复制到第二副本",
    # the receiver's check of a handover package (retention/handover.py)
    "metadata-missing": "元数据版本文件缺失", "metadata-unreadable": "元数据版本文件无法读取",
    "metadata-signature-invalid": "元数据签名无效", "metadata-mismatch": "元数据与移交清单不一致",
    "catalog-mismatch": "文件目录著录与移交清单不一致", "record-missing": "电子档案文件缺失",
    "empty": "空文件", "unreadable": "文件无法读取", "damaged": "文件已损坏",
    "format-not-allowed": "格式不符合该类别", "extension-mismatch": "扩展名与内容不符",
    "sender-finding": "移交方检测发现的问题",
}
# what restores the item, for each problem (the verification's own ACTIONS are English)
ACTION = {
    "ingest-finding": "原件入库时即已损坏或不一致，无更好的副本：回放查看并记录"
                      "（custody inspect），按原状保存",
    "object-unreadable": "从第二副本恢复该对象后重新检验，并报告档案管理员",
    "digest-mismatch": "存储内容已改变：从第二副本恢复，保留出错版本作为证据，并报告",
    "manifest-unreadable": "依据目录和第二副本重建该条目的元数据版本，并报告",
    "signature-invalid": "签名元数据无法验证：检查档案密钥（custody key list），并报告",
    "manifest-mismatch": "目录与签名元数据不一致：以存储为准，从存储重建目录条目",
    "lock-missing": "重新施加所需保留锁（custody retention check），并报告",
    "lock-too-short": "将保留锁延长至规定期限（custody retention check）",
    "legal-hold-missing": "重新设置法律保全：仍有保全理由",
    "media-unreadable": "音视频已无法解析：从第二副本恢复",
    "duration-changed": "音视频时长改变：从第二副本恢复",
    "search-field-mismatch": "检索索引与签名元数据不一致（被系统外修改）：以签名元数据为准，"
                             "报告并从存储重建目录（custody rebuild-catalog）",
    "version-mismatch": "条目当前元数据版本不是最新存储版本：报告并从存储重建目录",
    "index-missing": "条目不在检索索引中：从存储重建目录（custody rebuild-catalog）",
    "not-replicated": "运行 custody replicate 后重新检验",
}
FINDING = {"late-start": "录像开始过晚", "no-notice": "未事先告知当事人",
           "unrelated": "含无关内容", "interrupted": "中断未说明", "other": "其他"}
VERDICT = {"accept": "批合格", "reject": "批不合格"}
INSPECTION_TYPE = {"sampled-verification": "抽样机读检验", "conduct-check": "回放检查"}
COPY = {"primary": "主副本", "replica": "第二副本"}
# activity types are stored in Chinese already (archive.domain.model.ACTIVITY_TYPES)

NAMES: dict[str, dict[str, str]] = {
    "kind": KIND, "tier": TIER, "status": STATUS, "role": ROLE, "purpose": PURPOSE,
    "how": HOW, "outcome": OUTCOME, "property": PROPERTY, "result": RESULT,
    "confidential": CONFIDENTIAL, "problem": PROBLEM, "action": ACTION, "finding": FINDING,
    "verdict": VERDICT, "inspection_type": INSPECTION_TYPE, "copy": COPY,
}


def zh(category: str, code: object) -> str:
    """The Chinese name of ``code`` in ``category``; the code itself when it has none, and
    "—" for nothing (never "None" on paper)."""
    if code is None or code == "":
        return "—"
    return NAMES.get(category, {}).get(str(code), str(code))


def person_label(person: dict | None) -> str:
    """张警官（P1001）; the id alone when the name is unknown."""
    if not person:
        return "—"
    name, pid = person.get("name"), person.get("id")
    return f"{name}（{pid}）" if name and name != pid else str(pid or "—")


def item_label(item: dict) -> str:
    """An item as people cite it: its 档号, else its 题名, else its id."""
    return item.get("archive_code") or item.get("title") or item.get("id") or "—"
