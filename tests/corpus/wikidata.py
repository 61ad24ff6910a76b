"""A tiny Wikidata for the test wikis: its JSON dump layout and the sitelinks TSV."""

import bz2
import json

# Wikidata items of the test wikis. Mount Fuji's German sitelink names another page than the one the
# German test wiki has ("Fuji (Vulkan)"), so the two stay separate entities, each in one language.
WIKIDATA_ITEMS = [
    {"type": "item", "id": "Q1490", "sitelinks": {
        "enwiki": {"site": "enwiki", "title": "Tokyo", "badges": []},
        "dewiki": {"site": "dewiki", "title": "Tokio", "badges": []},
        "dewikivoyage": {"site": "dewikivoyage", "title": "Japan"},  # not a Wikipedia
        "jawiki": {"site": "jawiki", "title": "東京都"},
    }},
    {"type": "item", "id": "Q17", "sitelinks": {
        "enwiki": {"site": "enwiki", "title": "Japan"},
        "dewiki": {"site": "dewiki", "title": "Japan"},
        "jawiki": {"site": "jawiki", "title": "日本"},
        "commonswiki": {"site": "commonswiki", "title": "Category:Japan"},
    }},
    {"type": "item", "id": "Q39231", "sitelinks": {
        "enwiki": {"site": "enwiki", "title": "Mount Fuji"},
        "dewiki": {"site": "dewiki", "title": "Fuji"},
        "jawiki": {"site": "jawiki", "title": "富士山"},
    }},
    {"type": "property", "id": "P31", "datatype": "wikibase-item"},
]


def write_wikidata_json(path):
    """The Wikidata JSON dump layout: ``[``, one entity a line ending in ``,``, ``]``."""
    lines = ["[\n"] + [json.dumps(item, ensure_ascii=False) + ",\n" for item in WIKIDATA_ITEMS[:-1]]
    text = "".join(lines) + json.dumps(WIKIDATA_ITEMS[-1]) + "\n]\n"
    path.write_bytes(bz2.compress(text.encode()) if path.suffix == ".bz2" else text.encode())
    return path


def write_wikidata_tsv(path):
    rows = [
        f"{item['id']}\t{site[:-4]}\t{link['title']}\n"
        for item in WIKIDATA_ITEMS
        for site, link in item.get("sitelinks", {}).items()
        if site.endswith("wiki") and site != "commonswiki"
    ]
    path.write_text("".join(rows), encoding="utf-8")
    return path
