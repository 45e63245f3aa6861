"""bench/security_table.py (the README's "Security, by the numbers", issue 24): every test a row of
bench/security_attacks.csv names exists, and a row reads as refused only when all of its tests
passed: a failed, erroring, skipped or missing test is printed as not refused."""
from __future__ import annotations

import ast
from pathlib import Path

from bench import security_table as table

ROOT = Path(__file__).resolve().parents[1]


def test_every_test_a_row_names_exists():
    rows = table.read_rows()
    attacks = {row["attack"] for row in rows}
    # the list of attacks, each a row
    assert {"Brute force of one user's password", "User enumeration", "A login without its CSRF token",
            "A forged acknowledgement from another site", "Framing the app (clickjacking)",
            "A city user's crafted requests for other cities", "An idle session reused",
            "A disabled user's session reused", "An unauthenticated request to Airflow's API",
            "Plain HTTP to the proxy", "A service reached around the proxy"} <= attacks
    for row in rows:
        assert row["how_tried"] and row["outcome"] and row["tests"], row
        for test in row["tests"]:
            path, _, name = test.partition("::")
            assert (ROOT / path).is_file(), test
            if name:
                defined = {node.name for node in ast.walk(ast.parse((ROOT / path).read_text(encoding="utf-8")))
                           if isinstance(node, ast.FunctionDef)}
                assert name in defined, f"{test} (bench/security_attacks.csv) is not a test of {path}"


JUNIT = """<?xml version="1.0" encoding="utf-8"?>
<testsuites><testsuite name="pytest">
<testcase classname="tests.test_proxy" name="test_plain_http_is_redirected_to_https[GET]" time="1.5"/>
<testcase classname="tests.test_proxy" name="test_plain_http_is_redirected_to_https[POST]" time="1.0">{post}</testcase>
<testcase classname="tests.test_proxy" name="test_plain_http_to_the_airflow_port_is_redirected_to_https" time="0.5"/>
<testcase classname="tests.test_compose" name="test_only_the_proxy_is_published_and_only_tls_is_served" time="0.2">{compose}</testcase>
</testsuite></testsuites>"""


def rows_of(lines: list[str]) -> dict[str, str]:
    """The printed table as {attack: result}."""
    return {cells[1].strip(): cells[-2].strip() for cells in (line.split("|") for line in lines[2:])}


def test_a_row_is_refused_only_when_every_one_of_its_tests_passed(tmp_path):
    rows = [r for r in table.read_rows() if r["attack"] in ("Plain HTTP to the proxy", "A service reached around the proxy",
                                                            "User enumeration")]
    cases = {
        "passed": ("", ""),
        "one parameter failed": ('<failure message="308 != 200"/>', ""),
        "skipped": ("", '<skipped message="no nginx"/>'),
    }
    results = {}
    for case, (post, compose) in cases.items():
        junit = tmp_path / f"{case}.xml"
        junit.write_text(JUNIT.format(post=post, compose=compose), encoding="utf-8")
        lines, refused = table.table(rows, table.read_junit(junit))
        results[case] = (rows_of(lines), refused)
    passed, refused = results["passed"]
    assert refused == 2
    assert passed["Plain HTTP to the proxy"] == "redirected to https (308; the method kept); nothing served " \
                                               "(3 test runs passed, 3 s)"
    # a test not in the results (not run) is never read as refused
    assert passed["User enumeration"].startswith("**NOT shown refused**: `test_a_wrong_name_is_answered_as")
    assert passed["User enumeration"].endswith("` not run")
    failed, refused = results["one parameter failed"]
    assert refused == 1 and failed["Plain HTTP to the proxy"] == \
        "**NOT shown refused**: `test_plain_http_is_redirected_to_https` failed"
    skipped, refused = results["skipped"]
    assert refused == 1 and skipped["A service reached around the proxy"] == \
        "**NOT shown refused**: `test_only_the_proxy_is_published_and_only_tls_is_served` skipped"
