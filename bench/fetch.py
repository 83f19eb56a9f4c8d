"""End-to-end fetch benchmark: the 330 real pages of ../shared/eval/feeds served from 127.0.0.x.

Every original host of ``feeds/manifest.jsonl`` gets its own loopback address (127.0.h.l, one
HTTP server each), so pages keep their original paths and the per-host politeness limits act as
they would on the web. The two generated feeds are rewritten to point at those servers and served
from 127.0.0.1; then the fetch flow runs end to end (discover -> fetch -> raw_pages -> pipeline)
into a temporary warehouse. Printed:

* pages/second of the whole flow (fetch + pipeline) and of the fetch tasks alone;
* rejects by reason;
* body scores against the gold: newspaper4k pages, word 4-gram shingle F1 (scoring of
  bench/extraction.py); trafilatura_en pages, snippet F1 (``with`` kept = TP, ``with`` lost = FN,
  ``without`` present = FP). Pages that were not fetched score as empty bodies.

Usage: .venv/bin/python bench/fetch.py [--eval-dir DIR] [--per-host-delay S] [--limit N]
Skips cleanly (exit 0) when the evaluation data is absent. Needs nothing but 127.0.0.0/8.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import selectors
import sys
import tempfile
import threading
import time
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

os.environ.setdefault("DO_NOT_TRACK", "1")
os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
# The ephemeral API server takes 8-28 s to start here (DESIGN.md); the default wait is 20 s.
os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "180")

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH.parent))
sys.path.insert(0, str(BENCH))

from transforms.feeds import canonicalize_url  # noqa: E402
from _evaldata import eval_dir as find_eval_dir  # noqa: E402  (bench/ is on sys.path when a bench runs)

LINK_RE = re.compile(r"<(link|guid)>([^<]*)</\1>")




class _Quiet(ThreadingHTTPServer):
    daemon_threads = True
    timeout = 0

    def handle_error(self, request, client_address) -> None:
        pass


def _handler(files: dict[str, tuple[Path | bytes, str]]):
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args) -> None:
            pass

        def do_GET(self) -> None:
            entry = files.get(self.path)
            if entry is None:
                body, ctype, status = b"<html><body>not found</body></html>", "text/html", 404
            else:
                data, ctype = entry
                body, status = (data.read_bytes() if isinstance(data, Path) else data), 200
            self.send_response(status)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    return Handler


class Farm:
    """One HTTP server per original host on its own loopback address; one thread serves them all."""

    def __init__(self) -> None:
        self.servers: list[ThreadingHTTPServer] = []
        self.hosts: dict[str, str] = {}  # original netloc -> "127.0.h.l:port"
        self._files: dict[str, dict[str, tuple[Path | bytes, str]]] = {}
        self._selector = selectors.DefaultSelector()
        self._stop = threading.Event()

    def local_netloc(self, netloc: str) -> str:
        if netloc not in self.hosts:
            n = len(self.hosts) + 2  # 127.0.0.1 is the feed server
            address = f"127.0.{n // 250}.{n % 250 + 1}"
            files: dict[str, tuple[Path | bytes, str]] = {}
            server = _Quiet((address, 0), _handler(files))
            self.servers.append(server)
            self._files[netloc] = files
            self.hosts[netloc] = f"{address}:{server.server_address[1]}"
            self._selector.register(server, selectors.EVENT_READ, server)
        return self.hosts[netloc]

    def add(self, original_url: str, content: Path | bytes, ctype: str = "text/html; charset=utf-8") -> str:
        """Serve ``content`` at the original URL's path on its host's server; return the local URL."""
        parts = urlsplit(original_url)
        local = self.local_netloc(parts.netloc)
        path = urlunsplit(("", "", parts.path or "/", parts.query, ""))
        self._files[parts.netloc].setdefault(path, (content, ctype))
        return urlunsplit(("http", local, parts.path or "/", parts.query, ""))

    def serve(self) -> None:
        def loop() -> None:
            while not self._stop.is_set():
                for key, _ in self._selector.select(timeout=0.1):
                    key.data.handle_request()

        threading.Thread(target=loop, daemon=True).start()

    def close(self) -> None:
        self._stop.set()
        for server in self.servers:
            server.server_close()


def _original(url: str | None) -> str | None:
    if not url:
        return None
    if url.startswith("//"):
        url = "http:" + url
    return url if url.startswith(("http://", "https://")) else None


def build_site(eval_dir: Path, limit: int | None) -> tuple[Farm, list[str], list[dict]]:
    """Start the farm; return it, the local feed URLs and the manifest rows with their local URLs."""
    feeds_dir = eval_dir / "feeds"
    rows = [json.loads(line) for line in (feeds_dir / "manifest.jsonl").read_text().splitlines() if line.strip()]
    rows = rows[:limit] if limit else rows
    farm = Farm()
    for row in rows:
        original = _original(row["url"])
        row["local_url"] = farm.add(original, eval_dir / row["html_path"]) if original else None
    feed_files: dict[str, tuple[Path | bytes, str]] = {}
    feed_server = _Quiet(("127.0.0.1", 0), _handler(feed_files))
    farm.servers.append(feed_server)
    farm._selector.register(feed_server, selectors.EVENT_READ, feed_server)
    port = feed_server.server_address[1]
    wanted = {_original(r["url"]) for r in rows}

    def rewrite(match: re.Match) -> str:
        original = _original(match.group(2).strip())
        if original is None:
            return match.group(0)  # relative links stay relative: they resolve against the feed
        if limit and original not in wanted:
            return ""
        parts = urlsplit(original)
        local = farm.local_netloc(parts.netloc)
        return f"<{match.group(1)}>{urlunsplit(('http', local, parts.path, parts.query, ''))}</{match.group(1)}>"

    feed_urls = []
    for feed in sorted(feeds_dir.glob("*.rss.xml")):
        text = LINK_RE.sub(rewrite, feed.read_text(encoding="utf-8"))
        feed_files[f"/{feed.name}"] = (text.encode(), "application/rss+xml")
        feed_urls.append(f"http://127.0.0.1:{port}/{feed.name}")
    farm.serve()
    return farm, feed_urls, rows


def _snippet_counts(out: str, row_gold: dict) -> tuple[int, int, int]:
    from extraction import _norm

    flat = _norm(out)
    tp = sum(_norm(w) in flat for w in row_gold["with"])
    fn = len(row_gold["with"]) - tp
    fp = sum(_norm(w) in flat for w in row_gold["without"])
    return tp, fp, fn


def score_bodies(eval_dir: Path, rows: list[dict], bodies: dict[str, str]) -> dict[str, float]:
    """Body F1 of the fetched articles against the gold of each manifest row."""
    from extraction import averaged_prf, shingle_counts

    snippets = json.loads((eval_dir / "extraction" / "trafilatura_en" / "evaldata_en.json").read_text())
    n4_counts, tp = [], [0, 0, 0]
    n4_found = tr_found = tr_total = 0
    seen: set[str] = set()
    for row in rows:
        gold = row.get("gold")
        if not gold or not row.get("local_url"):
            continue
        key = canonicalize_url(row["local_url"])
        if key in seen:  # a repeated URL is one page on the web: score the page served
            continue
        seen.add(key)
        body = bodies.get(key, "")
        if gold["type"] == "full_text":
            text = (eval_dir / gold["ref"]).read_text(encoding="utf-8", errors="replace")
            n4_counts.append(shingle_counts(text, body))
            n4_found += bool(body)
        else:
            counts = _snippet_counts(body, snippets[gold["ref"].split("#", 1)[1]])
            tp = [a + b for a, b in zip(tp, counts)]
            tr_total += 1
            tr_found += bool(body)
    p, r, f1 = averaged_prf(n4_counts)
    sp = tp[0] / (tp[0] + tp[1]) if tp[0] + tp[1] else 0.0
    sr = tp[0] / (tp[0] + tp[2]) if tp[0] + tp[2] else 0.0
    return {"n4_pages": len(n4_counts), "n4_with_body": n4_found, "n4_precision": p, "n4_recall": r,
            "n4_f1": f1, "tr_pages": tr_total, "tr_with_body": tr_found, "tr_precision": sp,
            "tr_recall": sr, "tr_f1": 2 * sp * sr / (sp + sr) if sp + sr else 0.0}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--eval-dir", help="evaluation data folder (default ../shared/eval or $FPWATCH_EVAL_DIR)")
    ap.add_argument("--per-host-delay", type=float, default=None, help="seconds between requests to one host")
    ap.add_argument("--limit", type=int, default=None, help="only the first N manifest rows (smoke test)")
    ap.add_argument("--keep", action="store_true", help="keep the temporary warehouse and print its path")
    args = ap.parse_args(argv)
    eval_dir = find_eval_dir(args.eval_dir)
    if not (eval_dir / "feeds" / "manifest.jsonl").exists():
        print(f"skip: no evaluation data at {eval_dir} (set --eval-dir or FPWATCH_EVAL_DIR)")
        return 0
    if args.per_host_delay is not None:
        os.environ["FPWATCH_PER_HOST_DELAY_S"] = str(args.per_host_delay)

    from flows.sources.fetch import fetch_flow
    from flows.sources.http import FetchSettings
    from flows.warehouse.store import Warehouse

    farm, feed_urls, rows = build_site(eval_dir, args.limit)
    tmp = tempfile.mkdtemp(prefix="fpwatch-bench-fetch-")
    try:
        settings = FetchSettings()
        started = time.perf_counter()
        summary = fetch_flow(feeds=feed_urls, warehouse=tmp, allow_private=True)
        flow_s = time.perf_counter() - started
        articles = Warehouse(tmp).read("articles")
        bodies = dict(zip(articles["source"].to_list(), articles["body"].to_list(), strict=True))
        scores = score_bodies(eval_dir, rows, bodies)
        rejects = Counter(summary["rejects_by_reason"])
        fetch_s = summary.get("fetch_seconds") or 0.0
    finally:
        farm.close()
    pages = summary["pages_fetched"]
    print(f"hosts served            {len(farm.hosts)} (one loopback address each)")
    print(f"settings                per-host delay {settings.per_host_delay_s}s, per-host concurrency "
          f"{settings.per_host_concurrency}, max concurrency {settings.max_concurrency}, robots {settings.respect_robots}")
    print(f"pages requested         {pages}  ok {summary['pages_ok']}  rejected {summary['pages_rejected']}")
    print(f"articles written        {summary['articles_written']}  duplicates {summary['duplicates']}")
    run_s = summary["seconds"]
    print(f"flow run                {run_s:.1f} s  -> {pages / run_s:.1f} pages/s end to end "
          f"(wall {flow_s:.1f} s with Prefect start-up)")
    if fetch_s:
        print(f"fetch tasks             {fetch_s:.1f} s  -> {pages / fetch_s:.1f} pages/s fetching")
    print("rejects by reason       " + ", ".join(f"{k} {v}" for k, v in rejects.most_common()))
    print(f"newspaper4k body        {scores['n4_pages']} gold pages, {scores['n4_with_body']} with a body: "
          f"shingle P {scores['n4_precision']:.3f} R {scores['n4_recall']:.3f} F1 {scores['n4_f1']:.3f}")
    print(f"trafilatura_en body     {scores['tr_pages']} gold pages, {scores['tr_with_body']} with a body: "
          f"snippet P {scores['tr_precision']:.3f} R {scores['tr_recall']:.3f} F1 {scores['tr_f1']:.3f}")
    if args.keep:
        print(f"warehouse               {tmp}")
    else:
        import shutil

        shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
