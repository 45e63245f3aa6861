"""`envmon registry import FILE --valid-from ... [--apply]` (issue 23): a bureau's official list, read as
the bureau keeps it (XLSX; CSV in GBK or UTF-8), compared with the registry in force, refused with one
line per problem when it is bad, and with --apply written as a new registry version whose changed
targets are reassessed for their period only."""
import json
import os
import subprocess
import sys
from datetime import date
from pathlib import Path

import openpyxl
import pytest

from pipelines.reference import official_list

ENVMON = str(Path(sys.executable).parent / "envmon")
HEADER = ["序号", "断面名称", "所在水体/河流", "所在地市", "断面属性", "水质目标", "经度", "纬度", "责任单位"]


def write_xlsx(path: Path, rows: list[list], header=HEADER, title="玉林市地表水考核断面水质目标（2026—2030年）") -> Path:
    """A bureau's sheet: a merged title row above the header, as the cities' annexes print it."""
    workbook = openpyxl.Workbook()
    sheet = workbook.active
    sheet.title = "考核断面"
    sheet.append([title])
    sheet.merge_cells(start_row=1, start_column=1, end_row=1, end_column=len(header))
    sheet.append(header)
    for number, row in enumerate(rows, start=1):
        sheet.append([number, *row])
    sheet.append(["注：水质目标为年均值。"])
    workbook.save(path)
    return path


def write_csv(path: Path, rows: list[list], header=HEADER, encoding="gbk") -> Path:
    lines = [",".join(header)] + [",".join(str(v) for v in [n, *row]) for n, row in enumerate(rows, start=1)]
    path.write_bytes(("\r\n".join(lines) + "\r\n").encode(encoding))
    return path


# --- reading the bureaus' layouts ----------------------------------------------------------------------

def test_an_xlsx_sheet_is_read_below_its_title_with_rows_numbered_as_the_sheet_shows_them(tmp_path):
    path = write_xlsx(tmp_path / "玉林.xlsx", [["横塘", "南流江", "玉林市", "国控", "Ⅱ类", 109.62, 22.02, "玉林市人民政府"],
                                                ["自良渡口", "北流河", "玉林", "国控", 3, "110°24′0″", "22°42′36″", ""]])
    listed = official_list.read_official_list(path)
    assert listed.layout == "xlsx" and listed.cities == ["玉林市"]
    first, second = listed.rows
    assert (first.row, first.name_zh, first.water_body, first.target_class, first.responsible_unit) == \
        (3, "横塘", "南流江", "Ⅱ", "玉林市人民政府")
    assert (second.row, second.city, second.target_class) == (4, "玉林市", "Ⅲ")
    assert second.longitude == pytest.approx(110.4) and second.latitude == pytest.approx(22.71)


@pytest.mark.parametrize("encoding,layout", [("gbk", "csv (gbk)"), ("utf-8-sig", "csv (utf-8)"), ("utf-8", "csv (utf-8)")])
def test_a_csv_is_read_in_gbk_or_utf8_with_or_without_bom(tmp_path, encoding, layout):
    header = ["断面名称", "河流名称", "地市", "水质目标"]
    path = tmp_path / "list.csv"
    path.write_bytes(("\n".join([",".join(header), "六景,邕江,南宁市,II类"]) + "\n").encode(encoding))
    listed = official_list.read_official_list(path)
    assert listed.layout == layout
    assert [(r.row, r.name_zh, r.water_body, r.city, r.target_class) for r in listed.rows] == \
        [(2, "六景", "邕江", "南宁市", "Ⅱ")]


@pytest.mark.parametrize("written,roman", [("Ⅰ", "Ⅰ"), ("II", "Ⅱ"), ("ii", "Ⅱ"), ("Ⅲ类", "Ⅲ"), ("IV类", "Ⅳ"), ("5", "Ⅴ"),
                                           (2, "Ⅱ"), (3.0, "Ⅲ"), ("Ⅱ 类", "Ⅱ"), ("２", "Ⅱ"), ("Ⅲ类水", "Ⅲ")])
def test_target_classes_as_bureaus_write_them_become_the_registry_numerals(written, roman):
    assert official_list.normalise_class(written) == roman


@pytest.mark.parametrize("written", ["劣Ⅴ", "Ⅵ", "VI", "6", "0", "Ⅱ~Ⅲ", "二类", "", "达标", 2.5])
def test_anything_else_is_not_a_class(written):
    assert official_list.normalise_class(written) is None


# --- bad files: one line each, and the registry unchanged -------------------------------------------

REGISTRY_TABLES = ("registry_versions", "section_targets", "registry_stations", "assessments", "assessment_history")


def warehouse_tables(engine) -> dict:
    from warehouse import db

    return {name: db.read_table(engine, name).sort_values(list(db.read_table(engine, name).columns[:3]))
            .reset_index(drop=True) for name in REGISTRY_TABLES}


def assert_same_tables(before: dict, after: dict) -> None:
    import pandas as pd

    for name in REGISTRY_TABLES:
        pd.testing.assert_frame_equal(before[name], after[name], obj=name)


@pytest.fixture
def migrated(warehouse_url, tmp_path, monkeypatch):
    """A migrated warehouse (its registry seeded) that `envmon` in this process works on."""
    from warehouse import db

    monkeypatch.setenv("ENVMON_WAREHOUSE_URL", warehouse_url)
    monkeypatch.setenv("ENVMON_HOME", str(tmp_path))
    engine = db.engine_for(warehouse_url)
    db.migrate(engine)
    yield engine
    _back_to_the_seed()


def _back_to_the_seed():
    """The process's registry back to the repository's files: the next test must not see this one's."""
    from pipelines.reference import registry

    if hasattr(registry, "use_seed"):
        registry.use_seed()


def envmon(capsys, *argv) -> tuple[int, list[str], list[str]]:
    from pipelines.cli.commands import main

    code = main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out.splitlines(), captured.err.splitlines()


NANNING_HEADER = ["断面名称", "所在水体/河流", "所在地市", "断面属性", "水质目标", "经度", "纬度"]
BAD_FILES = {
    "an unknown class": (
        [NANNING_HEADER, ["老口", "邕江", "南宁市", "国控", "Ⅱ", "", ""], ["六景", "邕江", "南宁市", "国控", "劣Ⅴ", "", ""]],
        "list.csv: row 3: 六景: 水质目标 '劣Ⅴ' is not a class of GB 3838 (Ⅰ–Ⅴ, also written I–V, 1–5, Ⅱ类)"),
    "coordinates outside the region (latitude and longitude swapped)": (
        [NANNING_HEADER, ["老口", "邕江", "南宁市", "国控", "Ⅱ", "22.86", "108.18"]],
        "list.csv: row 2: 老口: coordinates 22.86E 108.18N lie outside the region "
        "(广西壮族自治区 104.46–112.07E, 20.9–26.4N)"),
    "a duplicate name": (
        [NANNING_HEADER, ["老口", "邕江", "南宁市", "国控", "Ⅱ", "", ""], ["六景", "邕江", "南宁市", "国控", "Ⅱ", "", ""],
         ["老口", "邕江", "南宁市", "国控", "Ⅲ", "", ""]],
        "list.csv: rows 2 and 4: 老口 (邕江) is listed twice"),
    "a section matched twice (its name and its bracketed alias)": (
        [NANNING_HEADER, ["鼠岭", "九洲江", "玉林市", "跨界", "Ⅲ", "", ""], ["文车桥", "九洲江", "玉林市", "跨界", "Ⅱ", "", ""]],
        "list.csv: rows 2 and 3: 鼠岭 (九洲江) and 文车桥 (九洲江) both match the registry's section "
        "jiuzhou-wenchequiao 鼠岭(文车桥) (九洲江)"),
    "a missing column": (
        [["断面名称", "所在水体/河流", "所在地市", "断面属性", "经度", "纬度"], ["老口", "邕江", "南宁市", "国控", "", ""]],
        "list.csv: no 水质目标 column (accepted: 水质目标, 水质目标类别, 目标水质, 考核目标, 水质考核目标, 目标类别)"),
}


@pytest.mark.parametrize("case", list(BAD_FILES))
def test_a_bad_file_gets_its_one_line_and_the_registry_is_unchanged(case, migrated, tmp_path, capsys):
    rows, line = BAD_FILES[case]
    path = tmp_path / "list.csv"
    path.write_bytes(("\n".join(",".join(r) for r in rows) + "\n").encode("gbk"))
    before = warehouse_tables(migrated)
    code, out, err = envmon(capsys, "registry", "import", str(path), "--valid-from", "2026-01-01", "--apply")
    assert (code, out) == (1, [])
    assert err == [line, "registry import: 1 problem; the registry is unchanged"]
    assert_same_tables(before, warehouse_tables(migrated))


def test_every_problem_of_a_file_is_told_at_once_and_a_file_that_is_no_list_in_one_line(tmp_path, capsys):
    path = tmp_path / "list.csv"
    rows = [NANNING_HEADER, ["老口", "邕江", "南宁市", "国控", "Ⅵ", "", ""], ["六景", "邕江", "南宁市", "国控", "Ⅱ", "108.9", ""]]
    path.write_bytes(("\n".join(",".join(r) for r in rows) + "\n").encode("utf-8-sig"))
    with pytest.raises(official_list.OfficialListError) as refused:
        official_list.read_official_list(path)
    assert refused.value.problems == [
        "list.csv: row 2: 老口: 水质目标 'Ⅵ' is not a class of GB 3838 (Ⅰ–Ⅴ, also written I–V, 1–5, Ⅱ类)",
        "list.csv: row 3: 六景: 经度 and 纬度 go together: one of them is empty"]
    picture = tmp_path / "list.xlsx"
    picture.write_bytes(b"PK\x03\x04 not really a workbook")
    with pytest.raises(official_list.OfficialListError) as refused:
        official_list.read_official_list(picture)
    assert refused.value.problems == ["list.xlsx: not a readable XLSX workbook (BadZipFile)"]


# --- the diff -----------------------------------------------------------------------------------------

def yulin_list(tmp_path) -> Path:
    """玉林's list: 鼠岭(文车桥) under its other name, 横塘 tightened to Ⅱ, 自良渡口 on the river the CNEMC
    feed names (北流河; the registry's 绣江(北流河)) moved east, a section the registry lacks, the 罗江
    boundary section (名称待定 in the registry, no target) given one; the 黄华江 section not listed."""
    return write_xlsx(tmp_path / "玉林市2026-2030年考核断面.xlsx", [
        ["文车桥", "九洲江", "玉林市", "跨界", "Ⅲ类", 110.10, 21.96, "陆川县人民政府"],
        ["横塘", "南流江", "玉林市", "国控", "II", 109.62, 22.02, "博白县人民政府"],
        ["自良渡口", "北流河", "玉林", "国控", 3, 110.40, 22.71, "北流市人民政府"],
        ["长山", "沙铲河", "玉林市", "市控", "Ⅲ", None, None, "陆川县人民政府"],
        ["罗江省界断面", "罗江", "玉林市", "跨界", "Ⅲ", None, None, "北流市人民政府"],
    ])


def nanning_list(tmp_path) -> Path:
    """南宁's list as a GBK CSV: 六景 at Ⅲ and moved, 叮当 (武鸣河, published by the CNEMC feed) new,
    雁江 and 大王滩水库 not listed."""
    return write_csv(tmp_path / "nanning.csv", [
        ["老口", "邕江", "南宁市", "国控", "Ⅱ类", "108.18", "22.86", ""],
        ["六景", "邕江", "南宁", "国控", "III", "108.90", "22.95", ""],
        ["叮当", "武鸣河", "南宁市", "国控", "2", "", "", "武鸣区人民政府"],
        ["南岸", "郁江", "南宁市", "国控", "Ⅱ", "", "", ""],
        ["上中", "左江", "南宁市", "国控", "Ⅱ", "", "", ""],
        ["白马", "右江", "南宁市", "省控", "II类", "", "", ""],
    ])


def test_a_cities_xlsx_list_gives_its_exact_diff(migrated, tmp_path, capsys):
    import hashlib

    path = yulin_list(tmp_path)
    before = warehouse_tables(migrated)
    code, out, err = envmon(capsys, "registry", "import", str(path), "--valid-from", "2026-01-01")
    assert code == 0, err
    digest = hashlib.sha256(path.read_bytes()).hexdigest()[:12]
    changshan = official_list.new_section_id("长山", "沙铲河", "玉林市")
    assert changshan.startswith("yulin-")
    assert out == [
        f"official list 玉林市2026-2030年考核断面.xlsx (xlsx, sha256 {digest}), valid from 2026-01-01, cities 玉林市",
        f"new section: row 6: {changshan} 长山 (沙铲河, 玉林市): target Ⅲ (official), 市控",
        "no longer listed: huanghua-boundary 黄华江省界断面(名称待定) (黄华江, 玉林市)",
        "target changed: row 3: jiuzhou-wenchequiao 鼠岭(文车桥) (九洲江, 玉林市): Ⅲ (assumed) → Ⅲ (official)",
        "target changed: row 4: nanliu-hengtang 横塘 (南流江, 玉林市): Ⅲ (assumed) → Ⅱ (official)",
        "target changed: row 5: xiujiang-ziliangdukou 自良渡口 (绣江(北流河), 玉林市): Ⅲ (assumed) → Ⅲ (official)",
        "target changed: row 7: luojiang-boundary 罗江省界断面(名称待定) (罗江, 玉林市): (none) (unset) → Ⅲ (official)",
        # 0.05° of longitude at 22.71°N: 111.195 km × cos 22.71° × 0.05 = 5.13 km
        "coordinates moved: row 5: xiujiang-ziliangdukou 自良渡口 (绣江(北流河), 玉林市): 110.35E 22.71N → 110.4E 22.71N "
        "(5.1 km)",
        "1 new, 1 no longer listed, 4 targets changed, 1 coordinates moved, 0 unchanged",
        "nothing applied: add --apply to write this as a new registry version"]
    assert_same_tables(before, warehouse_tables(migrated))      # without --apply nothing changes


def test_a_gbk_csv_list_gives_its_exact_diff_as_json(migrated, tmp_path, capsys):
    path = nanning_list(tmp_path)
    before = warehouse_tables(migrated)
    code, out, err = envmon(capsys, "registry", "import", str(path), "--valid-from", "2026-01-01", "--json",
                            "--source", "南宁市2026—2030年水质目标责任书 附件1")
    assert code == 0, err
    diff = json.loads(out[0])
    assert len(out) == 1 and diff["file"] == "nanning.csv" and len(diff["file_sha256"]) == 64
    del diff["file_sha256"]

    def target(row, section_id, name, river, old, new):
        return {"row": row, "section_id": section_id, "name_zh": name, "water_body": river, "city": "南宁市",
                "old_class": old, "old_status": "assumed", "new_class": new, "new_status": "official",
                "class_changed": old != new}

    assert diff == {
        "file": "nanning.csv", "layout": "csv (gbk)", "valid_from": "2026-01-01",
        "source_document": "南宁市2026—2030年水质目标责任书 附件1", "cities": ["南宁市"],
        "new_sections": [{"row": 4, "section_id": official_list.new_section_id("叮当", "武鸣河", "南宁市"),
                          "name_zh": "叮当", "water_body": "武鸣河", "city": "南宁市", "target_class": "Ⅱ",
                          "attribute": "国控", "longitude": None, "latitude": None, "responsible_unit": "武鸣区人民政府",
                          "note": ""}],
        "no_longer_listed": [
            {"section_id": "dawangtan-reservoir", "name_zh": "大王滩水库", "water_body": "大王滩水库", "city": "南宁市"},
            {"section_id": "youjiang-yanjiang", "name_zh": "雁江", "water_body": "右江", "city": "南宁市"}],
        "targets_changed": [
            target(2, "yongjiang-laokou", "老口", "邕江", "Ⅱ", "Ⅱ"),
            target(3, "yongjiang-liujing", "六景", "邕江", "Ⅱ", "Ⅲ"),
            target(5, "yujiang-nanan", "南岸", "郁江", "Ⅱ", "Ⅱ"),
            target(6, "zuojiang-shangzhong", "上中", "左江", "Ⅱ", "Ⅱ"),
            target(7, "youjiang-baima", "白马", "右江", "Ⅱ", "Ⅱ")],
        # 108.83E 22.98N → 108.90E 22.95N: 7.2 km east, 3.3 km south, 7.9 km
        "coordinates_moved": [{"row": 3, "section_id": "yongjiang-liujing", "name_zh": "六景", "water_body": "邕江",
                               "city": "南宁市", "old_longitude": 108.83, "old_latitude": 22.98, "new_longitude": 108.9,
                               "new_latitude": 22.95, "distance_km": 7.9}],
        "unchanged": 0, "applied": None}
    assert_same_tables(before, warehouse_tables(migrated))


def test_a_row_is_matched_by_the_river_the_cnemc_feed_prints_and_not_by_its_name_alone(tmp_path):
    """高速公路西桥: the registry puts it on the 钦江, the feed's tooltip on the 大榄河; a bureau may write
    either. 高速公路桥 is another section (白沙河): the same name on an unknown river is a new section."""
    from pipelines.reference import registry

    path = write_csv(tmp_path / "qinzhou.csv", [["高速公路西桥", "大榄河", "钦州市", "国控", "Ⅲ", "", "", ""],
                                               ["高速公路桥", "钦江", "北海市", "国控", "Ⅲ", "", "", ""]])
    sections = registry.sections(date(2026, 1, 1)).reset_index(drop=True)
    listed = official_list.read_official_list(path)
    assert official_list.match_rows(listed.rows, sections.set_index("section_id", drop=False), path) == \
        {2: "qinjiang-gaosuxiqiao"}
    diff = official_list.compare(listed, sections, date(2026, 1, 1), "qinzhou.csv")
    assert [(e["name_zh"], e["water_body"], e["note"]) for e in diff.new_sections] == [
        ("高速公路桥", "钦江", "the registry's baisha-gaosugonglu 高速公路桥 is on 白沙河, not 钦江")]


# --- --apply: a new registry version, and the changed period reassessed -------------------------------

WATER_DAYS = (date(2025, 12, 30), date(2025, 12, 31), date(2026, 1, 1), date(2026, 1, 2))
YULIN_SECTIONS = ("jiuzhou-wenchequiao", "nanliu-hengtang", "xiujiang-ziliangdukou")
ELSEWHERE = "yongjiang-laokou"          # 南宁: no Yulin list may touch it


def _load_water_days(engine, settings):
    """Four simulated days of a few sections, two on each side of 2026-01-01, loaded and assessed as
    the nightly run does."""
    from datetime import datetime, timezone

    from pipelines import nightly
    from pipelines.observations import conform, with_partition_day
    from pipelines.quality.validation import validate
    from pipelines.sources import simulator
    from warehouse import db

    for day in WATER_DAYS:
        simulated = simulator.simulate_water(day, 7)
        simulated = simulated[simulated["station_id"].isin((*YULIN_SECTIONS, ELSEWHERE))]
        outcome = validate(conform(simulated), "water")
        good = with_partition_day(outcome.good)
        log = {"source": "simulated-water", "partition_day": day, "domain": "water", "batch_id": good["batch_id"][0],
               "rows_read": len(good), "rows_loaded": len(good), "rows_quarantined": len(outcome.quarantined),
               "suite_name": outcome.suite_name, "loaded_at": datetime.now(timezone.utc)}
        db.load_partition(engine, "simulated-water", day, good, outcome.quarantined.assign(partition_day=day), log)
        nightly.assess(day, settings)


def _assessments(engine):
    from warehouse import db

    frame = db.read_table(engine, "assessments")
    frame = frame[frame["domain"] == "surface_water"].copy()
    frame["period_start"] = frame["period_start"].astype(str)
    return frame.set_index(["station_id", "period", "period_start"]).sort_index()


def test_apply_writes_a_version_and_changes_the_verdicts_of_the_changed_period_only(migrated, tmp_path, capsys):
    """横塘 set to Ⅰ from 2026-01-01 by 玉林's list: its 2026 days (and January) are judged against Ⅰ, as
    official; its 2025 days keep Ⅲ (assumed); 老口 in 南宁 is not touched at all."""
    import pandas as pd

    from pipelines.config import load_settings
    from warehouse import db, registry_store

    settings = load_settings()
    _load_water_days(migrated, settings)
    before = _assessments(migrated)
    hengtang_2026 = [("nanliu-hengtang", "day", "2026-01-01"), ("nanliu-hengtang", "day", "2026-01-02")]
    assert (before.loc[hengtang_2026, "target_class"] == "Ⅲ").all()
    # simulated (seed 7): 2026-01-01 Ⅲ, compliant with Ⅲ; 2026-01-02 Ⅳ, not
    assert before.loc[hengtang_2026, ["water_class", "is_compliant"]].values.tolist() == [["Ⅲ", True], ["Ⅳ", False]]
    path = write_xlsx(tmp_path / "玉林.xlsx", [
        ["文车桥", "九洲江", "玉林市", "跨界", "Ⅲ类", 110.10, 21.96, ""],
        ["横塘", "南流江", "玉林市", "国控", "Ⅰ", "", "", ""],
        ["自良渡口", "北流河", "玉林市", "国控", "Ⅲ", "", "", ""],
        ["黄华江省界断面", "黄华江", "玉林市", "跨界", "Ⅲ", "", "", ""],
        ["罗江省界断面", "罗江", "玉林市", "跨界", "Ⅲ", "", "", ""]])
    code, out, err = envmon(capsys, "registry", "import", str(path), "--valid-from", "2026-01-01", "--apply",
                            "--source", "玉林市2026—2030年考核断面水质目标", "--by", "yulin-duty")
    assert code == 0, err
    assert "target changed: row 4: nanliu-hengtang 横塘 (南流江, 玉林市): Ⅲ (assumed) → Ⅰ (official)" in out

    history = registry_store.registry_history(migrated).iloc[0]
    assert (history["kind"], history["applied_by"], history["source_document"], str(history["valid_from"])) == \
        ("import", "yulin-duty", "玉林市2026—2030年考核断面水质目标", "2026-01-01")
    assert history["file_sha256"] == __import__("hashlib").sha256(path.read_bytes()).hexdigest()
    assert f"applied: registry version {history['version_id']} (import by yulin-duty, from " \
           "玉林市2026—2030年考核断面水质目标, valid from 2026-01-01)" in out
    in_force = registry_store.targets_in_force(migrated, date(2026, 1, 1)).set_index("section_id")
    assert (in_force.loc["nanliu-hengtang", "target_class"], in_force.loc["nanliu-hengtang", "status"]) == ("Ⅰ", "official")
    assert "玉林市2026—2030年考核断面水质目标" in in_force.loc["nanliu-hengtang", "basis"]
    old = registry_store.targets_in_force(migrated, date(2025, 12, 31)).set_index("section_id")
    assert (old.loc["nanliu-hengtang", "target_class"], old.loc["nanliu-hengtang", "status"]) == ("Ⅲ", "assumed")

    after = _assessments(migrated)
    assert after.index.equals(before.index)
    # 2025 untouched, every section: the December days and the December month row
    in_2025 = [key for key in before.index if key[2] < "2026-01-01"]
    pd.testing.assert_frame_equal(after.loc[in_2025], before.loc[in_2025])
    # another city's section untouched on every day
    pd.testing.assert_frame_equal(after.loc[[ELSEWHERE]], before.loc[[ELSEWHERE]])
    # 横塘's 2026 days judged against Ⅰ, as official: the verdicts change
    changed = after.loc[hengtang_2026]
    assert (changed["target_class"] == "Ⅰ").all() and (changed["target_status"] == "official").all()
    assert (changed["water_class"] == before.loc[hengtang_2026, "water_class"]).all()
    assert changed[["water_class", "is_compliant"]].values.tolist() == [["Ⅲ", False], ["Ⅳ", False]]
    # what was reported before is kept
    kept = db.read_table(migrated, "assessment_history")
    kept = kept[(kept["station_id"] == "nanliu-hengtang") & (kept["period"] == "day")]
    assert sorted(kept["period_start"].astype(str)) == ["2026-01-01", "2026-01-02"]
    assert set(kept["target_class"]) == {"Ⅲ"}
    # and what was reassessed is told, section by section, as the display module words it
    assert out[out.index("reassessed: nanliu-hengtang: 2 days, 1 month (2026-01-01 – 2026-01-02), 3 results changed")
               + 1:][:2] == ["  day 2026-01-01: Ⅲ against Ⅲ (assumed): compliant (assumed target) → Ⅲ against Ⅰ: failed",
                            "  day 2026-01-02: Ⅳ against Ⅲ (assumed): failed (assumed target) → Ⅳ against Ⅰ: failed"]
    assert any(line.startswith("reassessed: 2 days, ") for line in out)
    assert not [line for line in out if ELSEWHERE in line or "2025-12" in line]


def test_apply_adds_withdraws_and_moves_from_its_day_and_the_same_list_again_changes_nothing(migrated, tmp_path,
                                                                                              capsys):
    from pipelines.reference import registry
    from warehouse import registry_store

    path = yulin_list(tmp_path)
    code, out, err = envmon(capsys, "registry", "import", str(path), "--valid-from", "2026-01-01", "--apply", "--json")
    assert code == 0, err
    applied = json.loads(out[0])["applied"]
    assert applied["version_id"] == registry_store.current_version(migrated) == 2
    assert applied["reassessed"]["days_reassessed"] == 0          # nothing stored to reassess
    changshan = official_list.new_section_id("长山", "沙铲河", "玉林市")
    assert {p["section_id"] for p in applied["changed_periods"]} == {
        changshan, "huanghua-boundary", "jiuzhou-wenchequiao", "nanliu-hengtang", "xiujiang-ziliangdukou",
        "luojiang-boundary"}
    assert all(p["first_day"] == "2026-01-01" and p["last_day"] is None for p in applied["changed_periods"])

    december, january = registry.sections(date(2025, 12, 31)), registry.sections(date(2026, 1, 1))
    assert changshan not in december.index and "huanghua-boundary" in december.index
    assert "huanghua-boundary" not in january.index                  # no longer listed from the list's day
    joined = january.loc[changshan]
    assert (joined["name_zh"], joined["water_body"], joined["city"], joined["station_type"]) == ("长山", "沙铲河", "玉林市", "river")
    assert (joined["target_class"], joined["target_status"]) == ("Ⅲ", "official")
    assert (december.loc["xiujiang-ziliangdukou", "longitude"], january.loc["xiujiang-ziliangdukou", "longitude"]) == \
        (110.35, 110.40)
    assert (january.loc["nanliu-hengtang", "target_class"], january.loc["nanliu-hengtang", "target_status"]) == \
        ("Ⅱ", "official")
    assert (december.loc["nanliu-hengtang", "target_class"], december.loc["nanliu-hengtang", "target_status"]) == \
        ("Ⅲ", "assumed")

    before = warehouse_tables(migrated)
    code, out, err = envmon(capsys, "registry", "import", str(path), "--valid-from", "2026-01-01")
    assert code == 0, err
    assert out[1:] == ["0 new, 0 no longer listed, 0 targets changed, 0 coordinates moved, 5 unchanged",
                       "nothing applied: add --apply to write this as a new registry version"]
    assert_same_tables(before, warehouse_tables(migrated))
