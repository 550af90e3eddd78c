"""What changed between two revisions of a PDF, as people see it: both are rendered with poppler's
``pdftoppm`` (a few pages, low resolution) and compared pixel by pixel; a page that differs gets a
diff image (the later page, greyed, with the changed pixels in red).

Bounded, because the PDF is a stranger's: at most ``MAX_PAGES`` pages at ``DPI`` dots per inch, each
``pdftoppm`` run with a memory ceiling, a CPU limit and a deadline. Nothing here is a verdict: the
signatures' validation is; this shows a citizen where to look.
"""

from __future__ import annotations

import resource
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

MAX_PAGES = 6
DPI = 48
_MEMORY = 768 << 20
_CPU_SECONDS = 20
_DEADLINE = 30.0


@dataclass(frozen=True)
class PageChange:
    page: int  # 1-based
    before: Path | None  # None: the page is new in the later revision
    after: Path | None  # None: the page is gone from the later revision
    diff: Path | None  # the later page with the changed pixels marked; None when nothing differs
    changed: bool


def _limits() -> None:  # pragma: no cover - runs in the child between fork and exec
    resource.setrlimit(resource.RLIMIT_AS, (_MEMORY, _MEMORY))
    resource.setrlimit(resource.RLIMIT_CPU, (_CPU_SECONDS, _CPU_SECONDS))


def render(pdf: bytes, out_dir: Path, name: str, pages: int = MAX_PAGES, dpi: int = DPI) -> list[Path]:
    """PNG files of the first ``pages`` pages of ``pdf`` (``name-1.png``, …); [] when poppler cannot
    render it within the limits."""
    out_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile(suffix=".pdf", dir=out_dir) as source:
        source.write(pdf)
        source.flush()
        prefix = out_dir / f"{name}-raw"
        pages_arg = ["-f", "1", "-l", str(pages)]
        command = ["pdftoppm", "-q", "-png", "-r", str(dpi), *pages_arg, source.name, str(prefix)]
        try:
            subprocess.run(command, check=False, capture_output=True, timeout=_DEADLINE, preexec_fn=_limits)
        except (subprocess.TimeoutExpired, OSError):
            return []
    rendered = sorted(out_dir.glob(f"{name}-raw-*.png"), key=lambda p: int(p.stem.rsplit("-", 1)[1]))
    pages_out = []
    for number, path in enumerate(rendered[:pages], start=1):
        target = out_dir / f"{name}-{number}.png"
        path.replace(target)
        pages_out.append(target)
    return pages_out


def compare(before: bytes, after: bytes, out_dir: Path, pages: int = MAX_PAGES) -> list[PageChange]:
    """Render both revisions and compare them page by page (the first ``pages`` pages)."""
    from PIL import Image, ImageChops, ImageOps

    old = render(before, out_dir, "before", pages)
    new = render(after, out_dir, "after", pages)
    changes = []
    for index in range(max(len(old), len(new))):
        number = index + 1
        a = old[index] if index < len(old) else None
        b = new[index] if index < len(new) else None
        if a is None or b is None:
            changes.append(PageChange(number, a, b, None, True))
            continue
        with Image.open(a) as first, Image.open(b) as second:
            one, two = first.convert("RGB"), second.convert("RGB")
            if one.size != two.size:
                changes.append(PageChange(number, a, b, None, True))
                continue
            difference = ImageChops.difference(one, two)
            if difference.getbbox() is None:
                changes.append(PageChange(number, a, b, None, False))
                continue
            mask = difference.convert("L").point(lambda v: 255 if v > 24 else 0)
            grey = ImageOps.grayscale(two).convert("RGB").point(lambda v: 160 + v * 95 // 255)
            red = Image.new("RGB", two.size, (220, 0, 0))
            marked = Image.composite(red, grey, mask.filter(_grow()))
            target = out_dir / f"diff-{number}.png"
            marked.save(target, "PNG", optimize=True)
            changes.append(PageChange(number, a, b, target, True))
    return changes


def _grow():
    from PIL import ImageFilter

    return ImageFilter.MaxFilter(3)  # a changed glyph is a few pixels at this resolution: make it visible
