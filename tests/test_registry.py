import csv

import pytest

from pipelines.reference import registry
from tests.conftest import real_data

REQUIRED_WATER_BODIES = {
    "邕江", "郁江", "左江", "右江", "九洲江", "南流江", "钦江", "北仑河", "绣江(北流河)", "黄华江", "罗江", "披劳河",
    "大风江", "茅岭江", "防城江", "武利江", "西门江", "白沙河", "南康江", "明江", "平而河",
    "鹤地水库", "大王滩水库", "洪潮江水库", "合浦水库", "旺盛江水库", "牛尾岭水库",
    "茅尾海", "钦州湾", "廉州湾", "防城港西湾", "防城港东湾", "铁山港",
}
CLASSES = {"Ⅰ", "Ⅱ", "Ⅲ", "Ⅳ", "Ⅴ", "一类", "二类", "三类", "四类"}


def test_every_water_body_of_the_plan_has_a_section_or_point():
    assert REQUIRED_WATER_BODIES <= set(registry.sections()["water_body"])


def test_every_section_has_type_coordinates_and_a_target_class_or_an_unset_target():
    sections = registry.sections()
    assert set(sections["station_type"]) == {"river", "lake-reservoir", "sea"}
    assert sections["longitude"].between(104, 112).all() and sections["latitude"].between(20.5, 24).all()
    targeted = sections[sections["target_status"] != "unset"]
    assert set(targeted["target_class"]) <= CLASSES
    # the two boundary sections without a name have no target either: unset, never a default Ⅲ (issue 23)
    unset = sections[sections["target_status"] == "unset"]
    assert set(unset.index) == {"huanghua-boundary", "luojiang-boundary"} and set(unset["target_class"]) == {""}
    assert (sections["target_basis"].str.len() > 0).all()
    assert (sections["coordinate_basis"].str.len() > 0).all()


def test_assumptions_are_recorded_where_a_basis_is_assumed():
    sections = registry.sections()
    assumed = sections[sections["target_basis"].str.contains("ASSUMED") | sections["name_basis"].str.contains("ASSUMED")]
    assert len(assumed) > 0
    assert (assumed["assumptions"].str.len() > 0).all()


@pytest.mark.parametrize("section_id, kind", [
    ("jiuzhou-wenchequiao", "provincial"), ("jiuzhou-shijiao", "provincial"), ("hedi-reservoir", "provincial"),
    ("huanghua-boundary", "provincial"), ("luojiang-boundary", "provincial"),
    ("nanliu-hengtang", "city"), ("beilun-bianmaomatou", "national"),
])
def test_cross_boundary_sections_name_their_jurisdictions_and_bureaus(section_id, kind):
    section = registry.sections().loc[section_id]
    assert section["is_cross_boundary"]
    assert section["boundary_kind"] == kind
    assert section["upstream_jurisdiction"] and section["downstream_jurisdiction"]
    recipients = registry.responsible_bureaus(section_id)
    assert len(recipients) >= 1 and all("@" in r.email for r in recipients)


def test_the_real_section_names_of_the_feed_are_used():
    names = set(registry.sections()["name_zh"])
    assert {"老口", "六景", "南岸", "横塘", "亚桥", "南域", "钦江东", "高塘", "鼠岭(文车桥)", "边贸码头", "狗尾濑",
            "平而关", "渠立", "棉江", "自良渡口"} <= names


def test_lakes_and_reservoirs_use_the_lake_limits():
    assert registry.water_body_type("hedi-reservoir") == "lake"
    assert registry.water_body_type("nanliu-hengtang") == "river"


@pytest.mark.real_data
def test_air_stations_are_the_26_codes_of_the_feed():
    path = real_data("cnemc-air/beibu6-stations-from-feed.csv")
    with open(path, encoding="utf-8") as handle:
        feed = {row["stationcode"]: row for row in csv.DictReader(handle)}
    stations = registry.air_stations()
    assert set(stations.index) == set(feed) and len(feed) == 26
    assert all(stations.loc[code, "name_zh"] == feed[code]["positionname"] for code in feed)


def test_registry_has_26_air_stations_in_the_six_cities():
    stations = registry.air_stations()
    assert len(stations) == 26
    assert set(stations["city"]) == {"南宁市", "北海市", "防城港市", "钦州市", "玉林市", "崇左市"}


def test_the_registry_files_pass_their_own_check():
    from pipelines.reference.registry_check import check_registry

    assert check_registry() == []


def test_the_check_names_each_problem_of_a_broken_registry(tmp_path):
    import shutil

    import pandas as pd

    from pipelines.reference.registry_check import check_registry

    for name in ("sections.csv", "air_stations.csv", "bureaus.csv", "section_targets.csv"):
        shutil.copy(registry.DATA_DIR / name, tmp_path / name)
    seed = pd.read_csv(tmp_path / "section_targets.csv", dtype=str, keep_default_na=False)
    seed.loc[seed["section_id"] == "youjiang-baima", "status"] = "official"  # an ASSUMED target passed off
    seed.to_csv(tmp_path / "section_targets.csv", index=False)
    sections = pd.read_csv(tmp_path / "sections.csv", dtype=str, keep_default_na=False)
    sections.loc[1, "section_id"] = sections.loc[0, "section_id"]                     # a repeated id
    laokou = sections.index[sections["section_id"] == "yongjiang-laokou"][0]
    sections.loc[laokou, ["longitude", "latitude"]] = ["22.86", "108.18"]              # swapped coordinates
    sections.loc[sections["section_id"] == "nanliu-yaqiao", "target_class"] = "Ⅵ"     # not a GB 3838 class
    crossing = sections["section_id"] == "jiuzhou-shijiao"
    sections.loc[crossing, "downstream_jurisdiction"] = ""
    sections.loc[crossing, "responsible_bureaus"] = "yulin;no-such-bureau"
    sections.loc[sections["section_id"] == "maowei-01", "target_class"] = "Ⅱ"         # a river class on a sea point
    sections.to_csv(tmp_path / "sections.csv", index=False)
    problems = [str(p) for p in check_registry(tmp_path)]
    assert "sections.csv: yongjiang-laokou: section_id appears more than once" in problems
    assert any(p.startswith("sections.csv: yongjiang-laokou: coordinates 22.86E 108.18N lie outside 广西壮族自治区")
               for p in problems)
    assert "sections.csv: nanliu-yaqiao: target class 'Ⅵ' is not a river class (Ⅰ/Ⅱ/Ⅲ/Ⅳ/Ⅴ)" in problems
    assert "sections.csv: jiuzhou-shijiao: cross-boundary, but no downstream_jurisdiction" in problems
    assert "sections.csv: jiuzhou-shijiao: cross-boundary, names unknown bureau 'no-such-bureau'" in problems
    assert "sections.csv: maowei-01: target class 'Ⅱ' is not a sea class (一类/三类/二类/四类)" in problems
    assert "section_targets.csv: youjiang-baima: official, where sections.csv says the target is ASSUMED" in problems
    assert "section_targets.csv: maowei-01: target class '一类' where sections.csv has 'Ⅱ'" in problems


def test_registry_check_command_exits_0_on_the_registry(capsys):
    from pipelines import cli

    assert cli.main(["registry", "check"]) == 0
    assert capsys.readouterr().out.strip().startswith("registry check: ok: 49 sections and points")
