"""`make audit` (deploy/audit.py, issue 24): pip-audit over requirements.lock never passes silently.
pip-audit itself says "No known vulnerabilities found" when the service answered for no package,
and ends in a traceback when the service cannot be reached; deploy/audit.py must fail both (exit 2,
"audit NOT made"), report vulnerabilities (exit 1) and pass only a full audit (exit 0). pip-audit
is replaced by a stand-in that answers as the real one does in each case (its JSON report, its
stderr), so no network is needed; the real program is checked for its pinned version."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
AUDIT = ROOT / "deploy" / "audit.py"
LOCK = ROOT / "requirements.lock"
SKIP = "Dependency not found on PyPI and could not be audited: {name} ({version})"


def locked() -> list[tuple[str, str]]:
    return [tuple(line.split("==")) for line in LOCK.read_text(encoding="utf-8").split() if "==" in line]


def stand_in(tmp_path: Path, report: dict | None, stderr: str = "") -> Path:
    """A pip-audit that writes `report` to its --output (none: it crashes as on a refused connection)."""
    program = tmp_path / "pip-audit"
    program.write_text(f"""#!{sys.executable}
import json, sys
args = sys.argv[1:]
assert args[args.index("-r") + 1] == {str(LOCK)!r} and "--no-deps" in args and "--disable-pip" in args, args
sys.stderr.write({stderr!r})
report = {json.dumps(report)!r}
if report == "null":
    sys.exit(1)
open(args[args.index("--output") + 1], "w").write(report)
print("No known vulnerabilities found", file=sys.stderr)
""", encoding="utf-8")
    program.chmod(0o755)
    return program


def audit(program: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(AUDIT), "--pip-audit", str(program)], capture_output=True,
                          text=True, timeout=60)


def test_a_service_that_answers_for_no_package_is_no_pass(tmp_path):
    """As here, where pypi.org's JSON API answers 404 for every package: pip-audit exits 0."""
    report = {"dependencies": [{"name": n, "skip_reason": SKIP.format(name=n, version=v)} for n, v in locked()]}
    result = audit(stand_in(tmp_path, report))
    assert result.returncode == 2, result
    assert f"audit NOT made: PyPI's advisory database (pypi.org JSON API) answered for none of the " \
           f"{len(locked())} packages of requirements.lock" in result.stderr


def test_a_service_that_cannot_be_reached_is_no_pass(tmp_path):
    crash = ("Traceback (most recent call last):\n  ...\nrequests.exceptions.ConnectionError: "
             "HTTPSConnectionPool(host='pypi.org', port=443): Max retries exceeded\n")
    result = audit(stand_in(tmp_path, None, crash))
    assert result.returncode == 2
    assert result.stderr.startswith("audit NOT made: PyPI's advisory database (pypi.org JSON API) did not answer "
                                    "(requests.exceptions.ConnectionError: HTTPSConnectionPool(host='pypi.org'")


def test_vulnerabilities_are_named_with_their_fix_and_fail(tmp_path):
    packages = locked()
    report = {"dependencies": [{"name": n, "version": v, "vulns": []} for n, v in packages]}
    flask = next(d for d in report["dependencies"] if d["name"] == "Flask")
    flask["vulns"] = [{"id": "PYSEC-0000-1", "aliases": ["CVE-0000-0001"], "fix_versions": ["9.9.9"],
                       "description": "x"}]
    report["dependencies"][0] = {"name": packages[0][0], "skip_reason": SKIP.format(name=packages[0][0],
                                                                                    version=packages[0][1])}
    result = audit(stand_in(tmp_path, report))
    assert result.returncode == 1
    lines = result.stderr.splitlines()
    assert lines[0] == f"1 known vulnerabilities in 1 of {len(packages) - 1} packages (PyPI's advisory database " \
                       f"(pypi.org JSON API)):"
    assert lines[1] == f"  Flask {flask['version']}: PYSEC-0000-1 (CVE-0000-0001); fixed in 9.9.9"
    assert lines[2] == f"audit incomplete: 1 packages could not be looked up: {packages[0][0]}"


@pytest.mark.parametrize("skipped", [0, 1])
def test_only_a_full_clean_audit_passes(tmp_path, skipped):
    packages = locked()
    report = {"dependencies": [{"name": n, "version": v, "vulns": []} for n, v in packages]}
    for dependency in report["dependencies"][:skipped]:
        dependency["skip_reason"] = SKIP.format(name=dependency["name"], version=dependency["version"])
    result = audit(stand_in(tmp_path, report))
    if skipped:
        assert result.returncode == 2 and "audit incomplete: 1 packages could not be looked up" in result.stderr
    else:
        assert result.returncode == 0, result.stderr
        assert result.stdout.strip() == f"no known vulnerabilities in the {len(packages)} packages looked up " \
                                        "(PyPI's advisory database (pypi.org JSON API))"


def test_the_pinned_pip_audit_is_installed():
    program = Path(sys.executable).with_name("pip-audit")
    version = subprocess.run([str(program), "--version"], capture_output=True, text=True, check=True).stdout
    pinned = next(v for n, v in locked() if n.lower() == "pip-audit")
    assert version.split() == ["pip-audit", pinned]
