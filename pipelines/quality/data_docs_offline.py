"""Great Expectations' Data Docs that render offline. GX's pages load Bootstrap, jQuery, popper,
bootstrap-table, bootstrap-datepicker, Font Awesome, bootstrap-dark and Vega/Vega-Lite/Vega-Embed
from CDNs and GX's logo from its web bucket; a bureau's network may reach none of them. The same
files, of the versions GX references, are vendored from the npm registry in
pipelines/quality/vendor/ (manifest.json: each package's version, tarball sha256, licence and
files with their sha256, stored without a `build/` folder, which the project's .gitignore ignores;
VENDOR.md says where each came from). After each build, `make_offline`
copies them into the site's static/vendor/ and rewrites every page to load them by a relative
path, so the docs open from disk as well as through the dashboard app's /data-docs/."""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import shutil
import tarfile
from functools import cache
from pathlib import Path

VENDOR = Path(__file__).with_name("vendor")
MANIFEST = VENDOR / "manifest.json"
SITE_VENDOR = Path("static") / "vendor"   # in a Data Docs site, beside GX's own static/images
GX_WEB_ASSETS = re.compile(r"https://great-expectations-web-assets\.s3\.us-east-2\.amazonaws\.com/"
                           r"([\w.-]+)(\?d=[^\"')\s]*)?")
# GX's web-bucket images → the site's own copies (GX ships static/images with every site); its dark
# logo has no local copy: the light one stands in
GX_IMAGES = {"logo-long.png": "logo-long.png", "full_logo_dark.png": "logo-long.png"}
TAG = re.compile(r"<(?:script|link|img)\b[^>]*>", re.IGNORECASE)
SITE_STATIC = re.compile(r"\b(src|href)=\"(?:\./|\.\./)*static/([^\"]+)\"")
SRI = re.compile(r"\s+(?:integrity|crossorigin)=\"[^\"]*\"")


@cache
def manifest() -> dict:
    return json.loads(MANIFEST.read_text(encoding="utf-8"))


def cdn_map() -> dict[str, str]:
    """CDN address in GX's templates → the vendored file (relative to vendor/)."""
    return manifest()["cdn"]


def install(site: Path) -> Path:
    """The vendored files in the site's static/vendor/ (skipped when that copy is already current)."""
    target = Path(site) / SITE_VENDOR
    stamp = target / "manifest.json"
    if stamp.exists() and stamp.read_bytes() == MANIFEST.read_bytes():
        return target
    shutil.copytree(VENDOR, target, dirs_exist_ok=True,
                    ignore=shutil.ignore_patterns("__pycache__", "*.py"))
    return target


def rewrite_page(page: Path, site: Path) -> None:
    """Every CDN and web-bucket address of the page → a path relative to the page."""
    text = page.read_text(encoding="utf-8")
    base = page.parent

    def relative(path: Path) -> str:
        return Path(os.path.relpath(path, base)).as_posix()

    for url, local in cdn_map().items():
        text = text.replace(f'"{url}"', f'"{relative(Path(site) / SITE_VENDOR / local)}"')

    def image(match: re.Match) -> str:
        name = GX_IMAGES.get(match.group(1))
        return match.group(0) if name is None else relative(Path(site) / "static" / "images" / name)

    text = GX_WEB_ASSETS.sub(image, text)
    # GX counts the folders up to the site's static/ itself, one short for a validation page's
    # favicon: every static/ reference is made relative to the page again
    text = SITE_STATIC.sub(lambda m: f'{m.group(1)}="{relative(Path(site) / "static" / m.group(2))}"', text)
    # subresource integrity and CORS mode were for the CDN's copies; a page opened from disk
    # (file://) would refuse a crossorigin script
    text = TAG.sub(lambda m: m.group(0) if "://" in m.group(0) else SRI.sub("", m.group(0)), text)
    page.write_text(text, encoding="utf-8")


def make_offline(site: Path) -> None:
    """Vendor the assets into the site and rewrite its pages (GX rebuilds every page each build)."""
    site = Path(site)
    install(site)
    for folder, _, files in os.walk(site):  # not into static/ when it links a shared copy
        for name in files:
            if name.endswith(".html"):
                rewrite_page(Path(folder) / name, site)


# --- refreshing the vendored copies (a maintainer's step, not the runtime's) --------------------

def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def refresh(tarballs: Path) -> None:
    """Re-extract the vendored files from `npm pack` tarballs of the manifest's packages, checking
    each tarball's sha256 first: `npm pack bootstrap@4.3.1 …` (VENDOR.md lists the command)."""
    for package in manifest()["packages"]:
        archive = tarballs / package["tarball"]
        data = archive.read_bytes()
        if _sha256(data) != package["tarball_sha256"]:
            raise ValueError(f"{archive}: sha256 differs from the manifest's")
        with tarfile.open(archive) as tar:
            for path, stored in package["files"].items():
                content = tar.extractfile(f"package/{path}").read()
                if _sha256(content) != stored["sha256"]:
                    raise ValueError(f"{package['name']}@{package['version']} {path}: sha256 differs")
                out = VENDOR / package["folder"] / stored["stored"]
                out.parent.mkdir(parents=True, exist_ok=True)
                out.write_bytes(content)


def main() -> None:
    parser = argparse.ArgumentParser(description=refresh.__doc__)
    parser.add_argument("tarballs", type=Path, help="folder holding the npm pack tarballs")
    refresh(parser.parse_args().tarballs)


if __name__ == "__main__":
    main()
