"""A contact sheet of screenshots: every state of the layout walk on one page, to look at
the whole app at once (docs/screenshots/contact_sheet_800x480.png).

    KIOSK_UI_SCREENSHOTS=/tmp/shots pytest tests/ui/test_ui_layout.py -k pi_panel
    python tests/ui/contact_sheet.py /tmp/shots/state_800x480_*.png -o docs/screenshots/...
"""

from __future__ import annotations

import argparse
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

CJK_FONTS = ["/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc",
             "/usr/share/fonts/truetype/wqy/wqy-microhei.ttc",
             "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"]


def sheet(paths: list[Path], out: Path, cols: int = 4, scale: float = 0.5) -> None:
    """Tiles of ``scale`` x each picture with its file name under it."""
    first = Image.open(paths[0])
    tw, th = int(first.width * scale), int(first.height * scale)
    caption, gap = 22, 8
    rows = (len(paths) + cols - 1) // cols
    page = Image.new("RGB", (cols * (tw + gap) + gap, rows * (th + caption + gap) + gap),
                     "#d8d8d8")
    font_path = next((f for f in CJK_FONTS if Path(f).exists()), None)
    font = ImageFont.truetype(font_path, 15) if font_path else ImageFont.load_default()
    draw = ImageDraw.Draw(page)
    for i, path in enumerate(paths):
        x = gap + (i % cols) * (tw + gap)
        y = gap + (i // cols) * (th + caption + gap)
        page.paste(Image.open(path).convert("RGB").resize((tw, th)), (x, y))
        draw.text((x + 2, y + th + 3), path.stem.replace("state_", ""), fill="#111111",
                  font=font)
    page.save(out, optimize=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("images", type=Path, nargs="+")
    ap.add_argument("-o", "--out", type=Path, required=True)
    ap.add_argument("--cols", type=int, default=4)
    args = ap.parse_args()
    sheet(sorted(args.images), args.out, args.cols)


if __name__ == "__main__":
    main()
