"""Hand-written story fixtures for the dedup and story tests (texts written for fpwatch).

Six events, each reported by different outlets; pairs of events share a topic (two
earthquakes, two summits) so topic words alone cannot separate them.
"""

from __future__ import annotations

import datetime as dt

D = dt.date(2021, 6, 14)

# (article_id, gold event, publisher, day offset, title, body)
ARTICLES = [
    ("quake-a1", "quake_izmir", "Wire One", 0, "Strong earthquake hits Izmir, buildings collapse",
     "A magnitude 7.0 earthquake struck the Aegean Sea on Friday, toppling apartment blocks in the "
     "Turkish city of Izmir. Rescuers in Bayrakli pulled survivors from the rubble. Turkey's disaster "
     "agency AFAD said 24 people were killed and more than 800 injured. The Greek island of Samos "
     "was also shaken and a small tsunami flooded streets in Seferihisar."),
    ("quake-a2", "quake_izmir", "Daily Courier", 0, "Izmir quake: rescuers search rubble in Bayrakli",
     "Search teams worked through the night in Izmir after the 7.0 magnitude quake. AFAD put the "
     "death toll at 24. Interior Minister Suleyman Soylu visited collapsed buildings in Bayrakli. "
     "On Samos, Greek authorities reported damage to old houses and two teenagers killed by a "
     "falling wall. President Erdogan spoke with Greek Prime Minister Mitsotakis by phone."),
    ("quake-a3", "quake_izmir", "Global Times Online", 1, "Turkey and Greece pledge help after Aegean earthquake",
     "Turkey and Greece set aside their maritime dispute after the Aegean earthquake that killed "
     "dozens in Izmir and on Samos. Mitsotakis called Erdogan to offer condolences and help. AFAD "
     "said the magnitude 7.0 tremor was followed by hundreds of aftershocks near Seferihisar."),
    ("quake-b1", "quake_haiti", "Wire One", 0, "Powerful earthquake kills hundreds in Haiti",
     "A magnitude 7.2 earthquake struck southwestern Haiti on Saturday, killing at least 300 people "
     "and flattening homes in Les Cayes and Jeremie. Prime Minister Ariel Henry declared a month-long "
     "state of emergency. The quake came weeks after the assassination of President Jovenel Moise, "
     "and Tropical Storm Grace was forecast to hit the Tiburon peninsula."),
    ("quake-b2", "quake_haiti", "Caribbean Post", 1, "Haiti quake toll rises as Grace approaches",
     "Hospitals in Les Cayes overflowed with injured after the 7.2 magnitude earthquake. Ariel Henry "
     "said aid would reach Jeremie despite gang-controlled roads out of Port-au-Prince. The civil "
     "protection agency raised the toll to 1,297 dead as Tropical Storm Grace brought heavy rain."),
    ("quake-b3", "quake_haiti", "Daily Courier", 1, "USAID sends rescue team to Haiti",
     "USAID deployed an urban search and rescue team to Haiti after the magnitude 7.2 earthquake on "
     "the Tiburon peninsula. Henry thanked the United States and the Dominican Republic. Officials "
     "in Les Cayes said 1,297 people died and more than 5,700 were injured."),
    ("summit-a1", "summit_g20_rome", "Wire One", 1, "G20 leaders in Rome back global minimum tax",
     "Leaders of the Group of 20 meeting in Rome endorsed a global minimum corporate tax of 15 per "
     "cent. Italian Prime Minister Mario Draghi hosted the two-day summit at the La Nuvola convention "
     "centre. Climate finance and vaccines for poorer countries were also on the agenda before the "
     "COP26 talks in Glasgow."),
    ("summit-a2", "summit_g20_rome", "Euro Ledger", 1, "Draghi closes Rome G20 with climate pledge",
     "Mario Draghi said the G20 summit in Rome had kept the 1.5 degree goal alive. The leaders agreed "
     "to stop financing coal power abroad and endorsed the 15 per cent minimum tax on multinationals. "
     "Xi Jinping and Vladimir Putin joined by video link from Beijing and Moscow."),
    ("summit-a3", "summit_g20_rome", "Daily Courier", 2, "Biden meets Erdogan on G20 sidelines in Rome",
     "On the sidelines of the Rome G20 summit, President Joe Biden met Turkish President Recep Tayyip "
     "Erdogan at La Nuvola. Draghi, the host, said the group had agreed the global minimum tax and "
     "would meet again in Glasgow for COP26."),
    ("summit-b1", "summit_nato_brussels", "Wire One", 0, "NATO summit in Brussels names China a challenge",
     "NATO leaders meeting in Brussels said China's behaviour presents systemic challenges to the "
     "alliance. Secretary General Jens Stoltenberg said the summit agreed the NATO 2030 agenda and "
     "a new cyber defence policy. It was Joe Biden's first NATO summit as president."),
    ("summit-b2", "summit_nato_brussels", "Euro Ledger", 0, "Stoltenberg: NATO 2030 agenda approved",
     "Jens Stoltenberg told reporters at NATO headquarters in Brussels that allies approved the NATO "
     "2030 agenda, including a review of the Strategic Concept for the Madrid summit. The communique "
     "named China's military build-up and Russia's actions as threats."),
    ("summit-b3", "summit_nato_brussels", "Caribbean Post", 1, "Biden reassures allies at Brussels NATO summit",
     "At NATO headquarters in Brussels, Joe Biden said Article 5 was a sacred obligation. Allies "
     "backed the NATO 2030 agenda presented by Stoltenberg and agreed that a cyber attack could "
     "trigger collective defence."),
    ("sanction-1", "belarus_sanctions", "Euro Ledger", 0, "EU bans Belarus airlines after Ryanair diversion",
     "European Union foreign ministers agreed sanctions on Belarus after a Ryanair flight from Athens "
     "to Vilnius was forced to land in Minsk and dissident journalist Roman Protasevich was arrested. "
     "Belavia is banned from EU airspace and airports."),
    ("sanction-2", "belarus_sanctions", "Wire One", 1, "Lukashenko defiant as EU sanctions bite",
     "Alexander Lukashenko dismissed the EU sanctions imposed over the diversion of the Ryanair plane "
     "to Minsk. The measures target Belavia, potash exports and officials linked to the arrest of "
     "Roman Protasevich, the dissident journalist."),
    ("trade-1", "uk_australia_fta", "Global Times Online", 0, "UK and Australia agree free trade deal",
     "Britain and Australia agreed the outline of a free trade agreement that will remove tariffs on "
     "Australian beef and lamb over 15 years. Boris Johnson and Scott Morrison sealed the deal over "
     "dinner in Downing Street, the first trade deal negotiated from scratch since Brexit."),
]


def gold_by_id() -> dict[str, str]:
    """Gold event of every fixture article."""
    return {a[0]: a[1] for a in ARTICLES}


def load_seeds() -> list[tuple[str, str, dt.date | None]]:
    """The five bundled seed articles: (file stem prefix, body without the date header, date)."""
    import re
    from pathlib import Path

    out = []
    for path in sorted((Path(__file__).resolve().parents[2] / "seeds").glob("*.txt")):
        text = path.read_text(encoding="utf-8")
        m = re.match(r"\s*date (\d{4}-\d\d-\d\d)[ \t]*", text)
        day = dt.date.fromisoformat(m.group(1)) if m else None
        out.append((path.stem, text[m.end():] if m else text, day))
    return out
