"""%%timeline as a person sees it: a notebook run by a real kernel (nbclient),
exported by nbconvert, and opened in headless Chromium, light and dark.

Chromium comes from the system (Debian's ``chromium`` package, which .ci/run
installs when it is missing), driven by Playwright's Python package; nothing is
downloaded.  Screenshots are written under pytest's temporary folder and their
paths printed (``pytest -s`` shows them).
"""

from __future__ import annotations

import base64
import os
import re
import shutil
import xml.etree.ElementTree as ET

import pytest

from harness import fresh_env

pytestmark = pytest.mark.browser

CHROMIUM = os.environ.get("ASYNCREPL_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-quic",
]

# WCAG asks 4.5:1 for small text, and 3:1 for large text and for the marks of a
# graphic (1.4.3, 1.4.11).  An SVG shown as an <img> cannot know the page's
# theme, so one colour must serve both #fff and a dark page, and the most one
# colour can keep against both #fff and #1e1e1e (VS Code dark) is 4.08:1.  So:
# text at least 4:1, marks at least 3:1, on the page's real background.
TEXT_CONTRAST = 4.0
MARK_CONTRAST = 3.0

CELLS = [
    "%load_ext asyncrepl",
    """\
import asyncio

async def delay(seconds):
    await asyncio.sleep(seconds)
    return seconds

async def fails():
    await asyncio.sleep(0.05)
    raise ValueError('boom')

async def forever():
    await asyncio.sleep(3600)""",
    # every kind of ending
    """\
%%timeline
left = asyncio.create_task(forever(), name='left running')
doomed = asyncio.create_task(forever(), name='cancelled')
await asyncio.sleep(0.02)
doomed.cancel()
results = await asyncio.gather(delay(0.1), delay(0.2), fails(), return_exceptions=True)""",
    # 40 rows of long names
    """\
%%timeline
names = [f'worker-{i}-' + 'x' * 50 for i in range(39)]
_ = await asyncio.gather(*(asyncio.create_task(delay(0.01 * (i % 7)), name=name) for i, name in enumerate(names)))""",
    "left.cancel()",
]


@pytest.fixture(scope="module")
def notebook(tmp_path_factory):
    """The notebook, run by a real kernel with asyncrepl loaded."""
    nbformat = pytest.importorskip("nbformat")
    from nbclient import NotebookClient

    folder = tmp_path_factory.mktemp("notebook")
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(source) for source in CELLS])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    NotebookClient(nb, timeout=120, kernel_name="python3", resources={"metadata": {"path": str(folder)}}).execute(
        env=fresh_env()
    )
    nbformat.write(nb, folder / "timeline.ipynb")
    return nb


def timeline_outputs(nb) -> list[dict]:
    return [output for cell in nb.cells if cell.source.startswith("%%timeline") for output in cell.outputs]


def exported(nb, folder, template="lab", **options) -> str:
    from nbconvert import HTMLExporter

    body, _ = HTMLExporter(template_name=template, **options).from_notebook_node(nb)
    name = "-".join([template, *(f"{key}={value}" for key, value in options.items())])
    path = folder / f"timeline-{name}.html"
    path.write_text(body, encoding="utf-8")
    return path.as_uri()


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    if not os.path.exists(CHROMIUM):
        missing = f"no Chromium at {CHROMIUM} (Debian: apt-get install chromium)"
        if os.environ.get("ASYNCREPL_REQUIRE_BROWSER"):  # CI: the browser must be there
            pytest.fail(missing)
        pytest.skip(missing)
    playwright_api = pytest.importorskip("playwright.sync_api")
    with playwright_api.sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(
            str(tmp_path_factory.mktemp("chromium-profile")),
            executable_path=CHROMIUM,
            headless=True,
            args=CHROMIUM_ARGS,
            viewport={"width": 1100, "height": 900},
        )
        # Nothing leaves the machine: nbconvert's page asks a CDN for
        # require.js and MathJax, which the chart does not need.
        context.route(re.compile(r"^(https?|wss?)://"), lambda route: route.abort())
        yield context
        context.close()


# The page's colour behind an element: the first opaque background up its ancestors.
BACKGROUND_JS = """element => {
    for (let node = element; node; node = node.parentElement) {
        const colour = getComputedStyle(node).backgroundColor;
        if (colour && !colour.endsWith(', 0)') && colour !== 'transparent') return colour;
    }
    return 'rgb(255, 255, 255)';
}"""

# Each drawn element of an SVG: its tag, computed fill and stroke, and box.
ELEMENTS_JS = """svg => [...svg.querySelectorAll('text, rect, circle, path')].map(element => {
    const style = getComputedStyle(element), box = element.getBBox();
    const text = [...element.childNodes].filter(node => node.nodeType === Node.TEXT_NODE).map(node => node.data).join('');
    return {tag: element.tagName, fill: style.fill, stroke: style.stroke, text: text,
            label: element.tagName === 'text' && element.querySelector('title') !== null,
            x: box.x, y: box.y, width: box.width, height: box.height};
})"""


def rgb(colour: str) -> tuple[int, int, int]:
    return tuple(int(part) for part in re.findall(r"\d+", colour)[:3])


def contrast(one, two) -> float:
    def luminance(colour):
        r, g, b = [c / 255 for c in colour]
        r, g, b = [c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4 for c in (r, g, b)]
        return 0.2126 * r + 0.7152 * g + 0.0722 * b

    high, low = sorted((luminance(one), luminance(two)), reverse=True)
    return (high + 0.05) / (low + 0.05)


def charts_in(browser, url, shots, name):
    """The charts on the page, as images or (as asyncrepl once drew them) SVG
    inside HTML: [(how it is shown, its SVG source, the page's colour behind
    it, its drawn elements with their computed colours and boxes, its size)]."""
    page = browser.new_page()
    page.goto(url, wait_until="load")
    found = []
    for how, selector in (("image", "img[src^='data:image/svg+xml']"), ("inline", ".jp-OutputArea-output svg, .output_subarea svg")):
        charts = page.locator(selector)
        for index in range(charts.count()):
            chart = charts.nth(index)
            if how == "image":
                assert chart.evaluate("img => img.complete && img.naturalWidth > 0")  # it loaded
                source = base64.b64decode(chart.get_attribute("src").split(",", 1)[1]).decode()
            else:
                source = chart.evaluate("svg => svg.outerHTML")
            background = rgb(chart.evaluate(BACKGROUND_JS))
            chart.screenshot(path=shots / f"{name}-chart-{len(found) + 1}.png")
            # The same SVG alone on a page, where the browser computes each
            # element's colour and box (an <img> hides its document).
            alone = browser.new_page()
            alone.set_content(f"<html><body style='margin:0'>{source}</body></html>")
            svg = alone.locator("svg").first
            elements = svg.evaluate(ELEMENTS_JS)
            size = svg.evaluate("svg => [svg.width.baseVal.value, svg.height.baseVal.value]")
            alone.close()
            found.append((how, source, background, elements, size))
    page.screenshot(path=shots / f"{name}.png", full_page=True)
    print(f"screenshots: {shots / name}.png and {shots / name}-chart-*.png")
    page.close()
    assert found, "no chart on the page"
    return found


@pytest.fixture(scope="module")
def shots(tmp_path_factory):
    return tmp_path_factory.mktemp("screenshots")


@pytest.mark.parametrize("theme", ["light", "dark"])
def test_every_text_and_mark_of_the_chart_reads_on_the_page(browser, notebook, shots, tmp_path, theme):
    charts = charts_in(browser, exported(notebook, tmp_path, theme=theme), shots, f"notebook-{theme}")
    assert len(charts) == 2
    for _, source, background, elements, _ in charts:
        assert (sum(background) / 3 > 240) if theme == "light" else (sum(background) / 3 < 40)  # the theme took
        texts = [e for e in elements if e["tag"] == "text"]
        assert texts
        for element in texts:
            assert contrast(rgb(element["fill"]), background) >= TEXT_CONTRAST, element
        for element in elements:
            for paint in (element["fill"], element["stroke"]):
                if paint.startswith("rgb"):
                    assert contrast(rgb(paint), background) >= MARK_CONTRAST, element
        assert {"running", "waiting", "returned", "raised", "cancelled", "still running"} <= {e["text"] for e in texts}
    rows = [e["text"] for e in charts[0][3] if e["tag"] == "text" and e["label"]]
    assert rows[0] == "cell" and any(row.endswith(" left running forever()") for row in rows)
    assert [how for how, *_ in charts] == ["image", "image"]  # not SVG inside HTML


def boxes_overlap(one, two) -> bool:
    return not (
        one["x"] + one["width"] <= two["x"]
        or two["x"] + two["width"] <= one["x"]
        or one["y"] + one["height"] <= two["y"]
        or two["y"] + two["height"] <= one["y"]
    )


def test_forty_rows_of_long_names_never_overlap_and_nothing_is_clipped(browser, notebook, shots, tmp_path):
    (_, _, _, elements, (width, height)), = charts_in(browser, exported(notebook, tmp_path), shots, "notebook-default")[1:]
    texts = [e for e in elements if e["tag"] == "text"]
    labels = [e for e in texts if e["label"]]
    assert len(labels) == 40 and all(e["text"].endswith("…") for e in labels[1:])  # cut, full name in the tooltip
    bars = [e for e in elements if e["tag"] == "rect" and e["width"] > 0 and e["height"] >= 3]
    chart_starts = min(e["x"] for e in bars if e["y"] < labels[-1]["y"] + labels[-1]["height"])
    assert max(e["x"] + e["width"] for e in labels) < chart_starts
    for index, one in enumerate(texts):
        for two in texts[index + 1 :]:
            assert not boxes_overlap(one, two), (one["text"], two["text"])
    for element in elements:
        assert element["x"] >= 0 and element["y"] >= 0, element
        assert element["x"] + element["width"] <= width + 0.5 and element["y"] + element["height"] <= height + 0.5, element
    lowest = max(e["y"] + e["height"] for e in texts)
    assert height - lowest <= 12  # no gap under the chart


def test_an_untrusted_notebook_still_shows_the_chart(browser, notebook, shots, tmp_path):
    # The outputs carry no HTML at all (JupyterLab strips <svg> from the HTML of
    # an untrusted notebook, leaving run-on text), and an SVG image with nothing
    # a sanitiser removes.  JupyterLab itself shows the image of a trusted
    # output in an <img>, and for an untrusted one picks the text/plain chart
    # (its SVG renderer is not marked safe: rendermime's factories.ts).
    for output in timeline_outputs(notebook):
        if output.output_type != "display_data" or "image/svg+xml" not in output.data:
            continue
        assert set(output.data) == {"image/svg+xml", "text/plain"}
        root = ET.fromstring(output.data["image/svg+xml"])
        tags = {element.tag.split("}")[1] for element in root.iter()}
        assert tags <= {"svg", "title", "text", "rect", "circle", "path"}
        attributes = {name for element in root.iter() for name in element.attrib}
        assert not {name for name in attributes if name.startswith("on") or "href" in name or name in ("style", "id")}
        assert "url(" not in output.data["image/svg+xml"]
    assert sum("image/svg+xml" in output.get("data", {}) for output in timeline_outputs(notebook)) == 2
    # nbconvert's sanitising export (as nbviewer runs it) keeps the image.
    charts = charts_in(browser, exported(notebook, tmp_path, sanitize_html=True), shots, "notebook-sanitized")
    assert [how for how, *_ in charts] == ["image", "image"]


def test_the_classic_template_shows_the_same_image(browser, notebook, shots, tmp_path):
    charts = charts_in(browser, exported(notebook, tmp_path, template="classic"), shots, "notebook-classic")
    assert [how for how, *_ in charts] == ["image", "image"]
    for _, _, background, elements, _ in charts:
        assert all(contrast(rgb(e["fill"]), background) >= TEXT_CONTRAST for e in elements if e["tag"] == "text")


def test_screenshots_for_a_person(browser, notebook, shots, tmp_path):
    """Writes the light and dark pages where a person can look at them."""
    for theme in ("light", "dark"):
        charts_in(browser, exported(notebook, tmp_path, theme=theme), shots, f"look-{theme}")
        assert (shots / f"look-{theme}.png").stat().st_size > 10_000
    wanted = os.environ.get("ASYNCREPL_SCREENSHOTS")  # a folder to copy them to
    if wanted:
        for theme in ("light", "dark"):
            shutil.copy(shots / f"look-{theme}-chart-1.png", os.path.join(wanted, f"timeline-{theme}.png"))
            shutil.copy(shots / f"look-{theme}.png", os.path.join(wanted, f"timeline-notebook-{theme}.png"))
