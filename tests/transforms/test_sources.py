"""transforms/sources.py: sources files in TOML and YAML, options merged, every error named."""

from __future__ import annotations

import pytest

from transforms.sources import SourcesError, format_for, parse_sources

TOML = """
[defaults]
per_host_delay_s = 2.0
respect_robots = true

[[sources]]
name = "Example World"
feeds = ["https://news.example.com/world/rss.xml", "https://news.example.com/world/rss.xml"]
sitemaps = "https://news.example.com/sitemap-news.xml"
include = ["/world/"]
exclude = ["/video/"]
[sources.options]
max_pages = 50
respect_robots = false

[[sources]]
name = "Paused"
urls = ["https://paused.example.com/a"]
[sources.options]
enabled = false
"""

YAML = """
defaults:
  per_host_concurrency: 1
sources:
  - name: Wire
    feeds: https://wire.example.org/feed.json
    options: {per_host_delay_s: 0.5}
"""


def test_toml_sources_merge_defaults_and_drop_disabled():
    config = parse_sources(TOML, "toml")
    assert [s.name for s in config.sources] == ["Example World", "Paused"]
    enabled = config.enabled()
    assert [s.name for s in enabled] == ["Example World"]
    world = enabled[0]
    assert world.feeds == ("https://news.example.com/world/rss.xml",)  # de-duplicated
    assert world.sitemaps == ("https://news.example.com/sitemap-news.xml",)
    assert world.options.max_pages == 50
    assert world.options.respect_robots is False  # the source overrides the default
    assert world.options.per_host_delay_s == 2.0  # from defaults
    assert world.wants("https://news.example.com/world/a.html")
    assert not world.wants("https://news.example.com/world/video/a.html")
    assert not world.wants("https://news.example.com/sport/a.html")


def test_yaml_sources():
    (wire,) = parse_sources(YAML, "yaml").enabled()
    assert wire.feeds == ("https://wire.example.org/feed.json",)
    assert wire.options.per_host_delay_s == 0.5
    assert wire.options.per_host_concurrency == 1


def test_every_problem_is_listed():
    bad = """
[[sources]]
name = "A"
feeds = ["ftp://a.example.com/rss"]
[[sources]]
name = "B"
[[sources]]
name = "C"
urls = ["https://c.example.com/"]
colour = "red"
[[sources]]
name = "a"
urls = ["https://a.example.com/"]
"""
    with pytest.raises(SourcesError) as info:
        parse_sources(bad, "toml")
    message = str(info.value)
    assert "sources.0.feeds" in message and "not an http(s) URL" in message
    assert "sources.1" in message and "at least one of feeds" in message
    assert "sources.2.colour" in message


def test_duplicate_names_bad_regex_and_syntax_errors():
    with pytest.raises(SourcesError, match="duplicate source name"):
        parse_sources('[[sources]]\nname="A"\nurls=["https://a.example.com/"]\n'
                      '[[sources]]\nname="a"\nurls=["https://b.example.com/"]\n', "toml")
    with pytest.raises(SourcesError, match="bad regex"):
        parse_sources('[[sources]]\nname="A"\nurls=["https://a.example.com/"]\ninclude=["("]\n', "toml")
    with pytest.raises(SourcesError, match="TOML"):
        parse_sources("[[sources]\n", "toml")
    with pytest.raises(SourcesError, match="YAML"):
        parse_sources("sources: [unclosed", "yaml")
    with pytest.raises(SourcesError, match="top level"):
        parse_sources("- just a list", "yaml")


def test_yaml_python_tags_are_refused():
    with pytest.raises(SourcesError):
        parse_sources("sources: !!python/object/apply:os.system ['true']", "yaml")


def test_format_for():
    assert format_for("outlets.TOML") == "toml"
    assert format_for("outlets.yml") == "yaml"
    with pytest.raises(SourcesError):
        format_for("outlets.json")
