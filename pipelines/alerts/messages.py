"""The words of a notice, per channel and language, rendered from the facts stored with it (so a
delivery retried a day later says exactly what the first try said).

Chinese (zh) is the bureaus' language; English (en) is there for a recipient who asks for it.
Each channel has its form: e-mail as plain text and HTML, WeCom and DingTalk as markdown, the
webhook as JSON (pipelines/alerts/channels.py puts them on the wire within each size limit).
"""
from __future__ import annotations

import html
from dataclasses import dataclass

from pipelines import display
from pipelines.reference import registry, standards

KIND_ZH = {"opened": "开始", "worsened": "加重", "resolved": "结束", "escalated": "升级(无人确认)",
           "reopened": "重新开启", "withdrawn": "撤销(数据修订)"}
KIND_EN = {"opened": "opened", "worsened": "worsened", "resolved": "resolved", "escalated": "escalated (not acknowledged)",
           "reopened": "reopened", "withdrawn": "withdrawn (data revised)"}
BOUNDARY_ZH = {"national": "国界", "provincial": "省界", "city": "市界"}
BASIS_ZH = {"day": "日评价", "month": "月累计评价"}
BASIS_EN = {"day": "daily", "month": "month to date"}
OPERATIONAL_ZH = {"source_silent": "数据源中断", "source_back": "数据源恢复", "quarantine_share": "隔离比例异常",
                  "dag_failed": "流程运行失败", "published_disagreement": "发布类别不一致异常",
                  "unknown_station": "发现未登记站点", "feed_outage": "数据源缺时", "feed_back": "数据源缺时结束"}
OPERATIONAL_EN = {"source_silent": "source silent", "source_back": "source back", "quarantine_share": "quarantine share high",
                  "dag_failed": "DAG run failed", "published_disagreement": "published classes disagree",
                  "unknown_station": "unknown station seen", "feed_outage": "feed outage",
                  "feed_back": "feed outage ended"}
# issue 21 (a feed's header changed) and issue 20 (a cross-boundary section long without valid data)
OPERATIONAL_ZH.update({"format_changed": "数据格式变更", "section_silent": "断面长期无有效数据"})
OPERATIONAL_EN.update({"format_changed": "feed format changed", "section_silent": "no valid data"})
# a failure against a target the registry only assumes (issue 23), said first in the notice
ASSUMED_TARGET_ZH = ("注意: 该断面的水质目标为假定（断面登记表中尚无正式目标），本事件为未达标（目标为假定），"
                     "须以正式目标核实。")
ASSUMED_TARGET_EN = ("Note: this section's target is assumed (the registry holds no official target for it): "
                     "failed (assumed target), to be checked against the official target.")
FOOTER_ZH = "envmon 自动发送。确认: envmon alerts ack {episode} --by 姓名 --comment 说明"
FOOTER_EN = "Sent by envmon. Acknowledge: envmon alerts ack {episode} --by NAME --comment TEXT"


@dataclass
class Message:
    subject: str
    text: str                  # plain text: e-mail, and the webhook's text field
    markdown_title: str
    markdown_lines: list[str]  # markdown, one line each, so a channel can cut at a line within its limit
    html: str


def render(facts: dict, language: str = "zh") -> Message:
    if facts["category"] == "operational":
        return _operational(facts, language)
    if facts["category"] == "document":
        return _document(facts, language)
    return _section(facts, language)


def _document(facts: dict, language: str) -> Message:
    """An issued document (issue 25): re-issued with what changed, or out of date after late data."""
    zh = language == "zh"
    if facts["kind"] == "reissued":
        label = "重新印发" if zh else "re-issued"
        lead = (f"{facts['title']} 已重新印发为 {facts['number']}（{facts['subject_id']}），"
                f"替代 {facts.get('previous_number') or facts['previous']}。" if zh else
                f"{facts['title']} is re-issued as {facts['number']} ({facts['subject_id']}), replacing "
                f"{facts.get('previous_number') or facts['previous']}.")
        items = facts.get("change_lines") or (["数据来源有变化，各表内容未变。"] if zh else
                                              ["The lineage changed; no table's content did."])
        title = "变化之处：" if zh else "What changed (tables, rows and columns):"
        footer = ["原版本保存在 superseded/ 中。" if zh else "The earlier issue is kept in superseded/."]
    else:
        label = "已过时" if zh else "out of date"
        lead = (f"已印发的 {facts['title']}（{facts['number']}，{facts['subject_id']}）所用数据已有迟到或修订，"
                "超出自动重新印发的期限，该期已过时。" if zh else
                f"The issued {facts['title']} ({facts['number']}, {facts['subject_id']}) is out of date: late or "
                "revised data changed what it read, past the window in which it is issued again by itself.")
        items = [("有变化的月份：" if zh else "Months changed: ") + "、".join(facts.get("months") or ["—"])]
        title = ""
        footer = [("如需重新印发：" if zh else "To issue it again: ") + facts["command"]]
    subject = f"[envmon 文件] {label}: {facts['number']}" if zh else f"[envmon document] {label}: {facts['number']}"
    text = "\n".join([lead, *([title] if title else []), *items, *footer])
    markdown = [f"### {label}: {facts['number']}", lead, *[f"- {item}" for item in items], *footer]
    return Message(subject, text, subject, markdown, _html(subject, lead, [], title, items, footer))


def _name(code: str, language: str) -> str:
    table = standards.parameters()
    if code not in table.index:
        return code
    return table.loc[code, "name_zh" if language == "zh" else "name_en"]


def item_line(item: dict, language: str) -> str:
    unit = standards.unit_of(item["parameter"]) if item["parameter"] in standards.parameters().index else ""
    multiples = []
    if language == "zh":
        if item.get("multiple_vs_target") is not None:
            multiples.append(f"超目标 {item['multiple_vs_target']:.2f} 倍")
        if item.get("multiple_vs_class_iii") is not None:
            multiples.append(f"超Ⅲ类 {item['multiple_vs_class_iii']:.2f} 倍")
        detail = "，".join(multiples) or "超标倍数不适用 (pH/溶解氧)"
        where = f"{BASIS_ZH.get(item.get('basis'), '')} {item.get('day', '')}".strip()
        return (f"{_name(item['parameter'], language)} ({item['parameter']}): {item['value']:.4g} {unit}, "
                f"{item['class']}类; {detail} [{where}]")
    if item.get("multiple_vs_target") is not None:
        multiples.append(f"{item['multiple_vs_target']:.2f}× over target")
    if item.get("multiple_vs_class_iii") is not None:
        multiples.append(f"{item['multiple_vs_class_iii']:.2f}× over class Ⅲ")
    detail = ", ".join(multiples) or "no multiple for pH/DO"
    where = f"{BASIS_EN.get(item.get('basis'), '')} {item.get('day', '')}".strip()
    return (f"{_name(item['parameter'], language)} ({item['parameter']}): {item['value']:.4g} {unit}, "
            f"class {item['class']}; {detail} [{where}]")


def _section(facts: dict, language: str) -> Message:
    section = registry.sections().loc[facts["section_id"]]
    kind = facts["kind"]
    items = [item_line(i, language) for i in facts.get("items", [])]
    bases = facts.get("bases", [])
    # against a target the registry only assumes, the notice says so (issue 23): never a default as official
    target = display.target_text(facts["target_class"], language, facts.get("target_status"))
    if language == "zh":
        label = KIND_ZH[kind]
        subject = (f"[envmon] 跨界断面超标{label} {section['name_zh']} ({section['water_body']}): "
                   f"{facts['worst_class']} / 目标 {target} (事件 #{facts['episode_id']})")
        lead = _lead(facts, section, "zh")
        header = [
            f"水体: {section['water_body']}    地市: {section['city']} {section['county']}",
            f"交界类型: {BOUNDARY_ZH.get(section['boundary_kind'], section['boundary_kind'])}    "
            f"上游: {section['upstream_jurisdiction']}    下游: {section['downstream_jurisdiction']}",
            f"最差水质类别: {facts['worst_class']}    水质目标: {target}    "
            f"超标天数: {facts['days_failed']}    起始日: {facts['opened_on']}",
            "评价依据: " + "; ".join({"day": "GB 3838-2002 单因子评价, 日均值",
                                     "month": "月累计均值, 跨界考核方案"}[b] for b in bases),
        ]
        if facts.get("target_status") == "assumed":
            header.insert(0, ASSUMED_TARGET_ZH)
        items_title, more = "超标指标:", "其余 {n} 项见邮件或 envmon alerts list"
        footer = [f"数据来源: {facts['data_label']}",
                  f"注: 断面登记信息中的假定 (须核实): {section['assumptions'] or '无'}",
                  FOOTER_ZH.format(episode=facts["episode_id"])]
    else:
        label = KIND_EN[kind]
        subject = (f"[envmon] cross-boundary section {label}: {section['name_zh']} ({section['water_body']}) "
                   f"{facts['worst_class']} / target {target} (episode #{facts['episode_id']})")
        lead = _lead(facts, section, "en")
        header = [
            f"Water body: {section['water_body']}    City: {section['city']} {section['county']}",
            f"Boundary: {section['boundary_kind']}    upstream: {section['upstream_jurisdiction']}    "
            f"downstream: {section['downstream_jurisdiction']}",
            f"Worst class: {facts['worst_class']}    target: {target}    days failed: "
            f"{facts['days_failed']}    since: {facts['opened_on']}",
            "Basis: " + "; ".join(BASIS_EN[b] for b in bases),
        ]
        if facts.get("target_status") == "assumed":
            header.insert(0, ASSUMED_TARGET_EN)
        items_title, more = "Failing items:", "{n} more: see the e-mail or envmon alerts list"
        footer = [f"Data: {facts['data_label']}", f"Registry assumptions to verify: {section['assumptions'] or 'none'}",
                  FOOTER_EN.format(episode=facts["episode_id"])]
    text = "\n".join([lead, "", *header, items_title, *(f"  - {i}" for i in items), "", *footer])
    markdown = [f"### {subject.removeprefix('[envmon] ')}", lead, "",
                *(f"> {line}" for line in header), "", f"**{items_title}**", *(f"- {i}" for i in items),
                "", *footer]
    return Message(subject, text, subject.removeprefix("[envmon] "), _cuttable(markdown, len(items), more),
                   _html(subject, lead, header, items_title, items, footer))


# The first line of an episode notice, per language and kind of state change: filled with the
# episode's facts (a manual resolution has its own line: who ended it and why).
LEADS = {
    "zh": {
        "name": "跨界断面 {name_zh} ({section_id})",
        "opened": "{name} 自 {opened_on} (北京时间) 起未达到水质目标，超标事件 #{episode_id} 开始。",
        "worsened": "{name} 的超标事件 #{episode_id} 加重: 水质类别由 {previous_class} 降为 {worst_class} ({day})。",
        "resolved_manual": "{name} 的超标事件 #{episode_id} 已由 {actor} 人工结束 ({resolved_on})。说明: {comment}",
        "resolved": "{name} 已连续 {resolve_after} 个评价日达标，超标事件 #{episode_id} 于 {resolved_on} 结束 "
                    "(共超标 {days_failed} 天)。",
        "escalated": "{name} 的超标事件 #{episode_id} 自 {opened_on} 起仍未达标，首次通知后 "
                     "{escalate_after_hours:g} 小时内无人确认，现报自治区/省级主管部门督办。",
        "reopened": "{name} 的超标事件 #{episode_id} 重新开启: 补报或修订的数据显示 {day} 仍未达标。",
        "withdrawn": "{name} 的超标事件 #{episode_id} 撤销: 补报或修订后的数据不再显示超标。",
        "no_comment": "无",
    },
    "en": {
        "name": "Cross-boundary section {name_zh} ({section_id})",
        "opened": "{name} has failed its target since {opened_on} (Beijing time): episode #{episode_id} opened.",
        "worsened": "{name}: episode #{episode_id} worsened from class {previous_class} to {worst_class} ({day}).",
        "resolved_manual": "{name}: episode #{episode_id} resolved by {actor} on {resolved_on}. Comment: {comment}",
        "resolved": "{name} complied on {resolve_after} assessed days in a row: episode #{episode_id} resolved on "
                    "{resolved_on} after {days_failed} failed days.",
        "escalated": "{name}: episode #{episode_id}, open since {opened_on}, has not been acknowledged within "
                     "{escalate_after_hours:g} hours of its first notice; escalated to the regional bureau.",
        "reopened": "{name}: episode #{episode_id} reopened: late or revised data show {day} failing.",
        "withdrawn": "{name}: episode #{episode_id} withdrawn: late or revised data no longer show a failure.",
        "no_comment": "none",
    },
}


class _Facts(dict):
    """An episode's facts for str.format_map: a fact the state change does not carry reads None,
    as facts.get did."""

    def __missing__(self, key):
        return None


def _lead(facts: dict, section, language: str) -> str:
    leads = LEADS[language]
    kind = facts["kind"]
    if kind == "resolved" and facts.get("resolution") == "manual":
        kind = "resolved_manual"
    elif kind not in leads:
        kind = "withdrawn"
    filled = _Facts(facts, name_zh=section["name_zh"], comment=facts.get("comment") or leads["no_comment"])
    filled["name"] = leads["name"].format_map(filled)
    return leads[kind].format_map(filled)


def _cuttable(lines: list[str], item_count: int, more: str) -> list[str]:
    """Markdown lines with the note a channel appends when it must drop items to fit: kept as the
    last element, marked, so channels.fit can use it."""
    return [*lines, f"\x00{more}"] if item_count else lines


def _html(subject: str, lead: str, header: list[str], items_title: str, items: list[str], footer: list[str]) -> str:
    e = html.escape
    rows = "".join(f"<li>{e(i)}</li>" for i in items)
    return ("<!DOCTYPE html><html><head><meta charset=\"utf-8\"><title>" + e(subject) + "</title></head>"
            "<body style=\"font-family: sans-serif\">"
            f"<p><strong>{e(lead)}</strong></p>"
            "<table>" + "".join(f"<tr><td>{e(line)}</td></tr>" for line in header) + "</table>"
            f"<p>{e(items_title)}</p><ul>{rows}</ul>"
            "<p style=\"color: #666\">" + "<br>".join(e(line) for line in footer) + "</p></body></html>")


def _operational(facts: dict, language: str) -> Message:
    kind = facts["kind"]
    label = (OPERATIONAL_ZH if language == "zh" else OPERATIONAL_EN)[kind]
    lines = operational_lines(facts, language)
    subject = f"[envmon 运维] {label}: {facts['subject_id']}" if language == "zh" else \
        f"[envmon ops] {label}: {facts['subject_id']}"
    text = "\n".join(lines)
    markdown = [f"### {subject.removeprefix('[envmon 运维] ').removeprefix('[envmon ops] ')}", *lines]
    return Message(subject, text, subject, markdown, _html(subject, lines[0], lines[1:], "", [], []))


def operational_lines(facts: dict, language: str) -> list[str]:
    kind, zh = facts["kind"], language == "zh"
    if kind == "source_silent":
        return ([f"数据源 {facts['subject_id']} 已 {facts['silent_hours']:.1f} 小时没有新数据 (允许 {facts['allowed_hours']:g} 小时)。",
                 f"最新观测时间: {facts['last_observed_at']} (UTC)", "请检查采集任务 (envmon_collect) 与数据源网站。"]
                if zh else
                [f"Source {facts['subject_id']} has delivered nothing new for {facts['silent_hours']:.1f} h "
                 f"(allowed {facts['allowed_hours']:g} h).", f"Newest observation: {facts['last_observed_at']} (UTC)",
                 "Check the collection DAG (envmon_collect) and the feed."])
    if kind == "source_back":
        return ([f"数据源 {facts['subject_id']} 已恢复，最新观测时间: {facts['last_observed_at']} (UTC)。"] if zh else
                [f"Source {facts['subject_id']} is delivering again; newest observation {facts['last_observed_at']} (UTC)."])
    if kind in ("quarantine_share", "published_disagreement"):
        what = ("隔离比例" if kind == "quarantine_share" else "发布类别与 envmon 不一致的比例") if zh else \
            ("quarantined share" if kind == "quarantine_share" else "share of published classes disagreeing")
        return ([f"{facts['subject_id']} 在 {facts['day']} 的{what}为 {facts['share']:.1%}，"
                 f"平常 (前 {facts['usual_days']} 天中位数) 为 {facts['usual']:.1%}。",
                 f"行数: {facts['count']} / {facts['total']}", "请查看 envmon export quarantine 或 published。"]
                if zh else
                [f"{facts['subject_id']} on {facts['day']}: {what} {facts['share']:.1%}, usually "
                 f"{facts['usual']:.1%} (median of the {facts['usual_days']} days before).",
                 f"Rows: {facts['count']} of {facts['total']}", "See envmon export quarantine or published."])
    if kind == "format_changed":
        said = [c["said"] for c in facts["changes"]]
        return ([f"数据源 {facts['source']} 的表头与登记的格式 ({facts['format']}, feed_formats.csv) 不符，"
                 "缺失列的数值无法读取，未知列与单位变更列的数值已隔离，不会当作其他指标读入。", *said,
                 "请核实数据源的新格式，并更新 pipelines/reference/data/feed_formats.csv。"]
                if zh else
                [f"The header of {facts['source']} differs from its layout ({facts['format']}, feed_formats.csv): "
                 "the values of missing columns cannot be read; those of unknown columns or in another unit are "
                 "quarantined, never read as something else.", *said,
                 "Check the feed's new layout and update pipelines/reference/data/feed_formats.csv."])
    if kind == "section_silent":
        last = facts.get("last_valid_day")
        return ([f"跨界断面 {facts['section_id']} 已 {facts['silent_days']} 天无有效数据"
                 f"（最后有效日: {last or '无'}，最新日: {facts['newest_day']}）。",
                 "无数据不是超标，不开启告警事件；请检查该断面的站点与数据源。"]
                if zh else
                [f"Cross-boundary section {facts['section_id']}: no valid data for {facts['silent_days']} days "
                 f"(last valid day: {last or 'none'}; newest day: {facts['newest_day']}).",
                 "No data is not a failure and opens no episode; check the station and its feed."])
    if kind == "dag_failed":
        return ([f"DAG {facts['dag_id']} 的运行 {facts['run_id']} 失败: 任务 {facts['task_id']}。",
                 f"错误: {facts.get('error') or '见日志'}", f"日志: {facts.get('log_url') or '见 Airflow'}"]
                if zh else
                [f"DAG {facts['dag_id']} run {facts['run_id']} failed in task {facts['task_id']}.",
                 f"Error: {facts.get('error') or 'see the log'}", f"Log: {facts.get('log_url') or 'see Airflow'}"])
    if kind == "feed_outage":  # issue 21: the collection ledger's gaps, one episode per outage
        return ([f"数据源 {facts['source']} 有 {facts['gaps']} 个时次多次请求仍未提供，已记为缺测，采集继续进行。",
                 f"首个缺测时次: {facts['first_gap']}", f"详见 envmon collect status --source {facts['source']}"]
                if zh else
                [f"Feed {facts['source']}: {facts['gaps']} expected hours never arrived after the tries allowed and are "
                 "recorded as gaps; collection goes on.", f"First gap: {facts['first_gap']}",
                 f"See envmon collect status --source {facts['source']}"])
    if kind == "feed_back":
        return ([f"数据源 {facts['source']} 已恢复正常提供；本次中断共记缺测 {facts['gaps']} 个时次 (自 {facts['first_gap']})。"]
                if zh else
                [f"Feed {facts['source']} is delivering again; {facts['gaps']} gaps recorded in the outage "
                 f"(from {facts['first_gap']})."])
    return ([f"{facts['source']} 的数据中出现登记表中没有的站点: {facts['station']}。",
             "请核实后补入 pipelines/reference/data (sections.csv 或 air_stations.csv)。"]
            if zh else
            [f"{facts['source']} delivered a station the registry does not know: {facts['station']}.",
             "Check it and add it to pipelines/reference/data (sections.csv or air_stations.csv)."])
