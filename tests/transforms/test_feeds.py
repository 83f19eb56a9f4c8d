"""transforms/feeds.py: feeds of every format, sitemaps, XML bombs, URL canonicalisation, decoding."""

from __future__ import annotations

import gzip
import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from transforms.feeds import (
    DecompressedTooLargeError,
    MalformedFeedError,
    MalformedSitemapError,
    XmlBombError,
    canonicalize_url,
    check_xml_safe,
    maybe_gunzip,
    parse_feed,
    parse_sitemap,
    parse_url_list,
)
from transforms.pages import decode_page, looks_like_html

RSS20 = b"""<?xml version="1.0" encoding="UTF-8"?>
<rss version="2.0"><channel><title>World</title><link>https://news.example.com/</link>
<item><title>Talks resume</title><link>https://news.example.com/world/talks?utm_source=rss&amp;id=7</link>
<guid isPermaLink="false">a1</guid><pubDate>Tue, 05 Mar 2024 10:00:00 +0100</pubDate></item>
<item><title>Relative</title><link>/world/relative.html</link></item>
<item><title>Duplicate</title><link>https://news.example.com/world/talks?id=7#comments</link></item>
</channel></rss>"""

RSS091 = b"""<?xml version="1.0"?>
<!DOCTYPE rss PUBLIC "-//Netscape Communications//DTD RSS 0.91//EN" "http://my.netscape.com/publish/formats/rss-0.91.dtd">
<rss version="0.91"><channel><title>Old</title><link>http://old.example.com/</link><description>d</description>
<item><title>One</title><link>http://old.example.com/1.html</link></item></channel></rss>"""

RSS10 = b"""<?xml version="1.0"?>
<rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#" xmlns="http://purl.org/rss/1.0/"
 xmlns:dc="http://purl.org/dc/elements/1.1/">
<channel rdf:about="http://rdf.example.com/"><title>RDF</title><link>http://rdf.example.com/</link>
<description>d</description><items><rdf:Seq><rdf:li resource="http://rdf.example.com/a"/></rdf:Seq></items></channel>
<item rdf:about="http://rdf.example.com/a"><title>A</title><link>http://rdf.example.com/a</link>
<dc:date>2024-03-05T09:30:00Z</dc:date></item></rdf:RDF>"""

ATOM = b"""<?xml version="1.0" encoding="utf-8"?>
<feed xmlns="http://www.w3.org/2005/Atom"><title>Atom</title><id>urn:x</id><updated>2024-03-05T00:00:00Z</updated>
<entry><title>Alt</title><id>urn:1</id><updated>2024-03-04T12:00:00Z</updated>
<link rel="self" href="https://atom.example.com/self/1"/><link rel="alternate" href="https://atom.example.com/a/1"/></entry>
<entry><title>Self only</title><id>urn:2</id><updated>2024-03-04T12:00:00Z</updated>
<link rel="self" href="https://atom.example.com/self/2"/></entry>
</feed>"""

JSON_FEED = json.dumps({
    "version": "https://jsonfeed.org/version/1.1",
    "title": "JSON",
    "home_page_url": "https://json.example.com/",
    "items": [
        {"id": "1", "url": "https://json.example.com/posts/1", "title": "First",
         "date_published": "2024-03-05T08:00:00-05:00"},
        {"id": "2", "external_url": "https://elsewhere.example.org/story"},
        {"id": "3", "url": "posts/3"},
        "not an item",
    ],
}).encode()

BILLION_LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol1 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
<!ENTITY lol2 "&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;">]>
<rss version="2.0"><channel><title>&lol2;</title><item><link>http://x.example.com/</link></item></channel></rss>"""

XXE = b"""<?xml version="1.0"?><!DOCTYPE r [<!ENTITY x SYSTEM "file:///etc/passwd">]>
<rss version="2.0"><channel><title>&x;</title></channel></rss>"""


def test_rss20_entries_are_canonical_unique_and_dated():
    feed = parse_feed(RSS20, base_url="https://news.example.com/feeds/world.xml")
    assert feed.format == "rss20"
    assert feed.title == "World"
    urls = feed.entries["url"].to_list()
    # tracking parameter and fragment dropped; the third item is the first one again
    assert urls == ["https://news.example.com/world/talks?id=7", "https://news.example.com/world/relative.html"]
    published = feed.entries["published_at"][0]
    assert published.isoformat() == "2024-03-05T09:00:00+00:00"


def test_rss091_with_public_doctype_is_allowed():
    feed = parse_feed(RSS091)
    assert feed.format == "rss091n"
    assert feed.entries["url"].to_list() == ["http://old.example.com/1.html"]


def test_rss10_rdf():
    feed = parse_feed(RSS10)
    assert feed.format == "rss10"
    assert feed.entries["url"].to_list() == ["http://rdf.example.com/a"]
    assert feed.entries["published_at"][0].hour == 9


def test_atom_prefers_alternate_link_and_skips_self_only_entries():
    feed = parse_feed(ATOM)
    assert feed.format == "atom10"
    assert feed.entries["url"].to_list() == ["https://atom.example.com/a/1"]


def test_json_feed():
    feed = parse_feed(JSON_FEED, base_url="https://json.example.com/feed.json")
    assert feed.format == "json11"
    assert feed.entries["url"].to_list() == [
        "https://json.example.com/posts/1", "https://elsewhere.example.org/story", "https://json.example.com/posts/3",
    ]
    assert feed.entries["published_at"][0].isoformat() == "2024-03-05T13:00:00+00:00"


def test_json_without_version_and_deep_nesting_are_malformed():
    with pytest.raises(MalformedFeedError):
        parse_feed(b'{"items": []}')
    deep = b'{"version": "https://jsonfeed.org/version/1", "items": [], "x": ' + b"[" * 100 + b"]" * 100 + b"}"
    with pytest.raises(MalformedFeedError):
        parse_feed(deep)


@pytest.mark.parametrize("bomb", [BILLION_LAUGHS, XXE])
def test_entity_declarations_are_refused(bomb):
    with pytest.raises(XmlBombError) as info:
        parse_feed(bomb)
    assert info.value.reason == "xml_bomb"


def test_entity_declaration_in_malformed_xml_is_refused():
    broken = BILLION_LAUGHS.replace(b"</channel>", b"")  # not well-formed any more
    with pytest.raises(XmlBombError):
        check_xml_safe(broken)


def test_html_is_not_a_feed():
    with pytest.raises(MalformedFeedError):
        parse_feed(b"<html><body><p>hello</p></body></html>")


def test_malformed_rss_is_still_read_loosely():
    # Undefined HTML entity: not well-formed XML, but feedparser's loose parser reads it.
    feed = parse_feed(b'<rss version="2.0"><channel><title>A&nbsp;B</title>'
                      b"<item><link>https://l.example.com/1</link></item></channel></rss>")
    assert feed.entries["url"].to_list() == ["https://l.example.com/1"]


URLSET = b"""<?xml version="1.0" encoding="UTF-8"?>
<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9"
        xmlns:news="http://www.google.com/schemas/sitemap-news/0.9">
<url><loc>https://s.example.com/a</loc><lastmod>2024-03-05</lastmod></url>
<url><loc> https://s.example.com/b?utm_campaign=x </loc>
  <news:news><news:publication><news:name>S</news:name><news:language>en</news:language></news:publication>
  <news:publication_date>2024-03-05T10:00:00+02:00</news:publication_date><news:title>B title</news:title></news:news></url>
<url><loc>mailto:someone@example.com</loc></url>
</urlset>"""

INDEX = b"""<?xml version="1.0" encoding="UTF-8"?>
<sitemapindex xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">
<sitemap><loc>https://s.example.com/sm-1.xml</loc></sitemap><sitemap><loc>/sm-2.xml.gz</loc></sitemap>
</sitemapindex>"""


def test_news_sitemap():
    sitemap = parse_sitemap(URLSET)
    assert sitemap.kind == "urlset"
    assert sitemap.urls["url"].to_list() == ["https://s.example.com/a", "https://s.example.com/b"]
    row = sitemap.urls.row(1, named=True)
    assert row["news_title"] == "B title"
    assert row["news_published_at"].isoformat() == "2024-03-05T08:00:00+00:00"
    assert sitemap.urls["lastmod"][0].isoformat() == "2024-03-05T00:00:00+00:00"


def test_sitemap_index_resolves_children():
    sitemap = parse_sitemap(INDEX, base_url="https://s.example.com/sitemap.xml")
    assert sitemap.kind == "sitemapindex"
    assert sitemap.sitemaps == ["https://s.example.com/sm-1.xml", "https://s.example.com/sm-2.xml.gz"]
    assert sitemap.urls.height == 0


def test_gzipped_and_text_sitemaps():
    assert parse_sitemap(gzip.compress(URLSET)).urls.height == 2
    text = parse_sitemap(b"# comment\nhttps://t.example.com/1\n\nhttps://t.example.com/2\n")
    assert text.kind == "text"
    assert text.urls["url"].to_list() == ["https://t.example.com/1", "https://t.example.com/2"]


def test_gzip_bomb_stops_at_cap():
    bomb = gzip.compress(b"\0" * 2_000_000)
    assert len(bomb) < 10_000
    with pytest.raises(DecompressedTooLargeError):
        maybe_gunzip(bomb, max_bytes=1_000_000)


def test_sitemap_errors():
    with pytest.raises(XmlBombError):
        parse_sitemap(BILLION_LAUGHS)
    with pytest.raises(MalformedSitemapError):
        parse_sitemap(b"<html><body>no</body></html>")
    # broken XML with <loc> elements is still read
    broken = parse_sitemap(b"<urlset><url><loc>https://b.example.com/1</loc></url><url><loc>https://b.example.com/2</loc>")
    assert broken.urls["url"].to_list() == ["https://b.example.com/1", "https://b.example.com/2"]


@pytest.mark.parametrize(
    ("raw", "base", "expected"),
    [
        ("HTTP://News.Example.COM:80/a/./b/../c?b=2&a=1&utm_medium=rss#top", None, "http://news.example.com/a/c?a=1&b=2"),
        ("https://example.com", None, "https://example.com/"),
        ("//cdn.example.com/x", "https://example.com/feed", "https://cdn.example.com/x"),
        ("8003098", "http://127.0.0.1:8000/feeds/a.xml", "http://127.0.0.1:8000/feeds/8003098"),
        ("http://localhost:8080/p", None, "http://localhost:8080/p"),
        ("ftp://example.com/file", None, None),
        ("javascript:alert(1)", None, None),
        ("http://user:pw@example.com/", None, None),
        ("   ", None, None),
    ],
)
def test_canonicalize_url(raw, base, expected):
    assert canonicalize_url(raw, base) == expected


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet=st.characters(min_codepoint=33, max_codepoint=126), max_size=40))
def test_canonicalize_is_idempotent(path):
    once = canonicalize_url("https://example.com/" + path)
    if once is not None:
        assert canonicalize_url(once) == once


def test_url_list_skips_blanks_and_comments():
    assert parse_url_list("# list\nhttps://a.example.com/1\n\n  https://a.example.com/2  \n") == [
        "https://a.example.com/1", "https://a.example.com/2",
    ]


def test_decode_page_charsets():
    text = "Außenminister trifft Amtskollegen – Gespräche über Zölle"
    cp1252 = f'<html><head><meta charset="windows-1252"></head><body>{text}</body></html>'.encode("cp1252")
    assert text in decode_page(cp1252)[0]
    latin = f"<html><body>{text[:20]}</body></html>".encode("latin-1")
    decoded, codec = decode_page(latin, "text/html; charset=ISO-8859-1")
    assert text[:20] in decoded and codec == "cp1252"
    undeclared = f"<html><body>{text}</body></html>".encode("cp1252")  # no charset anywhere
    decoded, codec = decode_page(undeclared)
    assert codec == "cp1252" and "Außenminister" in decoded
    assert decode_page("<p>é</p>".encode("utf-8"), "text/html; charset=bogus-charset")[0] == "<p>é</p>"


def test_looks_like_html():
    assert looks_like_html("text/html; charset=utf-8")
    assert looks_like_html(None, b"  <!DOCTYPE html><html>")
    assert not looks_like_html("application/pdf", b"<html>")
    assert not looks_like_html("text/plain", b"just text")
