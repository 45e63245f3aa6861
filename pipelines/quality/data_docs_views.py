"""Great Expectations' Data Docs page views with their compiled Jinja templates shared between
builds. GX makes a new Jinja environment, and so compiles every template again, for each page of
each site; the nightly run builds a site per source and day (a catch-up, hundreds). The cache is
keyed by template name and source checksum, so a changed template is compiled afresh."""
from __future__ import annotations

from pathlib import Path

from great_expectations.render.renderer.site_builder import SiteBuilder
from great_expectations.render.view import DefaultJinjaIndexPageView, DefaultJinjaPageView
from jinja2 import BytecodeCache
from jinja2.bccache import Bucket


class InMemoryBytecodeCache(BytecodeCache):
    def __init__(self) -> None:
        self.compiled: dict[str, bytes] = {}

    def load_bytecode(self, bucket: Bucket) -> None:
        if bucket.key in self.compiled:
            bucket.bytecode_from_string(self.compiled[bucket.key])

    def dump_bytecode(self, bucket: Bucket) -> None:
        self.compiled[bucket.key] = bucket.bytecode_to_string()


COMPILED_TEMPLATES = InMemoryBytecodeCache()


class CachedJinjaPageView(DefaultJinjaPageView):
    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.env.bytecode_cache = COMPILED_TEMPLATES


class CachedJinjaIndexPageView(DefaultJinjaIndexPageView):
    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.env.bytecode_cache = COMPILED_TEMPLATES


class SharedAssetsSiteBuilder(SiteBuilder):
    """A site whose static/ already links the shared copy (pipelines/quality/data_docs.py): GX's 7 MB
    of fonts, styles and scripts are not copied again for each payload batch's site."""

    def build(self, resource_identifiers=None, build_index: bool = True):
        base = Path(self.target_store._config["store_backend"]["base_directory"])
        if not (base / "static").is_symlink():
            return super().build(resource_identifiers=resource_identifiers, build_index=build_index)
        for section_builder in self.site_section_builders.values():
            section_builder.build(resource_identifiers=resource_identifiers)
        _, index_links = self.site_index_builder.build(build_index=build_index)
        return self.get_resource_url(only_if_exists=False), index_links


def site_config(docs_dir: str, shared_assets: bool = False) -> dict:
    """A Data Docs site in docs_dir whose pages render through the cached views; envmon profiles
    nothing, so the profiling section is left out. `shared_assets`: a payload batch's site, whose
    static/ links the shared copy before it is built (SharedAssetsSiteBuilder)."""
    page_view = {"module_name": __name__, "class_name": "CachedJinjaPageView"}
    builder = {"module_name": __name__, "class_name": "SharedAssetsSiteBuilder"} if shared_assets else \
        {"class_name": "SiteBuilder"}
    return {
        **builder,
        "store_backend": {"class_name": "TupleFilesystemStoreBackend", "base_directory": docs_dir},
        "site_index_builder": {"class_name": "DefaultSiteIndexBuilder",
                               "view": {"module_name": __name__, "class_name": "CachedJinjaIndexPageView"}},
        "site_section_builders": {"expectations": {"view": page_view}, "validations": {"view": page_view},
                                  "profiling": "None"},
    }
