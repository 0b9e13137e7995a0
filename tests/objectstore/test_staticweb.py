"""Swift's StaticWeb: a public container as a web site (index, listings with CSS, error
pages, directory redirects, directory markers), for anonymous readers and X-Web-Mode."""

from __future__ import annotations


def _site(alice, **meta: str) -> None:
    alice("PUT", "/site", headers={"X-Container-Read": ".r:*,.rlistings"})
    alice("PUT", "/site/index.html", content=b"<h1>home</h1>", headers={"Content-Type": "text/html"})
    alice("PUT", "/site/docs/index.html", content=b"<h1>docs</h1>", headers={"Content-Type": "text/html"})
    alice("PUT", "/site/docs/guide.txt", content=b"guide")
    alice("PUT", "/site/photos/cat.jpg", content=b"x" * 2048)
    alice("POST", "/site", headers={f"X-Container-Meta-Web-{k.replace('_', '-')}": v for k, v in meta.items()})


def test_index_pages_and_directory_redirects(alice, os_client) -> None:
    _site(alice, Index="index.html")
    base = alice.base + "/site"
    r = os_client.get(base, follow_redirects=False)
    assert r.status_code == 301 and r.headers["location"] == f"/object/v1/AUTH_{alice.project}/site/"
    assert os_client.get(base + "/").content == b"<h1>home</h1>"
    assert os_client.get(base + "/docs/").content == b"<h1>docs</h1>"
    r = os_client.get(base + "/docs", follow_redirects=False)
    assert r.status_code == 301 and r.headers["location"].endswith("/site/docs/")
    assert os_client.get(base + "/docs/guide.txt").content == b"guide"
    # a directory without an index and listings off: the "disabled" page, 404
    r = os_client.get(base + "/photos/")
    assert r.status_code == 404 and "Web Listing Disabled" in r.text
    # an authenticated API call is not a web request; X-Web-Mode makes it one
    assert alice("GET", "/site").text.splitlines()[0] == "docs/guide.txt"
    assert alice("GET", "/site/", headers={"X-Web-Mode": "true"}).content == b"<h1>home</h1>"


def test_listings_css_and_error_pages(alice, os_client) -> None:
    _site(alice, Listings="true", Listings_CSS="listings.css", Error="error.html")
    base = alice.base + "/site"
    r = os_client.get(base + "/")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
    assert '<link rel="stylesheet" type="text/css" href="listings.css" />' in r.text
    assert 'href="./docs/"' in r.text and 'href="./index%2Ehtml"' in r.text
    photos = os_client.get(base + "/photos/").text
    assert 'href="../listings.css"' in photos and "cat%2Ejpg" in photos and ">2Ki<" in photos
    assert os_client.get(base + "/nothing-here").status_code == 404
    alice("PUT", "/site/404error.html", content=b"<p>lost?</p>", headers={"Content-Type": "text/html"})
    r = os_client.get(base + "/nothing-here")
    assert r.status_code == 404 and r.content == b"<p>lost?</p>"
    # a directory marker counts as absent: its directory's listing answers
    alice("PUT", "/site/empty", content=b"", headers={"Content-Type": "application/directory"})
    alice("PUT", "/site/empty/a.txt", content=b"a")
    assert "a%2Etxt" in os_client.get(base + "/empty/").text
    # not a web site: anonymous reads behave as plain Swift
    alice(
        "POST", "/site", headers={"X-Remove-Container-Meta-Web-Listings": "x", "X-Remove-Container-Meta-Web-Error": "x"}
    )
    assert os_client.get(base).text.startswith("404error.html\n")
    assert alice("GET", "/site/", headers={"X-Web-Mode": "true"}).status_code == 404


def test_private_containers_stay_private(alice, os_client) -> None:
    alice("PUT", "/private", headers={"X-Container-Meta-Web-Index": "index.html"})
    alice("PUT", "/private/index.html", content=b"secret")
    assert os_client.get(alice.base + "/private/").status_code == 401
    assert os_client.get(alice.base + "/private/index.html").status_code == 401
