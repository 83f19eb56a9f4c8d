"""Metadata clues: headline, date header, dateline and wire, publisher, language."""

from datetime import date

from transforms.metadata import (
    detect_dateline,
    detect_language,
    detect_publisher,
    detect_wire,
    find_headline,
    parse_date_header,
    publisher_from_site,
)

LEAD = "Officials from both countries met on Monday to discuss the trade agreement in detail."


def test_date_header():
    assert parse_date_header(" date 2021-12-12 " + LEAD) == date(2021, 12, 12)
    assert parse_date_header(LEAD) is None
    assert parse_date_header(" date 2021-13-45 x") is None  # not a date: NULL, not a guess


def test_headline_after_icon_run_and_category():
    text = "ArrowArtboardCreated with Sketch.Title ChevronIcon FacebookIcon Mail\nWorld\nTalks end without a deal\n\n" + LEAD
    assert find_headline(text) == "Talks end without a deal"


def test_no_headline_when_text_starts_with_a_paragraph():
    assert find_headline(" date 2021-12-12 " + LEAD + "\n\nMore text follows here.") is None
    assert find_headline("GENEVA, Switzerland – " + LEAD) is None


def test_dateline_and_wire():
    text = "Headline here\n\nTOKYO (Reuters) -- " + LEAD
    assert detect_dateline(text) == ("TOKYO", "Reuters")
    assert detect_wire(text) == "Reuters"
    assert detect_dateline("LIVERPOOL, England – " + LEAD) == ("LIVERPOOL, England", None)
    assert detect_wire("WASHINGTON (AP) — " + LEAD) == "AP"
    assert detect_wire(LEAD + "\n\n(Reporting by Jane Doe; Editing by John Roe)") == "Reuters"
    assert detect_wire(LEAD) is None


def test_photo_credit_is_not_a_wire_or_publisher():
    text = "The ministers talk in Liverpool on Dec. 11. © Reuters\n\n" + LEAD
    assert detect_wire(text) is None
    assert detect_publisher(text) is None


def test_publisher_from_footer_promo_and_signup():
    assert detect_publisher(LEAD + "\nCopyright © 2014-2025 ACME - Acme Research Institute") == "ACME"
    assert detect_publisher(LEAD + "\nWeekly Globe, now known as Daily Globe, will be the voice of Asia.") == "Daily Globe"
    assert detect_publisher(LEAD + "\nSubscribe to Acme News\nEnter your email address:") == "Acme"
    assert detect_publisher(LEAD + "\nThe copyright on the photos belongs to the agency.") is None


def test_rename_in_prose_is_no_publisher_clue():
    # a country, a city or a company renamed in running text shares no word with its new name
    assert detect_publisher(LEAD + "\nCeylon, now known as Sri Lanka, held a vote.") is None
    assert detect_publisher(LEAD + "\nBombay, now known as Mumbai, hosted the talks.") is None


def test_publisher_from_site_ignores_bare_hostnames():
    assert publisher_from_site("Example Post", "example.org") == "Example Post"
    assert publisher_from_site("example.org", "example.org") is None
    assert publisher_from_site(None, "example.org") is None


def test_language_whole_text_offline():
    # name-heavy English that a truncated sample misreads (DESIGN.md); the lite model ships in the wheel
    text = "Yoshimasa Hayashi and Antony Blinken, Fumio Kishida, Liz Truss, Marise Payne. " + LEAD * 3
    assert detect_language(text) == "en"
    assert detect_language("Der Außenminister traf sich am Samstag mit seinem Amtskollegen in Genf.") == "de"
    assert detect_language("") is None
    assert detect_language("12 34") is None


def test_language_reads_a_bounded_sample():
    from transforms.metadata import LANGUAGE_SAMPLE_CHARS, language_sample

    english = (LEAD + " ") * 40
    german = "Der Außenminister traf sich am Samstag mit seinem Amtskollegen in Genf. " * 200
    sample = language_sample(english + german)
    assert len(sample) <= LANGUAGE_SAMPLE_CHARS and "Außenminister" not in sample
    assert detect_language(english + german) == "en"  # the article's start decides
    assert language_sample("a  b\n\nc") == "a b c"
