#!/usr/bin/env python3
"""Convert a UTF-8 CSV export into a minimal XLSX workbook, using only the standard library.

Usage: make_xlsx.py IN.csv OUT.xlsx

Cells that look like dates (YYYY/MM/DD) become real Excel dates (number format 14; the decision-date
columns as date-times at midnight, format `yyyy/m/d h:mm`, as Java/Oracle exports have them), plain decimals
that are not codes become numbers, everything else is text -- as a department's Excel file would have it.
The workbook has what real exports have: an instructions sheet first (填报说明), the data sheet with a merged
title row above the header, and a hidden stale sheet (旧表) that readers must skip.
The output is byte-for-byte reproducible (fixed timestamps in the ZIP).
"""
import csv
import datetime
import re
import sys
import zipfile
from xml.sax.saxutils import escape

DATE = re.compile(r"^(\d{4})/(\d{2})/(\d{2})$")
NUMBER = re.compile(r"^-?\d{1,6}(\.\d+)?$")
# Columns whose numbers are amounts (kept numeric); every other numeric-looking cell stays text (codes).
NUMERIC_COLUMNS = ("罚款金额（万元）", "没收违法所得、没收非法财物的金额（万元）")
# Columns written as date-time cells (midnight) instead of plain dates.
DATETIME_COLUMNS = ("许可决定日期", "处罚决定日期")


def col_name(i):
    s = ""
    i += 1
    while i:
        i, r = divmod(i - 1, 26)
        s = chr(65 + r) + s
    return s


def cell(ref, header, value):
    m = DATE.match(value)
    if m:
        try:
            d = datetime.date(int(m[1]), int(m[2]), int(m[3]))
        except ValueError:
            d = None  # not a real date (a deliberately bad row): keep the text as typed
        if d is not None:
            serial = (d - datetime.date(1899, 12, 30)).days
            style = 2 if header in DATETIME_COLUMNS else 1
            return f'<c r="{ref}" s="{style}"><v>{serial}</v></c>'
    if header in NUMERIC_COLUMNS and NUMBER.match(value):
        return f'<c r="{ref}"><v>{value}</v></c>'
    if value == "":
        return ""
    return f'<c r="{ref}" t="inlineStr"><is><t xml:space="preserve">{escape(value)}</t></is></c>'


def worksheet(rows, title=None):
    """A worksheet: optional title row (merged across the header's width), then the CSV rows."""
    header = rows[0]
    out = []
    offset = 0
    merge = ""
    if title is not None:
        out.append(f'<row r="1"><c r="A1" t="inlineStr"><is><t>{escape(title)}</t></is></c></row>')
        merge = f'<mergeCells count="1"><mergeCell ref="A1:{col_name(len(header) - 1)}1"/></mergeCells>'
        offset = 1
    for r, row in enumerate(rows, start=1):
        rr = r + offset
        cells = "".join(
            cell(f"{col_name(c)}{rr}", header[c] if c < len(header) and r > 1 else "", v) for c, v in enumerate(row)
        )
        out.append(f'<row r="{rr}">{cells}</row>')
    return (
        '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
        '<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">'
        f'<sheetData>{"".join(out)}</sheetData>{merge}</worksheet>'
    )


def main(src, dst):
    with open(src, encoding="utf-8-sig", newline="") as fh:
        rows = list(csv.reader(fh))
    base = dst.replace("\\", "/").rsplit("/", 1)[-1]
    county, _, kind = base.partition("_")
    kind = {"license.xlsx": "行政许可", "penalty.xlsx": "行政处罚"}.get(kind, "")
    sheets = [
        ("填报说明", worksheet([["填报说明：日期按 YYYY/MM/DD 填写；统一社会信用代码为 18 位；金额以万元计。"]]), False),
        ("数据", worksheet(rows, title=f"{county} {kind}信息公示表"), False),
        ("旧表", worksheet(rows[:3]), True),
    ]
    n = len(sheets)
    overrides = "".join(
        f'<Override PartName="/xl/worksheets/sheet{i}.xml" '
        'ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/>'
        for i in range(1, n + 1)
    )
    hidden_attr = ' state="hidden"'
    sheet_list = "".join(
        f'<sheet name="{name}" sheetId="{i}"{hidden_attr if hidden else ""} r:id="rId{i}"/>'
        for i, (name, _, hidden) in enumerate(sheets, start=1)
    )
    rels = "".join(
        f'<Relationship Id="rId{i}" '
        'Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/worksheet" '
        f'Target="worksheets/sheet{i}.xml"/>'
        for i in range(1, n + 1)
    )
    files = {
        "[Content_Types].xml": '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
        '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
        '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
        '<Default Extension="xml" ContentType="application/xml"/>'
        '<Override PartName="/xl/workbook.xml" '
        'ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/>'
        f"{overrides}"
        '<Override PartName="/xl/styles.xml" '
        'ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.styles+xml"/>'
        "</Types>",
        "_rels/.rels": '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
        '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
        '<Relationship Id="rId1" '
        'Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument" '
        'Target="xl/workbook.xml"/></Relationships>',
        "xl/workbook.xml": '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
        '<workbook xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" '
        'xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships">'
        '<bookViews><workbookView activeTab="1"/></bookViews>'
        f"<sheets>{sheet_list}</sheets></workbook>",
        "xl/_rels/workbook.xml.rels": '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
        '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
        f"{rels}"
        f'<Relationship Id="rId{n + 1}" '
        'Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/styles" '
        'Target="styles.xml"/></Relationships>',
        "xl/styles.xml": '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
        '<styleSheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">'
        '<numFmts count="1"><numFmt numFmtId="164" formatCode="yyyy/m/d h:mm"/></numFmts>'
        '<fonts count="1"><font><sz val="11"/><name val="等线"/></font></fonts>'
        '<fills count="1"><fill><patternFill patternType="none"/></fill></fills>'
        '<borders count="1"><border/></borders>'
        '<cellStyleXfs count="1"><xf numFmtId="0" fontId="0" fillId="0" borderId="0"/></cellStyleXfs>'
        '<cellXfs count="3"><xf numFmtId="0" fontId="0" fillId="0" borderId="0" xfId="0"/>'
        '<xf numFmtId="14" fontId="0" fillId="0" borderId="0" xfId="0" applyNumberFormat="1"/>'
        '<xf numFmtId="164" fontId="0" fillId="0" borderId="0" xfId="0" applyNumberFormat="1"/></cellXfs>'
        "</styleSheet>",
    }
    for i, (_, text, _) in enumerate(sheets, start=1):
        files[f"xl/worksheets/sheet{i}.xml"] = text
    with zipfile.ZipFile(dst, "w", zipfile.ZIP_DEFLATED) as z:
        for name, text in files.items():
            info = zipfile.ZipInfo(name, date_time=(2024, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            z.writestr(info, text.encode("utf-8"))


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit("usage: make_xlsx.py IN.csv OUT.xlsx")
    main(sys.argv[1], sys.argv[2])
