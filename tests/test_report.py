"""The static report: every run is on it, its commands make the runs again, and it works offline in a real
browser (headless Chromium driven by Selenium; CI installs Debian's chromium and chromium-driver)."""

import json
import os
import re
import shlex
from html.parser import HTMLParser
from pathlib import Path
from xml.etree import ElementTree

import numpy as np
import pytest
from browser import CHROMEDRIVER, CHROMIUM, chromium, screenshot

from hashbench import registry
from hashbench.cli import main
from hashbench.codes import unpack
from hashbench.harness.external import LAYOUTS, evaluate_codes
from hashbench.harness.runner import load_dataset
from hashbench.harness.store import CODE_ARRAYS, ResultsStore, method_label
from hashbench.reports.published import load_published
from hashbench.reports.site import page_name, reproducing_command, write_site

RECORDS = Path(__file__).parents[1] / "results" / "wiki" / "records"
#: The only addresses in the site: XML namespace names and the SVG DTD's identifier, which no browser fetches.
XML_IDENTIFIERS = {
    "http://www.w3.org/2000/svg",
    "http://www.w3.org/1999/xlink",
    "http://www.w3.org/Graphics/SVG/1.1/DTD/svg11.dtd",
}


@pytest.fixture(scope="module")
def records(tmp_path_factory):
    """The shipped Wikipedia runs, and one set of codes scored by ``hashbench evaluate``: a CMFH run's codes in
    the DCMH release's layout, named as a release would be."""
    store = ResultsStore(RECORDS)
    shipped = store.records()
    cmfh = next(r for r in shipped if r.method == "cmfh" and r.bits == 16 and r.db_codes == "modality")
    codes = {part: unpack(packed, 16) for part, packed in store.codes(cmfh).items()}
    path = tmp_path_factory.mktemp("external") / "cmfh_release.npz"
    np.savez(path, **dict(zip(LAYOUTS["dcmh"], (codes[part] for part in CODE_ARRAYS), strict=True)))
    external, _ = evaluate_codes(path, load_dataset("wiki"))
    return [*shipped, external]


@pytest.fixture(scope="module")
def published(tmp_path_factory):
    path = tmp_path_factory.mktemp("published") / "wiki.csv"
    path.write_text("source,method,dataset,task,bits,map\nA paper Table 1,CMFH,wiki,i2t,16,0.2513\n"
                    "A paper Table 1,CMFH,wiki,t2i,16,0.5010\n")  # fmt: skip
    return load_published(str(path))


@pytest.fixture(scope="module")
def site(records, published, tmp_path_factory):
    out = tmp_path_factory.mktemp("site")
    write_site(records, out, results="results/wiki/records", published=published)
    return out


def test_every_method_has_a_row_a_page_and_every_figure_is_written(records, site):
    index = (site / "index.html").read_text()
    labels = {method_label(r) for r in records}
    assert {"cmfh", "cmfh [unified]", "ssah", "cmfh_release [external]"} <= labels
    for label in labels:
        assert f'href="methods/{page_name(label)}"' in index
        assert f"<h1>{label}</h1>" in (site / "methods" / page_name(label)).read_text()
    assert "CMFH (published)" in index and "0.2513" in index
    deep = {r.method for r in records if (r.fit_info or {}).get("losses")}
    assert deep == {name for name in registry.methods.names() if registry.methods.get(name).kind == "deep"}
    assert sorted(p.name for p in (site / "plots").iterdir()) == sorted(
        [f"wiki_{t}_{b}b.svg" for t in ("i2t", "t2i") for b in (16, 32, 64, 128)] + [f"{m}_losses.svg" for m in deep]
    )
    assert 'src="../plots/ssah_losses.svg"' in (site / "methods" / "ssah.html").read_text()
    assert "hashbench evaluate --codes" in (site / "methods" / page_name("cmfh_release [external]")).read_text()


def test_nothing_to_report_is_a_one_line_error_and_writes_nothing(tmp_path, capsys):
    assert main(["report", "--results", str(tmp_path / "empty"), "--out", str(tmp_path / "site")]) == 2
    assert "no run to report" in capsys.readouterr().err and not (tmp_path / "site").exists()


def test_a_pages_command_makes_the_same_run_again(records, tmp_path, capsys):
    record = next(r for r in records if r.method == "cmfh" and r.db_codes == "unified" and r.bits == 16)
    assert record.params_source == {"kind": "defaults"}
    command = reproducing_command(record, str(tmp_path))
    assert "--db-codes unified" in command
    assert main([*shlex.split(command)[1:], "--format", "json"]) == 0
    (again,) = json.loads(capsys.readouterr().out)
    assert again["run_id"] == record.run_id and again["metrics"] == record.metrics


def test_the_site_names_no_address_a_browser_would_fetch(site):
    class Links(HTMLParser):
        def handle_starttag(self, tag, attrs):
            found.extend(value for name, value in attrs if name in ("src", "href") and value)

    for page in site.rglob("*.html"):
        found: list[str] = []
        Links().feed(page.read_text())
        assert found and all(not re.match(r"[a-z]+:|//", link) for link in found), (page, found)
        for link in found:
            assert (page.parent / link).resolve().is_file(), (page, link)
    for figure in site.rglob("*.svg"):
        for element in ElementTree.parse(figure).iter():
            for name, value in element.attrib.items():
                if name.endswith("href"):
                    assert value.startswith("#"), (figure, value)
    addresses = {a for f in site.rglob("*") if f.is_file() for a in re.findall(r"[a-z]+://[^\s\"'<>)]*", f.read_text())}
    assert addresses <= XML_IDENTIFIERS, addresses - XML_IDENTIFIERS


@pytest.fixture
def browser(tmp_path):
    if not (CHROMIUM and CHROMEDRIVER):
        if os.environ.get("CI"):
            pytest.fail("CI must run the browser test: .ci/run installs Debian's chromium and chromium-driver")
        pytest.skip("needs Debian's chromium and chromium-driver (apt-get install chromium chromium-driver)")
    with chromium(tmp_path / "profile") as driver:
        yield driver


def column_values(table, column):
    return [row.find_elements("tag name", "td")[column].get_attribute("data-value") for row in
            table.find_elements("css selector", "tbody tr")]  # fmt: skip


def test_in_a_browser_rows_sort_links_open_pages_and_figures_load(site, records, browser, tmp_path):
    browser.get((site / "index.html").as_uri())
    table = browser.find_element("css selector", "table.comparison[data-db-codes='modality']")
    shown = {cell.text for cell in table.find_elements("css selector", "td.method")}
    assert shown == {method_label(r) for r in records if r.db_codes == "modality"} | {"CMFH (published)"}

    heads = table.find_elements("css selector", "thead th")
    column = next(i for i, head in enumerate(heads) if head.text.startswith("t2i 16"))
    before = column_values(table, column)
    heads[column].click()
    descending = column_values(table, column)
    assert descending == sorted(before, key=float, reverse=True) and descending != before
    heads[column].click()
    assert column_values(table, column) == sorted(before, key=float)

    for image in browser.find_elements("tag name", "img"):
        assert browser.execute_script("return arguments[0].complete && arguments[0].naturalWidth > 0", image)
    links = [a.text for a in browser.find_elements("css selector", "table.comparison td.method a")]
    assert screenshot(browser, site / "index.html", tmp_path / "index.png").read_bytes().startswith(b"\x89PNG")
    for label in links:
        browser.get((site / "index.html").as_uri())
        browser.find_element("link text", label).click()
        assert browser.find_element("tag name", "h1").text == label
        for image in browser.find_elements("tag name", "img"):
            assert browser.execute_script("return arguments[0].complete && arguments[0].naturalWidth > 0", image)
        fetched = browser.execute_script("return performance.getEntriesByType('resource').map(e => e.name)")
        assert all(name.startswith("file://") for name in fetched), fetched
