"""envmon's classes and AQI against what the CNEMC feeds published in the real samples."""
import pytest

from pipelines.quality import published
from tests.conftest import real_data

pytestmark = pytest.mark.real_data


@pytest.mark.parametrize("name", ["publish-ashx-2020-05-08.json", "publish-ashx-2021-04-05.json"])
def test_every_published_water_class_is_reproduced_from_the_raw_values(name):
    agreement = published.water_agreement(real_data(f"cnemc-water/{name}").read_text(encoding="utf-8"))
    # Registry sections: with their own water-body type, every row.
    assert agreement.registry_rows > 0 and agreement.registry_agree == agreement.registry_rows
    # Rows outside the registry (type unknown to envmon): reproduced with one of the two types.
    assert agreement.any_type_agree_raw == agreement.rows and agreement.disagreements == []


def test_displayed_values_lose_rows_that_the_raw_values_keep():
    agreement = published.water_agreement(real_data("cnemc-water/publish-ashx-2020-05-08.json").read_text(encoding="utf-8"))
    assert agreement.any_type_agree_displayed == agreement.rows - 3


def test_published_hourly_aqi_agreement_on_the_beibu_sample():
    agreement = published.air_agreement(real_data("cnemc-air/beibu6-hourly-2026-03-01-to-03-28.csv").read_text(encoding="utf-8"))
    assert agreement.hours == 16093
    assert agreement.aqi_agree / agreement.hours == pytest.approx(0.701, abs=0.001)   # 11,283 hours
    assert agreement.primary_agree / agreement.aqi_agree > 0.998
    # every unreproduced hour is published higher than the concentrations give: reported, not fitted
    unreproduced = agreement.unreproduced
    assert (unreproduced["published_aqi"] > unreproduced["envmon_aqi"]).all()


def test_a_quoted_list_names_several_primary_pollutants():
    assert published.published_primary("颗粒物(PM10),细颗粒物(PM2.5)") == {"pm10", "pm2_5"}
    assert published.published_primary("") == set()
