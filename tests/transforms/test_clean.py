"""The text cleaner and the boilerplate stage: general rules, content kept, Hypothesis invariants."""

from collections import Counter
import re

import polars as pl
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from transforms.clean import (
    classify_line,
    clean_text,
    learn_repeated_lines,
    line_key,
    normalize_text,
    strip_boilerplate,
)

STORY = (
    "Officials from both countries met on Monday to discuss the trade agreement in detail.\n\n"
    "The talks ended without a deal, but negotiators said they would meet again next month."
)


_INVISIBLE = re.compile("[\u200b\u200c\u200d\u2060\ufeff\u00ad]")


def _words(text: str) -> Counter:
    # invisible format characters (soft hyphen, zero-width space) sit inside words, not between them
    return Counter(re.findall(r"\w+", _INVISIBLE.sub("", text)))


def test_strips_general_boilerplate_lines_not_seed_strings():
    text = STORY + (
        "\n\nShare this article\nFacebook Twitter Email\nSign up for our daily newsletter\n"
        "Copyright © 2019 Example Media Group. All rights reserved.\nRelated Stories\nBack to top"
    )
    out = clean_text(text)
    assert out == STORY


def test_keeps_story_sentences_mentioning_news_and_copyright():
    text = (
        "The news agency said the copyright dispute would go to court next year, officials said.\n\n"
        "Lawyers for the publisher argued that the news archive was protected by copyright law."
    )
    assert clean_text(text) == text


def test_keeps_reported_speech_with_marketing_words():
    line = "“We urge you to sign up for the vaccine now,” the health minister told reporters on Friday."
    assert classify_line(line) is None
    assert clean_text(line) == line


def test_footer_zone_takes_weak_lines_between_strong_ones_only():
    text = STORY + (
        "\n\nRelated Articles\nLeave a comment\nAcme Institute is a research institute focusing on security.\n"
        "Subscribe to Acme News\nEnter your email address:"
    )
    assert clean_text(text) == STORY
    # a self-description that is the story's last paragraph (no strong line above it) stays
    last = "Hamas is a militant group that has governed the Gaza Strip since 2007."
    assert clean_text(STORY + "\n\n" + last).endswith(last)


def test_sponsored_tail_and_app_promo_are_cut():
    text = STORY + (
        "\n\nSponsored Content\nAbout Sponsored Content This content was commissioned by a partner.\n"
        "Discover the all new Example Daily app\n  • Read anywhere with offline reading\n"
        "  • Never miss a story with alerts\nExample Weekly, now known as Example Daily, will be the voice of a region.\n"
        "Find out more"
    )
    assert clean_text(text) == STORY


def test_social_embed_residue_and_image_credits():
    text = (
        "Glad to meet the minister today. pic.twitter.com/AbC123xyz — Jane Doe (@janedoe) May 3, 2021\n\n"
        + STORY
        + "\n\nImage: Twitter/@janedoe\nPhoto by John Smith/Getty Images"
    )
    out = clean_text(text)
    assert out.startswith("Glad to meet the minister today.\n\n")
    assert "pic.twitter" not in out and "@janedoe" not in out and "Getty" not in out


def test_caption_credit_removed_but_caption_kept():
    out = clean_text("The two ministers talk in Liverpool on Dec. 11.   © Reuters\n\n" + STORY)
    assert out.startswith("The two ministers talk in Liverpool on Dec. 11.\n\n")


def test_headline_repeats_and_category_lines_removed():
    title = "Ministers agree to meet again on trade"
    text = f"World News\n{title}\n{title}\nWorld, Trade 3 Comments on {title}\n" + STORY
    assert clean_text(text, title=title) == STORY


def test_punctuation_and_blank_line_artefacts_normalised():
    text = "The deal was signed by Trump. .\n\n\n\nIt covers the Taiwan Strait. , according to officials ."
    assert normalize_text(text) == "The deal was signed by Trump.\nIt covers the Taiwan Strait, according to officials."
    assert clean_text(text) == "The deal was signed by Trump.\n\nIt covers the Taiwan Strait, according to officials."


def test_date_header_removed():
    assert clean_text(" date 2021-12-12 " + STORY) == STORY


def test_learned_lines_need_many_articles_of_one_group():
    promo = "Get our morning briefing in your inbox every weekday"
    shared = "Both sides agreed to hold further talks at an early date."
    texts = [f"Story number {i} about the summit.\n{promo}" for i in range(6)]
    texts += ["Wire version one.\n" + shared, "Wire version two.\n" + shared]
    docs = pl.DataFrame({"group": ["site"] * 8, "text": texts})
    learned = set(learn_repeated_lines(docs)["line_key"].to_list())
    assert line_key(promo) in learned
    assert line_key(shared) not in learned  # two versions of a wire story share paragraphs
    out = strip_boilerplate(texts[0], learned=frozenset(learned))
    assert out == "Story number 0 about the summit."


def test_learned_lines_are_per_group():
    line = "A line that repeats across the folder"
    docs = pl.DataFrame({"group": ["a", "a", "b", "b", "c", "c"], "text": [line] * 6})
    assert learn_repeated_lines(docs).height == 0


# ---------------------------------------------------------------------------- Hypothesis
_FRAGMENTS = st.sampled_from(
    [
        "The minister said the talks were useful.",
        "Share this article",
        "Sign up for our newsletter",
        "Copyright © 2020 Example Media. All rights reserved.",
        "Related Articles",
        "Read more",
        "pic.twitter.com/x1y2 — A B (@ab) May 1, 2020",
        "Image: Twitter/@someone",
        " date 2021-12-12 ",
        "Advertisement",
        "No Comments on The title",
        "The title",
        " . ",
        " , ",
        "\n",
        "\n\n\n",
        "  • ",
        "© Reuters",
        "Example Weekly is a magazine about world affairs.",
        "Back to Top",
    ]
)
_TEXT = st.lists(st.one_of(_FRAGMENTS, st.text(max_size=40)), max_size=25).map("".join)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(text=_TEXT, title=st.one_of(st.none(), st.just("The title")))
def test_cleaner_never_adds_text(text, title):
    out = clean_text(text, title=title)
    breaks = len(re.findall(r"\r\n|\r|\n", text))
    assert len(out) <= len(text) + breaks + 1  # only joins paragraphs with a blank line
    assert not (_words(out) - _words(text)), "every output word comes from the input"
    in_lines = [" ".join(_INVISIBLE.sub("", line).split()) for line in text.split("\n")]
    for line in out.split("\n\n"):
        assert any(set(re.findall(r"\w+", line)) <= set(re.findall(r"\w+", src)) for src in in_lines)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(text=_TEXT, title=st.one_of(st.none(), st.just("The title")))
def test_cleaner_is_idempotent(text, title):
    once = clean_text(text, title=title)
    assert clean_text(once, title=title) == once


# ---------------------------------------------------------------------------- rules added for unseen sites
# Each new rule: a boilerplate line it drops, and a real-content counterexample it keeps.
STORY_LINES = STORY.split("\n\n")


def _body(*lines: str, title: str | None = None) -> str:
    return clean_text("\n".join(lines), title=title)


def test_number_only_lines_dropped_but_numbers_with_meaning_kept():
    for junk in ("1.", "- 2", "29", "3 / 12"):
        assert classify_line(junk) == "number_only"
    for kept in ("+81 158-23-2012", "07.13", "200,"):
        assert classify_line(kept) is None


def test_domain_only_line_dropped_but_sentence_naming_a_site_kept():
    assert classify_line("BVINEWS.COM") == "domain_only"
    assert classify_line("Example.com said the deal closed on Friday.") is None


def test_teaser_link_dropped_but_sentence_about_reading_kept():
    assert classify_line("Weak factory reports suggest more central bank action Full Article") == "teaser_link"
    assert classify_line("Officials urged residents to read the full report.") is None
    assert classify_line("“People should read more,” she said.") is None


def test_wire_signoff_dropped_but_dateline_kept():
    assert classify_line("The-CNN-Wire") == "wire_signoff"
    assert classify_line("— AFP") == "wire_signoff"
    assert classify_line("TOKYO (Reuters) -- Japan and the U.S. agreed on Saturday to deepen ties.") is None


def test_blog_entry_footer_dropped_but_court_filing_kept():
    footer = (
        "This entry was posted\n"
        "on Tuesday, September 3rd, 2013 at 12:53 pm and is filed under Startups, Technology.\n"
        "You can follow any responses to this entry through the RSS 2.0 feed.\n"
        "You can leave a response, or trackback from your own site."
    )
    assert clean_text(STORY + "\n" + footer) == STORY
    assert classify_line("The lawsuit is filed under seal in a federal court in Virginia.") is None


def test_date_stamp_dropped_only_at_the_top():
    assert _body("28 December 2014", *STORY_LINES) == STORY
    assert _body("- 12:03 pm |", *STORY_LINES) == STORY
    meetings = ["Board meetings this year:", "Monday, November 25, 2013 at 3:00 PM",
                "Tuesday, April 22, 2014 at 1:00 PM"]
    out = _body(*STORY_LINES, *meetings)
    assert out.endswith("Tuesday, April 22, 2014 at 1:00 PM")  # a list of dates further down is content
    assert "Monday, November 25, 2013 at 3:00 PM" in out


def test_privacy_policy_link_dropped_but_news_about_a_privacy_policy_kept():
    assert classify_line("By using this site you agree to our Privacy Policy and Terms of Use.") == "copyright_legal"
    assert classify_line("Privacy Policy") is not None
    assert classify_line("The company changed its privacy policy in March to allow data sharing.") is None


def test_related_head_with_colon_takes_its_links():
    text = STORY + "\nRELATED:\n- The Game-Changing Oil for Dry Hair\n- Five Hair Dryers That Stand Up To The Test"
    assert clean_text(text) == STORY


def test_trailing_headline_list_dropped_but_bulleted_facts_kept():
    links = ["- The Gift of a Bright Business Idea", "- Your Year-End Business Checklist",
             "- Different Ways to Fund a Small Business or Startup"]
    assert _body(*STORY_LINES, *links) == STORY
    facts = ["- Seven bodies from 162 on board found so far", "- Plane thought to be upside down in sea"]
    assert _body(*STORY_LINES, *facts).endswith("Plane thought to be upside down in sea")
    one = _body(*STORY_LINES, links[0])
    assert one.endswith("The Gift of a Bright Business Idea")  # a single bulleted line is not a list


def test_button_and_keyword_lines_are_menus():
    assert classify_line("Take Quiz") == "vocab"
    assert classify_line("add your rating") == "vocab"
    text = STORY + "\n- Keywords\n- style and advice,\n- fashion,\n- style"
    assert clean_text(text) == STORY
    assert classify_line("Take the quiz results seriously, researchers warned.") is None


def test_error_page_help_lines():
    assert classify_line("- Use your browser's back button to return to the page that brought you here.") == "navigation"
    assert classify_line("- Enter a search term below.") == "navigation"


def test_hints_never_change_a_verdict():
    """The literal `hints` of a rule only skip lines its regex cannot match (speed, not meaning)."""
    import dataclasses
    from pathlib import Path

    from transforms import clean

    seeds = Path(__file__).resolve().parents[2] / "seeds"
    lines = {line for f in seeds.glob("*.txt") for line in normalize_text(f.read_text(encoding="utf-8")).split("\n")}
    lines |= {
        "Copyright © 2019 Example Media Group. All rights reserved.", "Sign up for our daily newsletter",
        "Glad to meet the minister today. pic.twitter.com/AbC123xyz — Jane Doe (@janedoe) May 3, 2021",
        "The two ministers talk in Liverpool on Dec. 11. (AP Photo/Jane Doe)", "Download the Example app for iOS",
        "3 Comments on Talks end", "Posted in World | 3 Comments", "ſubscribe to our newsletter now",
    }
    rules = clean.load_rules()

    def verdicts(r):
        out = []
        for line in sorted(lines):
            core = clean._core(line)
            folded, n = core.casefold(), clean._n_words(core)
            out.append([rule.applies(core, folded, n) for rule in r.line + r.head + r.footer])
        return out

    plain = lambda rs: tuple(dataclasses.replace(x, hints=()) for x in rs)  # noqa: E731
    no_hints = dataclasses.replace(rules, line=plain(rules.line), head=plain(rules.head), footer=plain(rules.footer))
    with_hints = verdicts(rules)
    assert any(any(v) for v in with_hints)
    assert with_hints == verdicts(no_hints)
