"""Render the built documentation site in headless Chromium and check it.

For each page (by default the home page, the tutorial and the API reference of
``symasd``) the check loads the page from a local HTTP server and fails on:

* an image that did not load (missing file, broken ``src``, zero size);
* a request for a file of the site that failed or answered an HTTP error;
* a JavaScript exception or an error on the browser console;
* a broken internal link: a link to a page of the site that does not exist,
  or to an anchor (``page/#section``) that the target page does not have;
* a page that rendered without its content, or with mkdocstrings' ``:::``
  directives left unrendered.

Chromium is driven through its DevTools protocol over a pipe
(``--remote-debugging-pipe``): only the standard library is needed, and no
browser is downloaded. Needs Debian's ``chromium`` package
(``apt-get install -y chromium``). Usage, from the repository root:

    mkdocs build --strict                               # the site, into site/
    python docs/check_site.py site --screenshot /tmp/tutorial.png

Exit status 0 when every page passes, 1 with the list of problems otherwise,
2 when no Chromium binary is found. ``tests/test_docs_site.py`` runs the same
check on the site it builds.
"""

from __future__ import annotations

import argparse
import base64
import functools
import html.parser
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

PAGES = ("", "tutorial/", "api/symasd/")
BROWSERS = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
WIDTH, HEIGHT = 1280, 1000

# The page's own verdict, computed in the browser after load: images, links, content.
PAGE_REPORT_JS = r"""
(() => {
  const article = document.querySelector("article");
  const images = [...document.images].map(i => ({
    src: i.currentSrc || i.src, ok: i.complete && i.naturalWidth > 0}));
  const links = [...document.querySelectorAll("a[href]")].map(a => a.href);
  return JSON.stringify({
    title: document.title,
    article_chars: article ? article.innerText.length : 0,
    h1: article && article.querySelector("h1") ? article.querySelector("h1").innerText : "",
    unrendered: article ? (article.innerText.match(/^:::\s*\S+/m) || [null])[0] : null,
    images: images,
    links: links,
  });
})()
"""


def find_browser() -> str | None:
    """The path of a Chromium (or Chrome) binary on PATH, or None."""
    for name in BROWSERS:
        path = shutil.which(name)
        if path:
            return path
    return None


class _QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, format, *args):  # noqa: A002  (the base class's name)
        pass


class _Server:
    """The site folder served on a free port of 127.0.0.1, in a thread."""

    def __init__(self, root: Path):
        handler = functools.partial(_QuietHandler, directory=str(root))
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.base = f"http://127.0.0.1:{self.httpd.server_address[1]}/"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.httpd.shutdown()
        self.httpd.server_close()


def _high_fd(fd: int) -> int:
    import fcntl

    high = fcntl.fcntl(fd, fcntl.F_DUPFD, 10)
    os.close(fd)
    return high


class _Browser:
    """Headless Chromium spoken to with the DevTools protocol over fds 3 and 4."""

    def __init__(self, binary: str, timeout: float = 30.0):
        self.timeout = timeout
        self.profile = tempfile.mkdtemp(prefix="symasd-chromium-")
        # Fds 10 and up on our side, so that moving them to 3 and 4 cannot clobber one
        # with the other (3<&4 4>&3 would).
        to_browser_r, self._to_browser = map(_high_fd, os.pipe())
        self._from_browser, from_browser_w = map(_high_fd, os.pipe())
        args = [binary, "--headless=new", "--no-sandbox", "--disable-gpu",
                "--disable-dev-shm-usage", "--no-first-run", "--no-default-browser-check",
                "--disable-extensions", "--disable-background-networking",
                "--disable-component-update", "--disable-sync", "--mute-audio",
                f"--user-data-dir={self.profile}", "--remote-debugging-pipe",
                f"--window-size={WIDTH},{HEIGHT}", "about:blank"]

        # The protocol's pipes must be the browser's fds 3 (commands) and 4 (replies):
        # bash moves them there (subprocess would close fds made in preexec_fn; dash
        # takes single-digit fds only).
        wire = f'exec "$0" "$@" 3<&{to_browser_r} 4>&{from_browser_w}'
        self.log = Path(self.profile) / "chromium.log"
        with open(self.log, "wb") as log:
            self.proc = subprocess.Popen(["/bin/bash", "-c", wire, *args],
                                         stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                                         pass_fds=(to_browser_r, from_browser_w))
        os.close(to_browser_r)
        os.close(from_browser_w)
        self._buffer = b""
        self._next_id = 0
        self.events: list[dict] = []

    def close(self) -> None:
        try:
            self.send("Browser.close")
        except Exception:  # noqa: BLE001  (the browser may already be gone)
            pass
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        os.close(self._to_browser)
        os.close(self._from_browser)
        shutil.rmtree(self.profile, ignore_errors=True)

    def _read_message(self, deadline: float) -> dict:
        import select

        while b"\0" not in self._buffer:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError("Chromium did not answer in time")
            ready, _, _ = select.select([self._from_browser], [], [], left)
            if ready:
                chunk = os.read(self._from_browser, 1 << 16)
                if not chunk:
                    tail = self.log.read_text(errors="replace")[-2000:]
                    raise RuntimeError(f"Chromium closed its DevTools pipe; its output:\n{tail}")
                self._buffer += chunk
        message, self._buffer = self._buffer.split(b"\0", 1)
        return json.loads(message)

    def send(self, method: str, session: str | None = None, **params) -> dict:
        """Send one command and wait for its reply (events meanwhile are kept)."""
        self._next_id += 1
        message = {"id": self._next_id, "method": method, "params": params}
        if session:
            message["sessionId"] = session
        os.write(self._to_browser, json.dumps(message).encode() + b"\0")
        deadline = time.monotonic() + self.timeout
        while True:
            reply = self._read_message(deadline)
            if reply.get("id") == self._next_id:
                if "error" in reply:
                    raise RuntimeError(f"{method}: {reply['error']}")
                return reply.get("result", {})
            self.events.append(reply)

    def wait_for(self, method: str, session: str, timeout: float) -> dict:
        """Wait for an event (or return one already received since the last call)."""
        deadline = time.monotonic() + timeout
        while True:
            for k, event in enumerate(self.events):
                if event.get("method") == method and event.get("sessionId") == session:
                    return self.events.pop(k)
            self.events.append(self._read_message(deadline))


class _Ids(html.parser.HTMLParser):
    """The ``id`` attributes of an HTML page (the anchors a link can point to)."""

    def __init__(self):
        super().__init__()
        self.ids: set[str] = set()

    def handle_starttag(self, tag, attrs):
        for name, value in attrs:
            if name == "id" and value:
                self.ids.add(value)


def _fetch(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=10) as response:  # noqa: S310  (local)
            return response.status, response.read().decode("utf-8", "replace")
    except urllib.error.HTTPError as err:
        return err.code, ""


def _event_problems(events: list[dict], base: str) -> list[str]:
    problems = []
    requests = {}
    for event in events:
        method, params = event.get("method"), event.get("params", {})
        if method == "Network.requestWillBeSent":
            requests[params["requestId"]] = params["request"]["url"]
        elif method == "Network.loadingFailed" and not params.get("canceled"):
            url = requests.get(params["requestId"], "?")
            problems.append(f"request failed: {url} ({params.get('errorText')})")
        elif method == "Network.responseReceived":
            response = params["response"]
            if response["url"].startswith(base) and response["status"] >= 400:
                problems.append(f"HTTP {response['status']} for {response['url']}")
        elif method == "Runtime.exceptionThrown":
            details = params["exceptionDetails"]
            text = details.get("exception", {}).get("description") or details.get("text")
            problems.append(f"JavaScript exception: {text}")
        elif method == "Runtime.consoleAPICalled" and params.get("type") == "error":
            text = " ".join(str(a.get("value", a.get("description", ""))) for a in params["args"])
            problems.append(f"console error: {text}")
        elif method == "Log.entryAdded" and params["entry"]["level"] == "error":
            entry = params["entry"]
            problems.append(f"browser error: {entry.get('text')} {entry.get('url', '')}".strip())
    return problems


def _link_problems(links: list[str], base: str, cache: dict) -> list[str]:
    """Internal links whose page is missing, or whose anchor is not on that page."""
    problems = []
    for link in sorted(set(links)):
        if not link.startswith(base):
            continue                                   # other sites: not checked (offline)
        url, _, fragment = link.partition("#")
        if url not in cache:
            status, text = _fetch(url)
            ids = _Ids()
            ids.feed(text)
            cache[url] = (status, ids.ids)
        status, ids = cache[url]
        if status != 200:
            problems.append(f"broken link: {link} (HTTP {status})")
        elif fragment and urllib.parse.unquote(fragment) not in ids:
            problems.append(f"broken anchor: {link} (no id {fragment!r} on that page)")
    return problems


def _screenshots(chrome: _Browser, session: str, path: Path) -> None:
    """The page's top at ``path``, and its first figure scrolled into view at
    ``<stem>-figure.png`` beside it."""
    shot = chrome.send("Page.captureScreenshot", session, format="png")
    path.write_bytes(base64.b64decode(shot["data"]))
    found = chrome.send("Runtime.evaluate", session, returnByValue=True, expression=(
        "(() => { const i = document.querySelector('article img');"
        " if (!i) return false; i.scrollIntoView({block: 'center'}); return true; })()"))
    if found["result"].get("value"):
        time.sleep(0.3)
        shot = chrome.send("Page.captureScreenshot", session, format="png")
        path.with_name(f"{path.stem}-figure.png").write_bytes(base64.b64decode(shot["data"]))


def check_site(site: Path, pages=PAGES, screenshot: Path | None = None,
               browser: str | None = None) -> dict[str, list[str]]:
    """Render ``pages`` of the built site in headless Chromium; the problems of each.

    ``screenshot``: where to save a PNG of the second page (the tutorial), its
    first ``HEIGHT`` pixels at ``WIDTH`` wide (and its first figure, in view, as
    ``<stem>-figure.png`` beside it). Raises FileNotFoundError when no Chromium
    is found.
    """
    browser = browser or find_browser()
    if browser is None:
        raise FileNotFoundError("no Chromium binary on PATH (apt-get install -y chromium)")
    site = Path(site)
    if not (site / "index.html").is_file():
        raise FileNotFoundError(f"no built site at {site} (run `mkdocs build --strict`)")
    results: dict[str, list[str]] = {}
    cache: dict = {}
    with _Server(site) as server:
        chrome = _Browser(browser)
        try:
            target = chrome.send("Target.createTarget", url="about:blank")["targetId"]
            session = chrome.send("Target.attachToTarget", targetId=target,
                                  flatten=True)["sessionId"]
            for domain in ("Page", "Runtime", "Network", "Log"):
                chrome.send(f"{domain}.enable", session)
            chrome.send("Emulation.setDeviceMetricsOverride", session, width=WIDTH,
                        height=HEIGHT, deviceScaleFactor=1, mobile=False)
            for k, page in enumerate(pages):
                chrome.events.clear()
                url = server.base + page
                chrome.send("Page.navigate", session, url=url)
                chrome.wait_for("Page.loadEventFired", session, timeout=30)
                time.sleep(0.5)                        # late requests (search index, worker)
                report = json.loads(chrome.send("Runtime.evaluate", session,
                                                expression=PAGE_REPORT_JS,
                                                returnByValue=True)["result"]["value"])
                problems = _event_problems(chrome.events, server.base)
                problems += [f"image not loaded: {i['src']}" for i in report["images"]
                             if not i["ok"]]
                if report["article_chars"] < 200 or not report["h1"]:
                    problems.append(f"no content rendered (title {report['title']!r}, "
                                    f"{report['article_chars']} characters)")
                if report["unrendered"]:
                    problems.append(f"unrendered directive: {report['unrendered']!r}")
                problems += _link_problems(report["links"], server.base, cache)
                results[page or "index"] = problems
                if screenshot is not None and k == 1:
                    _screenshots(chrome, session, Path(screenshot))
        finally:
            chrome.close()
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("site", type=Path, help="the built site (mkdocs build's site_dir)")
    parser.add_argument("--page", action="append", dest="pages",
                        help="a page path such as tutorial/ (repeatable; default: "
                             + ", ".join(p or "(home)" for p in PAGES) + ")")
    parser.add_argument("--screenshot", type=Path, help="save the second page's top as PNG")
    args = parser.parse_args(argv)
    if find_browser() is None:
        print("no Chromium binary on PATH (apt-get install -y chromium)", file=sys.stderr)
        return 2
    pages = tuple("" if p in ("", "/", "index") else p for p in args.pages or PAGES)
    results = check_site(args.site, pages, args.screenshot)
    failed = False
    for page, problems in results.items():
        print(f"{page}: {'ok' if not problems else f'{len(problems)} problem(s)'}")
        for problem in problems:
            print(f"  {problem}")
        failed |= bool(problems)
    if args.screenshot:
        print(f"screenshot: {args.screenshot}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
