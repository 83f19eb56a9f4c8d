"""Parse and validate a sources file (TOML or YAML) into typed source configs.

Pure: text in, a ``SourcesConfig`` out; reading the file is the caller's job (flows/).

A sources file names outlets, each with its feeds, sitemaps and fixed URLs, plus per-source
options that override the file's ``[defaults]``::

    [defaults]
    respect_robots = true
    per_host_delay_s = 1.0

    [[sources]]
    name = "BBC World"
    feeds = ["https://feeds.bbci.co.uk/news/world/rss.xml"]
    sitemaps = ["https://www.bbc.co.uk/sitemaps/https-index-com-news.xml"]
    include = ["/news/world"]          # regexes a page URL must match (any of them)
    [sources.options]
    max_pages = 200

The YAML form has the same keys (``defaults:`` and a ``sources:`` list).
"""

from __future__ import annotations

import re
import tomllib
from typing import Any, Literal
from urllib.parse import urlsplit

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator


class SourcesError(ValueError):
    """The sources file is not valid; the message lists every problem, one per line."""


class SourceOptions(BaseModel):
    """Per-source fetch options; None means "use the run's setting"."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    enabled: bool = True
    respect_robots: bool | None = None
    per_host_delay_s: float | None = Field(default=None, ge=0, le=3600)
    per_host_concurrency: int | None = Field(default=None, ge=1, le=64)
    max_pages: int | None = Field(default=None, ge=0)
    max_sitemap_depth: int | None = Field(default=None, ge=0, le=10)

    def merged_over(self, defaults: SourceOptions) -> SourceOptions:
        """Return these options with unset fields taken from ``defaults``."""
        mine = self.model_dump(exclude_unset=True)
        return defaults.model_copy(update=mine)


def _check_http_url(value: str) -> str:
    value = value.strip()
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"not an http(s) URL: {value!r}")
    return value


class SourceConfig(BaseModel):
    """One outlet: where to discover its pages and how to fetch them."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(min_length=1, max_length=200)
    feeds: tuple[str, ...] = ()
    sitemaps: tuple[str, ...] = ()
    urls: tuple[str, ...] = ()
    include: tuple[str, ...] = ()
    exclude: tuple[str, ...] = ()
    options: SourceOptions = SourceOptions()

    @field_validator("feeds", "sitemaps", "urls", mode="before")
    @classmethod
    def _one_or_many(cls, value: Any) -> Any:
        return [value] if isinstance(value, str) else value

    @field_validator("feeds", "sitemaps", "urls")
    @classmethod
    def _http_only(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        return tuple(dict.fromkeys(_check_http_url(v) for v in value))

    @field_validator("include", "exclude", mode="before")
    @classmethod
    def _patterns(cls, value: Any) -> Any:
        value = [value] if isinstance(value, str) else value
        for pattern in value or ():
            try:
                re.compile(pattern)
            except re.error as exc:
                raise ValueError(f"bad regex {pattern!r}: {exc}") from None
        return value

    @model_validator(mode="after")
    def _has_something(self) -> SourceConfig:
        if not (self.feeds or self.sitemaps or self.urls):
            raise ValueError("a source needs at least one of feeds, sitemaps, urls")
        return self

    def wants(self, url: str) -> bool:
        """True when ``url`` passes this source's include/exclude patterns."""
        if self.include and not any(re.search(p, url) for p in self.include):
            return False
        return not any(re.search(p, url) for p in self.exclude)


class SourcesConfig(BaseModel):
    """A whole sources file: defaults plus the outlets, with options already merged."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    defaults: SourceOptions = SourceOptions()
    sources: tuple[SourceConfig, ...] = ()

    @model_validator(mode="after")
    def _unique_names(self) -> SourcesConfig:
        seen: set[str] = set()
        for source in self.sources:
            key = source.name.casefold()
            if key in seen:
                raise ValueError(f"duplicate source name {source.name!r}")
            seen.add(key)
        return self

    def enabled(self) -> list[SourceConfig]:
        """Return the enabled sources, each with the file's defaults merged into its options."""
        out = []
        for source in self.sources:
            options = source.options.merged_over(self.defaults)
            if options.enabled:
                out.append(source.model_copy(update={"options": options}))
        return out


def _load(text: str, fmt: Literal["toml", "yaml"]) -> Any:
    if fmt == "toml":
        try:
            return tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            raise SourcesError(f"TOML: {exc}") from None
    try:
        # safe_load: no Python object tags; YAML anchors cannot build anything but plain data.
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise SourcesError(f"YAML: {exc}") from None


def format_for(filename: str) -> Literal["toml", "yaml"]:
    """Return the sources format implied by a file name (``.toml``, ``.yaml``, ``.yml``)."""
    lower = filename.lower()
    if lower.endswith(".toml"):
        return "toml"
    if lower.endswith((".yaml", ".yml")):
        return "yaml"
    raise SourcesError(f"{filename}: sources file must end in .toml, .yaml or .yml")


def parse_sources(text: str, fmt: Literal["toml", "yaml"]) -> SourcesConfig:
    """Parse sources text; raise SourcesError listing every problem (``sources.1.feeds.0: ...``)."""
    data = _load(text, fmt)
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise SourcesError("top level must be a table/mapping with a 'sources' list")
    try:
        return SourcesConfig.model_validate(data)
    except ValidationError as exc:
        lines = []
        for error in exc.errors():
            where = ".".join(str(p) for p in error["loc"]) or "(top)"
            lines.append(f"{where}: {error['msg']}")
        raise SourcesError("\n".join(lines)) from None
