"""Great Expectations' Data Docs page views with their compiled Jinja templates shared between
builds. GX makes a new Jinja environment, and so compiles every template again, for each page of
each site; the nightly run builds a site per source and day (a catch-up, hundreds). The cache is
keyed by template name and source checksum, so a changed template is compiled afresh."""
from __future__ import annotations

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


def site_config(docs_dir: str, expectations: bool = True) -> dict:
    """A Data Docs site in docs_dir whose pages render through the cached views; envmon profiles
    nothing, so the profiling section is left out. `expectations` False: the validation pages
    alone (a payload batch's site: the suites' own pages are the nightly's, and cost half the build)."""
    page_view = {"module_name": __name__, "class_name": "CachedJinjaPageView"}
    return {
        "class_name": "SiteBuilder",
        "store_backend": {"class_name": "TupleFilesystemStoreBackend", "base_directory": docs_dir},
        "site_index_builder": {"class_name": "DefaultSiteIndexBuilder",
                               "view": {"module_name": __name__, "class_name": "CachedJinjaIndexPageView"}},
        "site_section_builders": {"expectations": {"view": page_view} if expectations else "None",
                                  "validations": {"view": page_view}, "profiling": "None"},
    }
