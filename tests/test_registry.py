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


def test_every_section_has_type_coordinates_and_a_target_class():
    sections = registry.sections()
    assert set(sections["station_type"]) == {"river", "lake-reservoir", "sea"}
    assert sections["longitude"].between(104, 112).all() and sections["latitude"].between(20.5, 24).all()
    assert set(sections["target_class"]) <= CLASSES
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
