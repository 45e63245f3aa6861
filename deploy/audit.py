"""`make audit`: the locked requirements (requirements.lock) against a vulnerability database, with
pip-audit (pinned in pyproject.toml's test extra). Run it weekly and before each release (README
"Dependencies").

pip-audit reports "No known vulnerabilities found" even when the service answered for none of the
packages (it skips each one it cannot look up), and a service it cannot reach ends it with a
traceback. This says which it was, in one line, and exits:
  0  every locked package was looked up, and none has a known vulnerability;
  1  known vulnerabilities: package, version, advisory (and its CVE), the versions that fix it;
  2  the audit is incomplete: the service did not answer, or answered for only some packages
     (they are named) — not a pass.

    python deploy/audit.py [--service pypi|osv] [--requirements requirements.lock]
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SERVICES = {"pypi": "PyPI's advisory database (pypi.org JSON API)", "osv": "OSV (api.osv.dev)"}


def run_pip_audit(pip_audit: str, requirements: Path, service: str, timeout: int) -> tuple[dict | None, str]:
    """pip-audit's JSON report (None when it wrote none) and its stderr."""
    with tempfile.TemporaryDirectory() as folder:
        report = Path(folder) / "audit.json"
        # the lock pins every package: no resolution (--no-deps needs --disable-pip)
        result = subprocess.run([pip_audit, "-r", str(requirements), "--no-deps", "--disable-pip",
                                 "--vulnerability-service", service, "--timeout", str(timeout),
                                 "--progress-spinner", "off", "--format", "json", "--output", str(report)],
                                capture_output=True, text=True)
        try:
            return json.loads(report.read_text(encoding="utf-8")), result.stderr
        except (OSError, ValueError):
            return None, result.stderr


def last_error(stderr: str) -> str:
    lines = [line.strip() for line in stderr.splitlines() if line.strip() and not line.startswith("WARNING")]
    return lines[-1][:300] if lines else "no output"


def verdict(report: dict | None, stderr: str, service: str, requirements: Path) -> tuple[int, list[str]]:
    """(exit status, lines to print) for pip-audit's report."""
    where = SERVICES.get(service, service)
    if report is None:
        return 2, [f"audit NOT made: {where} did not answer ({last_error(stderr)})"]
    dependencies = report.get("dependencies", [])
    skipped = [d for d in dependencies if d.get("skip_reason")]
    audited = [d for d in dependencies if not d.get("skip_reason")]
    if not audited:
        reason = skipped[0]["skip_reason"] if skipped else "no packages read"
        return 2, [f"audit NOT made: {where} answered for none of the {len(dependencies)} packages of "
                   f"{requirements.name} (e.g. {reason})"]
    lines, status = [], 0
    vulnerable = [(d, v) for d in audited for v in d.get("vulns", [])]
    if vulnerable:
        status = 1
        lines.append(f"{len(vulnerable)} known vulnerabilities in {len({d['name'] for d, _ in vulnerable})} of "
                     f"{len(audited)} packages ({where}):")
        for dependency, vulnerability in vulnerable:
            aliases = ", ".join(vulnerability.get("aliases") or [])
            fixed = ", ".join(vulnerability.get("fix_versions") or []) or "no fixed version yet"
            lines.append(f"  {dependency['name']} {dependency['version']}: {vulnerability['id']}"
                         + (f" ({aliases})" if aliases else "") + f"; fixed in {fixed}")
    else:
        lines.append(f"no known vulnerabilities in the {len(audited)} packages looked up ({where})")
    if skipped:  # known vulnerabilities say more than the gap (1); without any, the gap is no pass (2)
        lines.append(f"audit incomplete: {len(skipped)} packages could not be looked up: "
                     + ", ".join(d["name"] for d in skipped))
        status = status or 2
    return status, lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requirements", type=Path, default=ROOT / "requirements.lock")
    parser.add_argument("--service", choices=sorted(SERVICES), default="pypi")
    parser.add_argument("--timeout", type=int, default=30, help="seconds per request to the service")
    parser.add_argument("--pip-audit", default=str(Path(sys.executable).with_name("pip-audit")),
                        help="the pip-audit program (default: the one beside this Python)")
    args = parser.parse_args(argv)
    if not Path(args.pip_audit).exists():
        print(f"audit NOT made: {args.pip_audit} is missing (make installs the test extra, which pins pip-audit)",
              file=sys.stderr)
        return 2
    report, stderr = run_pip_audit(args.pip_audit, args.requirements, args.service, args.timeout)
    status, lines = verdict(report, stderr, args.service, args.requirements)
    print("\n".join(lines), file=sys.stdout if status == 0 else sys.stderr)
    return status


if __name__ == "__main__":
    sys.exit(main())
